"""The fault suite beyond a PPO ``train`` run (test_faults.py): an IQL ``train`` run, a PSRO run with a learned
(PPO) oracle and a league. Each finished run is made once; a copy with its newest checkpoint damaged resumes
from the one before, says so in one line and ends as the undamaged run ended; a copy held by a live process
refuses a resume with exit 2 naming it; each run on a small tmpfs fills it, says so in one line and,
with space freed, resumes and ends as the roomy run ended."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from conftest import TINY_LEAGUE
from test_faults import _HOLDER, _damage, _one_line, tmpfs  # noqa: F401 (tmpfs: the fixture)
from test_population_run import KUHN_PPO, assert_same_run

from phalanx.cli import main
from phalanx.runtime.checkpoint import Checkpoints
from phalanx.runtime.faults import LOCK_NAME

# IQL on a two-agent simple_spread: 6 updates of 4 envs x 8 steps in chunks of 2, checkpoints after chunks
# 2 and 3; learning starts within the run, so the replay buffer and Q-networks both change.
IQL = ["env=simple_spread", "env.N=2", "algo=iql", "train.num_envs=4", "train.num_steps=8",
       "train.buffer_size=256", "train.learning_starts=32", "train.batch_size=8", "train.gradient_steps=1",
       "train.hidden=[16]", "train.recurrent_size=0", "train.total_steps=192", "log_every=2",
       "checkpoint_every=2", "seed=3"]
# PSRO on Kuhn poker with a PPO best response per player (2 updates of 64 envs x 8 steps), two iterations
# (checkpoints 1 and 2).
PSRO = [*KUHN_PPO, "train.total_steps=1024", "population.iterations=2"]

COMMAND = {"iql": "train", "psro": "psro", "league": "league"}


@pytest.fixture(scope="module")
def finished(tmp_path_factory, request):
    """``{kind: run dir}`` of finished runs, each made the first time a test asks for it."""
    runs: dict[str, Path] = {}

    def get(kind: str) -> Path:
        if kind == "league":
            return request.getfixturevalue("tiny_league")  # conftest's, shared by the session
        if kind not in runs:
            path = tmp_path_factory.mktemp(kind) / "run"
            assert main([COMMAND[kind], *(IQL if kind == "iql" else PSRO), f"run_dir={path}"]) == 0
            runs[kind] = path
        return runs[kind]

    return get


def _same_train(a: Path, b: Path) -> None:
    from phalanx.runtime.train_run import restore_final

    (want, pa), (got, pb) = restore_final(a), restore_final(b)
    assert pa["chunks_done"] == pb["chunks_done"] == 3
    for x, y in zip(jax.tree.leaves(want), jax.tree.leaves(got), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _same_league(a: Path, b: Path) -> None:
    """Same metrics and final table (bar timings), learners and league (as test_league_run's resume test)."""
    from phalanx.runtime import league_run
    from phalanx.runtime import run_dir as rd
    from phalanx.runtime.backend import LocalBackend

    def timeless(x: dict) -> dict:
        return {k: v for k, v in x.items() if k != "wall_time"}

    def lines(path: Path) -> list[dict]:
        return [timeless(json.loads(s)) for s in (path / "metrics.jsonl").read_text().splitlines()]

    assert lines(a) == lines(b)
    final_a, final_b = (json.loads((p / "league_final.json").read_text()) for p in (a, b))
    assert timeless(final_a) == timeless(final_b)
    config = rd.load_config(a, league_run.KIND)
    ra, rb = (league_run.LeagueRun.restore(config, p, LocalBackend()) for p in (a, b))
    for i in ra.learners:
        for x, y in zip(jax.tree.leaves(ra.learners[i]), jax.tree.leaves(rb.learners[i]), strict=True):
            np.testing.assert_array_equal(x, y)
    assert ra.league.to_dict() == rb.league.to_dict() and rb.progress["stage"] == "done"


SAME = {"iql": _same_train, "psro": assert_same_run, "league": _same_league}


@pytest.mark.slow
@pytest.mark.parametrize("how", ["truncated progress", "truncated state file", "deleted state metadata"])
@pytest.mark.parametrize("kind", ["iql", "psro", "league"])
def test_damaged_newest_checkpoint_falls_back_and_ends_as_the_undamaged_run(finished, tmp_path, capsys, kind,
                                                                           how):
    original = finished(kind)
    path = tmp_path / "run"
    shutil.copytree(original, path)
    newest = Checkpoints(path / "checkpoints").all_steps()
    assert len(newest) == 2  # the one to damage and the one to fall back to
    _damage(path, how, newest[-1])
    capsys.readouterr()
    assert main([COMMAND[kind], f"resume={path}"]) == 0
    out = capsys.readouterr().out
    skipped = [line for line in out.splitlines() if f"checkpoint {newest[-1]} is damaged" in line]
    assert len(skipped) == 1, out
    assert "resuming from the one before" in skipped[0] and "Traceback" not in out
    assert (path / "damaged_checkpoints" / str(newest[-1])).is_dir()
    SAME[kind](original, path)


@pytest.mark.parametrize("kind", [pytest.param("iql", marks=pytest.mark.slow),
                                  pytest.param("psro", marks=pytest.mark.slow), "league"])
def test_a_live_lock_refuses_a_resume_naming_the_process(finished, tmp_path, capsys, kind):
    path = tmp_path / "run"
    shutil.copytree(finished(kind), path)
    before = sorted((p.relative_to(path), p.stat().st_size) for p in path.rglob("*") if p.is_file())
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        capsys.readouterr()
        assert main([COMMAND[kind], f"resume={path}"]) == 2
        line = _one_line(capsys.readouterr().err)
        assert f"pid {holder.pid}" in line and "in use" in line, line
    finally:
        holder.kill()
        holder.wait()
    after = sorted((p.relative_to(path), p.stat().st_size) for p in path.rglob("*") if p.is_file())
    assert [f for f in after if f[0].name != LOCK_NAME] == before  # nothing written beside the holder's lock


# A tmpfs each run outgrows part-way (tmpfs counts whole pages).
FULL_AT = {"iql": "size=150k", "psro": "size=150k", "league": "size=150k"}
ARGS = {"iql": IQL, "psro": PSRO, "league": TINY_LEAGUE}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["iql", "psro", "league"])
def test_full_disk_is_one_line_and_resume_after_freeing_space_ends_as_the_roomy_run(
        finished, tmpfs, kind):  # noqa: F811 (tmpfs: test_faults.py's fixture, imported above)
    """As test_faults.py's PPO case: the disk fills, exit 1 with one line naming no space left; with the
    tmpfs grown, resume finishes and ends as the same run on a roomy disk."""
    point = tmpfs(FULL_AT[kind])
    path = point / "run"
    full = subprocess.run([sys.executable, "-m", "phalanx", COMMAND[kind], *ARGS[kind], f"run_dir={path}"],
                          capture_output=True, text=True, timeout=600)
    assert full.returncode == 1, full.stderr
    line = _one_line(full.stderr)
    assert line == f"phalanx: error: no space left on {path}; free some space (or give run_dir= on " \
                   "another disk), then resume", line
    subprocess.run(["mount", "-o", "remount,size=20m", str(point)], check=True)
    assert main([COMMAND[kind], f"resume={path}"]) == 0
    SAME[kind](finished(kind), path)
