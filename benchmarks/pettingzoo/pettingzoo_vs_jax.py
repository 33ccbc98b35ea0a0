"""IPPO on simple_spread two ways: PettingZoo's ``mpe2`` on the host (Sebulba) vs Phalanx's pure-JAX env.

    python benchmarks/pettingzoo/pettingzoo_vs_jax.py --steps 3e5 --seeds 0 1

Both sides run ``phalanx train`` with the same PPO settings and env steps; only the env
differs: ``env=pettingzoo:mpe2.simple_spread_v3`` (host envs in ``num_workers`` processes,
the policy jitted, one batched transfer each way per step) against ``env=simple_spread``
(env and learner in one compiled program). Reported per side: env steps/s (median over log
lines after the first, so compilation is excluded) and the mean episode return per agent over
the last quarter of log lines (mpe2's units on both sides: our simple_spread is tested equal to
mpe2 step by step). The return band is the point of the parity check; the throughput ratio is
the point of pure-JAX envs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from phalanx.cli import main as phalanx_main

SIDES = {"pettingzoo": "pettingzoo:mpe2.simple_spread_v3", "jax": "simple_spread"}


def run_side(env: str, steps: float, seed: int, num_envs: int, workers: int, out: Path) -> dict[str, Any]:
    """Train once; return steps/s and the final return band from its ``metrics.jsonl``."""
    args = ["train", f"env={env}", "algo=ippo", f"train.total_steps={steps:g}", f"train.num_envs={num_envs}",
            "train.num_steps=128", f"seed={seed}", f"run_dir={out}", "log_every=2", "checkpoint_every=1000"]
    if env.startswith("pettingzoo:"):
        args.append(f"num_workers={workers}")
    if phalanx_main(args) != 0:
        raise SystemExit(f"phalanx {' '.join(args)} failed")
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    rates = [ln["steps_per_s"] for ln in lines[1:]] or [lines[0]["steps_per_s"]]
    tail = lines[-max(1, len(lines) // 4):]
    returns = [statistics.mean(v for v in ln["episode_return"].values() if v is not None)
               for ln in tail if ln.get("episode_return")]
    return {"steps_per_s": statistics.median(rates), "return": statistics.mean(returns),
            "env_steps": lines[-1]["env_steps"], "wall_time": lines[-1]["wall_time"]}


def main() -> None:
    """Run both sides for every seed, print a table and a JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=float, default=3e5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--num-envs", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="host worker processes (PettingZoo side)")
    a = parser.parse_args()
    results: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in a.seeds:
            for side, env in SIDES.items():  # alternate sides so load drifts hit both
                r = run_side(env, a.steps, seed, a.num_envs, a.workers, Path(tmp) / f"{side}-{seed}")
                results[side].append(r)
                print(f"{side:>10} seed {seed}: {r['steps_per_s']:>9,.0f} env steps/s  return {r['return']:7.2f}"
                      f"  ({r['env_steps']:,} steps, {r['wall_time']:.0f} s)", flush=True)
    summary = {side: {"steps_per_s": statistics.median(r["steps_per_s"] for r in rs),
                      "return_mean": statistics.mean(r["return"] for r in rs),
                      "returns": [round(r["return"], 2) for r in rs]} for side, rs in results.items()}
    ratio = summary["jax"]["steps_per_s"] / summary["pettingzoo"]["steps_per_s"]
    print(f"pure-JAX / PettingZoo throughput: {ratio:.1f}x")
    print(json.dumps({"args": vars(a), "summary": summary, "ratio": ratio}))


if __name__ == "__main__":
    main()
