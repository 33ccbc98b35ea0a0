"""Host-side viewers: one env state → an RGB frame; frames → an animated GIF.

``render_frame(env, state)`` draws with matplotlib's object API on an Agg canvas (no pyplot,
so no global figure state leaks) at a fixed size (:data:`FIGSIZE` × :data:`DPI`), and returns
``(H, W, 3)`` uint8. ``state`` is one unbatched env state (wrappers are looked through).

* Tag: a scatter of every agent, coloured by type (taggers red with a dark rim, on top; runners
  blue); tagged runners pale blue. Marker size shrinks with the number of agents (legible at 1000).
* tag_grid: the ``{0..L}²`` grid, taggers red and the runner blue in their cells.
* MPE: entities as circles of their true radius (agents and landmarks in mpe2's colours),
  the ``[-1, 1]²`` arena outlined.
* Matrix games: the payoff table as text, the last joint action's cell highlighted.
* LBF, RWARE and poker draw themselves (``draw_frame``; ``phalanx/envs/<family>/viewer.py``): the grid
  with levelled agents and food; shelves, requested shelves, loaded agents and goals; poker as text
  (``env.render_text(state)``) with the cards drawn below.

``render_episode(frames, path)`` writes the frames as a looping GIF with Pillow.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

FIGSIZE = (4.0, 4.0)  # inches
DPI = 100  # → 400 × 400 frames

TAGGER = (0.85, 0.2, 0.2)
RUNNER = (0.2, 0.35, 0.85)
RUNNER_TAGGED = (0.78, 0.83, 0.95)  # a runner tagged out: the runner colour, faded toward white


def _figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _to_array(fig) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def _unwrap(env: Any) -> Any:
    return getattr(env, "unwrapped", env)


def _unwrap_state(state: Any) -> Any:
    while hasattr(state, "env_state"):  # EpisodeStatisticsState
        state = state.env_state
    return state


def render_frame(env: Any, state: Any) -> np.ndarray:
    """``(H, W, 3)`` uint8 picture of one (unbatched) state of ``env``.

    An env may draw itself: a method ``draw_frame(fig, state)`` (matplotlib figure, state as
    NumPy arrays) is used before the built-in viewers.
    """
    from phalanx.envs.matrix.env import MatrixGame
    from phalanx.envs.mpe.base import MPEEnv
    from phalanx.envs.tag.env import Tag
    from phalanx.envs.tag_grid.env import TagGrid
    from phalanx.errors import PhalanxError

    env, state = _unwrap(env), jax_to_numpy(_unwrap_state(state))
    if hasattr(env, "draw_frame"):  # env families outside this module bring their own drawing
        fig = _figure()
        env.draw_frame(fig, state)
        return _to_array(fig)
    for cls, draw in ((Tag, _draw_tag), (TagGrid, _draw_tag_grid), (MPEEnv, _draw_mpe), (MatrixGame, _draw_matrix)):
        if isinstance(env, cls):
            fig = _figure()
            draw(fig, env, state)
            return _to_array(fig)
    raise PhalanxError(f"{getattr(env, 'name', type(env).__name__)}: no viewer for this environment.")


def jax_to_numpy(tree: Any) -> Any:
    """``tree`` with every leaf copied to the host as a NumPy array (same shapes)."""
    import jax

    return jax.tree.map(np.asarray, jax.device_get(tree))


def _title(ax, text: str) -> None:
    ax.set_title(text, fontsize=9)


def _draw_tag(fig, env, s) -> None:
    from matplotlib.patches import Rectangle

    ax = fig.add_axes((0.03, 0.03, 0.94, 0.86))
    L = float(env.default_params.grid_length)
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
    _title(ax, f"tag  t={int(s.t)}:  {int(tagger.sum())} taggers (red)\n"
               f"{int(running.sum())}/{n_runners} runners running (blue), {int(tagged.sum())} tagged (pale)")


def _draw_tag_grid(fig, env, s) -> None:
    from matplotlib.patches import Rectangle

    ax = fig.add_axes((0.04, 0.04, 0.92, 0.88))
    L = int(env.default_params.grid_length)
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
    _title(ax, f"tag_grid  t={int(s.t)}  taggers {len(pos) - 1} (red), runner (blue)")


# mpe2's colours per scenario: (agents by group, landmarks)
_MPE_AGENT = {"adversaries": (0.85, 0.35, 0.35), "agents": (0.35, 0.35, 0.85), "speaker": (0.25, 0.25, 0.25),
              "listener": (0.25, 0.25, 0.25)}
_MPE_LANDMARK = {"simple_spread": (0.25, 0.25, 0.25), "simple_tag": (0.25, 0.25, 0.25),
                 "simple_adversary": (0.15, 0.15, 0.15)}
_SPEAKER_LANDMARKS = ((0.65, 0.15, 0.15), (0.15, 0.65, 0.15), (0.15, 0.15, 0.65))


def _mpe_colors(env, s) -> list[tuple[float, float, float]]:
    colors: list[tuple[float, float, float]] = []
    for g, n in env.sizes.items():
        c = _MPE_AGENT.get(g, (0.35, 0.35, 0.85))
        if env.name == "simple_tag" and g == "agents":
            c = (0.35, 0.85, 0.35)
        colors += [c] * n
    L = env.entities.num_landmarks
    if env.name == "simple_speaker_listener":
        colors += list(_SPEAKER_LANDMARKS[:L])
        colors[-L - 1] = _SPEAKER_LANDMARKS[int(s.goal) % 3]  # the listener takes the goal's colour
        return colors
    landmarks = [_MPE_LANDMARK.get(env.name, (0.25, 0.25, 0.25))] * L
    if env.name == "simple_adversary" and L:
        landmarks[int(s.goal) % L] = (0.15, 0.65, 0.15)  # the goal
    return colors + landmarks


def _draw_mpe(fig, env, s) -> None:
    from matplotlib.patches import Circle, Rectangle

    ax = fig.add_axes((0.04, 0.04, 0.92, 0.88))
    pos, size = np.asarray(s.pos), env.entities.size
    n_agents = env.entities.num_agents
    ax.add_patch(Rectangle((-1, -1), 2, 2, fill=False, ec="0.6", lw=0.8, ls="--"))
    for i, (c, p, r) in enumerate(zip(_mpe_colors(env, s), pos, size, strict=True)):
        landmark = i >= n_agents
        ax.add_patch(Circle(tuple(p), float(r), color=c, alpha=0.5 if landmark else 0.9, zorder=1 if landmark else 2))
    lim = max(1.2, float(np.max(np.abs(pos) + size[:, None])) + 0.05)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    _title(ax, f"{env.name}  t={int(s.t)}")


def _draw_matrix(fig, env, s) -> None:
    table = env.payoffs  # (2, n0, n1)
    n0, n1 = table.shape[1:]
    names = env.action_names or (tuple(str(i) for i in range(n0)), tuple(str(j) for j in range(n1)))
    a0, a1 = (int(a) for a in np.asarray(s.last_actions))
    ax = fig.add_axes((0.02, 0.02, 0.96, 0.78))
    ax.set_axis_off()
    cells = [[f"{table[0, i, j]:g}, {table[1, i, j]:g}" for j in range(n1)] for i in range(n0)]
    tab = ax.table(cellText=cells, rowLabels=list(names[0]), colLabels=list(names[1]), cellLoc="center",
                   bbox=(0.3, 0.15, 0.68, 0.7))
    tab.auto_set_font_size(False)
    tab.set_fontsize(8)
    if a0 >= 0 and a1 >= 0:
        tab[(a0 + 1, a1)].set_facecolor((1.0, 0.85, 0.3))
    last = "none yet" if a0 < 0 else f"player_0 → {names[0][a0]}, player_1 → {names[1][a1]}"
    _title(ax, f"{env.name}  t={int(s.t)}\npayoffs (player_0, player_1)\nlast: {last}")


def render_episode(frames: Sequence[np.ndarray], path: str | Path, fps: float = 10.0) -> Path:
    """Write ``frames`` (each ``(H, W, 3)`` uint8) as a looping animated GIF; return the path."""
    from PIL import Image

    from phalanx.errors import PhalanxError

    if not frames:
        raise PhalanxError("render_episode: no frames to write.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(np.asarray(f, np.uint8)) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=max(int(1000 / fps), 20), loop=0,
                   optimize=False, disposal=1)
    return path


def render_states(env: Any, states: Sequence[Any]) -> list[np.ndarray]:
    """One frame per state."""
    return [render_frame(env, s) for s in states]
