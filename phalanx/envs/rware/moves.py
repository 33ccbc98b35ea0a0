"""Moving agents on the grid: Jumanji's sequential writes and the original RWARE's conflict resolution.

Cells are flat indices ``row * W + col``; grids are flat ``(H * W,)`` int32 arrays holding
``id + 1`` of the agent (or shelf) in each cell, 0 for none. Everything here is vectorised over
agents (pairwise ``(N, N)`` comparisons and pointer doubling), with no loop over agents.

**Jumanji** moves agents one after another in index order; each forward mover clears its old
cell and writes its id into its new cell of the agent grid, overwriting whatever was there.
:func:`apply_in_order` gives the grid those ordered writes leave (the last write to a cell
wins), and :func:`value_before` what a cell held when a given agent's turn came.

**The original RWARE** (semitable/robotic-warehouse) instead decides which moves succeed all
at once, from the movement graph (:func:`resolve_moves`).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp


def _last_writes(cells: jax.Array, active: jax.Array) -> jax.Array:
    """``(M,)`` bool: write ``m`` is active and no later active write targets the same cell."""
    m = cells.shape[0]
    later = jnp.arange(m)[None, :] > jnp.arange(m)[:, None]  # [w, w']: w' comes after w
    overwritten = (later & active[None, :] & (cells[None, :] == cells[:, None])).any(axis=1)
    return active & ~overwritten


def apply_in_order(grid: jax.Array, cells: jax.Array, values: jax.Array, active: jax.Array) -> jax.Array:
    """The flat ``grid`` after the active writes ``cells[m] <- values[m]``, applied in order ``m = 0, 1, …``.

    Args:
        grid: ``(C,)`` int32.
        cells, values, active: ``(M,)`` target cell, value and whether write ``m`` happens.

    Only the last write to each cell survives, so one scatter with distinct indices applies them all.
    """
    win = _last_writes(cells, active)
    return grid.at[jnp.where(win, cells, grid.shape[0])].set(values, mode="drop")


def value_before(
    grid: jax.Array, cells: jax.Array, values: jax.Array, active: jax.Array, query: jax.Array, before: jax.Array
) -> jax.Array:
    """What cell ``query[q]`` holds once the writes ``m < before[q]`` are applied, ``(Q,)`` int32.

    Args:
        grid: ``(C,)`` int32 values before any write.
        cells, values, active: ``(M,)`` the ordered writes, as :func:`apply_in_order`.
        query: ``(Q,)`` flat cells to read.
        before: ``(Q,)`` int32 number of leading writes that have happened at each read.
    """
    m = cells.shape[0]
    hits = active[None, :] & (cells[None, :] == query[:, None]) & (jnp.arange(m)[None, :] < before[:, None])
    last = jnp.max(jnp.where(hits, jnp.arange(m)[None, :], -1), axis=1)  # (Q,) index of the last hit, -1 if none
    return jnp.where(last >= 0, values[jnp.maximum(last, 0)], grid[query])


def jumanji_writes(pos: jax.Array, new: jax.Array, values: jax.Array, active: jax.Array):
    """Jumanji's write sequence for movers: agent ``i`` clears ``pos[i]`` then writes ``values[i]`` at ``new[i]``.

    Returns ``(cells, values, active)`` of length ``2N``, write ``2i`` being agent ``i``'s clear
    and ``2i + 1`` its write, so agent ``i``'s turn starts after the first ``2i`` writes.
    """
    n = pos.shape[0]
    cells = jnp.stack([pos, new], axis=1).reshape(2 * n)
    vals = jnp.stack([jnp.zeros_like(values), values], axis=1).reshape(2 * n)
    return cells, vals, jnp.repeat(active, 2)


def resolve_moves(agent_grid: jax.Array, pos: jax.Array, target: jax.Array, moving: jax.Array) -> jax.Array:
    """Which agents keep their cell or succeed in moving, by the original RWARE's movement graph.

    Every agent is an edge from its cell to its target cell (a self-loop when it does not move).
    Each weakly connected component of this graph has at most one cycle, and (as in RWARE's
    ``Warehouse.step``):

    * a component with a cycle commits only the agents on the cycle: a self-loop is an agent that
      stays, so agents queueing behind it stay too; a cycle of 3 or more agents rotates; a cycle of
      2 (a head-on swap) commits nobody, so neither agent of the swap nor anyone behind it moves;
    * a component without a cycle is a tree of agents queueing into one free cell; the agents on
      its longest path (the longest queue, followed from the free cell back) move, the others stay.
      Where queues of equal length meet, RWARE leaves the choice to networkx's node iteration order
      (in effect the hash order of cell tuples); here the lowest agent index wins.

    Args:
        agent_grid: ``(C,)`` int32 flat agent grid (``id + 1`` per occupied cell) before the move.
        pos: ``(N,)`` int32 flat cell of each agent (distinct).
        target: ``(N,)`` int32 flat cell each agent wants to enter.
        moving: ``(N,)`` bool, the agent wants to move (``target != pos``).

    Returns:
        ``(N,)`` bool, committed: stationary agents always; movers whose move succeeds.
    """
    n = pos.shape[0]
    sink = n  # one extra node standing for every free target cell
    ids = jnp.arange(n)
    occupant = agent_grid[target] - 1  # -1 for a free cell
    nxt = jnp.where(moving, jnp.where(occupant >= 0, occupant, sink), ids)
    nxt = jnp.concatenate([nxt, jnp.array([sink])])  # (N + 1,) successor of each node
    rounds = max(1, math.ceil(math.log2(n + 1)))  # 2**rounds >= N + 1 > longest path

    # Pointer doubling: jump 2**k steps along the graph while summing agents passed.
    jump, depth = nxt, jnp.concatenate([jnp.ones(n, jnp.int32), jnp.zeros(1, jnp.int32)])
    jumps = []
    for _ in range(rounds):
        jumps.append(jump)
        depth = depth + depth[jump]
        jump = jump[jump]
    end = jump[:n]  # a node on the component's cycle, or the sink

    # Cycle nodes are exactly the image of a long enough jump; classify each component's cycle.
    on_cycle = jnp.zeros(n + 1, jnp.bool_).at[end].set(True)[:n]
    self_loop = nxt[end] == end
    swap = (nxt[nxt[end]] == end) & ~self_loop
    commit_cycle = on_cycle & ~swap

    # Trees: the longest queue behind each agent. deepest[v] = max depth of any agent queued behind v
    # (depth = agents from there to the free cell), gathered up the tree with the same jumps.
    deepest = depth
    for jump_k in jumps:
        deepest = deepest.at[jump_k].max(deepest)
    deepest = deepest[:n]
    same_target = moving[:, None] & moving[None, :] & (target[:, None] == target[None, :])
    beaten = same_target & (
        (deepest[None, :] > deepest[:, None]) | ((deepest[None, :] == deepest[:, None]) & (ids[None, :] < ids[:, None]))
    )
    winner = jnp.concatenate([~beaten.any(axis=1), jnp.array([True])])
    # On the longest path iff every agent from here to the free cell won its contest.
    for jump_k in jumps:
        winner = winner & winner[jump_k]
    commit_tree = winner[:n]

    return jnp.where(end == sink, commit_tree, commit_cycle)
