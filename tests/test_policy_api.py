"""``phalanx.load_policy``: a trained run's policy in one call; its greedy actions are the learner's own
``act(greedy=True)`` on the checkpoint's ``policy_params``, for one env and for a batch."""

from __future__ import annotations

import subprocess
import sys

import jax
import numpy as np
import pytest

import phalanx
from phalanx.errors import PhalanxError


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny finished train run (two seeds), as tests/runtime/conftest.py's ``tiny_run``."""
    from phalanx.runtime.run_config import resolve
    from phalanx.runtime.train_run import run

    path = tmp_path_factory.mktemp("policy") / "run"
    run(resolve(["env=simple_spread", "env.N=2", "train.num_envs=4", "train.num_steps=32", "train.update_epochs=1",
                 "train.num_minibatches=2", "train.hidden=[16]", "train.total_steps=256", "num_seeds=2", "seed=3",
                 f"run_dir={path}"]), console=__import__("rich.console").console.Console(quiet=True))
    return path


def test_import_phalanx_stays_light():
    """``phalanx.load_policy`` is named at the top level, yet ``import phalanx`` loads no JAX (it comes on use)."""
    code = "import sys, phalanx; print('load_policy' in phalanx.__all__, 'jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "False"]


@pytest.mark.parametrize("member", [0, 1])
def test_greedy_actions_equal_the_learners_act(run_dir, member):
    from phalanx.runtime.train_run import restore_final

    policy = phalanx.load_policy(run_dir, member=member)
    env = policy.env
    keys = jax.random.split(jax.random.PRNGKey(7), 5)
    states, ts = jax.vmap(env.reset)(keys)
    batched, hidden = policy.act(ts.obs, greedy=True)
    single, _ = policy.act({g: o[2] for g, o in ts.obs.items()}, greedy=True)

    state, _ = restore_final(run_dir)
    state = jax.tree.map(lambda x: x[member], state)
    learner = policy.learners["agents"]
    want, _ = learner.act(learner.policy_params(state, "agents"), "agents", learner.initial_hidden(5)["agents"],
                          ts.obs["agents"], np.ones(5, bool), jax.random.PRNGKey(0), greedy=True)
    np.testing.assert_array_equal(np.asarray(batched["agents"]), np.asarray(want))
    np.testing.assert_array_equal(np.asarray(single["agents"]), np.asarray(want[2]))
    assert batched["agents"].shape == (5, 2) and single["agents"].shape == (2,)
    # The hidden state carries on; sampled actions are legal env actions and step the env.
    actions, hidden = policy.act(ts.obs, hidden, key=jax.random.PRNGKey(1))
    jax.vmap(env.step)(keys, states, actions)


def test_members_differ_and_wrong_inputs_are_one_line(run_dir, tmp_path):
    a = phalanx.load_policy(run_dir, member=0)
    b = phalanx.load_policy(run_dir, member=1)
    assert not np.array_equal(np.asarray(jax.tree.leaves(a.params)[0]), np.asarray(jax.tree.leaves(b.params)[0]))
    with pytest.raises(PhalanxError, match="member=2: the run has num_seeds=2"):
        phalanx.load_policy(run_dir, member=2)
    with pytest.raises(PhalanxError, match=r"no config\.yaml there"):
        phalanx.load_policy(tmp_path)
    with pytest.raises(PhalanxError, match=r"expected \(A, \*\(.*\)\) for one env"):
        a.act({"agents": np.zeros(3)})
    with pytest.raises(PhalanxError, match="obs has no agents"):
        a.act({})
