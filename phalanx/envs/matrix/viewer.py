"""Drawing one matrix-game state with matplotlib: the payoff table, the last joint action's cell highlighted."""

from __future__ import annotations

from typing import Any

import numpy as np


def draw_matrix(fig: Any, name: str, payoffs: np.ndarray, action_names: Any, s: Any) -> None:
    """Draw the ``(2, n0, n1)`` ``payoffs`` as a table on ``fig``, marking the cell of ``s.last_actions``.

    ``action_names`` is ``(row names, column names)`` or None (actions numbered).
    """
    n0, n1 = payoffs.shape[1:]
    names = action_names or (tuple(str(i) for i in range(n0)), tuple(str(j) for j in range(n1)))
    a0, a1 = (int(a) for a in np.asarray(s.last_actions))
    ax = fig.add_axes((0.02, 0.02, 0.96, 0.78))
    ax.set_axis_off()
    cells = [[f"{payoffs[0, i, j]:g}, {payoffs[1, i, j]:g}" for j in range(n1)] for i in range(n0)]
    tab = ax.table(cellText=cells, rowLabels=list(names[0]), colLabels=list(names[1]), cellLoc="center",
                   bbox=(0.3, 0.15, 0.68, 0.7))
    tab.auto_set_font_size(False)
    tab.set_fontsize(8)
    if a0 >= 0 and a1 >= 0:
        tab[(a0 + 1, a1)].set_facecolor((1.0, 0.85, 0.3))
    last = "none yet" if a0 < 0 else f"player_0 → {names[0][a0]}, player_1 → {names[1][a1]}"
    ax.set_title(f"{name}  t={int(s.t)}\npayoffs (player_0, player_1)\nlast: {last}", fontsize=9)
