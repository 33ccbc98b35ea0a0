"""CPU seconds per env step: one Phalanx Ray actor's rollout vs the raw env, in one process, turn about.

    python benchmarks/ray_actors/actor_cpu.py --envs-per-actor 4 16 --rounds 3

On a loaded machine a wall-clock rate says as much about the neighbours as about the code; CPU time
per env step (``time.process_time``, every thread of this process) does not. Each round times
``raw_rate.py``'s loop (one env, random actions) and then one ``RolloutActor.rollout`` block per K
(the actor class Ray runs, called here directly: K envs stepped in this process by the jitted policy,
transitions recorded, the block copied out as NumPy). ``raw CPU / actor CPU`` per env step is the share
of N × the raw rate that N actors on N dedicated cores can reach at most.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from raw_rate import raw_rate

from phalanx.algos.ppo.config import PPOConfig
from phalanx.algos.ppo.sebulba import Learner as Policy
from phalanx.runtime import ray_actors
from phalanx.runtime.ray_actors import RolloutActor

ray_actors._node_id = lambda: "local"  # no Ray here: the block's node tag is the only Ray call in a rollout


def actor_cpu_per_step(actor: RolloutActor, steps: int) -> tuple[float, float]:
    """``(CPU s, wall s)`` per env step of one rollout block."""
    s = actor._state
    policy = Policy(s.params, s.obs_stats, s.state_stats, s.value_stats)
    c0, w0 = time.process_time(), time.perf_counter()
    out = actor.rollout(policy, 0, 0)
    if not out["ok"]:
        raise SystemExit(out["error"])
    return (time.process_time() - c0) / steps, (time.perf_counter() - w0) / steps


def main() -> None:
    """Alternate raw env and actor blocks; print per-round numbers and a JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs-per-actor", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--fragment", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--raw-seconds", type=float, default=5.0)
    a = parser.parse_args()
    actors = {k: RolloutActor(0, "pettingzoo:mpe2.simple_spread_v3", {}, "ippo",
                              PPOConfig(num_envs=k, num_steps=a.fragment), k, 0) for k in a.envs_per_actor}
    for k, actor in actors.items():  # compile the acting program and warm the envs
        if actor.error:
            raise SystemExit(actor.error)
        actor_cpu_per_step(actor, k * a.fragment)
    raw_cpu: list[float] = []
    act_cpu: dict[int, list[float]] = {k: [] for k in actors}
    for r in range(a.rounds):
        c0 = time.process_time()
        raw = raw_rate("mpe2.simple_spread_v3", a.raw_seconds, seed=r)
        raw_cpu.append((time.process_time() - c0) / raw["env_steps"])
        line = f"round {r}: raw {raw_cpu[-1] * 1e6:6.0f} us CPU/step"
        for k, actor in actors.items():
            cpu, wall = actor_cpu_per_step(actor, k * a.fragment)
            act_cpu[k].append(cpu)
            line += f" | actor K={k}: {cpu * 1e6:6.0f} us CPU/step ({wall * 1e6:.0f} wall)"
        print(line + f"  [load {' '.join(f'{x:.1f}' for x in os.getloadavg())}]", flush=True)
    raw_m = statistics.median(raw_cpu)
    summary = {"raw_cpu_per_step": raw_m, "actor_cpu_per_step": {k: statistics.median(v) for k, v in act_cpu.items()},
               "raw_over_actor": {k: raw_m / statistics.median(v) for k, v in act_cpu.items()},
               "load": " ".join(f"{x:.2f}" for x in os.getloadavg()), "date": time.strftime("%Y-%m-%d %H:%M")}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
