"""``phalanx league``: an AlphaStar-style league on Tag, as tasks on a backend, with a run directory.

**Tasks** (module-level functions of picklable arguments, so a Ray backend can run them remotely):

* :func:`train_player_task` — train one league player for ``updates_per_task`` PPO updates of its
  taggers against the opponents' runners, then as many of its runners against the opponents'
  taggers (two trainers built with ``learners=("taggers",)`` / ``("runners",)``). The opponents are
  the learner's PFSP/self-play mixture over league players (:meth:`League.opponent_distribution`),
  padded with zero-weight members to the league's capacity so the task compiles once; every env
  draws its opponent at each episode start inside the compiled program.
* :func:`evaluate_matches_task` — a batch of matches (:func:`~phalanx.population.league.make_match_evaluator`,
  a jitted ``vmap`` over matches, ``eval_chunk`` matches per call).

**Schedule.** Every learner runs its own loop — train, evaluate against every other player, record
the results (payoff, Elo), maybe snapshot / reset, train again — and always has exactly one task in
flight. The coordinator waits for the learners' tasks in round-robin order and submits a learner's
next task as soon as its previous one is processed, so on a parallel backend all learners stay busy
with no barrier per generation; on the local backend the tasks simply run in turn. Because results
are processed in a fixed order and every task's inputs (parameters, opponents, PRNG key
``fold_in(PRNGKey(seed), task_id)``) are fixed at submission, a run is the same on every backend.

**Run directory** (``runs/<env>-league-<timestamp>/`` or ``run_dir=PATH``): ``config.yaml``;
``metrics.jsonl`` (one line per learner cycle: player, role, opponent mixture, win rates, Elo of every
player, env steps, wall time); ``checkpoints/<task>/`` (Orbax, atomic: the league state — players'
parameters and optimiser states, snapshots, decayed win/draw/loss counts, Elo, RNG, schedule — plus
the results of tasks in flight, so a resumed run continues exactly); ``elo.png``; and after the final
round robin ``payoffs.png``, ``league_table.md``/``.csv``, ``win_rates.csv`` and ``league_final.json``.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from phalanx.algos.ppo.config import PPOConfig
from phalanx.config import to_yaml
from phalanx.errors import PhalanxError
from phalanx.population.league import League, make_match_evaluator, match_scores
from phalanx.population.league_math import fit_elo
from phalanx.runtime import run_dir as rd
from phalanx.runtime.atomic import write_json
from phalanx.runtime.backend import (
    Backend,
    LocalBackend,  # noqa: F401 — re-exported (tests, callers)
    TaskFuture,
    backend_choice,
    make_backend,
)
from phalanx.runtime.checkpoint import Checkpoints
from phalanx.runtime.league_config import LeagueConfig, from_values, resolve, split_args, to_values
from phalanx.runtime.metrics import MetricsLog

GROUPS = ("taggers", "runners")

#: ``phalanx league`` run directories.
KIND = rd.RunKind("phalanx league", "runs/<env>-league-<time>", LeagueConfig, from_values, lambda config: "league")


# ---------------------------------------------------------------------------------------------- tasks
@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """What fixes the compiled programs of a league's tasks (hashable: workers cache programs by it)."""

    env: str
    env_settings: tuple[tuple[str, Any], ...]
    train: PPOConfig
    updates: int  # PPO updates per group per train task
    games: int  # paired games per match per evaluation call
    chunk: int  # matches per evaluation call
    greedy: bool

    @classmethod
    def of(cls, config: LeagueConfig) -> TaskSpec:
        """The task spec of a league config (env settings as sorted pairs)."""
        return cls(config.env, tuple(sorted(config.env_settings.items())), config.train, config.updates_per_task,
                   config.eval_games, config.eval_chunk, config.greedy_eval)


@dataclasses.dataclass(frozen=True)
class Programs:
    """A worker's compiled pieces for one :class:`TaskSpec`."""

    env: Any
    policy: Any
    trainers: dict[str, Any]  # {group that learns: Trainer}
    train: Any  # jitted (player, opponents, weights, key) -> (player, metrics)
    evaluate: Any  # jitted (actors_a, actors_b, key) -> (tags, runner_steps)


