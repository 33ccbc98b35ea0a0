"""1 vs 2 Phalanx Ray actors on a 2-node ``ray.cluster_utils.Cluster``, on a deliberately slow env.

    python benchmarks/ray_actors/scaling.py --sleep-ms 5 --envs 8 --updates 6 --rounds 2

Starts a Ray cluster of two nodes on this machine (``ray.cluster_utils.Cluster``: a head and a second
raylet, 1 CPU each, so actors of ``ray.num_cpus=1`` land one per node), then trains IPPO on
``slow_spread`` (``mpe2.simple_spread_v3`` sleeping ``--sleep-ms`` per step, ``slow_spread.py``) through
``phalanx train ... backend=ray ray.address=<the cluster>`` with 1 actor × ``envs`` envs and 2 actors ×
``envs/2`` envs: the same ``train.num_envs``, the same updates, only the actors differ (strong scaling).
The sides alternate ``--rounds`` times. Reported per run: steady env steps/s including learning (between
the first and the last log line), actor utilisation, learner wait and policy lag from metrics.jsonl.
The sleep sets the env's cost, so the two actors' envs run concurrently even on a loaded machine whose
CPUs could not run two CPU-bound actors at once.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def load() -> str:
    """The 1/5/15-minute load averages."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def train(address: str, actors: int, a: argparse.Namespace, run_dir: Path) -> dict[str, Any]:
    """One ``phalanx train`` on the cluster; steady rate and the actor accounting of its metrics.jsonl."""
    cmd = [sys.executable, "-m", "phalanx", "train", "env=pettingzoo:slow_spread", f"env.sleep_ms={a.sleep_ms}",
           "algo=ippo", "backend=ray", f"ray.address={address}", f"ray.num_actors={actors}",
           f"ray.envs_per_actor={a.envs // actors}", f"train.num_envs={a.envs}", f"train.num_steps={a.fragment}",
           f"train.total_steps={a.envs * a.fragment * a.updates}", "log_every=1", f"run_dir={run_dir}"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"phalanx train failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    first, last = lines[0], lines[-1]
    rest = lines[1:]
    return {"actors": actors, "envs_per_actor": a.envs // actors, "wall_s": time.perf_counter() - t0,
            "steady": (last["env_steps"] - first["env_steps"]) / (last["wall_time"] - first["wall_time"]),
            "actor_utilisation": statistics.mean(x["actor_utilisation"] for x in rest),
            "learner_wait_fraction": statistics.mean(x["learner_wait_fraction"] for x in rest),
            "policy_lag": statistics.mean(x["policy_lag"]["mean"] for x in rest), "load": load(),
            "cmd": " ".join(cmd[2:])}


def main() -> None:
    """Start the cluster, alternate 1 and 2 actors, print a table and a JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sleep-ms", type=float, default=5.0)
    parser.add_argument("--envs", type=int, default=8, help="train.num_envs (split over the actors)")
    parser.add_argument("--fragment", type=int, default=128, help="train.num_steps")
    parser.add_argument("--updates", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", default=None, help="append the summary line here")
    a = parser.parse_args()
    # Raylets and their workers inherit this environment: they import slow_spread as the driver does.
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH")) if p)
    from ray.cluster_utils import Cluster

    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S')}  {os.cpu_count()} cpus  load {load()}", flush=True)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    runs: list[dict[str, Any]] = []
    try:
        cluster.wait_for_nodes()
        print(f"cluster {cluster.address}: 2 nodes x 1 CPU", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(a.rounds):
                for n in (1, 2):
                    run = train(cluster.address, n, a, Path(tmp) / f"r{r}n{n}")
                    runs.append(run)
                    print(f"round {r}: {n} actor(s) x {run['envs_per_actor']} envs: {run['steady']:7.1f} env "
                          f"steps/s, actors {run['actor_utilisation']:.0%} busy, learner waits "
                          f"{run['learner_wait_fraction']:.0%}, lag {run['policy_lag']:.2f}  [load {run['load']}]",
                          flush=True)
    finally:
        cluster.shutdown()
    one = statistics.median(x["steady"] for x in runs if x["actors"] == 1)
    two = statistics.median(x["steady"] for x in runs if x["actors"] == 2)
    print(f"\nslow_spread sleep {a.sleep_ms:g} ms/step, {a.envs} envs x {a.fragment} steps per update, "
          f"{a.updates} updates, median of {a.rounds}")
    print(f"| actors | env steps/s | speed-up |\n|---:|---:|---:|\n| 1 | {one:,.1f} | 1.00 |\n| 2 | {two:,.1f} | "
          f"**{two / one:.2f}×** |")
    summary = {"date": time.strftime("%Y-%m-%d %H:%M"), "sleep_ms": a.sleep_ms, "envs": a.envs,
               "fragment": a.fragment, "updates": a.updates, "one": one, "two": two, "speedup": two / one,
               "runs": runs}
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}))
    if a.json:
        with open(a.json, "a") as f:
            f.write(json.dumps(summary) + "\n")


if __name__ == "__main__":
    main()
