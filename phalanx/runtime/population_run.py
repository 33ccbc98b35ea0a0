"""The host side of ``phalanx psro`` / ``phalanx selfplay``: run directory, checkpoints, metrics, plots, progress.

::

    <run_dir>/
      config.yaml            the resolved PopulationConfig (what ``resume=`` reads back)
      metrics.jsonl          one JSON object per iteration (0 = the first members)
      events.out.tfevents.*  TensorBoard scalars
      payoffs.png            the meta-game's payoff table (PayoffTable heat map)
      exploitability.png     exact games: exploitability vs iteration and vs wall time (log scale)
      meta_strategy.json     the latest meta-strategy per player (+ exploitability in exact games)
      policy.json            poker: each player's meta-strategy mixture as an OpenSpiel-keyed tabular policy
      checkpoints/<iter>/    Orbax: populations + RNG key; progress JSON: payoff table, meta-strategies,
                             iteration, wall time (the last 2 kept, each written atomically)

The run uses the run skeleton (:mod:`phalanx.runtime.run_context`). Every task (payoff evaluation,
best responses) goes through its backend (:class:`~phalanx.runtime.backend.LocalBackend`, or Ray workers:
then every ``metrics.jsonl`` line gains ``workers``, the per-worker tasks done and busy / wall time). A
run resumed with ``resume=DIR [population.iterations=N]`` restores the last checkpoint and continues;
its results equal an
uninterrupted run's (iteration ``i`` always draws from ``fold_in(key, i)``).
"""

from __future__ import annotations

import json
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import jax
import numpy as np
from rich.console import Console

from phalanx.errors import PhalanxError
from phalanx.population import oracles
from phalanx.population.metagames import MetaGame, make_metagame
from phalanx.population.payoff_table import PayoffTable
from phalanx.population.psro import PSRO, PSROState
from phalanx.runtime import run_dir as rd
from phalanx.runtime.atomic import atomic_path, write_json
from phalanx.runtime.checkpoint import Checkpoints
from phalanx.runtime.plots import exploitability_figure, plot_payoffs, save
from phalanx.runtime.population_config import PopulationConfig, from_values
from phalanx.runtime.run_context import RunContext, open_run

#: Seconds between redraws of the plots during a run (they are always drawn at the end).
PLOT_INTERVAL = 30.0

#: ``phalanx psro`` / ``phalanx selfplay`` run directories (``population.iterations`` may change on resume).
KIND = rd.RunKind("phalanx psro/selfplay", "runs/<game>-<psro|selfplay>-<time>", PopulationConfig, from_values,
                  lambda config: "psro")


# --------------------------------------------------------------------------- checkpoints


def _leaf_name(path: tuple) -> str:
    """A flat, file-safe name of a pytree path: dict keys and dataclass fields joined by dots."""
    return ".".join(str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))) for k in path)


def _arrays(state: PSROState) -> dict[str, np.ndarray]:
    """The state's arrays as a flat ``{name: array}``: each population's leaves (``pop<p>.<path>``) and the key.

    Members are whatever the learner's ``policy_params`` are (dicts, dataclasses such as running statistics,
    None for absent pieces); only their array leaves are stored, and :func:`restore_checkpoint` puts them back
    into the structure of the meta-game's first members.
    """
    arrays = {"key": np.asarray(state.key)}
    for p in (0, 1):
        for path, leaf in jax.tree_util.tree_flatten_with_path(state.populations[p])[0]:
            arrays[f"pop{p}.{_leaf_name(path)}"] = np.asarray(leaf)
    return arrays


def save_checkpoint(ckpt: Checkpoints, state: PSROState, progress: dict[str, Any]) -> None:
    """Populations + key (Orbax) and the payoff table, meta-strategies and progress (JSON), atomically."""
    arrays = _arrays(state)
    progress = {**progress, "iteration": state.iteration, "table": state.table.to_dict(),
                "meta": [m.tolist() for m in state.meta],
                "arrays": {k: [list(v.shape), v.dtype.str] for k, v in arrays.items()}}
    ckpt.save(state.iteration, arrays, progress)


