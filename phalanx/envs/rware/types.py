"""The warehouse's state and numeric settings (see :mod:`phalanx.envs.rware.env` for the rules)."""

from __future__ import annotations

import jax
from flax import struct


@struct.dataclass
class RwareParams:
    """Numeric settings that may vary per env (``vmap``-able).

    Attributes:
        time_limit: ``()`` int, steps after which the episode is truncated.
    """

    time_limit: int = 500


@struct.dataclass
class RwareState:
    """One warehouse. ``N`` agents, ``S`` shelves, an ``H × W`` floor; cells are ``(row, col)``."""

    agent_pos: jax.Array  # (N, 2) int32 cell of each agent
    agent_dir: jax.Array  # (N,) int32 0 up, 1 right, 2 down, 3 left
    carrying: jax.Array  # (N,) bool the agent carries the shelf in its cell
    agent_grid: jax.Array  # (H, W) int32 agent id + 1 in each cell, 0 for none
    shelf_grid: jax.Array  # (H, W) int32 shelf id + 1 in each cell, 0 for none
    requested: jax.Array  # (S,) bool shelves in the request queue
    t: jax.Array  # () int32 steps taken
    key: jax.Array  # PRNG key for new requests (Jumanji's state key)
