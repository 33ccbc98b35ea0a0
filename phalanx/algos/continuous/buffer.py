"""A circular replay buffer that lives in the train state: pure, jittable, ``vmap``-able.

Items are any pytree; the buffer stores each leaf with a leading ``(capacity,)`` axis.
``add`` writes a batch of items after the last one (wrapping around, overwriting the
oldest); ``sample`` draws items uniformly, with replacement, from those written so far.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class ReplayBuffer:
    """Stored items and where the next one goes.

    Attributes:
        data: the items, every leaf ``(capacity, ...)``.
        position: ``()`` int32 slot the next item is written to.
        size: ``()`` int32 number of items stored (at most ``capacity``).
    """

    data: Any
    position: jax.Array
    size: jax.Array

    @classmethod
    def create(cls, example: Any, capacity: int) -> ReplayBuffer:
        """An empty buffer for items shaped like ``example`` (one item, no leading axis)."""
        data = jax.tree.map(lambda x: jnp.zeros((capacity, *jnp.shape(x)), jnp.asarray(x).dtype), example)
        return cls(data=data, position=jnp.int32(0), size=jnp.int32(0))

    @property
    def capacity(self) -> int:
        """Slots in the buffer: the leading axis of every leaf of ``data``."""
        return jax.tree.leaves(self.data)[0].shape[0]

    def add(self, items: Any) -> ReplayBuffer:
        """Append ``items`` (leaves ``(n, ...)``, ``n <= capacity``) in order, wrapping around."""
        n = jax.tree.leaves(items)[0].shape[0]
        capacity = self.capacity
        if n > capacity:
            raise ValueError(f"cannot add {n} items to a buffer of capacity {capacity} at once.")
        slots = (self.position + jnp.arange(n, dtype=jnp.int32)) % capacity
        data = jax.tree.map(lambda d, x: d.at[slots].set(x.astype(d.dtype)), self.data, items)
        return self.replace(
            data=data, position=(self.position + n) % capacity, size=jnp.minimum(self.size + n, capacity)
        )

    def sample(self, key: jax.Array, batch_size: int) -> Any:
        """``batch_size`` items drawn uniformly with replacement: leaves ``(batch_size, ...)``.

        The buffer must not be empty (an empty one returns its zero-filled slot 0).
        """
        index = jax.random.randint(key, (batch_size,), 0, jnp.maximum(self.size, 1))
        return jax.tree.map(lambda d: d[index], self.data)
