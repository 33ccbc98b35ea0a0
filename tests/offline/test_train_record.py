"""``phalanx train record=PATH``: the training rollout's every step lands in a vault, written between chunks;
a killed and resumed run leaves the same vault as one that ran through."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

import phalanx
from phalanx.algos.registry import get_algorithm
from phalanx.cli import main
from phalanx.config import build
from phalanx.runtime.train_record import RecState, TrainRecorder, record_chunk, with_recording
from phalanx.runtime.vault import VaultWriter, read_vault, structure

TINY = ["env=simple_spread", "env.N=2", "train.num_envs=4", "train.num_steps=32", "train.update_epochs=1",
        "train.num_minibatches=2", "train.hidden=[16]", "train.total_steps=768", "num_seeds=2", "seed=3",
        "log_every=2", "checkpoint_every=2"]


@pytest.mark.parametrize("algo,settings,train", [
    ("ippo", {}, {"num_envs": 3, "num_steps": 30, "hidden": (8,), "num_minibatches": 1, "update_epochs": 1}),
    pytest.param("iql", {}, {"num_envs": 3, "num_steps": 30, "hidden": (8,), "total_steps": 900,
                             "learning_starts": 0}, marks=pytest.mark.slow),
    pytest.param("maddpg", {"continuous_actions": True}, {"num_envs": 3, "num_steps": 30, "hidden": (8,),
                 "total_steps": 900, "warmup_steps": 30, "batch_size": 16}, marks=pytest.mark.slow),
])
def test_recorded_rows_are_the_steps_the_learner_took(algo, settings, train):
    """Two updates in one compiled chunk: every row is the env's own step under the recorded actions."""
    env = phalanx.make("simple_spread", N=2, **settings)
    algorithm = get_algorithm(algo)
    config = build(algorithm.config_cls, {**algorithm.defaults, **train})
    trainer = with_recording(algorithm.make_train(config, env), env)
    state0 = jax.jit(trainer.init)(jax.random.PRNGKey(0))
    state, _, (rows, counts) = jax.jit(record_chunk(trainer, 2))(state0)
    rows, counts = jax.device_get((rows, counts))
    assert list(counts) == [30, 30]
    is_rec = lambda x: isinstance(x, RecState)  # noqa: E731
    recorders = [r for r in jax.tree.leaves(state, is_leaf=is_rec) if is_rec(r)]
    assert len(recorders) == 1 and recorders[0].rows is None  # the rows left with the chunk's output
    like = structure(env)
    assert jax.tree.map(lambda x: x.shape[3:], rows) == jax.tree.map(lambda x: x.shape, like)
    flat = jax.tree.map(lambda x: x.reshape(60, 3, *x.shape[3:]), rows)  # (time, env, ...)
    # Replay the first episode (25 steps, no reset: simple_spread's steps are deterministic) from the start state.
    step = jax.jit(trainer.env.venv.step)
    env_state, ts = state0.env_state.env_state, None
    obs = state0.timestep.obs["agents"]
    for t in range(25):
        np.testing.assert_allclose(flat["observations"][t], np.asarray(obs).reshape(3, 2, -1), rtol=1e-5, atol=1e-6)
        env_state, ts = step(jax.random.PRNGKey(t), env_state, {"agents": flat["actions"][t]})
        np.testing.assert_allclose(flat["rewards"][t], ts.reward["agents"], rtol=1e-5, atol=1e-6)
        obs = ts.obs["agents"]
    assert (flat["truncations"][24] == 1).all() and (flat["truncations"][:24] == 0).all()
    assert (flat["terminals"] == 0).all()


def _rows(like, t, start):
    """``t`` rows of 2 streams; stream e's episodes last 3 + e steps; rewards count rows from ``start``."""
    rows = jax.tree.map(lambda x: np.zeros((1, t, 2, *x.shape), x.dtype), like)
    for e in range(2):
        steps = np.arange(start, start + t)
        rows["rewards"][0, :, e] = (steps * 10 + e)[:, None]
        rows["truncations"][0, :, e] = ((steps + 1) % (3 + e) == 0)[:, None]
    return rows


