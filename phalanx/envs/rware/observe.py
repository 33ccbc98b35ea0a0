"""What a warehouse agent sees: Jumanji's ``agents_view``, one row per agent (see :mod:`phalanx.envs.rware.env`).

Pure functions of the state and the static layout, so the env's step and reset share them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from phalanx.envs.rware.layout import Layout
from phalanx.envs.rware.types import RwareState


def sensor_offsets(sensor_range: int) -> np.ndarray:
    """``(K, 2)`` int32 ``(d_row, d_col)`` of the ``K = (2r + 1)²`` cells an agent senses, row-major."""
    d = np.arange(-sensor_range, sensor_range + 1)
    return np.stack(np.meshgrid(d, d, indexing="ij"), axis=-1).reshape(-1, 2).astype(np.int32)


def agents_view(state: RwareState, layout: Layout, offsets: np.ndarray, collision_terminates: bool) -> jax.Array:
    """``(N, obs_dim)`` float32 observations of every agent in ``state``.

    Each row: own position, carrying, facing (one-hot), on-highway; then, for each sensed cell but
    the agent's own, another agent there and its facing; then every sensed cell's shelf and whether
    it is requested. With ``collision_terminates`` an agent whose own cell shows another agent (a
    collision) gets Jumanji's overflowing layout (:func:`overflow_obs`).
    """
    H, W, N = layout.height, layout.width, state.agent_pos.shape[0]
    K = offsets.shape[0]
    centre = K // 2
    f32 = jnp.float32
    ids = jnp.arange(N, dtype=jnp.int32)
    pos = state.agent_pos
    cells = pos[:, None, :] + jnp.asarray(offsets)[None]  # (N, K, 2)
    inside = (cells[..., 0] >= 0) & (cells[..., 0] < H) & (cells[..., 1] >= 0) & (cells[..., 1] < W)
    flat = jnp.where(inside, cells[..., 0] * W + cells[..., 1], 0)
    seen_agent = jnp.where(inside, state.agent_grid.reshape(-1)[flat], 0)  # (N, K) id + 1
    seen_shelf = jnp.where(inside, state.shelf_grid.reshape(-1)[flat], 0)

    other = (seen_agent != 0) & (seen_agent != ids[:, None] + 1)
    other_dir = jax.nn.one_hot(state.agent_dir[jnp.maximum(seen_agent - 1, 0)], 4, dtype=f32)
    agent_feat = jnp.concatenate([other[..., None].astype(f32), other_dir * other[..., None]], axis=-1)  # (N,K,5)
    shelf_on = seen_shelf != 0
    shelf_req = shelf_on & state.requested[jnp.maximum(seen_shelf - 1, 0)]
    shelf_feat = jnp.stack([shelf_on, shelf_req], axis=-1).astype(f32)  # (N, K, 2)

    on_highway = jnp.asarray(layout.highways.reshape(-1))[pos[:, 0] * W + pos[:, 1]]
    header = jnp.concatenate([
        pos.astype(f32), state.carrying[:, None].astype(f32),
        jax.nn.one_hot(state.agent_dir, 4, dtype=f32), on_highway[:, None].astype(f32),
    ], axis=-1)  # (N, 8)
    keep = np.arange(K) != centre
    obs = jnp.concatenate(
        [header, agent_feat[:, keep].reshape(N, -1), shelf_feat.reshape(N, -1)], axis=-1
    )
    if collision_terminates:
        obs = jnp.where(
            (seen_agent[:, centre] == ids + 1)[:, None], obs, overflow_obs(header, agent_feat, shelf_feat)
        )
    return obs


def overflow_obs(header: jax.Array, agent_feat: jax.Array, shelf_feat: jax.Array) -> jax.Array:
    """Jumanji's observation of an agent whose own cell shows another agent or none (after a collision).

    Jumanji writes the features one cell at a time, skipping the agent's own cell by its id; when
    that id is missing it writes ``K`` agent cells into ``K - 1`` slots, and the shelf writes run
    past the end, where ``dynamic_update_slice`` clamps them onto the last two features: those
    end up holding the last present shelf among the final three cells.
    """
    N, K = agent_feat.shape[:2]
    shelves = shelf_feat[:, : K - 3].reshape(N, -1)  # cells 0..K-4 land unclamped
    tail = shelf_feat[:, K - 3 :]  # (N, 3, 2) all written at the last two features
    present = tail[..., 0] > 0
    last = 2 - jnp.argmax(present[:, ::-1], axis=1)  # last present of the three
    any_tail = present.any(axis=1)
    last_req = jnp.take_along_axis(tail[..., 1], last[:, None], axis=1)[:, 0]
    shelves = shelves.at[:, -1].set(jnp.where(any_tail, 1.0, shelves[:, -1]))
    final = jnp.where(any_tail, last_req, 0.0)[:, None]
    return jnp.concatenate([header, agent_feat.reshape(N, -1), shelves, final], axis=-1)
