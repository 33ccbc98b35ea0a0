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
from phalanx.errors import PhalanxError


class EnvCheckError(PhalanxError, AssertionError):
    """An env broke its contract in :func:`check_env` / :func:`validate_timestep` (also an ``AssertionError``)."""


def _require(ok: bool, where: str, message: str) -> None:
    if not ok:
        raise EnvCheckError(f"{where}: {message}")


def validate_timestep(env: Environment, ts: TimeStep, where: str | None = None) -> None:
    """Check that one (unbatched) timestep matches ``env.spec`` exactly: shapes, dtypes and values.

    Raises:
        EnvCheckError: naming the field, what it held and what the spec declares.
    """
    spec = env.spec
    where = where or getattr(env, "name", type(env).__name__)
    for name, g in spec.groups.items():
        obs = np.asarray(ts.obs[name])
        want = (g.num_agents, *g.observation.shape)
        _require(obs.shape == want, where, f"obs[{name!r}] has shape {obs.shape}, the spec says {want}.")
        _require(obs.dtype == g.observation.dtype, where,
                 f"obs[{name!r}] has dtype {obs.dtype}, the spec says {np.dtype(g.observation.dtype)}.")
        if not g.observation.contains(obs):
            bad = ~np.isfinite(obs) | (obs < g.observation.low - 1e-5) | (obs > g.observation.high + 1e-5)
            agent, *feature = np.argwhere(bad)[0] if bad.any() else (0,)
            _require(False, where, f"obs[{name!r}] of agent {agent} holds {obs[(agent, *feature)]} at index "
                     f"{tuple(int(f) for f in feature)}, outside {g.observation}; widen the spec's bounds or "
                     "clip the observation.")
        _require(np.asarray(ts.final_obs[name]).shape == obs.shape, where,
                 f"final_obs[{name!r}] has shape {np.asarray(ts.final_obs[name]).shape}, obs has {obs.shape}.")
        rew = np.asarray(ts.reward[name])
        _require(rew.shape == (g.num_agents,) and rew.dtype == np.float32, where,
                 f"reward[{name!r}] is {rew.dtype}{rew.shape}, expected float32({g.num_agents},).")
        _require(bool(np.all(np.isfinite(rew))), where, f"reward[{name!r}] is not finite: {rew}.")
        term = np.asarray(ts.terminated[name])
        _require(term.shape == (g.num_agents,) and term.dtype == np.bool_, where,
                 f"terminated[{name!r}] is {term.dtype}{term.shape}, expected bool({g.num_agents},).")
        if not isinstance(g.action, Box):
            _require(name in ts.action_mask, where, f"action_mask has no entry for discrete group {name!r}; "
                     "use phalanx.envs.full_mask(num_agents, space) when every action is legal.")
            mask = np.asarray(ts.action_mask[name])
            _require(mask.shape == (g.num_agents, g.action.mask_size) and mask.dtype == np.bool_, where,
                     f"action_mask[{name!r}] is {mask.dtype}{mask.shape}, expected "
                     f"bool({g.num_agents}, {g.action.mask_size}).")
            _require(g.has_action_mask or bool(mask.all()), where,
                     f"group {name!r} masks actions but its GroupSpec has has_action_mask=False; set it to True.")
    gs = np.asarray(ts.global_state)
    _require(gs.shape == spec.global_state.shape, where,
             f"global_state has shape {gs.shape}, the spec says {spec.global_state.shape}.")
    _require(spec.global_state.contains(gs[None]), where, f"global_state lies outside {spec.global_state}.")
    truncated = np.asarray(ts.truncated)
    _require(truncated.shape == () and truncated.dtype == np.bool_, where,
             f"truncated is {truncated.dtype}{truncated.shape}, expected one bool for the episode.")


def check_env(env: Environment, num_steps: int = 50, seed: int = 0) -> int:
    """Run ``num_steps`` jitted steps with random legal actions, validating each timestep.

    Resets when an episode ends. Returns the number of episodes that ended. Fails if
    ``reset`` or ``step`` is traced more than once, or if an episode outlasts the env's
    :attr:`~phalanx.envs.Environment.time_limit` (when it declares one).
    """
    try:
        limit = env.time_limit
    except PhalanxError:
        limit = None  # not declared: evaluation then needs an explicit number of steps
    _require(limit is None or (isinstance(limit, int) and limit >= 1), env.name,
             f"time_limit is {limit!r}; expected an int >= 1 (the most steps an episode lasts).")
    chex.clear_trace_counter()  # counts are per function, shared by all instances
    reset = jax.jit(chex.assert_max_traces(env.reset, n=1))
    step = jax.jit(chex.assert_max_traces(env.step, n=1))
    sample = jax.jit(env.sample_actions)
    key = jax.random.PRNGKey(seed)
    key, k = jax.random.split(key)
    state, ts = reset(k)
    validate_timestep(env, ts, f"{env.name}.reset")
    episodes = length = 0
    for t in range(num_steps):
        key, k_act, k_step, k_reset = jax.random.split(key, 4)
        actions = sample(k_act, ts.action_mask)
        for name, g in env.spec.groups.items():
            assert g.action.contains(np.asarray(actions[name])), name
        state, ts = step(k_step, state, actions)
        validate_timestep(env, ts, f"{env.name}.step (step {t + 1} of check_env)")
        length += 1
        _require(limit is None or length < limit or bool(ts.done), env.name,
                 f"an episode is still running after {length} steps, but time_limit is {limit}.")
        if bool(ts.done):
            episodes, length = episodes + 1, 0
            state, ts = reset(k_reset)
            validate_timestep(env, ts, f"{env.name}.reset")
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


__all__ = ["EnvCheckError", "assert_trees_equal", "check_env", "rollout", "validate_timestep"]