def test_resumed_recorder_appends_exactly_what_an_uninterrupted_one_writes(tmp_path):
    """Chunks 1..4 straight through == chunks 1..2, a later chunk 3 written then lost (killed before the
    checkpoint), and the run resumed from chunk 2: no row twice, none missing, episodes whole."""
    env = phalanx.make("simple_spread", N=2)
    like = structure(env)
    chunks = [_rows(like, 5, 5 * c) for c in range(4)]

    def recorder(name):
        (tmp_path / name).mkdir()
        return TrainRecorder(VaultWriter(tmp_path / f"{name}.vlt" / "Replay", env, {}), tmp_path / name, 1, 5)

    straight = recorder("a")
    for c in chunks:
        straight.add(c, np.full((1,), 5))
    straight.finish()

    cut = recorder("b")
    progress = {}
    for i, c in enumerate(chunks[:2]):
        cut.add(c, np.full((1,), 5))
        cut.mark(i + 1, progress, [i + 1])
    cut.add(chunks[2], np.full((1,), 5))  # written, then the run dies before checkpoint 3
    cut.wait()
    assert cut.writer.rows > progress["record_rows"]
    resumed = TrainRecorder(VaultWriter.reopen(tmp_path / "b.vlt" / "Replay", env, progress["record_rows"],
                                               progress["record_episodes"]), tmp_path / "b", 1, 5)
    resumed._load_pending(2)
    for c in chunks[2:]:
        resumed.add(c, np.full((1,), 5))
    resumed.finish()

    a, meta_a = read_vault(tmp_path / "a.vlt")
    b, meta_b = read_vault(tmp_path / "b.vlt")
    assert a["rewards"].shape[0] == 2 * 20  # every row of both streams, once
    jax.tree.map(np.testing.assert_array_equal, a, b)
    assert meta_a["phalanx"]["episode_returns"] == meta_b["phalanx"]["episode_returns"]
    # Stream 0's episodes (3 steps) come whole and in order: rewards 0,10,20 | 30,40,50 | ...
    ends = np.flatnonzero(a["truncations"][:, 0])
    first = a["rewards"][: ends[0] + 1, 0]
    np.testing.assert_array_equal(first, [0, 10, 20])


def test_a_recording_run_writes_every_step_and_evaluates(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", *TINY, "run_dir=r", "record=d.vlt"]) == 0
    exp, meta = read_vault(tmp_path / "d.vlt")
    info = meta["phalanx"]
    assert exp["rewards"].shape == (2 * 768, 2)  # every env step of both seeds
    assert info["env"] == "simple_spread" and info["quality"] == "Replay" and info["algo"] == "ippo"
    assert info["policy"] == str((tmp_path / "r").resolve()) and info["episodes"] == 2 * 4 * 8
    assert main(["eval", "run_dir=r", "episodes=2"]) == 0  # the run's checkpoints (recorder state inside) load
    capsys.readouterr()
    assert main(["train", *TINY, "run_dir=r2", "record=d.vlt"]) == 2  # never overwrites a dataset
    err = capsys.readouterr().err.strip()
    assert "record=d.vlt" in err and "exists" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r2").exists()


@pytest.mark.parametrize("extra,what", [(["algo=bc", "data=x.vlt"], "records nothing"),
                                        (["backend=ray"], "backend=local")])
def test_record_refused_where_it_cannot_run(tmp_path, monkeypatch, capsys, extra, what):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "env=simple_spread", "record=d.vlt", "run_dir=r", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert what in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r").exists() and not (tmp_path / "d.vlt").exists()


KILL_IN_CHUNK_3 = textwrap.dedent("""
    import os, signal, sys
    from phalanx.cli import main
    from phalanx.runtime.train_record import TrainRecorder
    add, calls = TrainRecorder.add, []
    def dying_add(self, rows, counts):
        add(self, rows, counts)
        calls.append(1)
        if len(calls) == 3:  # chunk 3's rows are in the vault; checkpoint 3 is never written
            os.kill(os.getpid(), signal.SIGKILL)
    TrainRecorder.add = dying_add
    main(["train", *sys.argv[1:]])
""")


@pytest.mark.slow
def test_killed_recording_run_resumes_to_the_vault_of_an_uninterrupted_run(tmp_path):
    args = [a for a in TINY if not a.startswith(("train.total_steps=", "checkpoint_every="))]
    args += ["train.total_steps=1024", "checkpoint_every=1"]  # 4 chunks; a checkpoint after each
    assert main(["train", *args, f"run_dir={tmp_path / 'a'}", f"record={tmp_path / 'a.vlt'}"]) == 0
    proc = subprocess.run([sys.executable, "-c", KILL_IN_CHUNK_3, *args, f"run_dir={tmp_path / 'b'}",
                           f"record={tmp_path / 'b.vlt'}"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == -9, proc.stderr[-2000:]
    killed, _ = read_vault(tmp_path / "b.vlt")  # reads back whole: complete episodes up to the last write
    assert (killed["truncations"][-1] == 1).all()
    assert main(["train", f"resume={tmp_path / 'b'}"]) == 0
    a, meta_a = read_vault(tmp_path / "a.vlt")
    b, meta_b = read_vault(tmp_path / "b.vlt")
    jax.tree.map(np.testing.assert_array_equal, a, b)
    assert meta_a["phalanx"]["episode_returns"] == meta_b["phalanx"]["episode_returns"]
    # A resume from an older checkpoint (the newest lost) cuts the vault back and writes it again: same vault.
    shutil.rmtree(tmp_path / "b" / "checkpoints" / "4")
    assert main(["train", f"resume={tmp_path / 'b'}"]) == 0
    jax.tree.map(np.testing.assert_array_equal, a, read_vault(tmp_path / "b.vlt")[0])
