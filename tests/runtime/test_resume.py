"""Resume after SIGKILL gives the same parameters bit for bit; checkpoints are never half-written."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from phalanx.runtime.checkpoint import Checkpoints
from phalanx.runtime.train_run import restore_final

NUM_CHUNKS = 12  # one update per chunk, a checkpoint after each: long enough to kill mid-run


def _train(args: list[str]) -> subprocess.Popen:
    # The session's compilation cache (tests/conftest.py) comes with os.environ: the three runs compile once.
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    return subprocess.Popen([sys.executable, "-m", "phalanx", "train", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finished(proc: subprocess.Popen) -> None:
    out, _ = proc.communicate(timeout=300)  # generous: compiling on a loaded 2-core machine
    assert proc.returncode == 0, out


def _finalised(checkpoints: Path) -> list[str]:
    return [p.name for p in checkpoints.iterdir() if p.name.isdigit()] if checkpoints.exists() else []


# A tiny QMIX run with 128 env steps per update too: the replay buffer, target network, optimiser
# and reward statistics must all come back from a checkpoint exactly.
TINY_QMIX = ["env=simple_spread", "env.N=2", "algo=qmix", "train.num_envs=4", "train.num_steps=32",
             "train.buffer_size=512", "train.learning_starts=256", "train.batch_size=8", "train.gradient_steps=1",
             "train.hidden=[16]", "train.recurrent_size=0", "train.target_update_every=4", "train.mixer_embed=8",
             "train.hypernet_embed=16"]


# QMIX's case is slow: test_faults_runs resumes a value-based (IQL) run bit-exact in the fast suite.
@pytest.fixture(scope="module", params=["ippo", pytest.param("qmix", marks=pytest.mark.slow)])
def runs(request, tmp_path_factory):
    from conftest import TINY

    tmp = tmp_path_factory.mktemp(f"resume-{request.param}")
    tiny = TINY if request.param == "ippo" else TINY_QMIX
    args = [*tiny, f"train.total_steps={NUM_CHUNKS * 128}", "log_every=1", "checkpoint_every=1", "seed=5"]
    full = _train([*args, f"run_dir={tmp / 'full'}"])
    killed = _train([*args, f"run_dir={tmp / 'killed'}"])
    deadline = time.monotonic() + 300
    while not _finalised(tmp / "killed" / "checkpoints"):
        assert killed.poll() is None, killed.communicate()[0]
        assert time.monotonic() < deadline
        time.sleep(0.005)
    killed.send_signal(signal.SIGKILL)
    killed.communicate()
    assert killed.returncode == -signal.SIGKILL
    after_kill = (tmp / "killed" / "metrics.jsonl").read_text().splitlines()
    assert len(after_kill) < NUM_CHUNKS, "the run finished before it was killed"
    # Summaries are written before each checkpoint, so a killed run already has them.
    assert (tmp / "killed" / "learning_curve.png").exists() and (tmp / "killed" / "marl_eval.json").exists()
    listed = Checkpoints(tmp / "killed" / "checkpoints").all_steps()
    _finished(_train([f"resume={tmp / 'killed'}"]))
    _finished(full)
    return tmp / "full", tmp / "killed", listed


def test_resume_after_sigkill_matches_an_uninterrupted_run(runs):
    full, resumed, listed = runs
    assert listed, "the killed run left no finalised checkpoint"
    (state_a, progress_a), (state_b, progress_b) = restore_final(full), restore_final(resumed)
    assert progress_a["chunks_done"] == progress_b["chunks_done"] == NUM_CHUNKS
    assert progress_a["env_steps"] == progress_b["env_steps"] == NUM_CHUNKS * 128
    leaves_a, tree_a = jax.tree_util.tree_flatten(state_a.params)
    leaves_b, tree_b = jax.tree_util.tree_flatten(state_b.params)
    assert tree_a == tree_b and leaves_a
    for a, b in zip(leaves_a, leaves_b, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # The rest of the state (optimiser, envs, RNG key, counters) matches too.
    for a, b in zip(jax.tree.leaves(state_a), jax.tree.leaves(state_b), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    lines_a = [json.loads(s) for s in (full / "metrics.jsonl").read_text().splitlines()]
    lines_b = [json.loads(s) for s in (resumed / "metrics.jsonl").read_text().splitlines()]
    assert [line["chunk"] for line in lines_b] == list(range(NUM_CHUNKS))  # one line per log step, no repeats
    timing = ("wall_time", "steps_per_s")
    for a, b in zip(lines_a, lines_b, strict=True):
        assert {k: v for k, v in a.items() if k not in timing} == {k: v for k, v in b.items() if k not in timing}
    assert json.loads((full / "marl_eval.json").read_text()) == json.loads((resumed / "marl_eval.json").read_text())


def test_checkpoints_are_only_listed_once_finalised(runs, tmp_path):
    full, _, _ = runs
    directory = tmp_path / "checkpoints"
    shutil.copytree(full / "checkpoints", directory)
    assert sorted(int(p.name) for p in directory.iterdir()) == [NUM_CHUNKS - 1, NUM_CHUNKS]  # the last 2 kept
    # A save cut short leaves Orbax's temporary directory (renamed only when complete): never listed.
    for name in (f"{NUM_CHUNKS + 1}.orbax-checkpoint-tmp", f"{NUM_CHUNKS + 2}.orbax-checkpoint-tmp-1234"):
        shutil.copytree(directory / str(NUM_CHUNKS), directory / name)
        for f in list((directory / name).rglob("*"))[::2]:
            if f.is_file():
                f.unlink()
    ckpt = Checkpoints(directory)
    try:
        assert ckpt.all_steps() == [NUM_CHUNKS - 1, NUM_CHUNKS]
        assert ckpt.latest_step() == NUM_CHUNKS
        assert ckpt.progress(NUM_CHUNKS)["chunks_done"] == NUM_CHUNKS
    finally:
        ckpt.close()
