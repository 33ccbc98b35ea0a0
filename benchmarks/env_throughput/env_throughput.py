"""Env throughput: Phalanx's jitted envs against baselines measured in the same run.

    python benchmarks/env_throughput/env_throughput.py            # all cases (several minutes on 2 cores)
    python benchmarks/env_throughput/env_throughput.py --only tag # Tag vs the NumPy reference only
    python benchmarks/env_throughput/env_throughput.py --only mpe # simple_spread vs JaxMARL only

Every number is the median of ``--repeats`` timed runs after one warm-up (compilation
excluded). Random actions; rollouts are ``vmap`` over envs and ``lax.scan`` over steps.
The NumPy reference steps one env at a time, as WarpDrive's CPU path does; at large
sizes it is timed on fewer envs/steps and its rate (env steps per second) is reported,
which is linear in the number of env steps it runs.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import phalanx
from phalanx.bench import env_throughput, time_median
from phalanx.envs.tag.reference import TagReference


def numpy_tag_rate(env, num_envs: int, num_steps: int, repeats: int) -> float:
    """Env steps/s of the NumPy reference: a Python loop over envs, each stepped in NumPy."""
    rng = np.random.default_rng(0)
    n = env.num_agents
    nvec = env.spec.groups["runners"].action.nvec

    def run():
        refs = []
        for _ in range(num_envs):
            types = np.zeros(n, np.int32)
            types[rng.choice(n, env.num_taggers, replace=False)] = 1
            ref = TagReference(env.default_params, types, env.use_full_observation,
                               env.num_other_agents_observed, env.acceleration_actions, env.turn_actions)
            L = env.default_params.grid_length
            ref.reset(L * rng.random(n), L * rng.random(n), rng.choice([0, np.pi / 2, np.pi, 3 * np.pi / 2], n))
            refs.append(ref)
        start = time.perf_counter()
        for _ in range(num_steps):
            for ref in refs:
                acts = np.stack([rng.integers(0, nvec[0], n), rng.integers(0, nvec[1], n)], -1)
                ref.step(acts)
        return time.perf_counter() - start

    seconds = float(np.median([run() for _ in range(repeats)]))
    return num_envs * num_steps / seconds


TAG_CASES = [
    # (label, env settings, JAX envs, JAX steps, NumPy envs, NumPy steps)
    ("1 env × 11 agents (full obs)", {}, 1, 1000, 1, 200),
    ("100 envs × 110 agents (full obs)", {"num_taggers": 10, "num_runners": 100}, 100, 100, 4, 10),
    ("1000 envs × 1000 agents (k=10 nearest)",
     {"num_taggers": 100, "num_runners": 900, "use_full_observation": False, "num_other_agents_observed": 10},
     1000, 5, 1, 2),
]


def bench_tag(repeats: int) -> list[dict]:
    rows = []
    for label, settings, j_envs, j_steps, n_envs, n_steps in TAG_CASES:
        env = phalanx.make("tag", observe_self=False, **settings)  # WarpDrive's observation, as the reference
        ours = env_throughput(env, j_envs, j_steps, repeats)
        base = numpy_tag_rate(env, n_envs, n_steps, repeats)
        rows.append({
            "case": f"tag {label}", "ours_env_steps_per_s": ours["env_steps_per_s"],
            "ours_agent_steps_per_s": ours["agent_steps_per_s"], "baseline": "NumPy reference",
            "baseline_env_steps_per_s": base, "ratio": ours["env_steps_per_s"] / base,
        })
        print(_fmt(rows[-1]), flush=True)
    return rows


def jaxmarl_spread_rate(num_envs: int, num_steps: int, repeats: int) -> float:
    """Env steps/s of JaxMARL's ``MPE_simple_spread_v3`` (its ``step`` auto-resets)."""
    import jaxmarl

    env = jaxmarl.make("MPE_simple_spread_v3")
    agents = env.agents

    def body(carry, key):
        state = carry
        k_act, k_step = jax.random.split(key)
        acts = jax.random.randint(k_act, (len(agents), num_envs), 0, 5)
        actions = {a: acts[i] for i, a in enumerate(agents)}
        keys = jax.random.split(k_step, num_envs)
        obs, state, rew, _, _ = jax.vmap(env.step)(keys, state, actions)
        # Consume observations as Phalanx's rollout does, so neither side's are optimised away.
        return state, sum(r.sum() for r in rew.values()) + sum(o.sum() for o in obs.values())

    @jax.jit
    def run(key):
        k0, k1 = jax.random.split(key)
        _, state = jax.vmap(env.reset)(jax.random.split(k0, num_envs))
        _, r = jax.lax.scan(body, state, jax.random.split(k1, num_steps))
        return r.sum()

    key = jax.random.PRNGKey(0)
    jax.block_until_ready(run(key))
    return num_envs * num_steps / time_median(lambda: run(key), repeats)


def bench_mpe(repeats: int, num_envs: int = 1024, num_steps: int = 100) -> list[dict]:
    from phalanx.envs import AutoReset

    env = AutoReset(phalanx.make("simple_spread"))
    base = jaxmarl_spread_rate(num_envs, num_steps, repeats)
    ours = env_throughput(env, num_envs, num_steps, repeats)
    row = {
        "case": f"simple_spread {num_envs} envs × {num_steps} steps (auto-reset)",
        "ours_env_steps_per_s": ours["env_steps_per_s"], "ours_agent_steps_per_s": ours["agent_steps_per_s"],
        "baseline": "JaxMARL MPE_simple_spread_v3", "baseline_env_steps_per_s": base,
        "ratio": ours["env_steps_per_s"] / base,
    }
    print(_fmt(row), flush=True)
    return [row]


def _fmt(r: dict) -> str:
    return (f"| {r['case']} | {r['ours_env_steps_per_s']:,.0f} | {r['ours_agent_steps_per_s']:,.0f} | "
            f"{r['baseline']} | {r['baseline_env_steps_per_s']:,.0f} | **{r['ratio']:.1f}×** |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["tag", "mpe"], default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = parser.parse_args()
    print(f"# env throughput — {platform.processor() or platform.machine()}, jax {jax.__version__}, "
          f"device {jax.devices()[0].device_kind}, {args.repeats} repeats, python {sys.version.split()[0]}")
    print("| case | Phalanx env steps/s | Phalanx agent steps/s | baseline | baseline env steps/s | ratio |")
    print("|---|---:|---:|---|---:|---:|")
    rows = []
    if args.only in (None, "tag"):
        rows += bench_tag(args.repeats)
    if args.only in (None, "mpe"):
        rows += bench_mpe(args.repeats)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    jnp.zeros(1).block_until_ready()
    main()
