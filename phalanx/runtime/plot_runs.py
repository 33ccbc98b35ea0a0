"""``phalanx plot``: figures drawn from finished (or running) run directories, several runs overlaid.

What a run directory holds decides what is drawn (its ``config.yaml`` tells the kind):

* ``phalanx train`` runs → ``plot_returns.png``: mean episode return against env steps, one panel
  per group, one line per run. The line is the mean over the run's seeds and the band its 95%
  confidence interval, ``mean ± t(0.975, n−1) · sd / √n`` over the ``n`` seeds that finished an
  episode in that chunk (Student's t; no band with one seed). Per-seed returns come from the
  ``"seeds"`` entries that ``num_seeds > 1`` runs log (:mod:`phalanx.runtime.metrics`). With
  ``pool=true``, runs whose configs differ only in ``seed`` (and ``run_dir``) and that logged the
  same env steps are pooled into one line, each run's seeds adding to ``n`` — the way to get a band
  from separate single-seed runs.
* ``phalanx psro`` / ``phalanx selfplay`` runs → ``plot_exploitability.png`` (exact games: exploitability
  against iteration and against wall time, log scale, one line per run) and ``plot_payoffs.png`` per run
  (the meta-game payoff table of the run's last checkpoint, as a heat map).
* ``phalanx league`` runs → ``plot_elo.png``: every player's online Elo against league env steps (learners
  thick, their snapshots thin in the same colour), one panel per run.

Figures go into the run directory — overlays of several runs into the first one — or under ``out=``:
a directory, or a ``.png`` file for the overlay (other figures are written beside it as
``<stem>_payoffs[_<run>].png``).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from rich.console import Console

from phalanx.config import build, parse_overrides
from phalanx.errors import PhalanxError
from phalanx.out_paths import check_figure_target
from phalanx.runtime import plots
from phalanx.runtime.metrics import MetricsLog

#: Kinds of run directories and the command that makes each.
KINDS = {"train": "phalanx train", "psro": "phalanx psro/selfplay", "league": "phalanx league"}
#: Config keys that may differ between runs pooled as seeds of one line (``pool=true``).
POOL_IGNORED = ("seed", "run_dir", "resume")


@dataclasses.dataclass(frozen=True)
class PlotConfig:
    """``phalanx plot``: figures from run directories.

    Attributes:
        run_dir: one or more run directories (``run_dir=A run_dir=B`` or ``run_dir=[A,B]``), all of one kind.
        out: a directory for the figures, or a ``.png`` file for the overlay figure (default: the first run dir).
        pool: ``phalanx train`` runs only: pool runs whose configs differ only in ``seed`` into one line.
    """

    run_dir: tuple[str, ...] = ()
    out: str | None = None
    pool: bool = False


@dataclasses.dataclass(frozen=True)
class Run:
    """One run directory read back: its kind, stored config and ``metrics.jsonl`` lines."""

    path: Path
    kind: str
    config: dict[str, Any]
    lines: list[dict[str, Any]]
    label: str = ""  # the name in legends and file names (the directory's name, unique among the runs)

    @property
    def description(self) -> str:
        """The legend entry: the label and what the run is (env and algorithm, game and solver)."""
        c = self.config
        p = c.get("population") or c  # psro settings (top level in older runs)
        what = {"train": f"{c.get('env')} {c.get('algo')}",
                "psro": f"{c.get('env', c.get('game'))} {p.get('oracle')}/{p.get('meta_solver')}",
                "league": f"{c.get('env')} league"}[self.kind] if c else ""
        return f"{self.label}: {what}" if what else self.label


# ---------------------------------------------------------------------------------------------- reading
def resolve(args: list[str]) -> PlotConfig:
    """The :class:`PlotConfig` of ``phalanx plot ARGS``; ``run_dir=`` may repeat or be a list."""
    dirs: list[str] = []
    rest = []
    for arg in args:
        if arg.startswith("run_dir="):
            value = parse_overrides([arg])["run_dir"]
            dirs += [str(v) for v in value] if isinstance(value, list) else [str(value)]
        else:
            rest.append(arg)
    config = build(PlotConfig, parse_overrides(rest) | ({"run_dir": dirs} if dirs else {}))
    if not config.run_dir:
        raise PhalanxError("phalanx plot needs run_dir=DIR (repeat run_dir= or give a list run_dir=[A,B] to overlay).")
    if config.out is not None:
        check_figure_target(config.out)  # before any figure: a mistyped extension never becomes a folder
    return config


def run_kind(config: dict[str, Any], first_line: dict[str, Any]) -> str | None:
    """``"train"``, ``"psro"`` or ``"league"`` from a run's config (or, without one, its first metrics line)."""
    if "population" in config or "oracle" in config:  # (older psro runs: top-level oracle=)
        return "psro"
    if "league" in config or "main_agents" in config:
        return "league"
    if "algo" in config and "num_seeds" in config:
        return "train"
    if "episode_return" in first_line:
        return "train"
    if "meta_strategy" in first_line:
        return "psro"
    if "elo" in first_line:
        return "league"
    return None


