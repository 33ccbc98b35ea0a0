"""Drawing one tag_grid state with matplotlib (host side; the state's leaves are NumPy arrays).

The ``{0..L}²`` grid, taggers red and the runner blue in their cells; a cell holding several
agents shows how many.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from phalanx.envs.tag.viewer import RUNNER, TAGGER


def draw_tag_grid(fig: Any, grid_length: int, s: Any) -> None:
    """Draw the grid and the agents of the tag_grid state ``s`` (the runner is the last agent) on ``fig``."""
    from matplotlib.patches import Rectangle

    ax = fig.add_axes((0.04, 0.04, 0.92, 0.88))
    L = int(grid_length)
    for k in range(L + 2):
        ax.axhline(k - 0.5, color="0.85", lw=0.5)
        ax.axvline(k - 0.5, color="0.85", lw=0.5)
    pos = np.asarray(s.pos)
    cells: dict[tuple[int, int], int] = {}
    for i, (x, y) in enumerate(pos):
        runner = i == len(pos) - 1
        cells[(int(x), int(y))] = cells.get((int(x), int(y)), 0) + 1
        color = RUNNER if runner else TAGGER
        ax.add_patch(Rectangle((x - 0.4, y - 0.4), 0.8, 0.8, color=color, alpha=0.9 if runner else 0.6))
    for (x, y), count in cells.items():
        if count > 1:
            ax.text(x, y, str(count), ha="center", va="center", fontsize=7, color="white")
    ax.set_xlim(-0.5, L + 0.5)
    ax.set_ylim(-0.5, L + 0.5)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"tag_grid  t={int(s.t)}  taggers {len(pos) - 1} (red), runner (blue)", fontsize=9)
