"""Ctrl-C and SIGTERM on real ``phalanx`` processes mid-run: a checkpoint of the latest chunk is written, one
line says how to resume, the exit status is 130 with no traceback, and the resumed run finishes (train:
with the same parameters as an uninterrupted run)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from phalanx.cli import main


def _start(command: str, args: list[str]) -> subprocess.Popen:
    # The session's compilation cache (tests/conftest.py) comes with os.environ.
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    return subprocess.Popen([sys.executable, "-m", "phalanx", command, *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _interrupt(proc: subprocess.Popen, run_dir: Path, sig: int, lines: int = 2) -> str:
    """Send ``sig`` once ``metrics.jsonl`` has ``lines`` lines (the run is mid-way); return its stderr."""
    metrics = run_dir / "metrics.jsonl"
    deadline = time.monotonic() + 300  # compiling on a loaded 2-core machine
    while not (metrics.exists() and len(metrics.read_text().splitlines()) >= lines):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert "Traceback" not in err, err
    return err.strip()


TRAIN = ["env=simple_spread", "env.N=2", "train.num_envs=4", "train.num_steps=32", "train.update_epochs=1",
         "train.num_minibatches=2", "train.hidden=[16]", "train.total_steps=64000", "log_every=1",
         "checkpoint_every=100000", "seed=2"]


# IQL (test_faults_runs.py's learner): 500 chunks of one update of 4 envs x 8 steps.
TRAIN_IQL = ["env=simple_spread", "env.N=2", "algo=iql", "train.num_envs=4", "train.num_steps=8",
             "train.buffer_size=256", "train.learning_starts=32", "train.batch_size=8", "train.gradient_steps=1",
             "train.hidden=[16]", "train.recurrent_size=0", "train.total_steps=16000", "log_every=1",
             "checkpoint_every=100000", "seed=2"]


@pytest.mark.parametrize(("algo", "sig"), [
    ("ppo", signal.SIGINT), pytest.param("ppo", signal.SIGTERM, marks=pytest.mark.slow),  # the same handler
    pytest.param("iql", signal.SIGINT, marks=pytest.mark.slow)], ids=["SIGINT", "SIGTERM", "iql-SIGINT"])
def test_train_interrupted_checkpoints_says_how_to_resume_and_resumes_bit_exact(tmp_path, capsys, algo, sig):
    from phalanx.runtime.run_config import resolve
    from phalanx.runtime.train_run import restore_final, run

    train = TRAIN if algo == "ppo" else TRAIN_IQL
    path = tmp_path / "run"
    err = _interrupt(_start("train", [*train, f"run_dir={path}"]), path, sig)
    assert err.count("\n") == 0 and err.endswith(f"continue with: phalanx train resume={path}"), err
    assert "checkpoint" in err and "written" in err, err  # checkpoint_every is never reached: this one is new
    assert main(["train", f"resume={path}"]) == 0
    assert "resumed from checkpoint" in capsys.readouterr().out
    run(resolve([*train, f"run_dir={tmp_path / 'whole'}"]))
    want, _ = restore_final(tmp_path / "whole")
    got, progress = restore_final(path)
    assert progress["chunks_done"] == 500
    for a, b in zip(jax.tree.leaves(want), jax.tree.leaves(got), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    lines = (path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 500  # lines logged after the interrupt's checkpoint were cut back on resume


def test_psro_interrupted_resumes_to_the_end(tmp_path, capsys):
    from phalanx.runtime.population_run import restore_final

    path = tmp_path / "run"
    args = ["env=kuhn_poker", "population.oracle=exact", "population.iterations=40", "checkpoint_every=1000"]
    err = _interrupt(_start("psro", [*args, f"run_dir={path}"]), path, signal.SIGINT)
    assert err.endswith(f"continue with: phalanx psro resume={path}") and "written" in err, err
    assert main(["psro", f"resume={path}"]) == 0
    assert "resumed from iteration" in capsys.readouterr().out
    assert restore_final(path)[0].iteration == 40


@pytest.mark.slow
def test_league_interrupted_resumes_to_the_end(tmp_path, capsys):
    from conftest import TINY_LEAGUE

    path = tmp_path / "run"
    args = [a for a in TINY_LEAGUE if not a.startswith("checkpoint_every=")]
    err = _interrupt(_start("league", [*args, "checkpoint_every=1000", f"run_dir={path}"]), path,
                     signal.SIGTERM, lines=1)
    assert err.endswith(f"continue with: phalanx league resume={path}"), err
    assert main(["league", f"resume={path}"]) == 0
    assert (path / "league_final.json").is_file()


def test_eval_interrupted_is_one_line(tiny_run):
    """``phalanx eval`` has nothing to save: Ctrl-C is one line and status 130."""
    # A Ctrl-C'd user's shell delivers SIGINT to a process whose SIGINT is default; pytest-xdist's workers
    # ignore SIGINT, and an ignored SIGINT is inherited (Python then installs no KeyboardInterrupt handler).
    proc = subprocess.Popen([sys.executable, "-u", "-m", "phalanx", "eval", f"run_dir={tiny_run[0]}",
                             "episodes=100000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert "phalanx eval" in proc.stdout.readline()  # past the imports, evaluating
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == "phalanx: interrupted.", err


@pytest.mark.slow  # starts a Ray; test_run_context's another-thread test covers the mechanism in seconds
def test_ray_coordinator_interrupted_checkpoints_and_resumes(tmp_path, capsys):
    """``backend=ray``: SIGTERM reaches the driver; the coordinator actor's run stops after its iteration,
    checkpoints it and the driver ends with the one line saying how to resume (exit 130, no traceback)."""
    pytest.importorskip("ray")
    from phalanx.runtime.checkpoint import Checkpoints
    from phalanx.runtime.population_run import restore_final

    path = tmp_path / "run"
    args = ["env=kuhn_poker", "population.oracle=exact", "population.iterations=200", "checkpoint_every=1000",
            "backend=ray", "ray.num_workers=0", f"run_dir={path}"]
    proc = subprocess.Popen([sys.executable, "-m", "phalanx", "psro", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    err = _interrupt(proc, path, signal.SIGTERM)
    last = err.splitlines()[-1]
    assert last.startswith("phalanx: interrupted: checkpoint ") and "written" in last, err
    assert last.endswith(f"continue with: phalanx psro resume={path}"), err
    done = Checkpoints(path / "checkpoints").latest_step()
    assert done is not None and 2 <= done < 200
    assert main(["psro", f"resume={path}", "backend=local", f"population.iterations={done + 2}"]) == 0
    assert "resumed from iteration" in capsys.readouterr().out
    assert restore_final(path)[0].iteration == done + 2
