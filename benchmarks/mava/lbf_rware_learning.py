"""IPPO/MAPPO returns on LBF and RWARE, beside a uniformly random policy (same env, same episodes).

    python benchmarks/mava/lbf_rware_learning.py --task lbf --algo ippo --steps 2e6
    python benchmarks/mava/lbf_rware_learning.py --task rware-tiny-2ag --algo mappo --steps 3e6

The training config is what ``phalanx train env=<env> algo=<algo>`` resolves to (the per-env
defaults each env registers, ``train_defaults`` in ``phalanx/envs/<env>/__init__.py``), plus ``--set train.KEY=VALUE``
overrides and ``train.total_steps=--steps``. Returns are in Mava's and EPyMARL's units: the
*team* return per episode — LBF with ``team_reward=True`` (Mava's default; a whole episode's
rewards sum to at most 1) and RWARE's team reward (deliveries per episode, every agent gets it).

Printed: the return curve (mean over the episodes that ended in each tenth of the run), the
final return (episodes of the last 5 % of updates), the random policy's return (uniform over
legal actions, 1024 episodes' worth of steps), env steps, and wall time with and without the
first call's compilation.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import numpy as np

import phalanx
from phalanx.algos.ppo import make_train
from phalanx.bench import random_return
from phalanx.runtime.run_config import from_values

#: task -> (env name, env settings). LBF takes Mava's team reward so returns read as Mava's/EPyMARL's.
TASKS = {
    "lbf": ("lbf", {"scenario": "2s-8x8-2p-2f-coop", "team_reward": True}),
    "rware-tiny-2ag": ("rware", {"scenario": "tiny-2ag"}),
    "rware-tiny-4ag": ("rware", {"scenario": "tiny-4ag"}),
    # The original RWARE's collision rule (EPyMARL's and Mava's "w/o collision" curves).
    "rware-tiny-2ag-resolve": ("rware", {"scenario": "tiny-2ag", "collision": "resolve"}),
    "rware-tiny-4ag-resolve": ("rware", {"scenario": "tiny-4ag", "collision": "resolve"}),
}


def train_returns(task: str, algo: str, steps: float, overrides: list[str], seed: int) -> dict:
    """Train once; the per-update mean team return (NaN where no episode ended), times and config."""
    env_name, settings = TASKS[task]
    train = {"total_steps": int(float(steps))}
    for item in overrides:
        key, _, value = item.partition("=")
        if not key.startswith("train.") or not value:
            raise SystemExit(f"--set {item!r}: expected train.KEY=VALUE")
        train[key[len("train."):]] = _parse(value)
    config = from_values({"env": env_name, "algo": algo, "train": train}, settings)
    env = phalanx.make(env_name, **settings)
    trainer = make_train(config.train, env)
    group = next(iter(env.spec.groups))
    run = jax.jit(trainer.train)
    start = time.perf_counter()
    compiled = run.lower(jax.random.PRNGKey(seed)).compile()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    _, metrics = jax.block_until_ready(compiled(jax.random.PRNGKey(seed)))
    train_s = time.perf_counter() - start
    count = np.asarray(metrics.episode_count)
    returns = np.where(count > 0, np.asarray(metrics.episode_return_sum[group]) / np.maximum(count, 1), np.nan)
    return {"returns": returns, "compile_s": compile_s, "train_s": train_s, "config": config.train,
            "env_steps": config.train.num_updates * config.train.steps_per_update, "env": env}


def _parse(value: str):
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(value.lower(), value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=list(TASKS), required=True)
    parser.add_argument("--algo", choices=["ippo", "mappo"], required=True)
    parser.add_argument("--steps", default="2e6", help="env steps (train.total_steps)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", nargs="*", default=[], metavar="train.KEY=VALUE")
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"# {args.algo} on {args.task} — {time.strftime('%Y-%m-%d %H:%M')}, load {load[0]:.2f} {load[1]:.2f} "
          f"{load[2]:.2f}, jax {jax.__version__} {jax.devices()[0].device_kind}", flush=True)
    out = train_returns(args.task, args.algo, args.steps, args.set, args.seed)
    c = out["config"]
    print(f"config: num_envs={c.num_envs} num_steps={c.num_steps} epochs={c.update_epochs} "
          f"minibatches={c.num_minibatches} lr={c.lr} anneal_lr={c.anneal_lr} hidden={list(c.hidden)} "
          f"activation={c.activation} agent_id={c.agent_id} ent_coef={c.ent_coef} critic={c.critic}")
    returns = out["returns"]
    tenth = max(1, len(returns) // 10)
    curve = [np.nanmean(returns[i : i + tenth]) for i in range(0, len(returns), tenth)]
    steps_per_update = c.steps_per_update
    ends = [min(i + tenth, len(returns)) * steps_per_update / 1e6 for i in range(0, len(returns), tenth)]
    points = ", ".join(f"{e:.2f}M: {v:.3f}" for e, v in zip(ends, curve, strict=True))
    print(f"curve (env steps: team return): {points}")
    final = np.nanmean(returns[-max(1, len(returns) // 20):])
    rand = random_return(out["env"], 256, 4 * out["env"].default_params.time_limit, jax.random.PRNGKey(123))
    print(f"final team return {final:.3f} | random policy {rand:.3f} | {out['env_steps']:,} env steps | "
          f"train {out['train_s']:.0f} s ({out['env_steps'] / out['train_s']:,.0f} steps/s) + compile "
          f"{out['compile_s']:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
