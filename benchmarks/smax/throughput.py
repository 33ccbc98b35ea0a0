"""SMAX env steps/s: Phalanx's ``smax`` (the adapter) against JaxMARL's ``HeuristicEnemySMAX`` called
directly, same process, same maps, same random actions.

    python benchmarks/smax/throughput.py [--maps 3m 2s3z] [--envs 256] [--steps 100] [--repeats 5]

Each side is one jitted ``vmap`` over ``--envs`` envs of a ``lax.scan`` over ``--steps`` steps
without resets (an episode is 100 steps), uniform random actions drawn from the same keys, the
observations and rewards summed so nothing is compiled away; the adapter's side also builds the
Phalanx timestep (action masks, world state, termination, the won flag). Both are compiled first,
then timed alternately, best of ``--repeats``. The decision it informs (issue 15): a native SMAX
port must beat the adapter measurably in such a run; the adapter must cost at most 5 % over direct.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp

import phalanx


def direct(map_name: str, num_envs: int, steps: int):
    """JaxMARL's own env: ``step_env`` (no auto-reset) of ``HeuristicEnemySMAX`` with Mava's settings."""
    from jaxmarl.environments.smax import HeuristicEnemySMAX, map_name_to_scenario

    lib = HeuristicEnemySMAX(scenario=map_name_to_scenario(map_name), see_enemy_actions=True,
                             walls_cause_death=True, attack_mode="closest")
    n = lib.action_space(lib.agents[0]).n

    def one(key):
        _, state = lib.reset(key)

        def body(carry, k):
            state, total = carry
            acts = jax.random.randint(k, (len(lib.agents),), 0, n)
            obs, state, rew, _, _ = lib.step_env(k, state, {a: acts[i] for i, a in enumerate(lib.agents)})
            seen = sum(jnp.sum(obs[a]) for a in lib.agents) + jnp.sum(obs["world_state"])
            return (state, total + sum(rew.values()) + seen), None

        (_, total), _ = jax.lax.scan(body, (state, 0.0), jax.random.split(key, steps))
        return total

    return jax.jit(lambda key: jax.vmap(one)(jax.random.split(key, num_envs)))


def adapter(map_name: str, num_envs: int, steps: int):
    """``phalanx.make("smax", scenario=map_name)``: the same env behind the Phalanx contract."""
    env = phalanx.make("smax", scenario=map_name)
    spec = env.spec.groups["allies"]

    def one(key):
        state, _ = env.reset(key)

        def body(carry, k):
            state, total = carry
            acts = {"allies": jax.random.randint(k, (spec.num_agents,), 0, spec.action.n)}
            state, ts = env.step(k, state, acts)
            seen = jnp.sum(ts.obs["allies"]) + jnp.sum(ts.global_state) + jnp.sum(ts.action_mask["allies"])
            return (state, total + jnp.sum(ts.reward["allies"]) + seen + ts.info["win_rate"]), None

        (_, total), _ = jax.lax.scan(body, (state, 0.0), jax.random.split(key, steps))
        return total

    return jax.jit(lambda key: jax.vmap(one)(jax.random.split(key, num_envs)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--maps", nargs="+", default=["3m", "2s3z"])
    p.add_argument("--envs", type=int, default=256)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}; {args.envs} envs x {args.steps} steps, "
          f"best of {args.repeats}")
    print("| map | JaxMARL direct (steps/s) | Phalanx smax (steps/s) | smax / direct time |")
    print("|---|---|---|---|")
    for map_name in args.maps:
        fns = {"direct": direct(map_name, args.envs, args.steps), "smax": adapter(map_name, args.envs, args.steps)}
        for fn in fns.values():
            jax.block_until_ready(fn(jax.random.PRNGKey(0)))  # compile
        best = dict.fromkeys(fns, float("inf"))
        for r in range(args.repeats):  # alternate, so load from other processes hits both sides alike
            for name, fn in fns.items():
                t0 = time.perf_counter()
                jax.block_until_ready(fn(jax.random.PRNGKey(r + 1)))
                best[name] = min(best[name], time.perf_counter() - t0)
        steps = args.envs * args.steps
        print(f"| {map_name} | {steps / best['direct']:,.0f} | {steps / best['smax']:,.0f} | "
              f"{best['smax'] / best['direct']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
