"""Host-side viewers: one env state → an RGB frame; frames → an animated GIF.

Every env draws itself: ``env.draw_frame(fig, state)`` (the env contract,
:meth:`phalanx.envs.Environment.draw_frame`), written in the env's own ``viewer.py`` beside its
``env.py``. This module only supplies the figure and turns it into pixels:

``render_frame(env, state)`` draws with matplotlib's object API on an Agg canvas (no pyplot,
so no global figure state leaks) at a fixed size (:data:`FIGSIZE` × :data:`DPI`), and returns
``(H, W, 3)`` uint8. ``state`` is one unbatched env state (wrappers are looked through).

``render_episode(frames, path)`` writes the frames as a looping animation with Pillow: GIF or WebP, by the
path's extension (:data:`phalanx.out_paths.ANIMATION_SUFFIXES`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

FIGSIZE = (4.0, 4.0)  # inches
DPI = 100  # → 400 × 400 frames


def _figure() -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _to_array(fig: Any) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def _unwrap_state(state: Any) -> Any:
    while hasattr(state, "env_state"):  # EpisodeStatisticsState
        state = state.env_state
    return state


def render_frame(env: Any, state: Any) -> np.ndarray:
    """``(H, W, 3)`` uint8 picture of one (unbatched) state of ``env``, drawn by ``env.draw_frame``.

    Raises:
        PhalanxError: if the env has no viewer.
    """
    from phalanx.errors import PhalanxError

    env = getattr(env, "unwrapped", env)
    draw = getattr(env, "draw_frame", None)
    if draw is None:
        raise PhalanxError(f"{getattr(env, 'name', type(env).__name__)}: no viewer for this environment "
                           "(an env draws itself with draw_frame(fig, state)).")
    fig = _figure()
    draw(fig, jax_to_numpy(_unwrap_state(state)))
    return _to_array(fig)


def jax_to_numpy(tree: Any) -> Any:
    """``tree`` with every leaf copied to the host as a NumPy array (same shapes)."""
    import jax

    return jax.tree.map(np.asarray, jax.device_get(tree))


def render_episode(frames: Sequence[np.ndarray], path: str | Path, fps: float = 10.0) -> Path:
    """Write ``frames`` (each ``(H, W, 3)`` uint8) as a looping animation (GIF or WebP, by ``path``'s
    extension); return the path."""
    from PIL import Image

    from phalanx.errors import PhalanxError
    from phalanx.out_paths import check_animation_path

    if not frames:
        raise PhalanxError("render_episode: no frames to write.")
    path = check_animation_path(path, "path")
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(np.asarray(f, np.uint8)) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=max(int(1000 / fps), 20), loop=0,
                   optimize=False, disposal=1)
    return path


def render_states(env: Any, states: Sequence[Any]) -> list[np.ndarray]:
    """One frame per state."""
    return [render_frame(env, s) for s in states]
