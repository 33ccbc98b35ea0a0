"""PSRO on Kuhn and Leduc poker: Phalanx against OpenSpiel's ``psro_v2``, measured in the same process.

Cases (one per invocation keeps each under ~10 minutes on 2 CPU cores):

* ``kuhn``: exact best responses, Nash meta-solver, 10 iterations. Phalanx evaluates the meta-game
  exactly; OpenSpiel runs ``psro_v2`` as its example does (``BestResponseOracle``, a Monte-Carlo
  meta-game with ``sims_per_entry`` games per cell, meta-strategy ``nash`` via cvxpy).
* ``leduc``: the same on Leduc. OpenSpiel runs for ``--openspiel-budget`` seconds of solver time;
  Phalanx runs until exploitability <= ``--target`` (default 0.1). Reported: the time each needs to reach
  OpenSpiel's final exploitability, and the ratio.
* ``leduc_ppo``: Phalanx with the PPO oracle until exploitability < 0.5 (no OpenSpiel counterpart run).

Timings: Phalanx "cold" is the first run in the process (JIT compilation included); "warm" repeats it
with the compiled programs cached. OpenSpiel's time is its solver only (``PSROSolver`` construction and
``iteration()``), without its exploitability measurements; Phalanx's time includes the exact
exploitability it measures inside every iteration, so its times are an upper bound.
Exploitability is NashConv / 2 throughout; both are printed.

Usage::

    python benchmarks/psro/psro_poker.py --case kuhn
    python benchmarks/psro/psro_poker.py --case leduc --openspiel-budget 300
    python benchmarks/psro/psro_poker.py --case leduc_ppo --max-iterations 60
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from typing import Any

import numpy as np

# --------------------------------------------------------------------------- Phalanx


def phalanx_psro(game: str, oracle: str, iterations: int, target: float | None = None, ppo_seeds: int = 1,
                 ppo: dict | None = None) -> list[dict[str, Any]]:
    """One PSRO-Nash run; ``[{"iteration", "wall_time", "exploitability", "nash_conv"}]`` per iteration."""
    from phalanx.population.psro import PSRO
    from phalanx.runtime.backend import LocalBackend
    from phalanx.runtime.population_config import from_values

    oracle = "learned" if oracle == "ppo" else oracle  # the learned oracle, here with algo=ippo
    config = from_values({"env": game, "population": {"oracle": oracle, "meta_solver": "nash"}, "num_seeds": ppo_seeds,
                          "train": ppo or {}})
    t0 = time.perf_counter()
    psro = PSRO(config.game_spec(), config.oracle_spec(), "nash", backend=LocalBackend())
    rows: list[dict[str, Any]] = []

    def record(state, metrics):
        rows.append({"iteration": metrics["iteration"], "wall_time": time.perf_counter() - t0,
                     "exploitability": metrics["exploitability"], "nash_conv": metrics["nash_conv"],
                     "population": metrics["population"], "oracle": metrics.get("oracle", {})})
        gaps = "".join(f"  {p} gap {s['gap']:.3f}" for p, s in metrics.get("oracle", {}).items() if "gap" in s)
        print(f"  phalanx {game} {oracle}: iteration {metrics['iteration']:3d}  "
              f"exploitability {metrics['exploitability']:.5f}  {rows[-1]['wall_time']:7.2f}s{gaps}", flush=True)

    state, metrics = psro.init(0)
    record(state, metrics)
    while state.iteration < iterations and not (target is not None and rows[-1]["exploitability"] <= target):
        state, metrics = psro.step(state)
        record(state, metrics)
    return rows


# --------------------------------------------------------------------------- OpenSpiel


def openspiel_psro(game_name: str, iterations: int, budget_s: float, sims_per_entry: int,
                   measure_every: int = 1, seed: int = 1) -> list[dict[str, Any]]:
    """OpenSpiel ``psro_v2`` with exact best responses, as ``psro_v2_example.py`` sets it up."""
    import pyspiel
    from open_spiel.python import policy, rl_environment
    from open_spiel.python.algorithms import exploitability, policy_aggregator
    from open_spiel.python.algorithms.psro_v2 import best_response_oracle, psro_v2

    np.random.seed(seed)  # psro_v2 samples with the global NumPy generator
    game = pyspiel.load_game(game_name)
    env = rl_environment.Environment(game)
    solver_time = 0.0
    t = time.perf_counter()
    random_policy = policy.TabularPolicy(env.game)
    oracle = best_response_oracle.BestResponseOracle(game=env.game, policy=random_policy)
    agents = [random_policy.__copy__() for _ in range(2)]
    solver = psro_v2.PSROSolver(
        env.game, oracle, initial_policies=agents, training_strategy_selector="probabilistic", rectifier="",
        sims_per_entry=sims_per_entry, number_policies_selected=1, meta_strategy_method="nash",
        prd_iterations=50000, prd_gamma=1e-10, sample_from_marginals=True, symmetric_game=False)
    solver_time += time.perf_counter() - t
    rows: list[dict[str, Any]] = []

    def measure(i: int) -> None:
        aggregated = policy_aggregator.PolicyAggregator(game).aggregate(
            range(2), solver.get_policies(), solver.get_meta_strategies())
        nash_conv = float(exploitability.nash_conv(game, aggregated))
        rows.append({"iteration": i, "wall_time": solver_time, "exploitability": nash_conv / 2,
                     "nash_conv": nash_conv})
        print(f"  openspiel {game_name}: iteration {i:3d}  exploitability {nash_conv / 2:.5f}  "
              f"{solver_time:7.2f}s (solver)", flush=True)

    measure(0)
    for i in range(1, iterations + 1):
        t = time.perf_counter()
        solver.iteration()
        solver_time += time.perf_counter() - t
        last = i == iterations or solver_time >= budget_s
        if i % measure_every == 0 or last:
            measure(i)
        if last:
            break
    return rows


# --------------------------------------------------------------------------- comparisons


def time_to(rows: list[dict[str, Any]], target: float) -> tuple[int, float] | None:
    """``(iteration, wall time)`` of the first row with exploitability <= target, or None."""
    for row in rows:
        if row["exploitability"] <= target:
            return row["iteration"], row["wall_time"]
    return None


def machine() -> dict[str, Any]:
    import jax

    return {"cpus": os.cpu_count(), "load_average": os.getloadavg(), "platform": platform.platform(),
            "jax": jax.__version__, "device": str(jax.devices()[0])}


def case_kuhn(args) -> dict[str, Any]:
    cold = phalanx_psro("kuhn_poker", "exact", 10)
    warm = phalanx_psro("kuhn_poker", "exact", 10)
    # OpenSpiel's meta-game is Monte Carlo, so its result varies with the seed: several seeds, averaged.
    spiel = [openspiel_psro("kuhn_poker", 10, float("inf"), args.sims_per_entry, seed=s)
             for s in range(1, args.openspiel_seeds + 1)]
    finals = np.array([rows[-1]["exploitability"] for rows in spiel])
    times = np.array([rows[-1]["wall_time"] for rows in spiel])
    ours = warm[-1]
    print("\nKuhn poker, exact best responses, Nash meta-solver, 10 iterations")
    print(f"  phalanx  : exploitability {cold[-1]['exploitability']:.2e} in {cold[-1]['wall_time']:.2f}s cold, "
          f"{ours['wall_time']:.2f}s warm")
    print(f"  openspiel: exploitability mean {finals.mean():.2e} (min {finals.min():.2e}, max {finals.max():.2e}) over "
          f"{len(spiel)} seeds, {times.mean():.2f}s mean solver time")
    print(f"  speed-up : {times.mean() / cold[-1]['wall_time']:.1f}x cold, "
          f"{times.mean() / ours['wall_time']:.1f}x warm (OpenSpiel mean time / Phalanx time)")
    return {"phalanx_cold": cold, "phalanx_warm": warm, "openspiel": spiel}


def case_leduc(args) -> dict[str, Any]:
    spiel = openspiel_psro("leduc_poker", args.max_iterations, args.openspiel_budget, args.sims_per_entry,
                           measure_every=args.measure_every)
    cold = phalanx_psro("leduc_poker", "exact", args.max_iterations, target=args.target)
    warm = phalanx_psro("leduc_poker", "exact", args.max_iterations, target=args.target)
    reached = spiel[-1]["exploitability"]
    print(f"\nLeduc poker, exact best responses, Nash meta-solver (OpenSpiel: {args.openspiel_budget:.0f}s budget)")
    print(f"  openspiel: exploitability {reached:.4f} after {spiel[-1]['iteration']} iterations, "
          f"{spiel[-1]['wall_time']:.1f}s")
    for name, rows in (("cold", cold), ("warm", warm)):
        hit = time_to(rows, reached)
        final = rows[-1]
        print(f"  phalanx {name}: exploitability {final['exploitability']:.4f} after {final['iteration']} iterations, "
              f"{final['wall_time']:.1f}s; reaches {reached:.4f} at "
              + (f"iteration {hit[0]}, {hit[1]:.2f}s -> {spiel[-1]['wall_time'] / hit[1]:.0f}x faster" if hit
                 else "never"))
    print("  time to reach each exploitability (iteration, seconds); OpenSpiel measured every "
          f"{args.measure_every} iterations:")
    for target in sorted({1.0, 0.8, 0.6, reached, args.target}, reverse=True):
        cells = []
        for rows in (spiel, cold, warm):
            hit = time_to(rows, target)
            cells.append(f"it {hit[0]:3d} {hit[1]:7.2f}s" if hit else "      not reached")
        print(f"    <= {target:.4f}:  openspiel {cells[0]}   phalanx cold {cells[1]}   phalanx warm {cells[2]}")
    return {"phalanx_cold": cold, "phalanx_warm": warm, "openspiel": spiel}


def case_leduc_ppo(args) -> dict[str, Any]:
    ppo = json.loads(args.ppo) if args.ppo else {}
    rows = phalanx_psro("leduc_poker", "ppo", args.max_iterations, target=args.ppo_target, ppo_seeds=args.ppo_seeds,
                        ppo=ppo)
    hit = time_to(rows, args.ppo_target)
    print(f"\nLeduc poker, PPO oracle ({args.ppo_seeds} seed(s) per best response), Nash meta-solver")
    print(f"  exploitability {rows[-1]['exploitability']:.4f} after {rows[-1]['iteration']} iterations, "
          f"{rows[-1]['wall_time']:.1f}s; below {args.ppo_target}: "
          + (f"iteration {hit[0]}, {hit[1]:.1f}s" if hit else "not reached"))
    return {"phalanx": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=("kuhn", "leduc", "leduc_ppo"), required=True)
    parser.add_argument("--openspiel-seeds", type=int, default=5, help="OpenSpiel runs averaged (kuhn)")
    parser.add_argument("--sims-per-entry", type=int, default=1000, help="OpenSpiel games per meta-game cell")
    parser.add_argument("--openspiel-budget", type=float, default=300.0, help="OpenSpiel solver seconds (leduc)")
    parser.add_argument("--measure-every", type=int, default=5, help="OpenSpiel Leduc exploitability every k its")
    parser.add_argument("--max-iterations", type=int, default=200)
    parser.add_argument("--target", type=float, default=0.1, help="Phalanx Leduc exact target exploitability")
    parser.add_argument("--ppo-target", type=float, default=0.5)
    parser.add_argument("--ppo-seeds", type=int, default=2)
    parser.add_argument("--ppo", default="", help='PPO overrides as JSON, e.g. \'{"total_steps": 100000}\'')
    parser.add_argument("--json", default="", help="write all rows here")
    args = parser.parse_args()
    info = {"machine_start": machine(), "args": vars(args)}
    print(f"machine: {info['machine_start']}")
    result = {"kuhn": case_kuhn, "leduc": case_leduc, "leduc_ppo": case_leduc_ppo}[args.case](args)
    info["machine_end"] = {"load_average": os.getloadavg()}
    print(f"load average at the end: {info['machine_end']['load_average']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({**info, **result}, f, indent=1)


if __name__ == "__main__":
    main()
