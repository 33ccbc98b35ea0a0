"""Drawing one MPE state with matplotlib (host side; the state's leaves are NumPy arrays).

Entities are circles of their true radius, agents and landmarks in mpe2's colours per scenario,
inside the ``[-1, 1]²`` arena (dashed outline).
"""

from __future__ import annotations

from typing import Any

import numpy as np

Color = tuple[float, float, float]

# mpe2's colours per scenario: (agents by group, landmarks)
_AGENT = {"adversaries": (0.85, 0.35, 0.35), "agents": (0.35, 0.35, 0.85), "speaker": (0.25, 0.25, 0.25),
          "listener": (0.25, 0.25, 0.25)}
_LANDMARK = {"simple_spread": (0.25, 0.25, 0.25), "simple_tag": (0.25, 0.25, 0.25),
             "simple_adversary": (0.15, 0.15, 0.15)}
_SPEAKER_LANDMARKS = ((0.65, 0.15, 0.15), (0.15, 0.65, 0.15), (0.15, 0.15, 0.65))


def entity_colors(name: str, sizes: dict[str, int], num_landmarks: int, goal: int) -> list[Color]:
    """mpe2's colour of every entity (agents by group, then landmarks) in scenario ``name``."""
    colors: list[Color] = []
    for g, n in sizes.items():
        c = _AGENT.get(g, (0.35, 0.35, 0.85))
        if name == "simple_tag" and g == "agents":
            c = (0.35, 0.85, 0.35)
        colors += [c] * n
    L = num_landmarks
    if name == "simple_speaker_listener":
        colors += list(_SPEAKER_LANDMARKS[:L])
        colors[-L - 1] = _SPEAKER_LANDMARKS[goal % 3]  # the listener takes the goal's colour
        return colors
    landmarks = [_LANDMARK.get(name, (0.25, 0.25, 0.25))] * L
    if name == "simple_adversary" and L:
        landmarks[goal % L] = (0.15, 0.65, 0.15)  # the goal
    return colors + landmarks


def draw_mpe(fig: Any, env: Any, s: Any) -> None:
    """Draw the entities of the MPE state ``s`` of scenario ``env`` (an ``MPEEnv``) on ``fig``."""
    from matplotlib.patches import Circle, Rectangle

    ax = fig.add_axes((0.04, 0.04, 0.92, 0.88))
    pos, size = np.asarray(s.pos), env.entities.size
    n_agents = env.entities.num_agents
    colors = entity_colors(env.name, env.sizes, env.entities.num_landmarks, int(s.goal))
    ax.add_patch(Rectangle((-1, -1), 2, 2, fill=False, ec="0.6", lw=0.8, ls="--"))
    for i, (c, p, r) in enumerate(zip(colors, pos, size, strict=True)):
        landmark = i >= n_agents
        ax.add_patch(Circle(tuple(p), float(r), color=c, alpha=0.5 if landmark else 0.9, zorder=1 if landmark else 2))
    lim = max(1.2, float(np.max(np.abs(pos) + size[:, None])) + 0.05)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{env.name}  t={int(s.t)}", fontsize=9)
