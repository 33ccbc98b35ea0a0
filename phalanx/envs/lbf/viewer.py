"""Drawing one LBF state with matplotlib (its ``draw_frame``, used by ``phalanx.envs.viewers.render_frame``)."""

from __future__ import annotations

from typing import Any

import numpy as np

AGENT = (0.2, 0.35, 0.85)
FOOD = (0.2, 0.65, 0.25)


def draw_lbf(fig: Any, env: Any, state: Any) -> None:
    """Grid, agents (blue circles) and uneaten food (green squares), each labelled with its level.

    Row 0 is drawn at the top, as Jumanji's viewer does (``up`` decreases the row). Eaten food
    is left out; the title gives the step and how much food is eaten.
    """
    from matplotlib.patches import Circle, Rectangle

    g = env.grid_size
    ax = fig.add_axes((0.04, 0.04, 0.92, 0.86))
    for k in range(g + 1):
        ax.plot([k, k], [0, g], color="0.8", lw=0.6)
        ax.plot([0, g], [k, k], color="0.8", lw=0.6)

    def centre(pos: np.ndarray) -> tuple[float, float]:
        row, col = (int(v) for v in pos)
        return col + 0.5, g - row - 0.5

    # Levels in about a third of a cell (cell side in points: the axes' width over g), legible from 5×5 to 30×30.
    cell = 0.92 * fig.get_figwidth() * 72.0 / g
    font = float(np.clip(0.4 * cell, 4.0, 16.0))
    eaten = np.asarray(state.food_eaten, bool)
    for pos, level, done in zip(state.food_pos, state.food_level, eaten, strict=True):
        if done:
            continue
        x, y = centre(pos)
        ax.add_patch(Rectangle((x - 0.38, y - 0.38), 0.76, 0.76, color=FOOD))
        ax.text(x, y, str(int(level)), ha="center", va="center", fontsize=font, color="white", weight="bold")
    for pos, level in zip(state.agent_pos, state.agent_level, strict=True):
        x, y = centre(pos)
        ax.add_patch(Circle((x, y), 0.38, color=AGENT))
        ax.text(x, y, str(int(level)), ha="center", va="center", fontsize=font, color="white", weight="bold")
    ax.set_xlim(0, g)
    ax.set_ylim(0, g)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(
        f"lbf  t={int(state.step_count)}  agents {len(state.agent_level)} (blue)  "
        f"food eaten {int(eaten.sum())}/{len(eaten)} (green)\nnumbers: levels",
        fontsize=8,
    )
