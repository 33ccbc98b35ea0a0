"""Where the learner saturates: the actor–learner simulation swept over N actors, with costs measured here.

    python benchmarks/ray_actors/actor_curve.py --seed 1 --png docs/images/actor_scaling.png

Costs (``phalanx.runtime.actor_sim.ActorCosts``) come from the newest ``compare.py`` line in ``--results``
(of ``--seed``, when given):

* an actor's seconds per env step (stepping ``K`` envs and acting, as its rollouts took them):
  ``N × actor_utilisation / actor_steps_per_s`` per log line (busy seconds over env steps delivered),
  averaged over the Phalanx run's lines after the first: each line is one update of the same size, so the
  mean is total busy time over total env steps;
* the learner's seconds per env step of its batch (epochs and minibatches included):
  ``(1 - learner_wait_fraction) / actor_steps_per_s`` (the share of the wall time it was not waiting,
  spread over the env steps it received), averaged the same way;
* Ray's per-call costs from ``benchmarks/ray/ray_dispatch_sim.py --calibrate`` (docs/scaling.md §1), a block
  of ``K × T`` steps of ~300 bytes each and PPO's 64-64 parameters (~40 KB) per publish.

Either can be overridden (``--actor-step-us``, ``--learn-step-us``). The sweep runs the overlapped loop
(``ray.max_policy_lag=2``, Phalanx's default) and the synchronous one (lag 0, as RLlib's PPO), prints a
table, the analytic saturation point, and draws the curve with ``phalanx.runtime.plots``' figure and save.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from phalanx.runtime.actor_sim import ActorCosts, saturation, simulate_actors
from phalanx.runtime.dispatch_sim import RayCosts

#: Ray 2.60's per-call costs on this machine (docs/scaling.md §1, ``ray_dispatch_sim.py --calibrate``).
CALIBRATED = RayCosts(call_s=0.225e-3, wait_s=0.028e-3, wait_per_ref_s=1.44e-6, get_s=0.013e-3, put_s=0.26e-3,
                      put_per_byte_s=0.106e-3 / 2**20)


def measured(path: Path, seed: int | None = None) -> dict[str, Any]:
    """The newest ``compare.py`` summary line in ``path`` (of ``seed``, if given), with per-step costs derived
    from its Phalanx run."""
    rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    row = [r for r in rows if seed is None or r.get("seed") == seed][-1]
    ph, n = row["phalanx"], row["actors"]
    per = list(zip(ph["actor_steps_per_s"], ph["actor_utilisation"], ph["learner_wait_fraction"], strict=True))
    actor = statistics.mean(n * u / s for s, u, _ in per if s)
    learn = statistics.mean((1 - w) / s for s, _, w in per if s)
    return {"row": row, "actor_step_s": actor, "learn_step_s": learn}


def main() -> None:
    """Sweep, print, plot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=str(Path(__file__).with_name("results.jsonl")))
    parser.add_argument("--seed", type=int, default=None, help="take the costs of this seed's run (default: newest)")
    parser.add_argument("--actor-step-us", type=float, default=None, help="override: actor seconds per env step")
    parser.add_argument("--learn-step-us", type=float, default=None, help="override: learner seconds per env step")
    parser.add_argument("--envs-per-actor", type=int, default=4)
    parser.add_argument("--fragment", type=int, default=128)
    parser.add_argument("--updates", type=int, default=30)
    parser.add_argument("--actors", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64, 128, 256])
    parser.add_argument("--png", default=None)
    a = parser.parse_args()
    m = measured(Path(a.results), a.seed) if a.actor_step_us is None or a.learn_step_us is None else {}
    actor_s = a.actor_step_us * 1e-6 if a.actor_step_us is not None else m["actor_step_s"]
    learn_s = a.learn_step_us * 1e-6 if a.learn_step_us is not None else m["learn_step_s"]
    costs = ActorCosts(env_step_s=actor_s, learn_step_s=learn_s, block_bytes_per_step=300,
                       fetch_per_byte_s=CALIBRATED.put_per_byte_s, param_bytes=40_000, ray=CALIBRATED)
    k, t = a.envs_per_actor, a.fragment
    print(f"costs: actor {actor_s * 1e6:.1f} us/env step, learner {learn_s * 1e6:.1f} us/env step; "
          f"K={k}, T={t}; saturation at N* = {saturation(costs, k, t, actors=64):.1f} actors")
    print("| N | overlapped env steps/s | actors busy | learner waits | lag | sync (lag 0) env steps/s |")
    print("|---:|---:|---:|---:|---:|---:|")
    rows = []
    for n in a.actors:
        over = simulate_actors(n, k, t, costs, updates=a.updates)
        sync = simulate_actors(n, k, t, costs, updates=a.updates, sync=True)
        rows.append((n, over, sync))
        print(f"| {n} | {over.env_steps_per_s:,.0f} | {over.actor_utilisation:.2f} | {over.learner_wait:.2f} | "
              f"{over.mean_lag:.2f} | {sync.env_steps_per_s:,.0f} |")
    if a.png:
        from phalanx.runtime.plots import figure, save

        fig = figure(6.0, 3.8)
        ax = fig.add_subplot()
        ns = [r[0] for r in rows]
        ax.plot(ns, [r[1].env_steps_per_s for r in rows], "o-", label="overlapped (max_policy_lag=2)")
        ax.plot(ns, [r[2].env_steps_per_s for r in rows], "s--", label="synchronous (lag 0)")
        ax.plot(ns, [n / actor_s for n in ns], ":", color="grey", label="N × one actor")
        ax.axhline(1 / learn_s, color="black", lw=0.8, label="learner alone (1 / learner s per step)")
        ax.set(xscale="log", yscale="log", xlabel="actors N", ylabel="env steps/s (trained)",
               title=f"actors feeding one learner (simulated), K={k}, T={t}")
        ax.legend(fontsize=8)
        save(fig, a.png)
        print(f"wrote {a.png}")


if __name__ == "__main__":
    main()
