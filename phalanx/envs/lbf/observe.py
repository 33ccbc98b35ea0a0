"""What LBF agents see: Jumanji's vector and grid observations, legal-action masks.

All functions take the state's arrays (one env, agent axis first) and are vectorised over
agents and entities; ``N`` agents, ``F`` food items, grid side ``G``, sight ``fov``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

#: ``(dx, dy)`` of each action (row, column), Jumanji's order:
#: 0 noop, 1 up, 2 down, 3 left, 4 right, 5 load (loading does not move).
MOVES = np.array([[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1], [0, 0]], dtype=np.int32)
NUM_ACTIONS = 6
LOAD = 5


def others_order(num_agents: int) -> np.ndarray:
    """``(N, N)`` agent ids in each agent's observation order: itself, then the others by id."""
    ids = np.arange(num_agents)
    return np.stack([np.concatenate([[i], np.delete(ids, i)]) for i in ids]).astype(np.int32)


def free_moves(
    agent_pos: jax.Array, food_pos: jax.Array, food_eaten: jax.Array, grid_size: int
) -> jax.Array:
    """``(N, 5)`` bool: whether each move 0..4 (noop, up, down, left, right) is possible.

    A move is possible when its target cell is on the grid and holds no other agent and no
    uneaten food (positions before anyone moves, as in Jumanji). Noop is always possible.
    """
    g = grid_size
    target = agent_pos[:, None, :] + jnp.asarray(MOVES[:5])  # (N, 5, 2)
    on_grid = jnp.all((target >= 0) & (target < g), axis=-1)
    cell = target[..., 0] * g + target[..., 1]
    agent_cell = agent_pos[:, 0] * g + agent_pos[:, 1]
    food_cell = jnp.where(food_eaten, -1, food_pos[:, 0] * g + food_pos[:, 1])
    # For moves 1..4 the target differs from the mover's own cell, so "any agent" = "another agent".
    taken = jnp.any(cell[..., None] == agent_cell, axis=-1) | jnp.any(cell[..., None] == food_cell, axis=-1)
    free = on_grid & ~taken
    return free.at[:, 0].set(True)


def food_adjacent(agent_pos: jax.Array, food_pos: jax.Array, food_eaten: jax.Array) -> jax.Array:
    """``(F, N)`` bool: food ``f`` is uneaten and 4-adjacent (Manhattan distance 1) to agent ``i``."""
    dist = jnp.sum(jnp.abs(food_pos[:, None, :] - agent_pos[None, :, :]), axis=-1)
    return (dist == 1) & ~food_eaten[:, None]


def action_mask(free: jax.Array, adjacent: jax.Array) -> jax.Array:
    """``(N, 6)`` bool legal actions: the free moves, and load when some uneaten food is adjacent."""
    return jnp.concatenate([free, jnp.any(adjacent, axis=0)[:, None]], axis=1)


def vector_obs(
    agent_pos: jax.Array,
    agent_level: jax.Array,
    food_pos: jax.Array,
    food_level: jax.Array,
    food_eaten: jax.Array,
    fov: int,
    order: np.ndarray,
) -> jax.Array:
    """``(N, 3 (F + N))`` float32: Jumanji's ``VectorObserver``.

    Per agent: a triple ``(row, col, level)`` for each food (by id), then itself, then the
    other agents (by id). Coordinates are relative to the agent's view window,
    ``p - p_agent + min(fov, p_agent)`` per axis; an entity farther than ``fov`` (Chebyshev)
    or an eaten food reads ``(-1, -1, 0)``.
    """
    f = food_pos.shape[0]
    pos = jnp.concatenate([food_pos, agent_pos])  # (E, 2), E = F + N
    level = jnp.concatenate([food_level, agent_level])
    hidden = jnp.concatenate([food_eaten, jnp.zeros(agent_pos.shape[0], bool)])
    diff = pos[None, :, :] - agent_pos[:, None, :]  # (N, E, 2)
    visible = jnp.all(jnp.abs(diff) <= fov, axis=-1) & ~hidden
    rel = diff + jnp.minimum(fov, agent_pos)[:, None, :]
    seen = jnp.concatenate([rel, jnp.broadcast_to(level[None, :, None], (*rel.shape[:2], 1))], axis=-1)
    triples = jnp.where(visible[..., None], seen, jnp.array([-1, -1, 0], jnp.int32))  # (N, E, 3)
    agents = jnp.take_along_axis(triples[:, f:], jnp.asarray(order)[:, :, None], axis=1)
    return jnp.concatenate([triples[:, :f], agents], axis=1).reshape(agent_pos.shape[0], -1).astype(jnp.float32)


def grid_obs(
    agent_pos: jax.Array,
    agent_level: jax.Array,
    food_pos: jax.Array,
    food_level: jax.Array,
    food_eaten: jax.Array,
    fov: int,
    grid_size: int,
) -> jax.Array:
    """``(N, 3, V, V)`` float32, ``V = 2 fov + 1``: Jumanji's ``GridObserver``.

    The window centred on the agent (row offsets first): layer 0 the level of the agent in
    each cell (the observer included), layer 1 the level of uneaten food, layer 2 whether the
    cell is accessible (on the grid, no agent, no uneaten food).
    """
    g = grid_size
    offsets = np.arange(-fov, fov + 1)
    wr = agent_pos[:, 0, None, None] + offsets[None, :, None]  # (N, V, 1)
    wc = agent_pos[:, 1, None, None] + offsets[None, None, :]  # (N, 1, V)
    on_grid = (wr >= 0) & (wr < g) & (wc >= 0) & (wc < g)  # (N, V, V)
    cell = jnp.where(on_grid, wr * g + wc, -1)[..., None]  # (N, V, V, 1)
    agent_cell = agent_pos[:, 0] * g + agent_pos[:, 1]
    food_cell = jnp.where(food_eaten, -2, food_pos[:, 0] * g + food_pos[:, 1])
    agents = jnp.sum(jnp.where(cell == agent_cell, agent_level, 0), axis=-1)
    food = jnp.sum(jnp.where(cell == food_cell, food_level, 0), axis=-1)
    access = on_grid & (agents + food == 0)
    return jnp.stack([agents, food, access.astype(jnp.int32)], axis=1).astype(jnp.float32)


def full_state(
    agent_pos: jax.Array,
    agent_level: jax.Array,
    food_pos: jax.Array,
    food_level: jax.Array,
    food_eaten: jax.Array,
    step_count: jax.Array,
    time_limit: jax.Array | int,
) -> jax.Array:
    """``(3 (N + F) + 1,)`` float32: every agent's ``(row, col, level)``, every food's (eaten
    ones ``(-1, -1, 0)``), absolute coordinates, then ``step_count / time_limit``."""
    agents = jnp.concatenate([agent_pos, agent_level[:, None]], axis=1)
    food = jnp.concatenate([food_pos, food_level[:, None]], axis=1)
    food = jnp.where(food_eaten[:, None], jnp.array([-1, -1, 0], jnp.int32), food)
    t = step_count.astype(jnp.float32) / jnp.asarray(time_limit, jnp.float32)
    return jnp.concatenate([agents.reshape(-1).astype(jnp.float32), food.reshape(-1).astype(jnp.float32), t[None]])


__all__ = [
    "LOAD",
    "MOVES",
    "NUM_ACTIONS",
    "action_mask",
    "food_adjacent",
    "free_moves",
    "full_state",
    "grid_obs",
    "others_order",
    "vector_obs",
]
