"""Measuring environment throughput: a jitted random rollout, timed without compilation."""

from __future__ import annotations

import json
import statistics
import subprocess
import time
from collections.abc import Callable
from typing import Any

import jax

from phalanx.envs.environment import Environment
from phalanx.envs.wrappers import VecEnv


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


class PeerProcess:
    """A peer library's compiled program in its own interpreter (its own virtualenv), timed on request.

    The child runs ``driver`` (Python source) with ``args``: it compiles, prints one JSON line holding
    ``env_steps`` (steps per timed call), then for every line it reads on stdin runs once and prints
    ``{"seconds": ...}``. Other output lines (a peer's own banners) are skipped. Keeping the peer alive
    lets a benchmark time both sides turn about with compilation excluded.
    """

    def __init__(self, python: str, driver: str, args: list[Any], name: str, cwd: str | None = None,
                 quiet: bool = False):
        self.name = name
        self.proc = subprocess.Popen([python, "-c", driver, *map(str, args)], cwd=cwd, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL if quiet else None, text=True)
        self.env_steps: int = self._read()["env_steps"]

    def _read(self) -> dict:
        for line in self.proc.stdout:
            if line.startswith("{"):
                return json.loads(line)
        raise RuntimeError(f"the {self.name} process exited with status {self.proc.wait()}; "
                           "run its driver by hand to see its error")

    def time(self) -> float:
        """Seconds of one timed call in the peer process."""
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        return self._read()["seconds"]

    def close(self) -> None:
        """End the peer process."""
        self.proc.stdin.close()
        self.proc.wait()
