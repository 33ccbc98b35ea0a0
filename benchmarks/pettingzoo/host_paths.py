"""PPO env steps/s on host envs two ways, same run: the host path with and without its overlap option.

    python benchmarks/pettingzoo/host_paths.py --updates 8 --rounds 3

Both sides train IPPO on PettingZoo's ``mpe2.simple_spread_v3`` with the settings of
``pettingzoo_vs_jax.py`` (16 envs × 128 steps, 4 epochs × 4 minibatches, 2 worker processes):

* ``sebulba``: ``phalanx.algos.ppo.sebulba.train_overlapped`` — a Python loop per env step, one
  jitted acting call per split, 2 splits so the policy acts on one half while the workers step the other;
* ``host``: ``phalanx.algos.common.host.train_host`` — PPO's own compiled ``update`` whose env
  step is an ordered ``io_callback`` into the pool (one split).

Sides alternate within one invocation (``--rounds``), so load drifts hit both. Reported: env steps/s
per side, the median over every chunk after each run's first (compilation excluded).
"""

from __future__ import annotations

import argparse
import json
import statistics

from phalanx.algos.common.host import train_host
from phalanx.algos.ppo import make_train
from phalanx.algos.ppo.config import PPOConfig
from phalanx.algos.ppo.sebulba import default_splits, train_overlapped
from phalanx.interop.pettingzoo_in import pettingzoo_factory
from phalanx.runtime.host_envs import from_pettingzoo


def run_side(side: str, updates: int, num_envs: int, workers: int, seed: int) -> list[float]:
    """Train ``updates`` PPO updates (one per chunk); the env steps/s of every chunk after the first."""
    config = PPOConfig(num_envs=num_envs, num_steps=128, total_steps=num_envs * 128 * updates)
    factory = pettingzoo_factory("pettingzoo:mpe2.simple_spread_v3")
    if side == "sebulba":
        splits = default_splits(num_envs, workers)
        with from_pettingzoo(factory, num_envs, workers, splits) as venv:
            _, lines = train_overlapped(config, venv, seed=seed)
    else:
        with from_pettingzoo(factory, num_envs, workers) as venv:
            _, lines = train_host(config, venv, make_train=make_train, seed=seed)
    return [ln["steps_per_s"] for ln in lines[1:]]


def main() -> None:
    """Alternate the sides ``--rounds`` times; print each run and a JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--num-envs", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sides", nargs="+", default=["sebulba", "host"])
    a = parser.parse_args()
    rates: dict[str, list[float]] = {s: [] for s in a.sides}
    for r in range(a.rounds):
        for side in a.sides:
            got = run_side(side, a.updates, a.num_envs, a.workers, seed=r)
            rates[side] += got
            print(f"round {r} {side:>8}: {statistics.median(got):8,.0f} env steps/s (chunks {len(got)})", flush=True)
    summary = {s: statistics.median(v) for s, v in rates.items()}
    if "sebulba" in summary and "host" in summary:
        summary["host/sebulba"] = summary["host"] / summary["sebulba"]
    print(json.dumps({"args": vars(a), "median_steps_per_s": summary}))


if __name__ == "__main__":
    main()
