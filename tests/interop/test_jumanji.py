"""from_jumanji: multi-agent Jumanji envs through the Phalanx contract, step for step equal to Jumanji's own."""

from __future__ import annotations

import jax
import numpy as np
import pytest

pytest.importorskip("jumanji")

from phalanx.envs import from_jumanji, make
from phalanx.envs.testing import check_env
from phalanx.errors import PhalanxError


@pytest.mark.parametrize("name", ["LevelBasedForaging-v0", "Connector-v3"])
def test_check_env_through_the_adapter(name):
    check_env(make(f"jumanji:{name}"), num_steps=60)


def test_lbf_steps_equal_jumanjis():
    """Same key and actions: each agent's observation is its row of Jumanji's ``agents_view`` and the step
    count; masks and rewards are Jumanji's."""
    env = from_jumanji("LevelBasedForaging-v0")
    lib = env.env
    assert env.groups == {"agents": 2} and env.time_limit == 100
    state, ts = env.reset(jax.random.PRNGKey(1))
    lib_state, lib_ts = lib.reset(jax.random.PRNGKey(1))
    step, lib_step = jax.jit(env.step), jax.jit(lib.step)
    for t in range(8):
        o = lib_ts.observation
        want = np.concatenate([np.asarray(o.agents_view), np.full((2, 1), int(o.step_count))], axis=1)
        np.testing.assert_array_equal(np.asarray(ts.obs["agents"]), want.astype(np.float32), err_msg=f"t={t}")
        np.testing.assert_array_equal(np.asarray(ts.action_mask["agents"]), np.asarray(o.action_mask))
        np.testing.assert_array_equal(np.asarray(ts.reward["agents"]), np.asarray(lib_ts.reward))
        actions = env.sample_actions(jax.random.PRNGKey(t), ts.action_mask)
        state, ts = step(jax.random.PRNGKey(0), state, actions)
        lib_state, lib_ts = lib_step(lib_state, actions["agents"])


def test_the_time_limit_truncates_where_jumanji_would_terminate():
    """Connector reports its time limit with discount 0; the adapter calls that step truncation."""
    env = from_jumanji("Connector-v3")
    state, ts = env.reset(jax.random.PRNGKey(0))
    step = jax.jit(env.step)
    noop = {"agents": np.zeros(env.groups["agents"], np.int32)}  # nobody moves: only the clock ends it
    for t in range(1, env.time_limit + 1):
        state, ts = step(jax.random.PRNGKey(t), state, noop)
        assert bool(ts.truncated) == (t == env.time_limit), t
        assert not np.asarray(ts.terminated["agents"]).any(), t


def test_unknown_names_list_the_available_ones():
    with pytest.raises(PhalanxError, match=r"Did you mean 'LevelBasedForaging-v0'\?.*Jumanji's envs: .*Cleaner-v0"):
        make("jumanji:LevelBasedForagin-v0")
    with pytest.raises(PhalanxError, match=r"num_agents=None\); the adapter takes multi-agent envs"):
        from_jumanji("Snake-v1")  # one agent: not what the adapter takes