@functools.lru_cache(maxsize=4)
def programs(spec: TaskSpec) -> Programs:
    """Build (once per process and spec) the trainers and the jitted train / evaluation functions."""
    import phalanx
    from phalanx.algos.ppo.train import make_train

    env = phalanx.make(spec.env, **dict(spec.env_settings))
    trainers = {g: make_train(spec.train, env, learners=(g,)) for g in GROUPS}
    policy = trainers["taggers"].policy

    def train(player, opponents, weights, key):
        params, opt, metrics = {}, {}, {}
        for g, k in zip(GROUPS, jax.random.split(key), strict=True):
            other = GROUPS[1 - GROUPS.index(g)]
            tr = trainers[g]
            state = tr.init(k, {other: opponents[other]}, weights)
            state = state.replace(params=player["params"], opt_state=player["opt"][g])
            state, m = jax.lax.scan(lambda s, _, tr=tr: tr.update(s), state, None, length=spec.updates)
            params[g], opt[g] = state.params[g], state.opt_state
            count = m.episode_count.sum()
            metrics[g] = {"return": m.episode_return_sum[g].sum() / jnp.maximum(count, 1.0), "episodes": count,
                          "policy_loss": m.policy_loss[g].mean(), "entropy": m.entropy[g].mean()}
        return {"params": params, "opt": opt}, metrics

    evaluate = make_match_evaluator(env, policy, spec.games, spec.greedy, spec.train.squash)
    return Programs(env, policy, trainers, jax.jit(train), evaluate)


def initial_player(spec: TaskSpec, key: jax.Array) -> dict[str, Any]:
    """A new player's state: ``{"params": {group: {"actor", "critic"}}, "opt": {group: optimiser state}}``."""
    prog = programs(spec)
    params = prog.policy.init(key)
    opt = {g: prog.trainers[g].optimizer.init(params) for g in GROUPS}
    return jax.device_get({"params": params, "opt": opt})


def actors_of(player: dict[str, Any]) -> dict[str, Any]:
    """``{group: actor params}`` of a player's state (what opponents and evaluations need)."""
    return {g: player["params"][g]["actor"] for g in GROUPS}


def train_player_task(spec: TaskSpec, player: dict, opponents: dict, weights: np.ndarray,
                      key: np.ndarray) -> tuple[dict, dict]:
    """Train ``player`` for ``spec.updates`` updates per group against an opponent mixture.

    Args:
        player: the learner's state (:func:`initial_player`'s layout).
        opponents: ``{group: actor params stacked on a leading member axis (C, ...)}``.
        weights: ``(C,)`` the mixture each env draws its opponent from at every episode start.
        key: a PRNG key (``(2,)`` uint32).

    Returns:
        ``(new player state, {group: {"return", "episodes", "policy_loss", "entropy"}})`` as NumPy/floats.
    """
    new, metrics = programs(spec).train(player, opponents, jnp.asarray(weights, jnp.float32), jnp.asarray(key))
    new, metrics = jax.device_get((new, metrics))
    return new, {g: {k: float(v) for k, v in m.items()} for g, m in metrics.items()}


