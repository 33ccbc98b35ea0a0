"""``phalanx league``: an AlphaStar-style league on any env with two or more groups, with any learner,
as tasks on a backend, on the run skeleton.

**Schedule.** Every learner runs its own loop — train, evaluate against every other player, record
the results (payoff, Elo), maybe snapshot / reset, train again — and always has exactly one task in
flight. The run waits for the learners' tasks in round-robin order and submits a learner's next task
as soon as its previous one is processed, so on a parallel backend all learners stay busy with no
barrier per generation; on the local backend the tasks simply run in turn. Because results are
processed in a fixed order and every task's inputs (parameters, opponents, PRNG key
``fold_in(PRNGKey(seed), task_id)``) are fixed at submission, a run is the same on every backend.
The tasks are in :mod:`phalanx.runtime.league_tasks`, the final round robin and its files in
:mod:`phalanx.runtime.league_report`.

**Run directory** (``runs/<env>-league-<timestamp>/`` or ``run_dir=PATH``): ``config.yaml``;
``metrics.jsonl`` (one line per learner cycle: player, role, opponent mixture, win rates, Elo of every
player, env steps, wall time); TensorBoard (every player's Elo); ``checkpoints/<task>/`` (Orbax, atomic:
the league state — players' learner states, snapshots' policies, decayed win/draw/loss counts,
Elo, RNG, schedule — plus the results of tasks in flight, so a resumed run continues exactly);
``elo.png``; and after the final round robin ``payoffs.png``, ``league_table.md``/``.csv``,
``win_rates.csv`` and ``league_final.json``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import jax
import numpy as np
from rich.console import Console

from phalanx.errors import PhalanxError
from phalanx.population.league import League
from phalanx.runtime import run_dir as rd
from phalanx.runtime.backend import Backend
from phalanx.runtime.checkpoint import Checkpoints
from phalanx.runtime.league_config import LeagueConfig, from_values
from phalanx.runtime.league_report import ELO_TITLE, final_table, write_final
from phalanx.runtime.league_tasks import (
    TaskSpec,
    copy_tree,
    evaluate_matches_task,
    initial_player,
    policy_of,
    stack,
    train_player_task,
)
from phalanx.runtime.plots import elo_figure, save
from phalanx.runtime.run_context import RunContext, open_run
from phalanx.runtime.task_future import TaskFuture

#: ``phalanx league`` run directories.
KIND = rd.RunKind("phalanx league", "runs/<env>-league-<time>", LeagueConfig, from_values, lambda config: "league")


@dataclasses.dataclass
class Pending:
    """A learner's task in flight: its kind, future (or result, once gathered), and what it was about."""

    kind: str  # "train" or "eval"
    future: TaskFuture | None
    meta: dict[str, Any]  # train: {"mixture": {name: prob}}; eval: {"opponents": [player indices]}
    result: Any = None
    ready: bool = False

    def wait(self, backend: Backend) -> Any:
        """The task's result, gathering it from ``backend`` the first time (blocks until it is done)."""
        if not self.ready:
            self.result, self.ready = backend.gather([self.future])[0], True
        return self.result


