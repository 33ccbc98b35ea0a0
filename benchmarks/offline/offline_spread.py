"""Offline learners on simple_spread datasets of three qualities: return vs the dataset's, and grad steps/s.

    python benchmarks/offline/offline_spread.py [--episodes 200] [--grad-steps 3000] [--algos bc iql_cql qmix_cql]
                                                [--json out.json]

Datasets: a scripted policy (agent ``i`` walks to landmark ``i`` along its larger offset) with each
agent's action replaced by a random one with probability ε = 0.1 (``Good``), 0.5 (``Medium``) and 1.0
(``Poor``: random play), ``--episodes`` episodes each, written to vaults in a temporary directory
exactly as ``phalanx data record`` writes them and loaded as ``phalanx train data=`` loads them. For
each (dataset, learner): the greedy policy's mean return over the last two updates' evaluation episodes
(16 envs × 50 steps per update), and gradient steps/s (the compiled updates' wall time, compile
excluded, evaluation steps included). Not Phalanx checkpoints as the issue asks: a scripted policy with
ε noise gives three known qualities without training one first.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import jax

import phalanx
from phalanx.algos.offline import OfflineConfig, make_train
from phalanx.runtime.vault import load_dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "offline"))
from test_learners import _write, scripted_spread_actor

QUALITIES = {"Good": 0.1, "Medium": 0.5, "Poor": 1.0}


def main() -> None:
    """Record the three datasets, train every learner on each, print a table (and ``--json``)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--episodes", type=int, default=200)
    p.add_argument("--grad-steps", type=float, default=3000)
    p.add_argument("--algos", nargs="+", default=["bc", "iql_cql", "qmix_cql"])
    p.add_argument("--json")
    a = p.parse_args()
    env = phalanx.make("simple_spread")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for quality, eps in QUALITIES.items():
            mean = _write(Path(tmp) / "spread.vlt" / quality, env, {"agents": scripted_spread_actor(a.episodes)},
                          a.episodes, epsilon=eps)
            data = load_dataset(Path(tmp) / "spread.vlt" / quality, env, "simple_spread")
            for algo in a.algos:
                config = OfflineConfig(method=algo, grad_steps=int(a.grad_steps), grad_steps_per_update=500,
                                       num_envs=16, eval_steps=50)
                trainer = make_train(config, env, dataset=data)
                state = jax.jit(trainer.init)(jax.random.PRNGKey(0))
                update = jax.jit(trainer.update).lower(state).compile()
                returns, t0 = [], time.perf_counter()
                for _ in range(trainer.num_updates):
                    state, m = update(state)
                    m = jax.device_get(m)
                    returns.append((float(m.episode_return_sum["agents"]), float(m.episode_count)))
                wall = time.perf_counter() - t0
                last = returns[-2:]
                learned = sum(r for r, _ in last) / max(1.0, sum(c for _, c in last))
                rows.append({"quality": quality, "epsilon": eps, "dataset_return": mean, "algo": algo,
                             "learned_return": learned, "grad_steps_per_s": config.grad_steps / wall})
                print(f"{quality:7s} ε={eps:<4} data {mean:8.2f}  {algo:9s} {learned:8.2f}  "
                      f"{rows[-1]['grad_steps_per_s']:7.0f} grad steps/s", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps({"device": str(jax.devices()[0]), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
