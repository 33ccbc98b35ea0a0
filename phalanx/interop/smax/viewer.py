"""Drawing one SMAX battle state with matplotlib (host side; the state's leaves are NumPy arrays).

Allies blue, enemies red; the marker gives the unit type (marine ●, marauder ■, stalker ▲,
zealot ◆, zergling ▼, hydralisk ✚), its size the unit's radius. A bar over each living unit shows
its health (green → red as it falls); a thin line joins each unit to the target of the attack it
chose on the last step, when the target was alive and in range. Dead units are faint crosses.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from phalanx.interop.smax.scenarios import UNIT_TYPES

TEAM_COLOURS = ((0.2, 0.35, 0.85), (0.85, 0.2, 0.2))  # allies, enemies
MARKERS = ("o", "s", "^", "D", "v", "P")  # by unit type index, as UNIT_TYPES
MOVES = 5  # SMAX's movement actions (4 directions and stop); an action from 5 on is an attack


def attack_targets(attacks: np.ndarray, num_allies: int) -> np.ndarray:
    """The unit each unit attacked (``-1``: none), from SMAX's last attack actions.

    An ally's action ``5 + j`` targets enemy ``j`` (unit ``num_allies + j``); an enemy's targets
    ally ``num_allies - 1 - j`` (the enemy team sees the allies in reverse order), as JaxMARL's
    ``_world_step`` reads them.
    """
    attacks = np.asarray(attacks).astype(int)
    index = np.arange(attacks.shape[0])
    j = attacks - MOVES
    target = np.where(index < num_allies, num_allies + j, num_allies - 1 - j)
    return np.where(attacks >= MOVES, target, -1)


def draw_smax(fig: Any, env: Any, s: Any, title: str = "smax") -> None:
    """Draw the SMAX state ``s`` of the JaxMARL env ``env`` (for its unit stats and map size) on ``fig``."""
    from matplotlib.patches import Rectangle

    ax = fig.add_axes((0.03, 0.03, 0.94, 0.86))
    width, height = float(env.map_width), float(env.map_height)
    num_allies = int(env.num_allies)
    pos, alive = np.asarray(s.unit_positions), np.asarray(s.unit_alive).astype(bool)
    types = np.asarray(s.unit_types).astype(int)
    radius = np.asarray(env.unit_type_radiuses)[types]
    health = np.asarray(s.unit_health) / np.asarray(env.unit_type_health)[types]
    team = (np.arange(len(types)) >= num_allies).astype(int)

    targets = attack_targets(s.prev_attack_actions, num_allies)
    ranges = np.asarray(env.unit_type_attack_ranges)[types]
    for i, t in enumerate(targets):
        if t < 0 or not alive[i] or t >= len(types):
            continue
        if np.linalg.norm(pos[i] - pos[t]) < ranges[i] + 1e-6:
            ax.plot([pos[i, 0], pos[t, 0]], [pos[i, 1], pos[t, 1]], color=TEAM_COLOURS[team[i]], lw=0.7,
                    alpha=0.6, zorder=1)
    scale = 72.0 * fig.get_figwidth() * 0.94 / width  # points per map unit
    for i in range(len(types)):
        if not alive[i]:
            ax.scatter(*pos[i], marker="x", s=20, c=[TEAM_COLOURS[team[i]]], alpha=0.25, zorder=2)
            continue
        ax.scatter(*pos[i], marker=MARKERS[types[i] % len(MARKERS)], s=(2 * radius[i] * scale) ** 2,
                   c=[TEAM_COLOURS[team[i]]], edgecolors="0.15", linewidths=0.6, zorder=3)
        bar_w, bar_y = 2.0 * max(radius[i], 0.5), pos[i, 1] + radius[i] + 0.3
        ax.add_patch(Rectangle((pos[i, 0] - bar_w / 2, bar_y), bar_w, 0.25, color="0.85", zorder=4))
        frac = float(np.clip(health[i], 0.0, 1.0))
        ax.add_patch(Rectangle((pos[i, 0] - bar_w / 2, bar_y), bar_w * frac, 0.25,
                               color=(1.0 - frac, 0.75 * frac + 0.1, 0.1), zorder=5))
    ax.add_patch(Rectangle((0, 0), width, height, fill=False, ec="0.5", lw=0.8, zorder=0))
    ax.set_xlim(-0.5, width + 0.5)
    ax.set_ylim(-0.5, height + 0.5)
    ax.set_aspect("equal")
    ax.set_axis_off()
    present = sorted(set(types.tolist()))
    legend = ", ".join(f"{UNIT_TYPES[t]} {MARKERS[t]}" for t in present if t < len(UNIT_TYPES))
    ax.set_title(f"{title}  step {int(s.step)}:  allies (blue) {int(alive[:num_allies].sum())}/{num_allies}, "
                 f"enemies (red) {int(alive[num_allies:].sum())}/{len(types) - num_allies}\n{legend}", fontsize=9)
