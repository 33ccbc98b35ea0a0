"""The batched auto-reset ``AutoResetVecEnv`` against the per-env ``AutoReset`` stack (``wrap_for_training``)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import phalanx
from phalanx.envs import AutoReset, EpisodeStatistics, wrap_for_training
from phalanx.envs.wrappers import AutoResetVecEnv


def _rollout(venv, key, steps):
    state, ts = venv.reset(key)

    def step(carry, k):
        state, ts = carry
        k_act, k_env = jax.random.split(k)
        state, ts = venv.step(k_env, state, venv.sample_actions(k_act, ts.action_mask))
        return (state, ts), ts

    return jax.lax.scan(step, (state, ts), jax.random.split(key, steps))


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("simple_spread", {}),  # fixed-length episodes: every env ends on the same step
        ("tag", {"num_taggers": 2, "num_runners": 3, "grid_length": 1.0, "episode_length": 9}),  # uneven ends
    ],
)
def test_same_transitions_as_per_env_auto_reset(name, kwargs):
    env = phalanx.make(name, **kwargs)
    reference = wrap_for_training(env, 8)
    assert isinstance(reference.env, EpisodeStatistics) and isinstance(reference.env.env, AutoReset)
    batched = AutoResetVecEnv(EpisodeStatistics(env), 8)
    key = jax.random.PRNGKey(7)
    (ref_state, _), ref = jax.jit(lambda k: _rollout(reference, k, 40))(key)
    (new_state, _), new = jax.jit(lambda k: _rollout(batched, k, 40))(key)
    assert np.asarray(ref.episode.completed).sum() >= 8  # episodes did end (and reset) along the way
    for a, b in zip(jax.tree.leaves((ref, ref_state)), jax.tree.leaves((new, new_state)), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
