"""Random initial LBF states, drawn from the distribution of Jumanji's ``RandomGenerator``.

Jumanji (``jumanji/environments/routing/lbf/generator.py``) builds a start as follows, and so
do we (same distribution; not the same random stream, which needs no copying: the parity
tests copy Jumanji's initial states instead):

1. **Food**, one item after another: a cell drawn uniformly among the allowed ones, where
   allowed means off the grid's edge and not the cell of, nor 4-adjacent to, an earlier food.
2. **Agents**: ``num_agents`` distinct cells drawn uniformly among those whose *row* is not
   the row **or the column** coordinate of any food. (Jumanji writes
   ``mask.at[food_positions].set(False)`` with ``(F, 2)`` positions, which indexes whole rows
   by both coordinates; we keep that exclusion so the start distribution is Jumanji's.)
3. **Levels**: each agent's uniform in ``[1, max_agent_level]``; every food's equal to the
   summed levels of the (up to) three lowest-level agents with ``force_coop``, otherwise
   uniform in ``[1, that sum]``.

Speed: with :class:`~phalanx.envs.AutoReset` a reset is computed on every step, so one
``random.bits`` call supplies every number. Sequential uniform choice among allowed cells is
the same as ranking all cells once by random priority and taking, ``num_food`` times, the
highest-priority cell still allowed (the cells passed over stay disallowed), so step 1 is
``num_food`` masked ``argmax`` calls over one priority vector; step 2 is one ``top_k``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def _unit_float(bits: jax.Array) -> jax.Array:
    """uint32 → float32 uniform in ``[0, 1)`` (24 random bits, exact in float32)."""
    return (bits >> 8).astype(jnp.float32) * jnp.float32(2.0**-24)


def _uniform_level(bits: jax.Array, high: jax.Array) -> jax.Array:
    """Uniform integers in ``[1, high]`` from uint32 ``bits`` (``high`` may be traced)."""
    high = jnp.asarray(high, jnp.int32)
    level = 1 + jnp.floor(_unit_float(bits) * high.astype(jnp.float32)).astype(jnp.int32)
    return jnp.minimum(level, high)


def sample_start(
    key: jax.Array,
    grid_size: int,
    num_agents: int,
    num_food: int,
    max_agent_level: jax.Array | int,
    force_coop: jax.Array | bool,
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Draw one initial configuration.

    Args:
        key: PRNG key.
        grid_size, num_agents, num_food: static sizes ``G``, ``N``, ``F``.
        max_agent_level: highest agent level (may be traced).
        force_coop: every food at the cooperative level (may be traced).

    Returns:
        ``agent_pos`` ``(N, 2)`` int32 (row, col), ``agent_level`` ``(N,)`` int32,
        ``food_pos`` ``(F, 2)`` int32, ``food_level`` ``(F,)`` int32.
    """
    g, n, f = grid_size, num_agents, num_food
    cells = g * g
    bits = jax.random.bits(key, (2 * cells + n + f,), jnp.uint32)
    # `| 1` keeps every allowed cell's priority above the 0 given to disallowed ones.
    food_prio, agent_prio = bits[:cells] | 1, bits[cells : 2 * cells] | 1
    level_bits, food_level_bits = bits[2 * cells : 2 * cells + n], bits[2 * cells + n :]

    rows, cols = np.divmod(np.arange(cells), g)
    interior = (rows > 0) & (rows < g - 1) & (cols > 0) & (cols < g - 1)

    # 1. Food: F picks, each the best-ranked allowed cell; a pick bars itself and its 4 neighbours.
    allowed = jnp.asarray(interior)
    picks = []
    for _ in range(f):  # F is static and small: unrolled at trace time
        idx = jnp.argmax(jnp.where(allowed, food_prio, 0)).astype(jnp.int32)
        fr, fc = idx // g, idx % g
        allowed &= (jnp.abs(rows - fr) + jnp.abs(cols - fc)) > 1
        picks.append(jnp.stack([fr, fc]))
    food_pos = jnp.stack(picks)  # (F, 2)

    # 2. Agents: distinct cells in rows that are no food coordinate (Jumanji's row mask).
    barred_rows = jnp.any(jnp.arange(g)[:, None] == food_pos.reshape(1, -1), axis=1)  # (G,)
    agent_ok = ~barred_rows[rows]
    _, agent_idx = jax.lax.top_k(jnp.where(agent_ok, agent_prio, 0), n)
    agent_idx = agent_idx.astype(jnp.int32)
    agent_pos = jnp.stack([agent_idx // g, agent_idx % g], axis=1)

    # 3. Levels.
    agent_level = _uniform_level(level_bits, max_agent_level)
    coop_level = jnp.sum(jnp.sort(agent_level)[:3])
    food_level = jnp.where(force_coop, coop_level, _uniform_level(food_level_bits, coop_level))
    return agent_pos, agent_level, food_pos, food_level.astype(jnp.int32)
