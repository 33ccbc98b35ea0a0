"""Host-side RWARE states: the starting shelf grid and states built from explicit values (tests, parity)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from phalanx.envs.rware.layout import Layout
from phalanx.envs.rware.types import RwareState
from phalanx.errors import PhalanxError


def initial_shelf_grid(lay: Layout) -> np.ndarray:
    """``(H, W)`` grid holding shelf id + 1 in each shelf's starting cell, 0 elsewhere."""
    grid = np.zeros((lay.height, lay.width), np.int32)
    grid[lay.shelf_cells[:, 0], lay.shelf_cells[:, 1]] = np.arange(1, lay.num_shelves + 1)
    return grid


def make_state(
    lay: Layout,
    num_agents: int,
    request_queue_size: int,
    agent_pos,
    agent_dir,
    carrying=None,
    requested=None,
    shelf_grid=None,
    t: int = 0,
    key: jax.Array | None = None,
) -> RwareState:
    """A state from explicit values, for hand-built situations and tests (host side, NumPy inputs).

    Args:
        lay: the floor layout.
        num_agents: ``N``.
        request_queue_size: how many shelves are requested at once.
        agent_pos: ``(N, 2)`` distinct cells ``(row, col)``.
        agent_dir: ``(N,)`` directions (0 up, 1 right, 2 down, 3 left).
        carrying: ``(N,)`` bool; a carrying agent must stand on a shelf. Default: none.
        requested: shelf ids in the request queue (``request_queue_size`` of them). Default: the
            first ``request_queue_size`` shelves.
        shelf_grid: ``(H, W)`` shelf id + 1 per cell. Default: every shelf in its starting cell.
        t: steps taken.
        key: the request key. Default: ``PRNGKey(0)``.
    """
    N = num_agents
    pos = np.asarray(agent_pos, np.int32).reshape(N, 2)
    if len({tuple(p) for p in pos}) != N:
        raise PhalanxError(f"rware.make_state: agent_pos has two agents in one cell: {pos.tolist()}.")
    agent_grid = np.zeros((lay.height, lay.width), np.int32)
    agent_grid[pos[:, 0], pos[:, 1]] = np.arange(1, N + 1)
    shelves = initial_shelf_grid(lay) if shelf_grid is None else np.asarray(shelf_grid, np.int32)
    carrying = np.zeros(N, bool) if carrying is None else np.asarray(carrying, bool)
    if np.any(carrying & (shelves[pos[:, 0], pos[:, 1]] == 0)):
        raise PhalanxError("rware.make_state: a carrying agent must stand on a shelf.")
    queue = np.arange(request_queue_size) if requested is None else np.asarray(requested)
    if len(set(queue.tolist())) != request_queue_size:
        raise PhalanxError(f"rware.make_state: requested needs {request_queue_size} distinct shelf ids.")
    req = np.zeros(lay.num_shelves, bool)
    req[queue] = True
    return RwareState(
        agent_pos=jnp.asarray(pos),
        agent_dir=jnp.asarray(agent_dir, jnp.int32).reshape(N),
        carrying=jnp.asarray(carrying),
        agent_grid=jnp.asarray(agent_grid),
        shelf_grid=jnp.asarray(shelves),
        requested=jnp.asarray(req),
        t=jnp.int32(t),
        key=jax.random.PRNGKey(0) if key is None else key,
    )
