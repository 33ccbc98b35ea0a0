"""Drawing one Tag state with matplotlib (host side; the state's leaves are NumPy arrays).

A scatter of every agent, coloured by type: taggers red with a dark rim, on top; runners blue;
tagged runners pale blue. Marker size shrinks with the number of agents (legible at 1000).
"""

from __future__ import annotations

from typing import Any

import numpy as np

TAGGER = (0.85, 0.2, 0.2)
RUNNER = (0.2, 0.35, 0.85)
RUNNER_TAGGED = (0.78, 0.83, 0.95)  # a runner tagged out: the runner colour, faded toward white


def draw_tag(fig: Any, grid_length: float, s: Any) -> None:
    """Draw the ``[0, grid_length]²`` arena and every agent of the Tag state ``s`` on ``fig``."""
    from matplotlib.patches import Rectangle

    ax = fig.add_axes((0.03, 0.03, 0.94, 0.86))
    L = float(grid_length)
    n = s.pos.shape[0]
    # Marker area in points² shrinks with the crowd: 6 at 1000 agents (~4 px across at 100 dpi), 60 at ≤ 100.
    size = float(np.clip(6000.0 / n, 6.0, 60.0))
    tagger = s.agent_type == 1
    tagged = ~s.alive & ~tagger
    # Tagged runners: an opaque pale blue, drawn first (faded but still visible where they stopped).
    ax.scatter(s.pos[tagged, 0], s.pos[tagged, 1], s=size, c=[RUNNER_TAGGED], linewidths=0, zorder=1)
    running = s.alive & ~tagger
    ax.scatter(s.pos[running, 0], s.pos[running, 1], s=size, c=[RUNNER], linewidths=0, zorder=2)
    # Taggers on top, larger, with a dark rim so they stand out inside a crowd of runners.
    ax.scatter(s.pos[tagger, 0], s.pos[tagger, 1], s=size * 2.5, c=[TAGGER], edgecolors="0.15",
               linewidths=0.4 if n > 200 else 0.8, zorder=3)
    ax.add_patch(Rectangle((0, 0), L, L, fill=False, ec="0.5", lw=0.8, zorder=0))
    pad = 0.02 * L  # agents on the edge stay whole
    ax.set_xlim(-pad, L + pad)
    ax.set_ylim(-pad, L + pad)
    ax.set_aspect("equal")
    ax.set_axis_off()
    n_runners = int((~tagger).sum())
    ax.set_title(f"tag  t={int(s.t)}:  {int(tagger.sum())} taggers (red)\n"
                 f"{int(running.sum())}/{n_runners} runners running (blue), {int(tagged.sum())} tagged (pale)",
                 fontsize=9)
