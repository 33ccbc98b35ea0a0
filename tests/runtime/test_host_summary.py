"""``phalanx train env=pettingzoo:<module>`` ends as a local run does: summary.json and the printed summary (final
greedy return and random play on the run's host envs, best training chunk), marl_eval.json's absolute metrics from
that same evaluation; ``phalanx.load_policy`` reads it back; ``phalanx eval`` on such a run is one line pointing
there (issue 14)."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

import phalanx
from phalanx.algos.common.host import host_learner
from phalanx.algos.registry import get_algorithm
from phalanx.cli import main
from phalanx.evaluation import state_actors
from phalanx.runtime import run_dir as rd
from phalanx.runtime.checkpoint import Checkpoints
from phalanx.runtime.final_eval import EPISODES, host_returns
from phalanx.runtime.train_summary import mean_return

pytest.importorskip("mpe2")

# simple_spread with 2 agents and 5-step episodes; 4 PPO updates of 16 env steps on 2 envs.
ENV = ["env=pettingzoo:mpe2.simple_spread_v3", "env.N=2", "env.max_cycles=5"]
TINY = [*ENV, "train.num_envs=2", "train.num_steps=8", "train.total_steps=64", "train.num_minibatches=1",
        "train.update_epochs=1", "train.hidden=[8]", "log_every=2", "seed=3"]


def _pool(num_envs: int):
    from phalanx.interop.pettingzoo_in import pettingzoo_factory
    from phalanx.runtime.host_envs import from_pettingzoo

    return from_pettingzoo(pettingzoo_factory("pettingzoo:mpe2.simple_spread_v3", N=2, max_cycles=5), num_envs,
                           num_workers=0)


def _final_state(run_dir, venv):
    """The run's learner (on ``venv``) and its last checkpoint."""
    config = rd.load_config(run_dir, rd.TRAIN)
    learner = host_learner(get_algorithm(config.algo).make_train, config.train, venv)
    like = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), jax.eval_shape(learner.init, jax.random.PRNGKey(0)))
    ckpt = Checkpoints(run_dir / "checkpoints")
    try:
        state, _ = ckpt.restore(ckpt.latest_step(), like)
    finally:
        ckpt.close()
    return learner, state


def test_a_pettingzoo_run_ends_with_the_summary_played_on_its_host_envs(tmp_path, capsys):
    run_dir = tmp_path / "pz"
    # The envs in this process (num_workers=0): the same pool interface as worker processes, started at no cost.
    assert main(["train", *TINY, "num_workers=0", f"run_dir={run_dir}"]) == 0
    out = capsys.readouterr().out
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["played_on"] == "host" and summary["num_seeds"] == 1
    assert summary["final_episodes"] == summary["random_episodes"] == EPISODES  # every 5-step episode ends
    lines = [json.loads(s) for s in (run_dir / "metrics.jsonl").read_text().splitlines()]
    best = max(lines, key=lambda line: line["episode_return"]["agent"])
    assert (summary["best_return"], summary["best_env_steps"], summary["best_chunk"]) == \
        (best["episode_return"]["agent"], best["env_steps"], best["chunk"])
    # The final return is marl_eval.json's absolute metrics (one evaluation, not a training chunk's mean) ...
    runs = json.loads((run_dir / "marl_eval.json").read_text())["pettingzoo:mpe2.simple_spread_v3"]
    absolute = next(iter(runs.values()))["IPPO"]["seed_0"]["absolute_metrics"]["return"]
    assert len(absolute) == EPISODES and summary["final_return"] == pytest.approx(np.mean(absolute), rel=1e-12)
    assert summary["final_return"] != pytest.approx(best["episode_return"]["agent"])
    # ... and replaying the checkpointed policy greedily on a fresh pool (in-process, 4 envs: other rounds) gives the
    # same episodes: episode j starts from reset seed `seed + j` whatever the pool's size.
    with _pool(2) as venv:
        learner, state = _final_state(run_dir, venv)
        random = host_returns(venv, None, EPISODES, seed=3)  # random play: the same function, pool size and seed
    assert summary["random_return"] == pytest.approx(mean_return(venv, random), rel=1e-9)
    with _pool(4) as venv:
        greedy = host_returns(venv, state_actors(learner, state, 4, greedy=True), EPISODES, seed=3)
    np.testing.assert_allclose(greedy["agent"], absolute, rtol=1e-5)
    # phalanx.load_policy reads the run back (its env is the PettingZoo env's spec) and acts as its learner.
    policy = phalanx.load_policy(run_dir)
    obs = np.random.default_rng(0).normal(size=(4, 2, *venv.spec.groups["agent"].observation.shape))
    actions, _ = policy.act({"agent": obs.astype(np.float32)}, greedy=True)
    want, _ = learner.act(learner.policy_params(state, "agent"), "agent", learner.initial_hidden(4)["agent"],
                          obs.astype(np.float32), np.ones(4, bool), jax.random.PRNGKey(0), greedy=True)
    np.testing.assert_array_equal(np.asarray(actions["agent"]), np.asarray(want))
    printed = out[out.index("summary (summary.json):"):].splitlines()[:4]
    assert printed[1].split()[:3] == ["final", "return", f"{summary['final_return']:.4g}"], printed
    assert f"(greedy, {EPISODES} episodes on the host envs)" in printed[1]
    assert printed[2].split()[:3] == ["best", "return", f"{summary['best_return']:.4g}"], printed
    assert printed[3].split()[:3] == ["random", "play", f"{summary['random_return']:.4g}"], printed
    assert all(len(line) <= 80 for line in printed)
    # phalanx eval: one line saying where this run's evaluation is, nothing written.
    before = sorted(p.name for p in run_dir.iterdir())
    assert main(["eval", f"run_dir={run_dir}"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "summary.json" in err and "PettingZoo run" in err, err
    assert sorted(p.name for p in run_dir.iterdir()) == before


def test_host_returns_keeps_each_envs_first_episode():
    """3 episodes on 2 envs: two rounds, the second's second env left out; random play from the same seed repeats."""
    with _pool(2) as venv:
        a = host_returns(venv, None, 3, seed=0)
        b = host_returns(venv, None, 3, seed=0)
        c = host_returns(venv, None, 3, seed=1)
    assert a["agent"].shape == (3,) and np.all(np.isfinite(a["agent"]))
    np.testing.assert_array_equal(a["agent"], b["agent"])
    assert not np.array_equal(a["agent"], c["agent"])
