"""Drawing one warehouse state with matplotlib (host side; the state's leaves are NumPy arrays).

Colours follow Jumanji's viewer: shelves dark slate blue, requested shelves teal, goals dark
grey, agents orange (red when carrying a shelf) with a black line pointing where they face.
Highways are the light floor; row 0 is at the top, as in the grid.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from phalanx.envs.rware.layout import Layout
from phalanx.envs.rware.types import RwareState

SHELF = (72 / 255, 61 / 255, 139 / 255)
SHELF_REQUESTED = (0.0, 128 / 255, 128 / 255)
GOAL = (60 / 255, 60 / 255, 60 / 255)
AGENT = (1.0, 140 / 255, 0.0)
AGENT_LOADED = (1.0, 0.0, 0.0)
FLOOR = (0.93, 0.93, 0.93)
SHELF_FLOOR = (0.82, 0.82, 0.86)
#: (d_col, d_row) of each facing direction (up, right, down, left) in plot coordinates.
_FACING = np.array([[0, -1], [1, 0], [0, 1], [-1, 0]], np.float64)


def draw_warehouse(fig: Any, lay: Layout, scenario: str, s: RwareState) -> None:
    """Draw the floor, goals, shelves (requested ones highlighted) and agents of the state ``s`` on ``fig``."""
    from matplotlib.patches import Circle, Rectangle

    H, W = lay.height, lay.width
    ax = fig.add_axes((0.04, 0.04, 0.92, 0.86))
    floor = np.where(lay.highways[..., None], np.array(FLOOR), np.array(SHELF_FLOOR))
    ax.imshow(floor, extent=(-0.5, W - 0.5, H - 0.5, -0.5), interpolation="nearest")
    for row, col in lay.goals:
        ax.add_patch(Rectangle((col - 0.5, row - 0.5), 1, 1, color=GOAL))
    shelf_grid = np.asarray(s.shelf_grid)
    requested = np.asarray(s.requested)
    for row, col in np.argwhere(shelf_grid > 0):
        color = SHELF_REQUESTED if requested[shelf_grid[row, col] - 1] else SHELF
        ax.add_patch(Rectangle((col - 0.4, row - 0.4), 0.8, 0.8, color=color, zorder=2))
    for (row, col), facing, loaded in zip(np.asarray(s.agent_pos), np.asarray(s.agent_dir),
                                          np.asarray(s.carrying), strict=True):
        ax.add_patch(Circle((col, row), 0.3, color=AGENT_LOADED if loaded else AGENT, zorder=3))
        d_col, d_row = _FACING[int(facing)] * 0.35
        ax.plot([col, col + d_col], [row, row + d_row], color="black", lw=1.5, zorder=4)
    for k in range(H + 1):
        ax.axhline(k - 0.5, color="white", lw=0.5)
    for k in range(W + 1):
        ax.axvline(k - 0.5, color="white", lw=0.5)
    ax.set_xlim(-0.5, W - 0.5)
    ax.set_ylim(H - 0.5, -0.5)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(
        f"rware {scenario}  t={int(s.t)}  carrying {int(np.sum(s.carrying))}/{len(s.carrying)}"
        f"  requested (teal) {int(np.sum(requested))}",
        fontsize=9,
    )