def restore_checkpoint(ckpt: Checkpoints, step: int, metagame: MetaGame) -> tuple[PSROState, dict[str, Any]]:
    """``(state, progress)`` of checkpoint ``step``; populations take the structure of ``metagame``'s first members."""
    spec = ckpt.progress(step)["arrays"]
    like = {k: np.zeros(shape, np.dtype(dtype)) for k, (shape, dtype) in spec.items()}
    arrays, progress = ckpt.restore(step, like)
    pops = []
    for p in (0, 1):
        first = metagame.initial_population(p, jax.random.PRNGKey(0))
        paths, treedef = jax.tree_util.tree_flatten_with_path(first)
        pops.append(jax.tree.unflatten(treedef, [np.asarray(arrays[f"pop{p}.{_leaf_name(path)}"])
                                                 for path, _ in paths]))
    state = PSROState(
        populations=(pops[0], pops[1]),
        table=PayoffTable.from_dict(progress["table"]),
        meta=(np.asarray(progress["meta"][0], np.float64), np.asarray(progress["meta"][1], np.float64)),
        key=np.asarray(arrays["key"]),
        iteration=int(progress["iteration"]),
    )
    return state, progress


def restore_final(path: str | Path) -> tuple[PSROState, dict[str, Any]]:
    """``(state, progress)`` from a run directory's newest checkpoint (for analysis and tests)."""
    config = rd.load_config(path, KIND)
    ckpt = Checkpoints(Path(path) / "checkpoints")
    try:
        step = ckpt.latest_step()
        if step is None:
            raise PhalanxError(f"{path}: no finalised checkpoint.")
        return restore_checkpoint(ckpt, step, make_metagame(config.game_spec()))
    finally:
        ckpt.close()


# --------------------------------------------------------------------------- outputs


def write_outputs(run: RunContext, psro: PSRO, state: PSROState, metrics: dict[str, Any], plots: bool = True) -> None:
    """``meta_strategy.json``, (poker) ``policy.json``; with ``plots`` also ``payoffs.png``, ``exploitability.png``."""
    config, paths = run.config, run.paths
    if plots:
        plot_payoffs(state.table, paths.payoffs)
    summary: dict[str, Any] = {
        "iteration": state.iteration, "players": list(psro.metagame.players),
        "members": [list(n) for n in state.table.names], "meta_strategy": [m.tolist() for m in state.meta],
        "meta_nash_conv": metrics.get("meta_nash_conv"), "meta_value": metrics.get("meta_value"),
    }
    if psro.metagame.exact:
        mix0, mix1 = psro.mixtures(state)
        summary.update(exploitability=metrics.get("exploitability"), nash_conv=metrics.get("nash_conv"))
        if hasattr(psro.metagame, "tree"):
            from phalanx.population.openspiel_json import export_policy

            with atomic_path(paths.policy) as tmp:
                export_policy(psro.metagame.tree, mix0, mix1, tmp)
        else:  # matrix game: the mixed strategy each meta-strategy plays
            summary["mixed_strategy"] = [mix0.reshape(-1).tolist(), mix1.reshape(-1).tolist()]
        title = f"{config.env}: {config.population.oracle} oracle, {config.population.meta_solver} meta-solver"
        if plots and (fig := exploitability_figure([(config.env, run.metrics.read())], title)) is not None:
            save(fig, paths.exploitability)
    write_json(paths.meta_strategy, summary)


# --------------------------------------------------------------------------- the loop
def _status(metrics: dict[str, Any]) -> str:
    n0, n1 = metrics["population"]
    text = f"members {n0}x{n1}"
    if metrics.get("exploitability") is not None:
        text += f"  exploitability {metrics['exploitability']:.4g}"
    return text + f"  meta NashConv {metrics['meta_nash_conv']:.3g}"


class _OracleProgress:
    """Progress within an iteration: the learned oracle's reports (:func:`~phalanx.population.oracles.set_progress`,
    a quarter of each best response's updates) on the progress bar, and as a line each when the console is not a
    terminal (a log file). Reports come from best responses run in this process (the local backend, or Ray
    with ``ray.num_workers=0``) or on Ray workers (relayed here by the backend: ``relay_progress``). Set
    :attr:`iteration` to the iterations done after each one."""

    def __init__(self, run: RunContext, players: tuple[str, str], bar: Any, iteration: int):
        self.run, self.players, self.bar, self.iteration = run, players, bar, iteration
        self._seen: set[tuple[int, int, int]] = set()
        self._previous: Any = None

    def report(self, player: int, updates: int, total: int) -> None:
        """One report (called from inside the compiled best response)."""
        if (self.iteration, player, updates) in self._seen:  # seeds trained together report once each
            return
        self._seen.add((self.iteration, player, updates))
        text = f"iteration {self.iteration + 1}: best response {self.players[player]} {updates:,}/{total:,} updates"
        self.bar.update(self.iteration, text)
        if not self.run.console.is_terminal:
            self.run.console.print(text, soft_wrap=True)

    def __enter__(self) -> _OracleProgress:
        self._previous = oracles.set_progress(self.report)
        if hasattr(self.run.backend, "relay_progress"):  # best responses on workers report here too
            self.run.backend.relay_progress(oracles.set_progress, self.report)
        return self

    def __exit__(self, *exc: Any) -> None:
        oracles.set_progress(self._previous)
        if hasattr(self.run.backend, "relay_progress"):
            self.run.backend.relay_progress(None)


