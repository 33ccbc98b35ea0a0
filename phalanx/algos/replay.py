"""A jitted circular replay buffer of env-step streams, for off-policy learners.

The buffer keeps the last ``capacity`` steps of each of ``E`` parallel envs, time-major:
every leaf is ``(capacity, E, ...)``. Each :meth:`ReplayBuffer.add` appends ``T`` consecutive
steps of every env (a rollout, leaves ``(T, E, ...)``), so slot ``t + 1`` of an env follows
slot ``t`` in that env's own stream — sampling a window of ``length`` consecutive slots gives a
sequence (for recurrent learners and n-step returns), ``length=1`` single transitions. Episode
boundaries inside a window are the learner's business (the stored steps carry their flags).

Everything is a pure function of a :class:`ReplayState` pytree, so the buffer lives inside a
learner's train state: ``jit``, ``vmap`` over seeds and checkpoints apply unchanged.

Flashbax's ``make_trajectory_buffer`` does the same with an env-major layout; this one is kept
because it was as fast or faster in the learners' use (numbers in
:mod:`phalanx.algos.value_based`) and adds no dependency.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class ReplayState:
    """The stored steps and where the stream stands.

    Attributes:
        data: pytree of ``(capacity, E, ...)`` arrays.
        head: ``()`` int32 slot the next step is written to.
        size: ``()`` int32 valid slots (``<= capacity``); the oldest is ``(head - size) % capacity``.
    """

    data: Any
    head: jax.Array
    size: jax.Array


@dataclasses.dataclass(frozen=True)
class ReplayBuffer:
    """Circular buffer of ``capacity`` time slots per env (see the module docstring)."""

    capacity: int

    def init(self, example: Any) -> ReplayState:
        """An empty buffer for steps shaped like ``example`` (leaves ``(E, ...)``, e.g. one rollout step)."""
        data = jax.tree.map(lambda x: jnp.zeros((self.capacity, *x.shape), x.dtype), example)
        return ReplayState(data=data, head=jnp.int32(0), size=jnp.int32(0))

    def add(self, state: ReplayState, steps: Any) -> ReplayState:
        """Append ``T <= capacity`` consecutive steps (leaves ``(T, E, ...)``), overwriting the oldest."""
        length = jax.tree.leaves(steps)[0].shape[0]
        if length > self.capacity:
            raise ValueError(f"cannot add {length} steps to a buffer of {self.capacity} slots.")
        slots = (state.head + jnp.arange(length)) % self.capacity
        data = jax.tree.map(lambda buf, x: buf.at[slots].set(x.astype(buf.dtype)), state.data, steps)
        return ReplayState(data=data, head=(state.head + length) % self.capacity,
                           size=jnp.minimum(state.size + length, self.capacity))

    def can_sample(self, state: ReplayState, length: int = 1) -> jax.Array:
        """``()`` bool: at least one window of ``length`` consecutive valid slots exists."""
        return state.size >= length

    def sample(self, state: ReplayState, key: jax.Array, batch_size: int, length: int = 1) -> Any:
        """``batch_size`` windows of ``length`` consecutive steps, uniformly over valid windows.

        Returns leaves ``(length, batch_size, ...)`` (time-major). A window never crosses the
        write head, so it never joins the newest step to the oldest. Only call when
        :meth:`can_sample` (otherwise the windows hold zeros / stale slots).
        """
        k_start, k_env = jax.random.split(key)
        num_envs = jax.tree.leaves(state.data)[0].shape[1]
        oldest = (state.head - state.size) % self.capacity
        # Window starts, as offsets from the oldest valid slot: 0 .. size - length.
        offset = jax.random.randint(k_start, (batch_size,), 0, jnp.maximum(state.size - length + 1, 1))
        env = jax.random.randint(k_env, (batch_size,), 0, num_envs)
        slots = (oldest + offset[None, :] + jnp.arange(length)[:, None]) % self.capacity  # (length, B)
        return jax.tree.map(lambda x: x[slots, env[None, :]], state.data)
