"""Every JaxMARL and Jumanji env either passes check_env through its adapter or is listed in
docs/jax-envs.md with the reason it cannot."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from phalanx.envs import make
from phalanx.envs.testing import check_env

DOC = Path(__file__).resolve().parents[2] / "docs" / "jax-envs.md"
JAXMARL_PASS = ["MPE_simple_v3", "MPE_simple_tag_v3", "MPE_simple_world_comm_v3", "MPE_simple_spread_v3",
                "MPE_simple_crypto_v3", "MPE_simple_speaker_listener_v4", "MPE_simple_push_v3",
                "MPE_simple_adversary_v3", "MPE_simple_reference_v3", "SMAX", "HeuristicEnemySMAX", "overcooked",
                "overcooked_v2", "jaxnav"]
JUMANJI_PASS = ["Cleaner-v0", "Connector-v3", "LevelBasedForaging-v0", "MMST-v0", "RobotWarehouse-v0",
                "SearchAndRescue-v0"]


def doc_rows(section: str) -> dict[str, str]:
    """``{env name: status}`` of the table under ``## section`` in docs/jax-envs.md."""
    text = DOC.read_text().split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) == 2 and cells[0] not in ("env", "---"):
            for name in cells[0].split(","):
                rows[re.sub(r"\s*\(.*\)", "", name).strip().replace("\\|", "|")] = cells[1]
    return rows


def test_the_doc_lists_every_env_and_the_passing_ones_agree():
    jaxmarl = pytest.importorskip("jaxmarl")
    jumanji = pytest.importorskip("jumanji")
    for section, names, passing in (("JaxMARL", jaxmarl.registered_envs, JAXMARL_PASS),
                                    ("Jumanji", jumanji.registered_environments(), JUMANJI_PASS)):
        rows = doc_rows(section)
        robotarium = {n for n in names if n.startswith("JaxRobotarium_")}
        assert set(names) - robotarium <= set(rows), set(names) - robotarium - set(rows)
        if robotarium:
            assert "JaxRobotarium_*" in rows
        assert {n for n, status in rows.items() if status == "passes"} == set(passing)


@pytest.mark.slow
@pytest.mark.parametrize("name", JAXMARL_PASS)
def test_jaxmarl_env_passes_check_env(name):
    pytest.importorskip("jaxmarl")
    check_env(make(f"jaxmarl:{name}", **({"scenario": "3m"} if "SMAX" in name else {})), num_steps=20)


@pytest.mark.slow
@pytest.mark.parametrize("name", JUMANJI_PASS)
def test_jumanji_env_passes_check_env(name):
    pytest.importorskip("jumanji")
    check_env(make(f"jumanji:{name}"), num_steps=20)
