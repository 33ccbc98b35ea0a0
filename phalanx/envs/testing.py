"""Checks every environment must pass; also useful for users writing their own env.

``check_env(env)`` runs a jitted episode with random legal actions, validates every
timestep against ``env.spec``, and asserts that ``reset``/``step`` trace only once.
"""

from __future__ import annotations

import functools

import chex
import jax
import numpy as np

from phalanx.envs.environment import Environment
from phalanx.envs.spaces import Box
from phalanx.envs.types import TimeStep


def validate_timestep(env: Environment, ts: TimeStep) -> None:
    """Assert that one (unbatched) timestep matches ``env.spec`` exactly."""
    spec = env.spec
    for name, g in spec.groups.items():
        obs = np.asarray(ts.obs[name])
        assert obs.shape == (g.num_agents, *g.observation.shape), (name, obs.shape)
        assert obs.dtype == g.observation.dtype, (name, obs.dtype)
        assert g.observation.contains(obs), f"{name} obs outside {g.observation}"
        assert np.asarray(ts.final_obs[name]).shape == obs.shape
        rew = np.asarray(ts.reward[name])
        assert rew.shape == (g.num_agents,) and rew.dtype == np.float32, (name, rew.shape)
        assert np.all(np.isfinite(rew)), f"{name} reward not finite"
        term = np.asarray(ts.terminated[name])
        assert term.shape == (g.num_agents,) and term.dtype == np.bool_, (name, term.shape)
        if not isinstance(g.action, Box):
            mask = np.asarray(ts.action_mask[name])
            assert mask.shape == (g.num_agents, g.action.mask_size), (name, mask.shape)
            assert mask.dtype == np.bool_
            if not g.has_action_mask:
                assert mask.all(), f"{name} declares no action mask but masks actions"
    gs = np.asarray(ts.global_state)
    assert gs.shape == spec.global_state.shape, gs.shape
    assert spec.global_state.contains(gs[None]), "global state outside its spec"
    assert np.asarray(ts.truncated).shape == () and np.asarray(ts.truncated).dtype == np.bool_


def check_env(env: Environment, num_steps: int = 50, seed: int = 0) -> int:
    """Run ``num_steps`` jitted steps with random legal actions, validating each timestep.

    Resets when an episode ends. Returns the number of episodes that ended. Fails if
    ``reset`` or ``step`` is traced more than once.
    """
    chex.clear_trace_counter()  # counts are per function, shared by all instances
    reset = jax.jit(chex.assert_max_traces(env.reset, n=1))
    step = jax.jit(chex.assert_max_traces(env.step, n=1))
    sample = jax.jit(env.sample_actions)
    key = jax.random.PRNGKey(seed)
    key, k = jax.random.split(key)
    state, ts = reset(k)
    validate_timestep(env, ts)
    episodes = 0
    for _ in range(num_steps):
        key, k_act, k_step, k_reset = jax.random.split(key, 4)
        actions = sample(k_act, ts.action_mask)
        for name, g in env.spec.groups.items():
            assert g.action.contains(np.asarray(actions[name])), name
        state, ts = step(k_step, state, actions)
        validate_timestep(env, ts)
        if bool(ts.done):
            episodes += 1
            state, ts = reset(k_reset)
            validate_timestep(env, ts)
    return episodes


def rollout(env: Environment, key: jax.Array, num_steps: int) -> TimeStep:
    """A jitted random-action rollout of ``num_steps`` (no reset); returns stacked timesteps.

    Compiled once per ``(env, num_steps)`` and reused, so calling it with several keys
    (determinism checks) costs one compilation.
    """
    return _compiled_rollout(env, num_steps)(key)


@functools.lru_cache(maxsize=32)
def _compiled_rollout(env: Environment, num_steps: int):
    def body(carry, k):
        state, ts = carry
        k_act, k_step = jax.random.split(k)
        state, ts = env.step(k_step, state, env.sample_actions(k_act, ts.action_mask))
        return (state, ts), ts

    @jax.jit
    def run(key):
        k0, k1 = jax.random.split(key)
        carry = env.reset(k0)
        _, traj = jax.lax.scan(body, carry, jax.random.split(k1, num_steps))
        return traj

    return run


def assert_trees_equal(a, b) -> None:
    """Assert two pytrees have the same structure and bitwise-equal leaves."""
    chex.assert_trees_all_equal_structs(a, b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


__all__ = ["assert_trees_equal", "check_env", "rollout", "validate_timestep"]