class LeagueRun:
    """The league being run: bookkeeping, every player's parameters, the tasks in flight.

    Build with :meth:`fresh` or :meth:`restore`; with a :class:`~phalanx.runtime.run_context.RunContext`
    attached (``run``), :meth:`train` runs the learners' loops, logging and checkpointing into its run
    directory.
    """

    def __init__(self, config: LeagueConfig, backend: Backend, league: League, initial: dict,
                 learners: dict[int, dict], snapshots: dict[int, dict], progress: dict[str, Any],
                 pending: dict[int, Pending]):
        self.config, self.backend = config, backend
        self.spec = TaskSpec.of(config)
        self.league, self.initial, self.learners, self.snapshots = league, initial, learners, snapshots
        self.progress, self.pending = progress, pending
        self.run: RunContext | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def fresh(cls, config: LeagueConfig, backend: Backend, progress: dict[str, Any] | None = None) -> LeagueRun:
        """A new league: every learner (and each main agent's initial snapshot) starts from the same parameters;
        every learner's first train task is submitted. ``progress``: the dict to keep the league's progress in
        (a run's :attr:`~phalanx.runtime.run_context.RunContext.progress`), filled here."""
        spec = TaskSpec.of(config)
        rules = config.league
        league = League(rules, rules.main_agents, rules.main_exploiters, rules.league_exploiters, seed=config.seed)
        initial = initial_player(spec, jax.random.fold_in(jax.random.PRNGKey(config.seed), 2**31 - 1))
        learners = {i: copy_tree(initial) for i in league.learners()}
        snapshots = {j: policy_of(spec, initial) for j in league.historical()}
        progress = {} if progress is None else progress
        progress.update({"tasks_done": 0, "task_ids": 0, "turn": 0, "cycles": {str(i): 0 for i in learners},
                         "env_steps": 0, "wall_time": 0.0, "metrics_lines": 0, "stage": "train", "train_info": {}})
        run = cls(config, backend, league, initial, learners, snapshots, progress, {})
        for i in league.learners():
            run._submit_train(i)
        return run

    def policy(self, j: int) -> dict:
        """Player ``j``'s current complete policy ``{group: member params}``."""
        return policy_of(self.spec, self.learners[j]) if j in self.learners else self.snapshots[j]

    def _key(self) -> np.ndarray:
        task_id = self.progress["task_ids"]
        self.progress["task_ids"] += 1
        return np.asarray(jax.random.fold_in(jax.random.PRNGKey(self.config.seed), task_id))

    # ------------------------------------------------------------------ the learners' loops
    def _submit_train(self, i: int) -> None:
        dist = self.league.opponent_distribution(i)
        support = np.flatnonzero(dist > 0)
        cap = self.config.capacity
        if len(support) > cap:  # cannot happen: capacity bounds the league's size
            raise PhalanxError(f"league has {len(support)} opponents for {self.league.names[i]}, capacity {cap}.")
        members = [*support.tolist(), *[int(support[0])] * (cap - len(support))]
        weights = np.zeros(cap)
        weights[: len(support)] = dist[support] / dist[support].sum()
        policies = {j: self.policy(j) for j in set(members)}
        opponents = stack([policies[j] for j in members])
        future = self.backend.submit(train_player_task, self.spec, self.learners[i], opponents, weights, self._key(),
                                     name=f"train {self.league.names[i]}")
        mixture = {self.league.names[j]: round(float(dist[j]), 6) for j in support}
        self.pending[i] = Pending("train", future, {"mixture": mixture})

    def _submit_eval(self, i: int) -> None:
        opponents = [j for j in range(len(self.league)) if j != i]
        a = stack([self.policy(i)] * len(opponents))
        b = stack([self.policy(j) for j in opponents])
        future = self.backend.submit(evaluate_matches_task, self.spec, a, b, self._key(),
                                     name=f"evaluate {self.league.names[i]}")
        self.pending[i] = Pending("eval", future, {"opponents": opponents})

    def _after_train(self, i: int, result: tuple[dict, dict], meta: dict) -> None:
        player, metrics = result
        self.learners[i] = player
        self.league.add_steps(i, self.config.steps_per_task)
        self.progress["env_steps"] += self.config.steps_per_task
        self.progress["train_info"][str(i)] = {"mixture": meta["mixture"], "train": metrics}
        self._submit_eval(i)

    def _after_eval(self, i: int, result: np.ndarray, meta: dict) -> dict[str, Any]:
        league, names = self.league, self.league.names
        scores = np.asarray(result, np.float64)  # (opponents, games) i's scores
        for row, j in zip(scores, meta["opponents"], strict=True):
            league.record(i, j, row)
        win_rates = {names[j]: float(row.mean()) for row, j in zip(scores, meta["opponents"], strict=True)}
        snapshot, reset = None, False
        if league.ready_to_snapshot(i):
            index, reset = league.snapshot(i, self.progress["tasks_done"] + 1)
            self.snapshots[index] = copy_tree(self.policy(i))
            snapshot = league.names[index]
            if reset:
                self.learners[i] = copy_tree(self.initial)
        cycles = self.progress["cycles"]
        cycles[str(i)] += 1
        info = self.progress["train_info"].pop(str(i))
        player = league.players[i]
        line = {"task": self.progress["tasks_done"] + 1, "cycle": cycles[str(i)], "player": player.name,
                "role": player.role, "env_steps": self.progress["env_steps"], "player_steps": player.steps,
                "wall_time": round(self.progress["wall_time"], 3), "opponents": info["mixture"],
                "train": info["train"], "win_rate": float(scores.mean()), "win_rates": win_rates,
                "elo": dict(zip(league.names, league.elo.round(4).tolist(), strict=True)),
                "snapshot": snapshot, "reset": reset, "league_size": len(league)}
        self.run.log(line)
        self.run.scalars({f"league/elo/{name}": elo for name, elo in line["elo"].items()}, line["env_steps"])
        if cycles[str(i)] < self.config.tasks_per_learner:
            self._submit_train(i)
        return line

    def train(self, bar: Any = None) -> None:
        """Run the learners' loops until every learner has done its tasks, calling ``bar(self, line or None)``
        after each task. Checkpoints every ``checkpoint_every`` tasks and at the end."""
        order = self.league.learners()
        while self.pending:
            i = order[self.progress["turn"] % len(order)]
            if i not in self.pending:
                self.progress["turn"] += 1
                continue
            task = self.pending[i]
            result = task.wait(self.backend)  # Ctrl-C here: the league as it was before this task is saved
            with self.run.interrupts.deferred():  # the league changes as one step, or not at all
                self.progress["turn"] += 1
                del self.pending[i]
                self.progress["wall_time"] = self.run.wall_time()
                line = self._after_train(i, result, task.meta) if task.kind == "train" else \
                    self._after_eval(i, result, task.meta)
                self.progress["tasks_done"] += 1
                self.run.hold(self.progress["tasks_done"], save=lambda state, progress: self.save(plot=False))
            if bar is not None:
                bar(self, line)
            if not self.pending or self.progress["tasks_done"] % self.config.checkpoint_every == 0:
                self.save()

    # ------------------------------------------------------------------ checkpoints
    def save(self, plot: bool = True) -> None:
        """Checkpoint the league; tasks in flight are waited for and their results stored with it."""
        for task in self.pending.values():
            task.wait(self.backend)
        arrays = {"initial": self.initial, "learners": {str(i): p for i, p in self.learners.items()},
                  "snapshots": stack([self.snapshots[j] for j in sorted(self.snapshots)]),
                  "pending": {str(i): self._result_arrays(t) for i, t in self.pending.items()}}
        progress = dict(self.progress, league=self.league.to_dict(),
                        pending={str(i): {"kind": t.kind, "meta": t.meta,
                                          **({"metrics": t.result[1]} if t.kind == "train" else
                                             {"shape": list(t.result.shape)})}
                                 for i, t in self.pending.items()})
        if plot:  # before the checkpoint: a killed run has it
            save(elo_figure([(ELO_TITLE, self.run.metrics.read())]), self.run.paths.elo)
        self.run.save(self.progress["tasks_done"], arrays, progress)

    @staticmethod
    def _result_arrays(task: Pending) -> Any:
        return task.result[0] if task.kind == "train" else {"scores": task.result}

    @classmethod
    def restore(cls, config: LeagueConfig, source: Checkpoints | str | Path, backend: Backend) -> LeagueRun | None:
        """The league of the newest checkpoint (None when there is none yet) in ``source``: a run's
        :class:`~phalanx.runtime.checkpoint.Checkpoints`, or a run directory (read and closed here)."""
        ckpt = source if isinstance(source, Checkpoints) else Checkpoints(Path(source) / "checkpoints")
        try:
            step = ckpt.latest_step()
            if step is None:
                return None
            progress = ckpt.progress(step)
            spec = TaskSpec.of(config)
            template = jax.tree.map(np.zeros_like, initial_player(spec, jax.random.PRNGKey(0)))
            league = League.from_dict(progress.pop("league"), config.league)
            historical = league.historical()
            pending_meta = progress.pop("pending")
            like = {"initial": template, "learners": {str(i): template for i in league.learners()},
                    "snapshots": stack([policy_of(spec, template)] * len(historical)),
                    "pending": {}}
            for i, p in pending_meta.items():
                shape = tuple(p.get("shape", ()))
                like["pending"][i] = template if p["kind"] == "train" else \
                    {"scores": np.zeros(shape, np.float32)}
            arrays, _ = ckpt.restore(step, like)
        finally:
            if ckpt is not source:
                ckpt.close()
        arrays = jax.device_get(arrays)
        snapshots = {j: jax.tree.map(lambda x, k=k: np.asarray(x[k]), arrays["snapshots"])
                     for k, j in enumerate(historical)}
        pending = {}
        for i, p in pending_meta.items():
            got = arrays["pending"][i]
            result = (got, p["metrics"]) if p["kind"] == "train" else np.asarray(got["scores"])
            pending[int(i)] = Pending(p["kind"], None, p["meta"], result, ready=True)
        learners = {int(i): v for i, v in arrays["learners"].items()}
        return cls(config, backend, league, arrays["initial"], learners, snapshots, progress, pending)