def run(config: PopulationConfig, overrides: dict[str, Any] | None = None, console: Console | None = None,
        backend: Any = None, label: str | None = None) -> Path:
    """Run (or, with ``config.resume``, continue) a PSRO / self-play run; return its directory.

    Without ``backend``, the config's is made (``backend=local|ray``, or ``backend=`` in ``overrides``).
    ``label``: the command in messages and the default run directory's middle part (``psro``, ``sp``, ``fsp``).
    """
    with open_run(KIND, config, overrides, console, backend, label) as ctx:
        return _run(ctx, label or "psro")


def _run(run: RunContext, label: str) -> Path:
    config, console = run.config, run.console
    console.print(f"[bold]phalanx {label}[/bold] {config.env}: oracle={config.population.oracle} "
                  f"meta_solver={config.population.meta_solver}; run dir: {run.path}")
    psro = PSRO(config.game_spec(), config.oracle_spec(), config.population.meta_solver, backend=run.backend,
                meta_solver_options=config.population.meta_solver_options)
    state, progress = None, None
    if run.resumed and (step := run.checkpoints.latest_step()) is not None:
        state, progress = restore_checkpoint(run.checkpoints, step, psro.metagame)
        if state.iteration >= config.population.iterations:
            console.print(f"run already complete ({state.iteration} iterations); run dir: {run.path}")
            return run.path
        console.print(f"resumed from iteration {state.iteration}")
    progress = run.start(progress, purge_step=state.iteration + 1 if state is not None else None)
    last: dict[str, Any] = {}
    last_plot = [time.perf_counter()]  # first drawn after PLOT_INTERVAL seconds, or at the end

    with run.progress_bar(f"{config.env} {label}", config.population.iterations, state.iteration if state else 0,
                          "iterations", status="compiling...") as bar:

        def after(new_state: PSROState, metrics: dict[str, Any]) -> None:
            metrics = {"iteration": metrics["iteration"], "wall_time": round(run.wall_time(), 4),
                       **{k: v for k, v in metrics.items() if k != "iteration"}}
            run.log(metrics)
            progress["wall_time"] = metrics["wall_time"]
            run.scalars({f"psro/{key}": metrics.get(key)
                         for key in ("exploitability", "nash_conv", "meta_nash_conv", "iteration_time")},
                        new_state.iteration)
            done = new_state.iteration >= config.population.iterations
            if done or new_state.iteration % config.checkpoint_every == 0:
                # Outputs first: a run killed after this checkpoint still has them. Plots take
                # seconds, so they are redrawn at most every PLOT_INTERVAL seconds and at the end.
                plots = done or time.perf_counter() - last_plot[0] >= PLOT_INTERVAL
                write_outputs(run, psro, new_state, metrics, plots)
                if plots:
                    last_plot[0] = time.perf_counter()
                save_checkpoint(run.checkpoints, new_state, progress)
            run.hold(new_state.iteration, new_state, save=lambda s, p: save_checkpoint(run.checkpoints, s, p))
            last.update(metrics)
            bar.update(new_state.iteration, _status(metrics))
            if oracle_progress is not None:
                oracle_progress.iteration = new_state.iteration

        with nullcontext() if config.population.oracle != "learned" else \
                _OracleProgress(run, psro.metagame.players, bar, state.iteration if state else 0) as oracle_progress:
            psro.run(config.population.iterations, config.seed, state=state, callback=after)
    summary = f"done: {config.population.iterations} iterations in {progress['wall_time']:.1f}s"
    if last.get("exploitability") is not None:
        summary += f", exploitability {last['exploitability']:.4g}"
    console.print(f"{summary}; run dir: {run.path}")
    return run.path


def read_meta_strategy(path: str | Path) -> dict[str, Any]:
    """The ``meta_strategy.json`` of a run directory."""
    return json.loads((Path(path) / "meta_strategy.json").read_text())


__all__ = [
    "KIND",
    "read_meta_strategy",
    "restore_checkpoint",
    "restore_final",
    "run",
    "save_checkpoint",
]
