"""The raw env's own stepping rate: one process stepping a PettingZoo env with random actions.

    python benchmarks/ray_actors/raw_rate.py --env mpe2.simple_spread_v3 --seconds 10

The limit for host-env training: N actors, each stepping its envs in one process, can at best reach
N times this rate (acting, trajectory transfer and learning only subtract from it). Random actions
are drawn in bulk with NumPy beforehand, so the rate is the env's ``step`` (and its ``reset`` at
episode ends), not the sampler's. Prints one JSON line; imports neither Phalanx nor Ray, so the
same file runs in any virtualenv with the env installed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import time
from typing import Any

import numpy as np


def raw_rate(module: str, seconds: float, seed: int = 0, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """Env steps/s (one step = every agent acts once) of ``module.parallel_env(**settings)`` for ``seconds``."""
    env = importlib.import_module(module).parallel_env(**(settings or {}))
    rng = np.random.default_rng(seed)
    agents = list(env.possible_agents)
    sizes = [env.action_space(a).n for a in agents]
    draws = rng.integers(0, np.array(sizes), size=(4096, len(agents)))
    env.reset(seed=seed)
    steps = episodes = 0
    start = time.perf_counter()
    cpu0 = time.process_time()
    while True:
        row = draws[steps % len(draws)]
        _, _, terms, truncs, _ = env.step({a: int(row[i]) for i, a in enumerate(env.agents)})
        steps += 1
        if not env.agents or all(terms.values()) or all(truncs.values()):
            episodes += 1
            env.reset(seed=seed + episodes)
            if time.perf_counter() - start >= seconds:
                break
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    env.close()
    return {"env": module, "env_steps": steps, "episodes": episodes, "seconds": round(wall, 3),
            "env_steps_per_s": steps / wall, "cpu_share": cpu / wall,
            "load": " ".join(f"{x:.2f}" for x in os.getloadavg())}


def main() -> None:
    """Measure and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="mpe2.simple_spread_v3", help="a module with parallel_env()")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--settings", default="{}", help="parallel_env keyword arguments as JSON")
    a = parser.parse_args()
    print(json.dumps(raw_rate(a.env, a.seconds, a.seed, json.loads(a.settings))), flush=True)


if __name__ == "__main__":
    main()
