"""``learning_curve.png``: mean episode return vs env steps, one line per group."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def learning_curve(lines: list[dict[str, Any]], path: Path, title: str) -> None:
    """Plot each group's return; with several seeds, the seed mean and a min–max band over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    groups = list(lines[0]["episode_return"]) if lines else []
    x = np.array([line["env_steps"] for line in lines], float)
    for g in groups:
        if lines and "seeds" in lines[0]:
            per_seed = np.array([[np.nan if s["episode_return"][g] is None else s["episode_return"][g]
                                  for s in line["seeds"]] for line in lines], float)
            ok = ~np.all(np.isnan(per_seed), axis=1)
            if ok.any():
                rows = per_seed[ok]
                ax.fill_between(x[ok], np.nanmin(rows, 1), np.nanmax(rows, 1), alpha=0.25)
        y = np.array([np.nan if line["episode_return"][g] is None else line["episode_return"][g] for line in lines])
        ax.plot(x, y, label=g)
    ax.set_xlabel("env steps")
    ax.set_ylabel("mean episode return")
    ax.set_title(title)
    if groups:
        ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