# ---------------------------------------------------------------------------------------------- the run
def run(config: LeagueConfig, overrides: dict[str, Any] | None = None, console: Console | None = None,
        backend: Backend | None = None, label: str | None = None) -> Path:
    """Run (or, with ``config.resume``, continue) a league; return its run directory.

    Without ``backend``, the config's is made (``backend=local|ray``, or ``backend=`` in ``overrides``).
    ``label``: the default run directory's middle part (``league``).
    """
    with open_run(KIND, config, overrides, console, backend, label) as ctx:
        return _run(ctx)


def _run(run: RunContext) -> Path:
    config, console = run.config, run.console
    console.print(f"[bold]phalanx league[/bold] run dir: {run.path}")
    league = LeagueRun.restore(config, run.checkpoints, run.backend) if run.resumed else None
    if league is not None and league.progress["stage"] == "done":
        console.print(f"league already complete; run dir: {run.path}")
        return run.path
    if league is not None:
        console.print(f"resumed from checkpoint {league.progress['tasks_done']}: "
                      f"{league.progress['env_steps']:,} env steps done")
        run.start(league.progress, purge_step=league.progress["env_steps"] + 1)
    else:
        run.note_budget("league.total_steps", config.league.total_steps,
                        config.learners * config.tasks_per_learner * config.steps_per_task,
                        f"whole tasks: {config.learners} learners x {config.steps_per_task:,} env steps per task")
        console.print(f"{config.learners} learners × {config.tasks_per_learner} tasks of "
                      f"{config.steps_per_task:,} env steps (compiling...)")
        league = LeagueRun.fresh(config, run.backend, run.start(None))
    league.run = run
    total = 2 * config.learners * config.tasks_per_learner
    with run.progress_bar("league", total, league.progress["tasks_done"], "tasks") as bar:

        def show(league: LeagueRun, line: dict[str, Any] | None) -> None:
            mains = league.league.learners("main")
            elo = " ".join(f"{league.league.names[m]}={league.league.elo[m]:.0f}" for m in mains)
            info = f"players={len(league.league)} Elo {elo}" + (f" last={line['player']}" if line else "")
            bar.update(league.progress["tasks_done"], info)

        league.train(show)
    console.print(f"final round robin: {len(league.league)} players, {config.league.final_games} paired games "
                  "per pair...")
    final = final_table(league)
    console.print(write_final(run.paths, final, run.metrics.read()))
    league.progress["stage"] = "done"
    league.progress["tasks_done"] += 1  # a checkpoint step of its own, after the last training one
    league.save(plot=False)  # keep write_final's two-panel elo.png
    console.print(f"done: {league.progress['env_steps']:,} env steps in {league.progress['wall_time']:.1f}s of "
                  f"training; run dir: {run.path}")
    return run.path
