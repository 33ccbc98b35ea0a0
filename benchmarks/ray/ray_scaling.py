"""PSRO and the league on the ``local`` backend and on Ray with 1 and 2 workers: wall time, scaling, overhead.

Cases (one per invocation, each a few minutes on a loaded 2-core machine):

* ``psro_exact`` — PSRO-Nash on Leduc with exact best responses (:class:`~phalanx.population.psro.PSRO`,
  the run loop without its file outputs); tasks are milliseconds long once compiled.
* ``psro_ppo`` — the same with the PPO oracle and a small budget (``--ppo-steps`` env steps per best response).
* ``league`` — ``league_run.run`` on the league's small Tag (3 learners), ``--league-tasks`` train tasks per
  learner, each followed by its evaluation, then the final round robin.

Each backend runs the case once ``cold`` (JIT compilation included: a Ray worker is a fresh process and
compiles every task program once, as does this process for the local backend), then the backends take
turns for ``--warm`` rounds (the same workers, programs compiled; alternating so that the machine's
changing load hits every backend alike). Scaling efficiency is ``T_1 / (n T_n)`` with ``T_n`` the median warm
wall time on ``n`` Ray workers.

**Overhead per task.** Every task goes through :class:`~phalanx.runtime.task_timeline.Recorder`, which
stamps its start and end on the worker (``time.time``: one machine, one clock). With the submission time
and the time the backend saw the result (``TaskFuture.meta["wall_s"]``), each task splits into

* ``dispatch`` — from ``max(submitted, the end of the worker's previous task)`` to the start on the worker:
  argument ``put``/serialisation, Ray scheduling, the call's transfer and unpickling;
* ``task`` — the function itself (the same code as the local path);
* ``return`` — from the end on the worker to the coordinator seeing the result: result serialisation
  and transfer, and Ray's ``wait``/``get``.

``overhead = dispatch + return`` per task, reported as a share of the task time (goal: < 5 %). ``serial`` is
the wall time during which no task runs anywhere: the coordinator's own work (meta-solving, exact
exploitability, league bookkeeping, checkpoints) plus all overheads.

Usage::

    python benchmarks/ray/ray_scaling.py --case psro_exact
    python benchmarks/ray/ray_scaling.py --case psro_ppo --ppo-steps 32768
    python benchmarks/ray/ray_scaling.py --case league --league-tasks 2
    python benchmarks/ray/ray_scaling.py --case sizes        # parameter bytes per member / player (docs/scaling.md)
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from phalanx.runtime.task_timeline import Recorder, timeline


def psro_case(oracle: str, iterations: int, ppo_steps: int) -> Callable[[Any], dict[str, Any]]:
    """PSRO-Nash on Leduc with ``oracle``; returns a function of the backend → final exploitability."""
    from phalanx.population.psro import PSRO
    from phalanx.runtime.population_config import from_values

    values: dict[str, Any] = {"env": "leduc_poker",
                              "population": {"oracle": "learned" if oracle == "ppo" else oracle, "meta_solver": "nash"}}
    if oracle == "ppo":
        values["train"] = {"total_steps": ppo_steps}
    config = from_values(values)

    def run(backend: Any) -> dict[str, Any]:
        psro = PSRO(config.game_spec(), config.oracle_spec(), "nash", backend=backend)
        state = psro.run(iterations, seed=0)
        return {"exploitability": psro.exploitability(state)["exploitability"]}

    return run


def league_case(tasks_per_learner: int, workdir: Path) -> Callable[[Any], dict[str, Any]]:
    """``league_run.run`` on the default small Tag league with ``tasks_per_learner`` train tasks per learner."""
    from rich.console import Console

    from phalanx.runtime import league_run
    from phalanx.runtime.league_config import resolve

    probe = resolve([])
    total = tasks_per_learner * probe.learners * probe.steps_per_task
    runs = [0]

    def run(backend: Any) -> dict[str, Any]:
        runs[0] += 1
        path = workdir / f"league{runs[0]}"
        config = resolve([f"league.total_steps={total}", f"run_dir={path}", "checkpoint_every=1000"])
        league_run.run(config, console=Console(file=io.StringIO()), backend=backend)
        final = json.loads((path / "league_final.json").read_text())
        return {"elo_fit_main": round(final["elo_fit"][0], 2), "env_steps": final["env_steps"]}

    return run


def nbytes(tree: Any) -> int:
    """Bytes of array data in a pytree."""
    import jax

    return int(sum(np.asarray(x).nbytes for x in jax.tree_util.tree_leaves(tree)))


def sizes() -> dict[str, Any]:
    """Parameter bytes that tasks carry, from the real initial populations and league players (default configs)."""
    import jax

    from phalanx.population.metagames import make_metagame
    from phalanx.runtime.league_config import resolve
    from phalanx.runtime.league_tasks import TaskSpec, initial_player, policy_of
    from phalanx.runtime.population_config import from_values

    out: dict[str, Any] = {}
    for oracle in ("exact", "ppo"):
        config = from_values({"env": "leduc_poker", "population": {"oracle": "learned" if oracle == "ppo" else oracle,
                                                                     "meta_solver": "nash"}})
        metagame = make_metagame(config.game_spec())
        member = metagame.initial_population(0, jax.random.PRNGKey(0))
        out[f"leduc_{oracle}_member_bytes"] = nbytes(member)
        out[f"leduc_{oracle}_member_leaves"] = {"/".join(str(getattr(k, "key", k)) for k in path): list(x.shape)
                                                for path, x in jax.tree_util.tree_leaves_with_path(member)}
    config = resolve([])
    spec = TaskSpec.of(config)
    player = initial_player(spec, jax.random.PRNGKey(0))
    out["league_player_bytes"] = nbytes(player)  # each side's learner train state (params, optimiser, envs, ...)
    out["league_actor_bytes"] = nbytes(policy_of(spec, player))
    out["league_params"] = int(sum(np.asarray(x).size for side in player.values()
                                   for x in jax.tree_util.tree_leaves(side.params)))
    out["league_capacity_default"] = config.capacity
    out["league_learners_default"] = config.learners
    out["league_tasks_per_learner_default"] = config.tasks_per_learner
    out["league_steps_per_task"] = config.steps_per_task
    return out


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def measure(case: Callable[[Any], dict[str, Any]], backend: Any, label: str, phase: str) -> dict[str, Any]:
    """One run of the case on ``backend``: wall time, result and timeline."""
    recorder = Recorder(backend)
    load0 = _load()
    t0 = time.time()
    result = case(recorder)
    t1 = time.time()
    row = {"backend": label, "phase": phase, "wall_s": t1 - t0, **result, **timeline(recorder.tasks, t0, t1),
           "load_before": load0, "load_after": _load()}
    print(f"  {label:6s} {phase}: {row['wall_s']:7.2f}s  tasks {row['tasks']:3d}  task {row['task_s_mean']:.4f}s  "
          f"overhead {row['overhead_s_mean'] * 1e3:7.2f} ms/task ({100 * row['overhead_share']:.2f}%)  "
          f"serial {row['serial_s']:.2f}s  {result}  load {row['load_after']}", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", choices=["psro_exact", "psro_ppo", "league", "sizes"], required=True)
    parser.add_argument("--iterations", type=int, default=None, help="PSRO iterations (exact 10, ppo 3)")
    parser.add_argument("--ppo-steps", type=int, default=32768, help="env steps per PPO best response")
    parser.add_argument("--league-tasks", type=int, default=2, help="train tasks per league learner")
    parser.add_argument("--backends", nargs="+", default=["local", "ray1", "ray2"])
    parser.add_argument("--warm", type=int, default=3, help="warm rounds (each backend once a round; medians)")
    parser.add_argument("--json", default=None, help="append the rows here (JSON lines)")
    args = parser.parse_args()
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S')}  {platform.node()}  {os.cpu_count()} cpus  load {_load()}  "
          f"case {args.case}", flush=True)
    if args.case == "sizes":
        print(json.dumps(sizes(), indent=1))
        return
    workdir = Path(tempfile.mkdtemp(prefix="ray_scaling_"))
    if args.case == "league":
        case = league_case(args.league_tasks, workdir)
    else:
        oracle = "exact" if args.case == "psro_exact" else "ppo"
        iterations = args.iterations or (10 if oracle == "exact" else 3)
        case = psro_case(oracle, iterations, args.ppo_steps)
    rows: list[dict[str, Any]] = []
    backends: dict[str, Any] = {}
    try:
        for label in args.backends:  # cold: each backend's first run (its workers compile)
            if label == "local":
                from phalanx.runtime.backend import LocalBackend

                backends[label] = LocalBackend()
            else:
                import ray

                from phalanx.runtime.ray_backend import RayBackend

                if not ray.is_initialized():
                    os.environ.setdefault("RAY_raylet_start_wait_time_s", "300")
                    # logical CPUs for every worker of every backend at once (they alternate, never all busy)
                    ray.init(num_cpus=8, include_dashboard=False, log_to_driver=False)
                backends[label] = RayBackend(int(label.removeprefix("ray")), num_cpus=1)
            rows.append(measure(case, backends[label], label, "cold"))
        for _ in range(args.warm):  # warm: the backends take turns, so a change of load hits them alike
            for label in args.backends:
                rows.append(measure(case, backends[label], label, "warm"))
    finally:
        for backend in backends.values():
            backend.close()
        shutil.rmtree(workdir, ignore_errors=True)
    warm = {b: float(np.median([r["wall_s"] for r in rows if r["phase"] == "warm" and r["backend"] == b]))
            for b in args.backends}
    print("  warm medians:", {b: round(t, 3) for b, t in warm.items()})
    if "ray1" in warm and "ray2" in warm:
        print(f"  scaling efficiency T1/(2 T2) warm: {warm['ray1'] / (2 * warm['ray2']):.3f}")
    if args.json:
        with open(args.json, "a") as f:
            for r in rows:
                f.write(json.dumps({"case": args.case, "date": time.strftime("%Y-%m-%d %H:%M"), **r}) + "\n")


if __name__ == "__main__":
    main()