def load_run(path: str | Path) -> Run:
    """Read a run directory; one-line :class:`PhalanxError` when it is missing, empty or of no known kind."""
    path = Path(path)
    if not path.is_dir():
        raise PhalanxError(f"run_dir={path}: no such directory; give the run directory a phalanx run printed, "
                           "e.g. runs/<env>-<algo>-<time>.")
    metrics = path / "metrics.jsonl"
    if not metrics.is_file():
        raise PhalanxError(f"run_dir={path}: no metrics.jsonl there; is it a run directory of "
                           f"{', '.join(KINDS.values())}?")
    lines = []
    for k, text in enumerate(MetricsLog(metrics).read_raw()):  # a last line being written is left out
        try:
            lines.append(json.loads(text))
        except json.JSONDecodeError:
            raise PhalanxError(f"run_dir={path}: metrics.jsonl line {k + 1} is not JSON.") from None
    if not lines:
        raise PhalanxError(f"run_dir={path}: metrics.jsonl is empty (has the run logged anything yet?).")
    config_file = path / "config.yaml"
    config = yaml.safe_load(config_file.read_text()) if config_file.is_file() else {}
    kind = run_kind(config if isinstance(config, dict) else {}, lines[0])
    if kind is None:
        raise PhalanxError(f"run_dir={path}: cannot tell what made this run; expected a run of "
                           f"{', '.join(KINDS.values())}.")
    return Run(path, kind, config or {}, lines, path.resolve().name)


def load_runs(dirs: tuple[str, ...] | list[str]) -> list[Run]:
    """Every run, checked to be of one kind."""
    runs = [load_run(d) for d in dirs]
    names = [r.label for r in runs]
    if len(set(names)) < len(names):  # e.g. seed_0/run and seed_1/run: number them
        runs = [dataclasses.replace(r, label=f"{r.label}-{k}") for k, r in enumerate(runs)]
    kinds = {r.kind for r in runs}
    if len(kinds) > 1:
        shown = ", ".join(f"{r.path} ({KINDS[r.kind]})" for r in runs)
        raise PhalanxError(f"run_dir: cannot overlay runs of different kinds: {shown}; plot each kind separately.")
    return runs


# ---------------------------------------------------------------------------------------------- what to draw
def _pool_key(run: Run) -> str:
    config = {k: v for k, v in run.config.items() if k not in POOL_IGNORED}
    steps = [line["env_steps"] for line in run.lines]
    return json.dumps([config, steps], sort_keys=True, default=str)


def pooled(runs: list[Run], pool: bool) -> list[tuple[str, list[Run]]]:
    """``(label, runs)`` per line: each run alone, or with ``pool`` the runs that differ only in seed together."""
    if not pool:
        return [(r.description, [r]) for r in runs]
    lines: dict[str, list[Run]] = {}
    for r in runs:
        lines.setdefault(_pool_key(r), []).append(r)
    return [(members[0].description + (f" +{len(members) - 1} runs" if len(members) > 1 else ""), members)
            for members in lines.values()]


