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

Every task (payoff evaluation, best responses) goes through a backend
(:class:`~phalanx.runtime.backend.LocalBackend` unless one is given or the config says
``backend=ray``: then this loop runs in a coordinator actor and the tasks on Ray workers —
:mod:`phalanx.runtime.coordinator` — and every ``metrics.jsonl`` line gains ``workers``, the
per-worker tasks done and busy / wall time). A run resumed with
``resume=DIR [iterations=N]`` restores the last checkpoint and continues; its results equal an
uninterrupted run's (iteration ``i`` always draws from ``fold_in(key, i)``).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from flax import traverse_util
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from phalanx.config import to_yaml
from phalanx.errors import PhalanxError
from phalanx.population.payoff_table import PayoffTable, plot_payoffs
from phalanx.population.psro import PSRO, PSROState
from phalanx.runtime.checkpoint import Checkpoints
from phalanx.runtime.metrics import MetricsLog, write_json
from phalanx.runtime.population_config import PopulationConfig, from_values, to_values
from phalanx.runtime.run_dir import RunPaths

#: Seconds between redraws of the plots during a run (they are always drawn at the end).
PLOT_INTERVAL = 30.0

#: Keys a resumed run may change (results do not depend on the backend).
RESUME_OVERRIDABLE = ("iterations", "run_dir", "resume", "backend", "ray")


@dataclasses.dataclass(frozen=True)
class PopulationRunDir(RunPaths):
    """Paths of a population run's outputs (see the module docstring)."""

    @property
    def payoffs(self) -> Path:
        """``<run>/payoffs.png``, the meta-game's payoff table as a heat map."""
        return self.path / "payoffs.png"

    @property
    def exploitability(self) -> Path:
        """``<run>/exploitability.png``, exact games: exploitability vs iteration and vs wall time."""
        return self.path / "exploitability.png"

    @property
    def meta_strategy(self) -> Path:
        """``<run>/meta_strategy.json``, the latest meta-strategy per player."""
        return self.path / "meta_strategy.json"

    @property
    def policy(self) -> Path:
        """``<run>/policy.json``, poker: each player's meta-strategy mixture as an OpenSpiel-keyed tabular policy."""
        return self.path / "policy.json"


# --------------------------------------------------------------------------- run directory


def default_path(config: PopulationConfig, label: str) -> Path:
    """``runs/<game>-<label>-<YYYYmmdd-HHMMSS>``, the directory a new population run writes to by default."""
    return Path("runs") / f"{config.game}-{label}-{time.strftime('%Y%m%d-%H%M%S')}"


def create(config: PopulationConfig, label: str = "psro") -> tuple[PopulationRunDir, PopulationConfig]:
    """A fresh run directory with ``config.yaml``; the config records its path."""
    path = Path(config.run_dir) if config.run_dir else default_path(config, label)
    if (path / "config.yaml").exists():
        raise PhalanxError(f"run_dir={path} already holds a run; continue it with resume={path} or pick another.")
    path.mkdir(parents=True, exist_ok=True)
    config = dataclasses.replace(config, run_dir=str(path), resume=None)
    run = PopulationRunDir(path)
    run.config.write_text(to_yaml(config))
    return run, config


def load_config(path: str | Path) -> PopulationConfig:
    """The :class:`PopulationConfig` stored in a run directory."""
    file = Path(path) / "config.yaml"
    if not Path(path).is_dir():
        raise PhalanxError(f"resume={path}: no such directory; give the run directory phalanx psro/selfplay "
                           "printed, e.g. runs/<game>-<psro|selfplay>-<time>.")
    if not file.is_file():
        raise PhalanxError(f"resume={path}: no config.yaml there; is it a phalanx psro/selfplay run directory?")
    values = yaml.safe_load(file.read_text())
    if not isinstance(values, dict) or "game" not in values or "oracle" not in values:
        raise PhalanxError(f"resume={path}: config.yaml is not a psro/selfplay config (a phalanx train run?).")
    return from_values(values)


def open_for_resume(path: str | Path, overrides: dict[str, Any]) -> tuple[PopulationRunDir, PopulationConfig]:
    """Reopen a run with its stored config; only ``iterations`` may change (and is written back)."""
    stored = load_config(path)
    flat_stored = _flatten(to_values(stored))
    conflicts = [k for k, v in _flatten(overrides).items()
                 if k.split(".")[0] not in RESUME_OVERRIDABLE and flat_stored.get(k, object()) != v]
    if conflicts:
        shown = ", ".join(f"{k}={flat_stored.get(k, '<unset>')!r}" for k in conflicts)
        raise PhalanxError(f"resume={path}: cannot change a resumed run's config (stored: {shown}); only iterations= "
                           "may change. Drop those overrides or start a new run.")
    config = dataclasses.replace(stored, run_dir=str(path), resume=None)
    if "iterations" in overrides:
        config = from_values({**to_values(config), "iterations": overrides["iterations"]})
        Path(path, "config.yaml").write_text(to_yaml(config))
    return PopulationRunDir(Path(path)), config


