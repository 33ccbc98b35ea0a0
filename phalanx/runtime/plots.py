"""Every figure Phalanx draws, used both while a run writes its run directory and by ``phalanx plot``.

* returns: mean episode return against env steps, a panel per group, a line per run with its 95% Student-t
  confidence band over seeds (``learning_curve.png`` during ``phalanx train``; ``plot_returns.png``);
* exploitability against iteration and wall time, log scale (``exploitability.png``; ``plot_exploitability.png``);
* Elo of every league player against league env steps, learners thick and their snapshots thin
  (``elo.png``, with a second panel after the final round robin; ``plot_elo.png``);
* a payoff table as a heat map, one panel per player (``payoffs.png``; ``plot_payoffs.png``).

Functions ending in ``_figure`` return a matplotlib ``Figure`` (tests read its artists); :func:`save` writes
one atomically. Figures are drawn on the Agg canvas directly (no pyplot state, safe in threads).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from phalanx.runtime.atomic import atomic_path

#: Fill colour of payoff cells not evaluated yet: a greyish khaki, in neither colour map used (RdBu, viridis)
#: and not a grey that anti-aliased text could produce.
NAN_COLOUR = (0.8, 0.8, 0.6)

Lines = list[dict[str, Any]]  # metrics.jsonl lines


def figure(width: float, height: float) -> Any:
    """A matplotlib ``Figure`` on the Agg canvas, constrained layout."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig: Any, path: str | Path) -> Path:
    """Write ``fig`` as a PNG to ``path`` (parents made) atomically; return ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp)
    return path


# ---------------------------------------------------------------------------------------------- returns
@dataclasses.dataclass(frozen=True)
class Curve:
    """One line with its band: ``x``, ``mean``, ``low``, ``high`` are ``(T,)``; ``n`` ``(T,)`` seeds per point."""

    label: str
    x: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    n: np.ndarray


def seed_returns(lines: Lines, group: str) -> tuple[np.ndarray, np.ndarray]:
    """``(env_steps (T,), returns (T, S))`` of one group; NaN where a seed finished no episode in the chunk."""
    x = np.array([line["env_steps"] for line in lines], float)
    rows = []
    for line in lines:
        entries = line.get("seeds", [line])
        rows.append([np.nan if e["episode_return"].get(group) is None else e["episode_return"][group]
                     for e in entries])
    return x, np.array(rows, float).reshape(len(lines), -1)


def confidence_band(values: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over seeds and its ``level`` Student-t confidence interval, row by row.

    Args:
        values: ``(T, S)`` per-seed values; NaN entries are left out.
        level: the interval's coverage.

    Returns:
        ``(mean, half_width, n)``, each ``(T,)``: ``half_width = t((1+level)/2, n−1) · sd / √n`` with the
        sample standard deviation (``ddof=1``); NaN where ``n < 2`` (mean NaN where ``n = 0``).
    """
    from scipy import stats

    n = np.sum(~np.isnan(values), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        total = np.nansum(values, axis=1)
        mean = np.where(n > 0, total / np.maximum(n, 1), np.nan)
        dev = np.where(np.isnan(values), 0.0, values - mean[:, None])
        sd = np.sqrt(np.sum(dev**2, axis=1) / np.maximum(n - 1, 1))
        half = np.where(n >= 2, stats.t.ppf(0.5 + level / 2, np.maximum(n - 1, 1)) * sd / np.sqrt(n), np.nan)
    return mean, half, n


def return_curve(label: str, runs: list[Lines], group: str) -> Curve | None:
    """The seed-mean return of ``group`` with its 95% band, seeds pooled over ``runs`` (each a run's lines,
    all logged at the same env steps); None when no run has the group."""
    xs, cols = [], []
    for lines in runs:
        if any(group in line["episode_return"] for line in lines):
            x, values = seed_returns(lines, group)
            xs.append(x)
            cols.append(values)
    if not xs:
        return None
    mean, half, n = confidence_band(np.concatenate(cols, axis=1))
    return Curve(label, xs[0], mean, mean - half, mean + half, n)


def returns_figure(curves: dict[str, list[Curve]], title: str) -> Any:
    """A panel per group (``curves``' keys), a line per curve with its band where there is one."""
    fig = figure(max(5.0, 4.5 * len(curves)), 4.0)
    axes = fig.subplots(1, max(1, len(curves)), squeeze=False)[0]
    for ax, (g, group_curves) in zip(axes, curves.items(), strict=False):
        for k, c in enumerate(group_curves):
            seeds = int(c.n.max()) if c.n.size else 0
            ax.plot(c.x, c.mean, color=f"C{k % 10}", lw=1.5, label=f"{c.label} ({seeds} seed{'s' * (seeds != 1)})")
            if np.isfinite(c.low).any():
                ax.fill_between(c.x, c.low, c.high, color=f"C{k % 10}", alpha=0.2, lw=0)
        ax.set_title(g)
        ax.set_xlabel("env steps (per seed)")
        ax.set_ylabel("mean episode return")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    return fig


#: The returns figure's caption.
RETURNS_CAPTION = "mean episode return; band: 95% confidence interval over seeds (Student t)"


def learning_curve(lines: Lines, path: str | Path, label: str) -> Path:
    """``learning_curve.png`` of one ``phalanx train`` run: :func:`returns_figure` of its lines."""
    groups = list(dict.fromkeys(g for line in lines for g in line["episode_return"]))
    curves = {g: [c] for g in groups if (c := return_curve(label, [lines], g)) is not None}
    return save(returns_figure(curves, RETURNS_CAPTION), path)


# ---------------------------------------------------------------------------------------------- exploitability
def exploitability_figure(series: list[tuple[str, Lines]], title: str | None = None) -> Any:
    """Exploitability vs iteration and vs wall time, log scale (exact zeros drawn at 1e-12), a line per
    ``(label, metrics lines)``; None when no line has an exploitability (games without exact best responses)."""
    from matplotlib.ticker import MaxNLocator

    series = [(label, [ln for ln in lines if ln.get("exploitability") is not None]) for label, lines in series]
    series = [(label, lines) for label, lines in series if lines]
    if not series:
        return None
    fig = figure(10.0, 4.0)
    for ax, key, xlabel in zip(fig.subplots(1, 2), ("iteration", "wall_time"), ("iteration", "wall time (s)"),
                               strict=True):
        for k, (label, lines) in enumerate(series):
            y = np.maximum([ln["exploitability"] for ln in lines], 1e-12)
            ax.plot([ln[key] for ln in lines], y, marker="o", markersize=3, color=f"C{k % 10}", label=label)
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("exploitability (NashConv / 2)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
        if key == "iteration":
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if title:
        fig.suptitle(title)
    return fig


# ---------------------------------------------------------------------------------------------- Elo
def _family(name: str) -> str:
    return name.split("@")[0]  # snapshots are named "<learner>@<task>"


def _online_elo(ax: Any, lines: Lines, title: str) -> dict[str, str]:
    """Every player's online Elo on ``ax`` (learners thick, snapshots thin, a colour per learner); the colours."""
    names = list(lines[-1]["elo"]) if lines else []
    families = list(dict.fromkeys(_family(n) for n in names))
    colours = {f: f"C{k % 10}" for k, f in enumerate(families)}
    x = np.array([line["env_steps"] for line in lines], float)
    for name in names:
        learner = "@" not in name
        y = np.array([line["elo"].get(name, np.nan) for line in lines], float)
        ax.plot(x, y, color=colours[_family(name)], lw=2.0 if learner else 0.8, alpha=1.0 if learner else 0.6,
                label=name if learner else None)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("league env steps")
    ax.set_ylabel("Elo (online)")
    ax.grid(alpha=0.3)
    if names:
        ax.legend(fontsize=8)
    return colours


def elo_figure(panels: list[tuple[str, Lines]], final: dict[str, Any] | None = None) -> Any:
    """Online Elo of every player vs league env steps, a panel per ``(title, metrics lines)`` (Elo compares
    players within a league, not across). With ``final`` (``league_final.json``; one panel), a second panel:
    the fitted Elo of each learner's snapshots and final parameters against the learner's env steps."""
    width = min(6.5 * len(panels), 20.0) if not final else 12.0
    fig = figure(max(width, 6.5), 4.5)
    axes = fig.subplots(1, len(panels) + (1 if final else 0), squeeze=False)[0]
    colours: dict[str, str] = {}
    for ax, (title, lines) in zip(axes, panels, strict=False):
        colours = _online_elo(ax, lines, title)
    if final:
        ax = axes[-1]
        fit = dict(zip(final["names"], final["elo_fit"], strict=True))
        for family in dict.fromkeys(_family(n) for n in final["names"] if "@" not in n):
            members = [(p["steps"], p["name"]) for p in final["players"] if _family(p["name"]) == family]
            members.sort(key=lambda m: (m[0], "@" not in m[1]))  # final parameters after same-step snapshots
            # Exploiters restart from the initial parameters, so only main agents form a line of descent.
            style = "o-" if family.startswith("main_") and "exploiter" not in family else "x"
            ax.plot([m[0] for m in members], [fit[m[1]] for m in members], style, color=colours.get(family),
                    label=family)
        ax.set_xlabel("learner env steps")
        ax.set_ylabel("Elo (fitted to the final round robin)")
        ax.set_title("snapshots, then final parameters (x: exploiters restart)", fontsize=9)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return fig


# ---------------------------------------------------------------------------------------------- payoffs
def payoff_figure(payoffs: np.ndarray, row_labels: list[str], col_labels: list[str]) -> Any:
    """A heat map of both players' payoffs ``(2, n0, n1)`` (NaN: not evaluated), one panel per player.

    Both panels share one colour scale and colour bar (diverging and centred on 0 when the payoffs have both
    signs); cells not evaluated are khaki (:data:`NAN_COLOUR`) and hatched. Values are printed in the cells
    of small tables.
    """
    import matplotlib
    from matplotlib.collections import PatchCollection
    from matplotlib.colors import Normalize, TwoSlopeNorm
    from matplotlib.patches import Rectangle

    data = np.asarray(payoffs, float)
    n0, n1 = data.shape[1:]
    finite = data[np.isfinite(data)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if lo < 0.0 < hi:
        norm, cmap_name = TwoSlopeNorm(0.0, lo, hi), "RdBu"
    else:
        norm, cmap_name = Normalize(lo, hi if hi > lo else lo + 1.0), "viridis"
    cmap = matplotlib.colormaps[cmap_name].with_extremes(bad=NAN_COLOUR)
    side = min(9.0, 3.0 + 0.3 * max(n0, n1, 1))  # inches per panel
    fig = figure(2 * side + 1.5, side + 0.6)
    axes = fig.subplots(1, 2, squeeze=True)
    image = None
    any_missing = False
    for player, ax in enumerate(axes):
        grid = np.ma.masked_invalid(data[player]) if n0 and n1 else np.ma.masked_all((1, 1))
        image = ax.imshow(grid, cmap=cmap, norm=norm, interpolation="nearest", aspect="auto")
        missing = np.argwhere(np.isnan(data[player])) if n0 and n1 else np.zeros((0, 2), int)
        if len(missing):  # hatched (one collection: fast at any size) so they read as "not evaluated"
            any_missing = True
            cells = [Rectangle((j - 0.5, i - 0.5), 1, 1) for i, j in missing]
            ax.add_collection(PatchCollection(cells, facecolor="none", edgecolor=(0.35, 0.35, 0.35), hatch="//",
                                              linewidth=0))
        if n0 * n1 <= 144:  # small tables: print the values
            for i, j in zip(*np.nonzero(np.isfinite(data[player])), strict=True):
                value = data[player, i, j]
                dark = abs(norm(value) - 0.5) > 0.3 if cmap_name == "RdBu" else norm(value) < 0.5
                ax.text(j, i, f"{value + 0.0:.2g}", ha="center", va="center", fontsize=8,
                        color="white" if dark else "black")
        step0, step1 = max(1, -(-n0 // 30)), max(1, -(-n1 // 30))  # at most 30 tick labels per axis
        ax.set_yticks(range(0, n0, step0), [row_labels[i] for i in range(0, n0, step0)])
        ax.set_xticks(range(0, n1, step1), [col_labels[j] for j in range(0, n1, step1)], rotation=90)
        ax.set_xlabel("column player's member")
        ax.set_title(f"player {player}'s payoff")
    axes[0].set_ylabel("row player's member")
    fig.colorbar(image, ax=list(axes), shrink=0.8, label="payoff")
    fig.suptitle(f"meta-game payoffs, {n0} x {n1} members" + ("  (hatched: not evaluated yet)" if any_missing else ""))
    return fig


def plot_payoffs(table: Any, path: str | Path, labels: Any = None) -> Path:
    """Write a payoff table's heat map (:func:`payoff_figure`) as a PNG; return the path written.

    Args:
        table: a :class:`~phalanx.population.payoff_table.PayoffTable` (its ``payoffs`` and member ``names``).
        path: the file to write, or a directory (then ``<dir>/payoffs.png``).
        labels: ``(row labels, column labels)``, or None for the table's member names.
    """
    from phalanx.errors import PhalanxError

    path = Path(path)
    if path.is_dir():
        path = path / "payoffs.png"
    n0, n1 = table.shape
    rows, cols = table.names if labels is None else (list(labels[0]), list(labels[1]))
    if len(rows) != n0 or len(cols) != n1:
        raise PhalanxError(
            f"plot_payoffs: labels give {len(rows)} row and {len(cols)} column names for a {n0} x {n1} table.")
    return save(payoff_figure(table.payoffs, list(rows), list(cols)), path)
