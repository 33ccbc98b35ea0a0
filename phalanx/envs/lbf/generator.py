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

Speed: with :class:`~phalanx.envs.AutoReset` a reset is computed on every step (for every
env, whether it ended or not), and drawing the ``2 G² + N + F`` random words with
``jax.random.bits`` (threefry) took about 60% of it on CPU. So the reset key only *seeds*
them: its two key words go through a counter-based integer hash (:func:`hash_words`, two
rounds of the ``lowbias32`` mixer), several times cheaper. The key itself comes from
``jax.random`` (split per env by the wrappers), so every env still gets its own stream.
Sequential uniform choice among allowed cells is
the same as ranking all cells once by random priority and taking, ``num_food`` times, the
highest-priority cell still allowed (the cells passed over stay disallowed), so step 1 is
``num_food`` masked ``argmax`` calls over one priority vector; step 2 is ``num_agents`` more
(or one ``top_k`` for more than 8 agents) over a second one.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def _mix(x: jax.Array) -> jax.Array:
    """``lowbias32`` (Wellons' hash prospector): a bijective uint32 mixer with low avalanche bias."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


def hash_words(key: jax.Array, num: int) -> jax.Array:
    """``(num,)`` uint32 pseudo-random words seeded by ``key``'s two words (counter-based)."""
    data = jax.random.key_data(key).reshape(-1)
    counter = jnp.arange(num, dtype=jnp.uint32) * jnp.uint32(0x9E3779B9)
    return _mix(_mix(counter ^ data[0]) ^ data[1])


def _unit_float(bits: jax.Array) -> jax.Array:
    """uint32 → float32 uniform in ``[0, 1)`` (24 random bits, exact in float32)."""
    return (bits >> 8).astype(jnp.float32) * jnp.float32(2.0**-24)


def _uniform_level(bits: jax.Array, high: jax.Array) -> jax.Array:
    """Uniform integers in ``[1, high]`` from uint32 ``bits`` (``high`` may be traced)."""
    high = jnp.asarray(high, jnp.int32)
    level = 1 + jnp.floor(_unit_float(bits) * high.astype(jnp.float32)).astype(jnp.int32)
    return jnp.minimum(level, high)


def _first_max(x: jax.Array) -> jax.Array:
    """``argmax`` of a vector as two plain reductions (max, then the lowest index holding it):
    about twice as fast as XLA's variadic argmax reduction on CPU under ``vmap``."""
    iota = jnp.arange(x.shape[0], dtype=jnp.int32)
    return jnp.min(jnp.where(x == jnp.max(x), iota, x.shape[0]))


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
    bits = hash_words(key, 2 * cells + n + f)
    # Priorities in [0, 1) (float32: XLA's CPU top_k is far slower on integers); disallowed cells get -1.
    food_prio, agent_prio = _unit_float(bits[:cells]), _unit_float(bits[cells : 2 * cells])
    level_bits, food_level_bits = bits[2 * cells : 2 * cells + n], bits[2 * cells + n :]

    rows, cols = np.divmod(np.arange(cells), g)
    interior = (rows > 0) & (rows < g - 1) & (cols > 0) & (cols < g - 1)

    # 1. Food: F picks, each the best-ranked allowed cell; a pick bars itself and its 4 neighbours.
    allowed = jnp.asarray(interior)
    picks = []
    for _ in range(f):  # F is static and small: unrolled at trace time
        idx = _first_max(jnp.where(allowed, food_prio, -1.0))
        fr, fc = idx // g, idx % g
        allowed &= (jnp.abs(rows - fr) + jnp.abs(cols - fc)) > 1
        picks.append(jnp.stack([fr, fc]))
    food_pos = jnp.stack(picks)  # (F, 2)

    # 2. Agents: distinct cells in rows that are no food coordinate (Jumanji's row mask).
    barred_rows = jnp.any(jnp.arange(g)[:, None] == food_pos.reshape(1, -1), axis=1)  # (G,)
    agent_ok = ~barred_rows[rows]
    prio = jnp.where(agent_ok, agent_prio, -1.0)
    if n <= 8:  # a few max passes beat top_k for small teams
        picks = []
        for _ in range(n):
            picks.append(_first_max(prio))
            prio = jnp.where(np.arange(cells) == picks[-1], -2.0, prio)
        agent_idx = jnp.stack(picks)
    else:
        agent_idx = jax.lax.top_k(prio, n)[1].astype(jnp.int32)
    agent_pos = jnp.stack([agent_idx // g, agent_idx % g], axis=1)

    # 3. Levels.
    agent_level = _uniform_level(level_bits, max_agent_level)
    # Summed level of the three lowest agents, by pairwise ranks (an XLA sort costs more than all the rest).
    ids = np.arange(n)
    below = (agent_level[None, :] < agent_level[:, None]) | (
        (agent_level[None, :] == agent_level[:, None]) & (ids[None, :] < ids[:, None])
    )
    rank = jnp.sum(below, axis=1)  # (N,) distinct ranks 0..N-1
    coop_level = jnp.sum(jnp.where(rank < 3, agent_level, 0))
    food_level = jnp.where(force_coop, coop_level, _uniform_level(food_level_bits, coop_level))
    return agent_pos, agent_level, food_pos, food_level.astype(jnp.int32)