def evaluate_matches_task(spec: TaskSpec, actors_a: dict, actors_b: dict, key: np.ndarray,
                          repeats: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Play ``K`` matches (``spec.games × repeats`` paired games each) between ``actors_a[k]`` and ``actors_b[k]``.

    ``actors_*`` are ``{group: actor params (K, ...)}``. Returns ``(tags, runner_steps)``, each
    ``(K, games × repeats, 2)`` int (see :func:`~phalanx.population.league.match_scores`).
    """
    evaluate = programs(spec).evaluate
    k = jax.tree.leaves(actors_a)[0].shape[0]
    pad = -k % spec.chunk  # fixed-size calls: one compiled program

    def padded(tree):
        return jax.tree.map(lambda x: np.concatenate([x, np.repeat(x[:1], pad, 0)]) if pad else x, tree)

    a_all, b_all = padded(actors_a), padded(actors_b)
    tags, steps = [], []
    for r in range(repeats):
        row_t, row_s = [], []
        for c in range(0, k + pad, spec.chunk):
            a, b = (jax.tree.map(lambda x, c=c: x[c : c + spec.chunk], t) for t in (a_all, b_all))
            t, s = evaluate(a, b, jax.random.fold_in(jax.random.fold_in(jnp.asarray(key), r), c))
            row_t.append(np.asarray(t))
            row_s.append(np.asarray(s))
        tags.append(np.concatenate(row_t)[:k])
        steps.append(np.concatenate(row_s)[:k])
    return np.concatenate(tags, axis=1), np.concatenate(steps, axis=1)


# ---------------------------------------------------------------------------------------------- run directory
def default_path(config: LeagueConfig) -> Path:
    """``runs/<env>-league-<YYYYmmdd-HHMMSS>``, the directory a new league run writes to by default."""
    return Path("runs") / f"{config.env}-league-{time.strftime('%Y%m%d-%H%M%S')}"


def create_run_dir(config: LeagueConfig) -> tuple[Path, LeagueConfig]:
    """Make a fresh run directory and write ``config.yaml``; the config records its path."""
    path = Path(config.run_dir) if config.run_dir else default_path(config)
    if (path / "config.yaml").exists():
        raise PhalanxError(f"run_dir={path} already holds a run; continue it with resume={path} or pick another.")
    path.mkdir(parents=True, exist_ok=True)
    config = dataclasses.replace(config, run_dir=str(path), resume=None)
    (path / "config.yaml").write_text(to_yaml(config))
    return path, config


def load_config(path: str | Path) -> LeagueConfig:
    """The :class:`LeagueConfig` stored in a league run directory."""
    file = Path(path) / "config.yaml"
    if not Path(path).is_dir():
        raise PhalanxError(f"resume={path}: no such directory; give the run directory phalanx league printed, "
                           "e.g. runs/<env>-league-<time>.")
    if not file.is_file():
        raise PhalanxError(f"resume={path}: no config.yaml there; is it a phalanx league run directory?")
    values = yaml.safe_load(file.read_text())
    if not isinstance(values, dict) or "league" not in values:
        raise PhalanxError(f"resume={path}: config.yaml is not a league run's (no league: section).")
    return from_values(values)


def _flatten(values: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in values.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = list(v) if isinstance(v, tuple | list) else v
    return out


def open_for_resume(path: str | Path, overrides: dict[str, Any]) -> tuple[Path, LeagueConfig]:
    """Reopen a league run; reject overrides that would change its stored config."""
    stored = load_config(path)
    flat = _flatten(to_values(stored))
    conflicts = [k for k, v in _flatten(overrides).items()  # results do not depend on the backend
                 if k.split(".")[0] not in ("resume", "run_dir", "backend", "ray") and flat.get(k, object()) != v]
    if conflicts:
        shown = ", ".join(f"{k}={flat.get(k, '<unset>')!r}" for k in conflicts)
        raise PhalanxError(f"resume={path}: cannot change a resumed run's config (stored: {shown}); "
                           "drop those overrides or start a new run.")
    return Path(path), dataclasses.replace(stored, run_dir=str(path), resume=None)


# ---------------------------------------------------------------------------------------------- coordinator
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


def _stack(trees: list[Any]) -> Any:
    return jax.tree.map(lambda *x: np.stack(x), *trees)


def _copy(tree: Any) -> Any:
    return jax.tree.map(np.array, tree)


class LeagueRun:
    """The coordinator: league bookkeeping, every player's parameters, the tasks in flight, the outputs.

    Build with :meth:`fresh` or :meth:`restore`; :meth:`train` runs the learners' loops, :meth:`final_table`
    the final round robin (:func:`write_final` writes its files).
    """

    def __init__(self, config: LeagueConfig, path: Path, backend: Backend, league: League, initial: dict,
                 learners: dict[int, dict], snapshots: dict[int, dict], progress: dict[str, Any],
                 pending: dict[int, Pending]):
        self.config, self.path, self.backend = config, path, backend
        self.spec = TaskSpec.of(config)
        self.league, self.initial, self.learners, self.snapshots = league, initial, learners, snapshots
        self.progress, self.pending = progress, pending
        self.log = MetricsLog(path / "metrics.jsonl")
        self._wall0 = time.perf_counter() - progress["wall_time"]  # wall time counts from here (and before a resume)

    # ------------------------------------------------------------------ construction
    @classmethod
    def fresh(cls, config: LeagueConfig, path: Path, backend: Backend) -> LeagueRun:
        """A new league: every learner (and each main agent's initial snapshot) starts from the same parameters."""
        spec = TaskSpec.of(config)
        league = League(config.league, config.main_agents, config.main_exploiters, config.league_exploiters,
                        seed=config.seed)
        initial = initial_player(spec, jax.random.fold_in(jax.random.PRNGKey(config.seed), 2**31 - 1))
        learners = {i: _copy(initial) for i in league.learners()}
        snapshots = {j: actors_of(initial) for j in league.historical()}
        progress = {"tasks_done": 0, "task_ids": 0, "turn": 0, "cycles": {str(i): 0 for i in learners},
                    "env_steps": 0, "wall_time": 0.0, "metrics_lines": 0, "stage": "train", "train_info": {}}
        run = cls(config, path, backend, league, initial, learners, snapshots, progress, {})
        for i in league.learners():
            run._submit_train(i)
        return run

    def actors(self, j: int) -> dict:
        """Player ``j``'s current ``{group: actor params}``."""
        return actors_of(self.learners[j]) if j in self.learners else self.snapshots[j]

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
        opponents = _stack([self.actors(j) for j in members])
        future = self.backend.submit(train_player_task, self.spec, self.learners[i], opponents, weights, self._key(),
                                     name=f"train {self.league.names[i]}")
        mixture = {self.league.names[j]: round(float(dist[j]), 6) for j in support}
        self.pending[i] = Pending("train", future, {"mixture": mixture})

    def _submit_eval(self, i: int) -> None:
        opponents = [j for j in range(len(self.league)) if j != i]
        a = _stack([self.actors(i)] * len(opponents))
        b = _stack([self.actors(j) for j in opponents])
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

    def _after_eval(self, i: int, result: tuple[np.ndarray, np.ndarray], meta: dict) -> dict[str, Any]:
        league, names = self.league, self.league.names
        scores = match_scores(*result)  # (opponents, games)
        for row, j in zip(scores, meta["opponents"], strict=True):
            league.record(i, j, row)
        win_rates = {names[j]: float(row.mean()) for row, j in zip(scores, meta["opponents"], strict=True)}
        snapshot, reset = None, False
        if league.ready_to_snapshot(i):
            index, reset = league.snapshot(i, self.progress["tasks_done"] + 1)
            self.snapshots[index] = _copy(self.actors(i))
            snapshot = league.names[index]
            if reset:
                self.learners[i] = _copy(self.initial)
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
        if hasattr(self.backend, "utilisation"):  # ray: per worker tasks, busy time / wall time
            line["workers"] = self.backend.utilisation()
        self.log.append(line)
        self.progress["metrics_lines"] += 1
        if cycles[str(i)] < self.config.tasks_per_learner:
            self._submit_train(i)
        return line

    def train(self, bar: Any = None, stop_after: int | None = None) -> bool:
        """Run the learners' loops until every learner has done its tasks; False if stopped by ``stop_after``
        (processed tasks, for tests of resuming). Checkpoints every ``checkpoint_every`` tasks and at the end."""
        order = self.league.learners()
        while self.pending:
            i = order[self.progress["turn"] % len(order)]
            self.progress["turn"] += 1
            if i not in self.pending:
                continue
            task = self.pending.pop(i)
            result = task.wait(self.backend)
            self.progress["wall_time"] = time.perf_counter() - self._wall0
            line = self._after_train(i, result, task.meta) if task.kind == "train" else \
                self._after_eval(i, result, task.meta)
            self.progress["tasks_done"] += 1
            if bar is not None:
                bar(self, line)
            if not self.pending or self.progress["tasks_done"] % self.config.checkpoint_every == 0:
                self.save()
            if stop_after is not None and self.progress["tasks_done"] >= stop_after and self.pending:
                return False
        return True

    # ------------------------------------------------------------------ checkpoints
    def save(self, plot: bool = True) -> None:
        """Checkpoint the league; tasks in flight are waited for and their results stored with it."""
        for task in self.pending.values():
            task.wait(self.backend)
        arrays = {"initial": self.initial, "learners": {str(i): p for i, p in self.learners.items()},
                  "snapshots": _stack([self.snapshots[j] for j in sorted(self.snapshots)]),
                  "pending": {str(i): self._result_arrays(t) for i, t in self.pending.items()}}
        progress = dict(self.progress, league=self.league.to_dict(),
                        pending={str(i): {"kind": t.kind, "meta": t.meta,
                                          **({"metrics": t.result[1]} if t.kind == "train" else
                                             {"shape": list(t.result[0].shape)})}
                                 for i, t in self.pending.items()})
        if plot:  # before the checkpoint: a killed run has it
            write_elo_plot(self.log.read(), self.path / "elo.png")
        ckpt = Checkpoints(self.path / "checkpoints")
        try:
            ckpt.save(self.progress["tasks_done"], arrays, progress)
        finally:
            ckpt.close()

    @staticmethod
    def _result_arrays(task: Pending) -> Any:
        return task.result[0] if task.kind == "train" else {"tags": task.result[0], "steps": task.result[1]}

    @classmethod
    def restore(cls, config: LeagueConfig, path: Path, backend: Backend) -> LeagueRun | None:
        """The league of the run's newest checkpoint (None when there is none yet)."""
        ckpt = Checkpoints(path / "checkpoints")
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
                    "snapshots": _stack([actors_of(template)] * len(historical)),
                    "pending": {}}
            for i, p in pending_meta.items():
                shape = tuple(p.get("shape", ()))
                like["pending"][i] = template if p["kind"] == "train" else \
                    {"tags": np.zeros(shape, np.int32), "steps": np.zeros(shape, np.int32)}
            arrays, _ = ckpt.restore(step, like)
        finally:
            ckpt.close()
        arrays = jax.device_get(arrays)
        snapshots = {j: jax.tree.map(lambda x, k=k: np.asarray(x[k]), arrays["snapshots"])
                     for k, j in enumerate(historical)}
        pending = {}
        for i, p in pending_meta.items():
            got = arrays["pending"][i]
            result = (got, p["metrics"]) if p["kind"] == "train" else \
                (np.asarray(got["tags"]), np.asarray(got["steps"]))
            pending[int(i)] = Pending(p["kind"], None, p["meta"], result, ready=True)
        learners = {int(i): v for i, v in arrays["learners"].items()}
        return cls(config, path, backend, league, arrays["initial"], learners, snapshots, progress, pending)

    # ------------------------------------------------------------------ the final round robin
    def final_table(self) -> dict[str, Any]:
        """Every pair of players for ``final_games`` paired games (one task per row, submitted together);
        the win-rate table, online and fitted Elo ratings, as written to ``league_final.json``."""
        league, n = self.league, len(self.league)
        repeats = self.config.final_games // self.config.eval_games
        futures, rows = [], []
        for i in range(n - 1):
            opponents = list(range(i + 1, n))
            a = _stack([self.actors(i)] * len(opponents))
            b = _stack([self.actors(j) for j in opponents])
            key = np.asarray(jax.random.fold_in(jax.random.PRNGKey(self.config.seed), 2**30 + i))
            futures.append(self.backend.submit(evaluate_matches_task, self.spec, a, b, key, repeats,
                                               name=f"final {league.names[i]}"))
            rows.append((i, opponents))
        win = np.full((n, n), 0.5)  # a policy against itself: identical paired episodes, a draw
        for (i, opponents), (tags, steps) in zip(rows, self.backend.gather(futures), strict=True):
            scores = match_scores(tags, steps).mean(axis=1)
            win[i, opponents] = scores
            win[opponents, i] = 1.0 - scores
        games = np.full((n, n), self.config.final_games)
        elo_fit = fit_elo(win, games, mean=self.config.league.elo_initial)
        players = [dataclasses.asdict(p) for p in league.players]
        return {"names": league.names, "players": players, "win_rates": win.tolist(),
                "games_per_pair": self.config.final_games, "elo_online": league.elo.tolist(),
                "elo_fit": elo_fit.tolist(), "env_steps": self.progress["env_steps"],
                "wall_time": self.progress["wall_time"]}


# ---------------------------------------------------------------------------------------------- outputs
def _family(name: str) -> str:
    return name.split("@")[0]


def write_elo_plot(lines: list[dict[str, Any]], path: Path, final: dict[str, Any] | None = None) -> None:
    """``elo.png``: every player's online Elo against league env steps (learners thick, snapshots thin, one
    colour per learner); with ``final``, a second panel of the fitted Elo of each learner's snapshots and
    its final parameters against the learner's env steps."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12 if final else 7, 4.5), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2 if final else 1, squeeze=False)[0]
    names = list(lines[-1]["elo"]) if lines else []
    families = list(dict.fromkeys(_family(n) for n in names))
    colours = {f: f"C{k % 10}" for k, f in enumerate(families)}
    x = np.array([line["env_steps"] for line in lines], float)
    for name in names:
        y = np.array([line["elo"].get(name, np.nan) for line in lines], float)
        learner = "@" not in name
        axes[0].plot(x, y, color=colours[_family(name)], lw=2.0 if learner else 0.8, alpha=1.0 if learner else 0.6,
                     label=name if learner else None)
    axes[0].set_xlabel("league env steps")
    axes[0].set_ylabel("Elo (online)")
    axes[0].set_title("Elo of every player (thin: snapshots)")
    if names:
        axes[0].legend(fontsize=8)
    axes[0].grid(alpha=0.3)
    if final:
        fit = dict(zip(final["names"], final["elo_fit"], strict=True))
        for family in dict.fromkeys(_family(n) for n in final["names"] if "@" not in n):
            members = [(p["steps"], p["name"]) for p in final["players"] if _family(p["name"]) == family]
            members.sort(key=lambda m: (m[0], "@" not in m[1]))  # final parameters after same-step snapshots
            # Exploiters restart from the initial parameters, so only main agents form a line of descent.
            style = "o-" if family.startswith("main_") and "exploiter" not in family else "x"
            axes[1].plot([m[0] for m in members], [fit[m[1]] for m in members], style, color=colours.get(family),
                         label=family)
        axes[1].set_xlabel("learner env steps")
        axes[1].set_ylabel("Elo (fitted to the final round robin)")
        axes[1].set_title("snapshots, then final parameters (x: exploiters restart)")
        axes[1].legend(fontsize=8)
        axes[1].grid(alpha=0.3)
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp)
    tmp.replace(path)


def table_rows(final: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per player of the final table (name, role, learner, env steps, Elo online/fitted, mean win rate)."""
    win = np.asarray(final["win_rates"])
    n = len(win)
    rows = []
    for i, p in enumerate(final["players"]):
        others = np.delete(win[i], i) if n > 1 else np.array([np.nan])
        rows.append({"player": p["name"], "role": p["role"],
                     "learner": final["names"][p["parent"]] if p["parent"] is not None else p["name"],
                     "env_steps": p["steps"], "elo_online": round(final["elo_online"][i], 1),
                     "elo_fit": round(final["elo_fit"][i], 1), "mean_win_rate": round(float(others.mean()), 3)})
    return rows


def write_final(path: Path, final: dict[str, Any]) -> Table:
    """Write ``league_final.json``, ``league_table.csv``/``.md``, ``win_rates.csv``, ``payoffs.png`` and the
    two-panel ``elo.png``; return the table for printing."""
    from phalanx.population.payoff_table import PayoffTable
    from phalanx.runtime.plots import plot_payoffs

    rows = table_rows(final)
    write_json(path / "league_final.json", final)
    with (path / "league_table.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    md = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    md += ["| " + " | ".join(str(v) for v in r.values()) + " |" for r in rows]
    (path / "league_table.md").write_text("\n".join(md) + "\n")
    names, win = final["names"], np.asarray(final["win_rates"])
    with (path / "win_rates.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["row beats column", *names])
        writer.writerows([[names[i], *np.round(win[i], 4).tolist()] for i in range(len(names))])
    table = PayoffTable()
    for player in (0, 1):
        for name in names:
            table.add_member(player, name)
    rr, cc = np.meshgrid(np.arange(len(names)), np.arange(len(names)), indexing="ij")
    table.fill(rr.ravel(), cc.ravel(), np.stack([win.ravel(), 1.0 - win.ravel()]),
               counts=np.full(win.size, final["games_per_pair"]))
    plot_payoffs(table, path / "payoffs.png")
    write_elo_plot(MetricsLog(path / "metrics.jsonl").read(), path / "elo.png", final)
    out = Table(title=f"league: {len(names)} players, {final['games_per_pair']} paired games per pair",
                caption="Elo fitted to the final round robin; mean win rate against all other players")
    for col in rows[0]:
        out.add_column(col, justify="left" if col in ("player", "role", "learner") else "right")
    for r in rows:
        out.add_row(*[f"{v:,}" if isinstance(v, int) else str(v) for v in r.values()])
    return out


# ---------------------------------------------------------------------------------------------- entry points
def _progress_bar(console: Console) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("tasks  {task.fields[info]}"), TimeRemainingColumn(), console=console)


def run(config: LeagueConfig, overrides: dict[str, Any] | None = None, console: Console | None = None,
        backend: Backend | None = None, stop_after: int | None = None, label: str | None = None) -> Path:
    """Run (or, with ``config.resume``, continue) a league; return its run directory.

    ``stop_after`` stops once that many tasks are processed (for tests of resuming); the final round
    robin and summary files follow only when training is complete. Without ``backend``, the config's
    (``backend=local|ray``, or ``backend=`` in ``overrides``) is made; ``backend=ray`` runs this loop in a
    coordinator actor (:mod:`phalanx.runtime.coordinator`).
    """
    console = console or Console()
    own_backend = backend is None
    if own_backend:
        stored = load_config(config.resume) if config.resume is not None else None
        name, ray_config = backend_choice(config, overrides, stored)
        backend = make_backend(name, ray_config)
    try:
        return _run(config, overrides, console, backend, stop_after)
    finally:
        if own_backend:
            backend.close()


def _run(config: LeagueConfig, overrides: dict[str, Any] | None, console: Console, backend: Backend,
         stop_after: int | None) -> Path:
    if config.resume is not None:
        path, config = open_for_resume(config.resume, overrides or {})
    else:
        path, config = create_run_dir(config)
    console.print(f"[bold]phalanx league[/bold] run dir: {path}")
    league = LeagueRun.restore(config, path, backend) if (path / "checkpoints").is_dir() else None
    if league is not None and league.progress["stage"] == "done":
        console.print(f"league already complete; run dir: {path}")
        return path
    if league is not None:
        console.print(f"resumed from checkpoint {league.progress['tasks_done']}: "
                      f"{league.progress['env_steps']:,} env steps done")
        league.log.truncate(league.progress["metrics_lines"])  # drop lines logged after the checkpoint
    else:
        MetricsLog(path / "metrics.jsonl").truncate(0)
        console.print(f"{config.learners} learners × {config.tasks_per_learner} tasks of "
                      f"{config.steps_per_task:,} env steps (compiling...)")
        league = LeagueRun.fresh(config, path, backend)
    total = 2 * config.learners * config.tasks_per_learner
    with _progress_bar(console) as progress:
        task = progress.add_task("league", total=total, completed=league.progress["tasks_done"], info="")

        def show(run: LeagueRun, line: dict[str, Any] | None) -> None:
            mains = run.league.learners("main")
            elo = " ".join(f"{run.league.names[m]}={run.league.elo[m]:.0f}" for m in mains)
            info = f"players={len(run.league)} Elo {elo}" + (f" last={line['player']}" if line else "")
            progress.update(task, completed=run.progress["tasks_done"], info=info)

        if not league.train(show, stop_after):
            console.print(f"stopped after {league.progress['tasks_done']} tasks; run dir: {path}")
            return path
    console.print(f"final round robin: {len(league.league)} players, {config.final_games} paired games per pair...")
    final = league.final_table()
    console.print(write_final(path, final))
    league.progress["stage"] = "done"
    league.progress["tasks_done"] += 1  # a checkpoint step of its own, after the last training one
    league.save(plot=False)  # keep write_final's two-panel elo.png
    console.print(f"done: {league.progress['env_steps']:,} env steps in {league.progress['wall_time']:.1f}s of "
                  f"training; run dir: {path}")
    return path


def main(args: list[str], console: Console | None = None) -> int:
    """``phalanx league [key=value ...]`` (the CLI calls this): resolve, run, return the exit status."""
    values, env_settings = split_args(args)
    if values.get("resume") is not None:
        # A resumed run uses its stored config; other overrides must agree with it.
        overrides = {k: v for k, v in values.items() if k != "resume"}
        if env_settings:
            overrides["env_settings"] = env_settings
        run(LeagueConfig(resume=str(values["resume"])), overrides, console)
        return 0
    run(resolve(args), console=console)
    return 0
