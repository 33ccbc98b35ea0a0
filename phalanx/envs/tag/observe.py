"""Tag observations: relative features of the other agents (all, or the k nearest), own state, ``t/T``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from phalanx.envs.tag.types import NUM_FEATURES, TagParams, TagState


def features(state: TagState, params: TagParams) -> jax.Array:
    """``(N, 5)`` normalised x, y, speed, acceleration, direction (WarpDrive's order)."""
    f32 = jnp.float32
    diag = f32(params.grid_length) * f32(np.sqrt(2))
    vmax = f32(params.max_speed) + f32(1e-10)
    return jnp.stack(
        [state.pos[:, 0] / diag, state.pos[:, 1] / diag, state.speed / vmax,
         state.acceleration / vmax, state.direction / f32(2 * np.pi)], axis=-1,
    )


def to_own_frame(obs: jax.Array, direction: jax.Array, relative_dim: int) -> jax.Array:
    """Rotate the ``Δx`` and ``Δy`` blocks of ``obs`` ``(A, D)`` by minus each observer's heading ``(A,)``."""
    k = (relative_dim - 1) // NUM_FEATURES  # observed agents; rows are feature-major
    dx, dy = obs[:, :k], obs[:, k : 2 * k]
    c, s = jnp.cos(direction)[:, None], jnp.sin(direction)[:, None]
    return jnp.concatenate([c * dx + s * dy, c * dy - s * dx, obs[:, 2 * k :]], -1)


def self_features(state: TagState, params: TagParams) -> jax.Array:
    """``(N, 6)`` each agent's own absolute state (zeros once out of the game)."""
    f32 = jnp.float32
    vmax = f32(params.max_speed) + f32(1e-10)
    length = f32(params.grid_length)
    own = jnp.stack(
        [state.pos[:, 0] / length, state.pos[:, 1] / length, state.speed / vmax, state.acceleration / vmax,
         jnp.cos(state.direction), jnp.sin(state.direction)], axis=-1,
    )
    return own * state.alive[:, None].astype(f32)


def full_observations(observers, f, types, alive, time, num_agents: int, relative_dim: int) -> jax.Array:
    """All other agents, as one fused gather: entry ``k`` of observer ``i``'s row is
    feature ``k // (N-1)`` of the ``k % (N-1)``-th other agent (skipping ``i``).

    Index arithmetic runs on ``iota`` inside the fusion, so the O(N²) observation is
    written once, with no O(N²) index tables or intermediate copies.
    """
    n = num_agents
    ext = jnp.concatenate([f, types[:, None], alive[:, None]], axis=1)  # (N, 7)
    k = jnp.arange(relative_dim)[None, :]  # (1, D)
    i = observers[:, None]  # (A, 1)
    feat = jnp.minimum(k // (n - 1), NUM_FEATURES - 1)
    other = k % (n - 1)
    other = other + (other >= i)  # skip the observer itself
    is_delta = feat < 5  # the kinematic features are relative; type and alive are not
    value = ext[other, feat] - jnp.where(is_delta, ext[i, feat], 0.0)
    seen = alive[i]  # (A, 1): an observer out of the game sees zeros
    value = value * jnp.where(is_delta, seen, 1.0)
    return jnp.where(k == relative_dim - 1, time * seen, value)


def nearest_observations(observers, f, pos, types, alive_b, time, k: int, chunk_size: int) -> jax.Array:
    """k nearest alive others per observer, computed a chunk of observers at a time."""
    n = len(pos)
    alive = alive_b.astype(jnp.float32)

    def one(i):
        d = jnp.sqrt(jnp.sum((pos - pos[i]) ** 2, axis=-1))  # (N,)
        d = jnp.where((jnp.arange(n) == i) | ~alive_b, jnp.inf, d)
        neg, idx = jax.lax.top_k(-d, k)  # ties: lower id first, as heapq.nsmallest
        valid = jnp.isfinite(neg).astype(jnp.float32) * alive[i]
        delta = (f[idx] - f[i]) * valid[:, None]  # (k, 5)
        rows = jnp.concatenate([delta.T, (types[idx] * valid)[None], (alive[idx] * valid)[None]], 0)
        return jnp.concatenate([rows.reshape(-1), (time * alive[i])[None]])

    return jax.lax.map(one, observers, batch_size=min(len(observers), chunk_size))
