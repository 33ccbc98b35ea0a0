"""The command line: listing envs, benchmarking, and one-line errors with exit status 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from phalanx.cli import main


def test_envs_lists_every_registered_env(capsys):
    import phalanx

    assert main(["envs"]) == 0
    out = capsys.readouterr().out
    for name in phalanx.registered():
        assert name[:14] in out
    assert "taggers" in out and "MultiDiscrete" in out


def test_bench_runs_and_reports_throughput(capsys):
    assert main(["bench", "env=tag", "num_envs=4", "num_steps=5", "repeats=1", "env.num_runners=3"]) == 0
    out = capsys.readouterr().out
    assert "tag random-action throughput" in out
    row = next(line for line in out.splitlines() if line.strip().startswith("│") and " 4 " in line)
    numbers = [c.strip().replace(",", "") for c in row.strip("│ ").split("│")]
    assert numbers[:3] == ["4", "4", "5"]  # envs, agents per env, steps
    assert float(numbers[5]) > 0  # env steps/s


def test_env_throughput_counts_steps():
    import phalanx
    from phalanx.bench import env_throughput

    r = env_throughput(phalanx.make("tag", num_runners=3), num_envs=3, num_steps=4, repeats=1)
    assert r["num_agents"] == 4
    assert r["agent_steps_per_s"] == pytest.approx(4 * r["env_steps_per_s"])
    assert r["env_steps_per_s"] == pytest.approx(12 / r["seconds"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bench", "env=tga"], "unknown environment 'tga'. Did you mean 'tag'?"),
        (["bench", "num_envs=-1"], "num_envs=-1: expected an integer >= 1"),
        (["bench", "num_envs=many"], "num_envs='many': expected an integer"),
        (["bench", "num_env=3"], "unknown key 'num_env'. Did you mean 'num_envs'?"),
        (["bench", "env.num_runers=3"], "unknown setting 'num_runers'. Did you mean 'num_runners'?"),
        (["bench", "oops"], "not of the form key=value"),
        (["trian"], "unknown command 'trian'"),
    ],
)
def test_user_errors_are_one_line_exit_2(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_console_script_exit_status():
    proc = subprocess.run(
        [sys.executable, "-m", "phalanx", "bench", "env=nope"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("phalanx: error: unknown environment 'nope'")


def test_config_prints_resolved_yaml(capsys):
    assert main(["config", "bench", "num_envs=7"]) == 0
    out = capsys.readouterr().out
    assert "num_envs: 7" in out and "env: tag" in out
