"""Environments under uniformly random actions: throughput and the random policy's return.

* :func:`env_throughput` — env steps/s of a jitted random rollout, compilation excluded (``phalanx bench``);
* :func:`random_return` — the mean episode return of uniformly random legal actions: the floor that a
  learning target is stated against (a trained policy must beat it by a margin).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from phalanx.envs.environment import Environment
from phalanx.envs.wrappers import VecEnv, wrap_for_training


def make_random_rollout(env: Environment, num_envs: int, num_steps: int) -> Callable[[jax.Array], Any]:
    """A jitted ``f(key)`` that resets ``num_envs`` envs and takes ``num_steps`` random steps.

    One XLA program: ``vmap`` over envs, ``lax.scan`` over steps, actions sampled on
    device (uniform over legal actions: per-env masks are used only where an env's spec says
    legal actions vary). Episodes that end are not reset unless ``env`` is wrapped in ``AutoReset``
    (a finished env still costs a full step). Observations and rewards are summed into
    the result so that XLA cannot drop their computation: a policy would read them.
    """
    venv = VecEnv(env, num_envs)
    masked = any(g.has_action_mask for g in env.spec.groups.values())

    def sample_actions(key, mask):
        if masked:  # legal actions vary: sample from each env's mask
            return venv.sample_actions(key, mask)
        # Masks are all-legal: uniform actions for the whole batch in one draw per group,
        # as the baselines' random policies do (same distribution, no per-env keys).
        keys = jax.random.split(key, len(env.spec.groups))
        return {
            name: g.action.sample(k, num_envs * g.num_agents).reshape(num_envs, g.num_agents, *g.action.shape)
            for k, (name, g) in zip(keys, env.spec.groups.items(), strict=True)
        }

    def body(carry, key):
        state, mask = carry
        k_act, k_step = jax.random.split(key)
        state, ts = venv.step(k_step, state, sample_actions(k_act, mask))
        used = sum(r.sum() for r in ts.reward.values()) + sum(o.sum() for o in ts.obs.values())
        return (state, ts.action_mask), used

    @jax.jit
    def run(key):
        k0, k1 = jax.random.split(key)
        state, ts = venv.reset(k0)
        _, rewards = jax.lax.scan(body, (state, ts.action_mask), jax.random.split(k1, num_steps))
        return rewards.sum()

    return run


def time_median(fn: Callable[[], Any], repeats: int = 3) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls (results blocked on)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def env_throughput(env: Environment, num_envs: int, num_steps: int, repeats: int = 3, seed: int = 0) -> dict:
    """Env steps/s and agent steps/s of a random rollout, median of ``repeats`` (compile excluded)."""
    run = make_random_rollout(env, num_envs, num_steps)
    key = jax.random.PRNGKey(seed)
    start = time.perf_counter()
    jax.block_until_ready(run(key))
    compile_s = time.perf_counter() - start
    seconds = time_median(lambda: run(key), repeats)
    env_steps = num_envs * num_steps
    return {
        "env": env.name,
        "num_envs": num_envs,
        "num_agents": env.spec.num_agents,
        "num_steps": num_steps,
        "seconds": seconds,
        "compile_seconds": compile_s,
        "env_steps_per_s": env_steps / seconds,
        "agent_steps_per_s": env_steps * env.spec.num_agents / seconds,
        "device": jax.devices()[0].device_kind,
    }


def random_return(env: Environment, num_envs: int, num_steps: int, key: jax.Array, group: str | None = None) -> float:
    """Mean return per episode of uniformly random legal actions, over the episodes that end in the rollout.

    ``num_envs`` auto-resetting envs take ``num_steps`` steps each; an episode's return is the mean over
    ``group``'s agents (default: the env's first group), so with a team reward it is the team return.
    """
    venv = wrap_for_training(env, num_envs)
    group = group or next(iter(env.spec.groups))

    @jax.jit
    def rollout(key):
        state, ts = venv.reset(key)

        def body(carry, k):
            state, ts = carry
            k_act, k_env = jax.random.split(k)
            state, ts = venv.step(k_env, state, venv.sample_actions(k_act, ts.action_mask))
            ret = ts.episode.returns[group].mean(-1)
            return (state, ts), (jnp.where(ts.done, ret, 0.0).sum(), ts.done.sum())

        _, (ret, count) = jax.lax.scan(body, (state, ts), jax.random.split(key, num_steps))
        return ret.sum() / jnp.maximum(count.sum(), 1)

    return float(rollout(key))