# ---------------------------------------------------------------------------------------------- figures
def return_curves(runs: list[Run], pool: bool = False) -> dict[str, list[plots.Curve]]:
    """``{group: a curve per run (or pooled runs)}`` for :func:`~phalanx.runtime.plots.returns_figure`.

    Raises:
        PhalanxError: no run has finished an episode yet (nothing to draw).
    """
    groups = list(dict.fromkeys(g for r in runs for line in r.lines for g in line["episode_return"]))
    curves = {g: [c for label, members in pooled(runs, pool)
                  if (c := plots.return_curve(label, [m.lines for m in members], g))] for g in groups}
    if not any(np.isfinite(c.mean).any() for cs in curves.values() for c in cs):
        raise PhalanxError(f"run_dir={runs[0].path}: no episode has finished yet, so there is no return to plot.")
    return curves


def returns_figure(runs: list[Run], pool: bool = False) -> Any:
    """The returns figure of ``runs`` (:func:`return_curves` drawn by :func:`~phalanx.runtime.plots.returns_figure`)."""
    return plots.returns_figure(return_curves(runs, pool), plots.RETURNS_CAPTION)


def exploitability_figure(runs: list[Run]) -> Any:
    """Exploitability of every run, a line each (None if no run of an exact game logged it)."""
    return plots.exploitability_figure([(r.description, r.lines) for r in runs])


def elo_figure(runs: list[Run]) -> Any:
    """Online Elo of every player, a panel per run."""
    return plots.elo_figure([(f"{r.description}: Elo of every player (thin: snapshots)", r.lines) for r in runs])


def last_payoff_table(run: Run) -> Any:
    """The payoff table stored with a PSRO run's newest checkpoint, or None when it has none yet."""
    from phalanx.population.payoff_table import PayoffTable
    from phalanx.runtime.checkpoint import Checkpoints

    if not (run.path / "checkpoints").is_dir():
        return None
    ckpt = Checkpoints(run.path / "checkpoints")
    try:
        step = ckpt.latest_step()
        return None if step is None else PayoffTable.from_dict(ckpt.progress(step)["table"])
    finally:
        ckpt.close()


# ---------------------------------------------------------------------------------------------- the command
def _targets(config: PlotConfig, runs: list[Run], main_name: str) -> tuple[Path, Any]:
    """The overlay figure's path and a function ``run -> path`` of a run's own figure (the heat map)."""
    several = len(runs) > 1
    if config.out is None:
        return runs[0].path / main_name, lambda run, what: run.path / f"plot_{what}.png"
    out = Path(config.out)
    if out.suffix.lower() == ".png":
        return out, lambda run, what: out.with_name(f"{out.stem}_{what}" + (f"_{run.label}" if several else "")
                                                    + ".png")
    return out / main_name, lambda run, what: out / (f"plot_{what}" + (f"_{run.label}" if several else "") + ".png")


def plot(config: PlotConfig) -> list[Path]:
    """Draw every figure of ``config``'s runs; return the paths written."""
    runs = load_runs(config.run_dir)
    kind = runs[0].kind
    if config.pool and kind != "train":
        raise PhalanxError(f"pool=true: only phalanx train runs are pooled over seeds, not {KINDS[kind]} runs.")
    written: list[Path] = []
    if kind == "train":
        main, _ = _targets(config, runs, "plot_returns.png")
        written.append(plots.save(returns_figure(runs, config.pool), main))
    elif kind == "psro":
        main, own = _targets(config, runs, "plot_exploitability.png")
        if (fig := exploitability_figure(runs)) is not None:
            written.append(plots.save(fig, main))
        for run in runs:
            if (table := last_payoff_table(run)) is not None:
                written.append(plots.plot_payoffs(table, own(run, "payoffs")))
    else:
        main, _ = _targets(config, runs, "plot_elo.png")
        written.append(plots.save(elo_figure(runs), main))
    if not written:
        raise PhalanxError(f"run_dir={runs[0].path}: nothing to plot yet (no exploitability logged, no checkpoint).")
    return written


def main(args: list[str], console: Console | None = None) -> int:
    """``phalanx plot run_dir=DIR [run_dir=DIR2 ...] [out=PATH] [pool=true]``: print each figure's path."""
    console = console or Console()
    for path in plot(resolve(args)):
        console.print(f"wrote {path}", soft_wrap=True)
    return 0