def _flatten(values: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in values.items():
        if isinstance(v, dict) and v:
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = list(v) if isinstance(v, tuple | list) else v
    return out


# --------------------------------------------------------------------------- checkpoints


def _arrays(state: PSROState) -> dict[str, np.ndarray]:
    """The state's arrays as a flat ``{name: array}`` (populations and the key)."""
    tree = {"pop0": state.populations[0], "pop1": state.populations[1], "key": state.key}
    return {k: np.asarray(v) for k, v in traverse_util.flatten_dict(tree, sep=".").items()}


def save_checkpoint(ckpt: Checkpoints, state: PSROState, progress: dict[str, Any]) -> None:
    """Populations + key (Orbax) and the payoff table, meta-strategies and progress (JSON), atomically."""
    arrays = _arrays(state)
    progress = {**progress, "iteration": state.iteration, "table": state.table.to_dict(),
                "meta": [m.tolist() for m in state.meta],
                "arrays": {k: [list(v.shape), v.dtype.str] for k, v in arrays.items()}}
    ckpt.save(state.iteration, arrays, progress)


def restore_checkpoint(ckpt: Checkpoints, step: int) -> tuple[PSROState, dict[str, Any]]:
    """``(state, progress)`` of checkpoint ``step``."""
    spec = ckpt.progress(step)["arrays"]
    like = {k: np.zeros(shape, np.dtype(dtype)) for k, (shape, dtype) in spec.items()}
    arrays, progress = ckpt.restore(step, like)
    tree = traverse_util.unflatten_dict({k: np.asarray(v) for k, v in arrays.items()}, sep=".")
    state = PSROState(
        populations=(tree["pop0"], tree["pop1"]),
        table=PayoffTable.from_dict(progress["table"]),
        meta=(np.asarray(progress["meta"][0], np.float64), np.asarray(progress["meta"][1], np.float64)),
        key=np.asarray(tree["key"]),
        iteration=int(progress["iteration"]),
    )
    return state, progress


def restore_final(path: str | Path) -> tuple[PSROState, dict[str, Any]]:
    """``(state, progress)`` from a run directory's newest checkpoint (for analysis and tests)."""
    ckpt = Checkpoints(Path(path) / "checkpoints")
    try:
        step = ckpt.latest_step()
        if step is None:
            raise PhalanxError(f"{path}: no finalised checkpoint.")
        return restore_checkpoint(ckpt, step)
    finally:
        ckpt.close()


# --------------------------------------------------------------------------- outputs


def plot_exploitability(lines: list[dict[str, Any]], path: Path, title: str) -> None:
    """Exploitability vs iteration and vs wall time, log scale (exact zeros drawn at 1e-12)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    lines = [ln for ln in lines if ln.get("exploitability") is not None]
    if not lines:
        return
    y = np.maximum(np.array([ln["exploitability"] for ln in lines], float), 1e-12)
    fig = Figure(figsize=(10, 4), layout="constrained")
    FigureCanvasAgg(fig)
    for ax, key, label in zip(fig.subplots(1, 2), ("iteration", "wall_time"), ("iteration", "wall time (s)"),
                              strict=True):
        ax.plot([ln[key] for ln in lines], y, marker="o", markersize=3)
        ax.set_yscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("exploitability (NashConv / 2)")
        ax.grid(alpha=0.3, which="both")
    fig.suptitle(title)
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=100)
    tmp.replace(path)


def write_outputs(run: PopulationRunDir, psro: PSRO, state: PSROState, metrics: dict[str, Any],
                  log: MetricsLog, config: PopulationConfig, plots: bool = True) -> None:
    """``meta_strategy.json``, (poker) ``policy.json``; with ``plots`` also ``payoffs.png``, ``exploitability.png``."""
    if plots:
        plot_payoffs(state.table, run.payoffs)
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

            tmp = run.policy.with_suffix(".tmp")
            export_policy(psro.metagame.tree, mix0, mix1, tmp)
            tmp.replace(run.policy)
        else:  # matrix game: the mixed strategy each meta-strategy plays
            summary["mixed_strategy"] = [mix0.reshape(-1).tolist(), mix1.reshape(-1).tolist()]
        if plots:
            title = f"{config.game}: {config.oracle} oracle, {config.meta_solver} meta-solver"
            plot_exploitability(log.read(), run.exploitability, title)
    write_json(run.meta_strategy, summary)


# --------------------------------------------------------------------------- the loop


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f} iterations"), TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(), TimeRemainingColumn(), console=console,
    )


def _status(metrics: dict[str, Any]) -> str:
    n0, n1 = metrics["population"]
    text = f"members {n0}x{n1}"
    if metrics.get("exploitability") is not None:
        text += f"  exploitability {metrics['exploitability']:.4g}"
    return text + f"  meta NashConv {metrics['meta_nash_conv']:.3g}"


def _tensorboard(path: Path, purge_step: int | None):
    from tensorboardX import SummaryWriter

    return SummaryWriter(str(path), purge_step=purge_step)


def run(config: PopulationConfig, overrides: dict[str, Any] | None = None, console: Console | None = None,
        backend: Any = None, label: str = "psro") -> Path:
    """Run (or, with ``config.resume``, continue) a PSRO / self-play run; return its directory.

    Without ``backend``, the config's (``backend=local|ray``, or ``backend=`` in ``overrides``) is made;
    ``backend=ray`` runs this loop in a coordinator actor (:mod:`phalanx.runtime.coordinator`).
    """
    from phalanx.runtime.backend import backend_choice, make_backend

    console = console or Console()
    own_backend = backend is None
    if own_backend:
        stored = load_config(config.resume) if config.resume is not None else None
        name, ray_config = backend_choice(config, overrides, stored)
        if name == "ray" and ray_config.coordinator:
            from phalanx.runtime.coordinator import run_remote

            return run_remote("psro", config, overrides, console, ray_config, label, default_path(config, label))
        backend = make_backend(name, ray_config)
    resuming = config.resume is not None
    if resuming:
        run_dir, config = open_for_resume(config.resume, overrides or {})
    else:
        run_dir, config = create(config, label)
    console.print(f"[bold]phalanx {label}[/bold] {config.game}: oracle={config.oracle} "
                  f"meta_solver={config.meta_solver}; run dir: {run_dir.path}")
    psro = PSRO(config.game_spec(), config.oracle_spec(), config.meta_solver, backend=backend,
                meta_solver_options=config.meta_solver_options)
    ckpt = Checkpoints(run_dir.checkpoints)
    log = MetricsLog(run_dir.metrics)
    state, progress = None, {"wall_time": 0.0, "metrics_lines": 0}
    if resuming and (step := ckpt.latest_step()) is not None:
        state, progress = restore_checkpoint(ckpt, step)
        if state.iteration >= config.iterations:
            ckpt.close()
            console.print(f"run already complete ({state.iteration} iterations); run dir: {run_dir.path}")
            return run_dir.path
        console.print(f"resumed from iteration {state.iteration}")
    log.truncate(progress["metrics_lines"])  # drop lines logged after the checkpoint
    tb = _tensorboard(run_dir.path, state.iteration + 1 if state is not None else None)
    wall0 = time.perf_counter() - progress["wall_time"]
    last: dict[str, Any] = {}
    last_plot = [time.perf_counter()]  # first drawn after PLOT_INTERVAL seconds, or at the end

    try:
        with _progress(console) as bar:
            task = bar.add_task(f"{config.game} {label}", total=config.iterations,
                                completed=state.iteration if state else 0, status="compiling...")

            def after(new_state: PSROState, metrics: dict[str, Any]) -> None:
                metrics = {"iteration": metrics["iteration"], "wall_time": round(time.perf_counter() - wall0, 4),
                           **{k: v for k, v in metrics.items() if k != "iteration"}}
                if hasattr(backend, "utilisation"):  # ray: per worker tasks, busy time / wall time
                    metrics["workers"] = backend.utilisation()
                log.append(metrics)
                progress["metrics_lines"] += 1
                progress["wall_time"] = metrics["wall_time"]
                for key in ("exploitability", "nash_conv", "meta_nash_conv", "iteration_time"):
                    if metrics.get(key) is not None:
                        tb.add_scalar(f"psro/{key}", metrics[key], new_state.iteration)
                tb.flush()
                done = new_state.iteration >= config.iterations
                if done or new_state.iteration % config.checkpoint_every == 0:
                    # Outputs first: a run killed after this checkpoint still has them. Plots take
                    # seconds, so they are redrawn at most every PLOT_INTERVAL seconds and at the end.
                    plots = done or time.perf_counter() - last_plot[0] >= PLOT_INTERVAL
                    write_outputs(run_dir, psro, new_state, metrics, log, config, plots)
                    if plots:
                        last_plot[0] = time.perf_counter()
                    save_checkpoint(ckpt, new_state, progress)
                last.update(metrics)
                bar.update(task, completed=new_state.iteration, status=_status(metrics))

            psro.run(config.iterations, config.seed, state=state, callback=after)
    finally:
        tb.close()
        ckpt.close()
        if own_backend:
            backend.close()
    summary = f"done: {config.iterations} iterations in {progress['wall_time']:.1f}s"
    if last.get("exploitability") is not None:
        summary += f", exploitability {last['exploitability']:.4g}"
    console.print(f"{summary}; run dir: {run_dir.path}")
    return run_dir.path


def read_meta_strategy(path: str | Path) -> dict[str, Any]:
    """The ``meta_strategy.json`` of a run directory."""
    return json.loads((Path(path) / "meta_strategy.json").read_text())


__all__ = [
    "PopulationRunDir",
    "load_config",
    "open_for_resume",
    "plot_exploitability",
    "read_meta_strategy",
    "restore_checkpoint",
    "restore_final",
    "run",
    "save_checkpoint",
]
