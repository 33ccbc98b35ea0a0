"""A jitted circular replay buffer of env-step streams, for off-policy learners.

The buffer keeps the last ``capacity`` steps of each of ``E`` parallel envs, time-major. Each
:meth:`ReplayBuffer.add` appends ``T`` consecutive steps of every env (a rollout, leaves
``(T, E, ...)``), so slot ``t + 1`` of an env follows slot ``t`` in that env's own stream:
sampling a window of ``length`` consecutive slots gives a sequence (for recurrent learners and
n-step returns), ``length=1`` single transitions. Episode boundaries inside a window are the
learner's business (the stored steps carry their flags).

Every leaf of a step is stored in one ``(capacity, E, F)`` float32 array (its values flattened
side by side), so adding is one write and sampling one gather however many fields a step has:
fewer, larger operations, which XLA compiles several times faster than one per field and runs
faster too. Booleans and integers round-trip exactly (integers up to ``2**24`` in magnitude).

Everything is a pure function of a :class:`ReplayState` pytree, so the buffer lives inside a
learner's train state: ``jit``, ``vmap`` over seeds and checkpoints apply unchanged.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where each leaf of a stored step sits in the packed feature axis (static, hashable)."""

    treedef: Any
    shapes: tuple[tuple[int, ...], ...]  # per leaf, without the env axis
    dtypes: tuple[str, ...]

    @property
    def offsets(self) -> tuple[int, ...]:
        """Start of each leaf in the packed feature axis, and the total width ``F`` last (``len(shapes) + 1`` ints)."""
        return tuple(int(x) for x in np.cumsum([0, *(math.prod(s) for s in self.shapes)]))

    def pack(self, tree: Any, lead: int) -> jax.Array:
        """Leaves ``(*batch, *shape)`` with ``lead`` batch axes → ``(*batch, F)`` float32."""
        leaves = jax.tree.leaves(tree)
        return jnp.concatenate([x.reshape(*x.shape[:lead], -1).astype(jnp.float32) for x in leaves], axis=-1)

    def unpack(self, packed: jax.Array) -> Any:
        """``(*batch, F)`` → the step pytree with leaves ``(*batch, *shape)`` in their own dtypes."""
        o = self.offsets
        batch = packed.shape[:-1]
        leaves = [packed[..., o[i] : o[i + 1]].reshape(*batch, *shape).astype(dtype)
                  for i, (shape, dtype) in enumerate(zip(self.shapes, self.dtypes, strict=True))]
        return jax.tree.unflatten(self.treedef, leaves)


@struct.dataclass
class ReplayState:
    """The stored steps and where the stream stands.

    Attributes:
        data: ``(capacity, E, F)`` float32, every step's leaves packed along ``F``.
        head: ``()`` int32 slot the next step is written to.
        size: ``()`` int32 valid slots (``<= capacity``); the oldest is ``(head - size) % capacity``.
        layout: how to unpack ``F`` into the step's leaves (static).
    """

    data: jax.Array
    head: jax.Array
    size: jax.Array
    layout: Layout = struct.field(pytree_node=False)


@dataclasses.dataclass(frozen=True)
class ReplayBuffer:
    """Circular buffer of ``capacity`` time slots per env (see the module docstring)."""

    capacity: int

    def init(self, example: Any) -> ReplayState:
        """An empty buffer for steps shaped like ``example`` (leaves ``(E, ...)``, e.g. one rollout step)."""
        leaves, treedef = jax.tree.flatten(example)
        num_envs = leaves[0].shape[0]
        layout = Layout(treedef, tuple(tuple(x.shape[1:]) for x in leaves), tuple(str(x.dtype) for x in leaves))
        data = jnp.zeros((self.capacity, num_envs, layout.offsets[-1]), jnp.float32)
        return ReplayState(data=data, head=jnp.int32(0), size=jnp.int32(0), layout=layout)

    def add(self, state: ReplayState, steps: Any) -> ReplayState:
        """Append ``T <= capacity`` consecutive steps (leaves ``(T, E, ...)``), overwriting the oldest."""
        length = jax.tree.leaves(steps)[0].shape[0]
        if length > self.capacity:
            raise ValueError(f"cannot add {length} steps to a buffer of {self.capacity} slots.")
        slots = (state.head + jnp.arange(length)) % self.capacity
        data = state.data.at[slots].set(state.layout.pack(steps, 2), mode="promise_in_bounds", unique_indices=True)
        return state.replace(data=data, head=(state.head + length) % self.capacity,
                             size=jnp.minimum(state.size + length, self.capacity))

    def can_sample(self, state: ReplayState, length: int = 1) -> jax.Array:
        """``()`` bool: at least one window of ``length`` consecutive valid slots exists."""
        return state.size >= length

    def sample(self, state: ReplayState, key: jax.Array, batch_size: int, length: int = 1) -> Any:
        """``batch_size`` windows of ``length`` consecutive steps, uniformly over valid windows.

        Returns the step pytree with leaves ``(length, batch_size, ...)`` (time-major). A window
        never crosses the write head, so it never joins the newest step to the oldest. Only call
        when :meth:`can_sample` (otherwise the windows hold zeros / stale slots).
        """
        k_start, k_env = jax.random.split(key)
        num_envs = state.data.shape[1]
        oldest = (state.head - state.size) % self.capacity
        # Window starts, as offsets from the oldest valid slot: 0 .. size - length.
        offset = jax.random.randint(k_start, (batch_size,), 0, jnp.maximum(state.size - length + 1, 1))
        env = jax.random.randint(k_env, (batch_size,), 0, num_envs)
        slots = (oldest + offset[None, :] + jnp.arange(length)[:, None]) % self.capacity  # (length, B)
        rows = state.data.reshape(-1, state.data.shape[-1]).at[slots * num_envs + env[None, :]].get(
            mode="promise_in_bounds")
        return state.layout.unpack(rows)
