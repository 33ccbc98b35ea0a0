"""Adapter overhead: a jitted random rollout of a JaxMARL / Jumanji env, called directly and through
``phalanx.envs.from_jaxmarl`` / ``from_jumanji``, timed in the same process (issue 15: at most 5 % more).

    python benchmarks/interop/adapter_overhead.py [--envs 256] [--steps 200] [--repeats 5]

Both sides step without resetting, draw the same random actions from the same keys and sum the
observations and rewards (so neither is compiled away); the adapter's side also builds the Phalanx
timestep (masks, global state, termination apart from truncation), what a learner would read.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp

import phalanx  # noqa: F401 - registers the jaxmarl:/jumanji: prefixes
from phalanx.envs import make


def direct_jaxmarl(lib, num_envs: int, steps: int):
    n = lib.action_space(lib.agents[0]).n

    def one(key):
        _, state = lib.reset(key)

        def body(carry, k):
            state, total = carry
            acts = jax.random.randint(k, (len(lib.agents),), 0, n)
            obs, state, rew, _, _ = lib.step_env(k, state, {a: acts[i] for i, a in enumerate(lib.agents)})
            seen = sum(jnp.sum(obs[a]) for a in lib.agents)  # the observations are used, as a learner uses them
            return (state, total + sum(rew.values()) + seen), None

        (_, total), _ = jax.lax.scan(body, (state, 0.0), jax.random.split(key, steps))
        return total

    return jax.jit(lambda key: jax.vmap(one)(jax.random.split(key, num_envs)))


def direct_jumanji(lib, num_envs: int, steps: int):
    n, N = int(lib.action_spec.num_values[0]), int(lib.num_agents)

    def one(key):
        state, _ = lib.reset(key)

        def body(carry, k):
            state, total = carry
            state, ts = lib.step(state, jax.random.randint(k, (N,), 0, n))
            seen = sum(jnp.sum(x) for x in jax.tree.leaves(ts.observation))
            return (state, total + jnp.sum(ts.reward) + seen), None

        (_, total), _ = jax.lax.scan(body, (state, 0.0), jax.random.split(key, steps))
        return total

    return jax.jit(lambda key: jax.vmap(one)(jax.random.split(key, num_envs)))


def adapted(env, num_envs: int, steps: int):
    def one(key):
        state, _ = env.reset(key)

        def body(carry, k):
            state, total = carry
            acts = {g: jax.random.randint(k, (s.num_agents,), 0, s.action.n) for g, s in env.spec.groups.items()}
            state, ts = env.step(k, state, acts)
            seen = sum(jnp.sum(o) for o in ts.obs.values())
            return (state, total + sum(jnp.sum(r) for r in ts.reward.values()) + seen), None

        (_, total), _ = jax.lax.scan(body, (state, 0.0), jax.random.split(key, steps))
        return total

    return jax.jit(lambda key: jax.vmap(one)(jax.random.split(key, num_envs)))


def best_time(fn, repeats: int) -> float:
    jax.block_until_ready(fn(jax.random.PRNGKey(0)))  # compile
    times = []
    for r in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(jax.random.PRNGKey(r + 1)))
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", type=int, default=256)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    cases = [("jaxmarl", "MPE_simple_spread_v3", {}, direct_jaxmarl), ("jaxmarl", "SMAX", {"scenario": "3m"},
             direct_jaxmarl), ("jumanji", "LevelBasedForaging-v0", {}, direct_jumanji)]
    print(f"| env | direct (s) | adapter (s) | adapter / direct |  ({args.envs} envs x {args.steps} steps, "
          f"best of {args.repeats}, {jax.devices()[0].platform})")
    for lib, name, settings, direct in cases:
        env = make(f"{lib}:{name}", **settings)
        # Interleaved, so both sides see the same machine load.
        d = best_time(direct(env.env, args.envs, args.steps), args.repeats)
        a = best_time(adapted(env, args.envs, args.steps), args.repeats)
        print(f"| {lib}:{name} | {d:.3f} | {a:.3f} | {a / d:.3f} |", flush=True)


if __name__ == "__main__":
    main()
