"""Draws without replacement, bit-identical to ``jax.random.permutation`` but without sorting.

Jumanji draws agent cells, the request queue and each new request with
``jax.random.choice(..., replace=False)``, i.e. the first elements of ``jax.random.permutation``.
For ``n`` up to about 1600 that permutation is a single stable sort of ``0..n-1`` by 32-bit random
keys ``jax.random.bits(split(key)[1], (n,))`` (JAX's ``_shuffle``: one round, see
:func:`_sort_rounds`). Its first ``k`` elements are therefore the indices of the ``k`` smallest
keys, ties to the lower index, which ``k`` argmins find far faster than a sort (5× on CPU for
``n = 110``, ``k = 4``). Where JAX would sort more than once we call it instead. Tests compare
both with JAX itself, so a change in JAX's shuffle shows up there.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

_UINT32_MAX = np.uint32(0xFFFFFFFF)


def _sort_rounds(n: int) -> int:
    """How many sorting rounds ``jax.random.permutation`` uses for ``n`` elements (its heuristic)."""
    return math.ceil(3 * math.log(max(1, n)) / math.log(float(_UINT32_MAX)))


def permutation_prefix(key: jax.Array, n: int, k: int) -> jax.Array:
    """``jax.random.permutation(key, n)[:k]`` as ``(k,)`` int32, exactly, in ``O(k n)`` without a sort."""
    if _sort_rounds(n) != 1:
        return jax.random.permutation(key, n)[:k].astype(jnp.int32)
    _, subkey = jax.random.split(key)
    bits = jax.random.bits(subkey, (n,), jnp.uint32)

    def take_smallest(j, carry):
        taken, out = carry
        low = jnp.min(jnp.where(taken, _UINT32_MAX, bits))
        i = jnp.argmax(~taken & (bits == low)).astype(jnp.int32)  # first untaken index holding the minimum
        return taken.at[i].set(True), out.at[j].set(i)

    init = (jnp.zeros(n, jnp.bool_), jnp.zeros(k, jnp.int32))
    return jax.lax.fori_loop(0, k, take_smallest, init, unroll=True)[1]


def choose_unset(key: jax.Array, flags: jax.Array, num_unset: int) -> jax.Array:
    """``jax.random.choice(key, jnp.nonzero(~flags, size=num_unset)[0], replace=False)``, exactly.

    Args:
        key: the draw's key.
        flags: ``(S,)`` bool with exactly ``num_unset`` False entries.
        num_unset: static count of False entries.

    Returns:
        ``()`` int32: the index of a uniformly chosen False entry.
    """
    j = permutation_prefix(key, num_unset, 1)[0]  # which of the unset entries, in increasing index
    unset = ~flags
    rank = jnp.cumsum(unset) - 1
    return jnp.argmax(unset & (rank == j)).astype(jnp.int32)
