"""A jitted circular replay buffer of env-step streams, for off-policy learners (flashbax inside).

The buffer keeps the last ``capacity`` steps of each of ``E`` parallel envs. Each
:meth:`ReplayBuffer.add` appends ``T`` consecutive steps of every env (a rollout, leaves
``(T, E, ...)``), so slot ``t + 1`` of an env follows slot ``t`` in that env's own stream:
sampling a window of ``length`` consecutive slots gives a sequence (for recurrent learners and
n-step returns), ``length=1`` single transitions. Episode boundaries inside a window are the
learner's business (the stored steps carry their flags).

Storage and sampling are flashbax's trajectory buffer (``flashbax.buffers.trajectory_buffer``):
every field in its own ``(E, capacity, ...)`` array in its own dtype, which samples faster than
one packed float32 array (benchmarks/value_based/README.md). This class
keeps the learners' calling convention: time-major rollouts in, time-major windows out, and
the window shape given per call.

Everything is a pure function of the buffer state (a pytree), so the buffer lives inside a
learner's train state: ``jit``, ``vmap`` over seeds and checkpoints apply unchanged.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from flashbax.buffers import trajectory_buffer as _tb

#: The buffer's state: ``experience`` (leaves ``(E, capacity, ...)``), ``current_index`` (the slot
#: the next step goes to) and ``is_full``.
ReplayState = _tb.TrajectoryBufferState


def _swap(tree: Any) -> Any:
    return jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), tree)


@dataclasses.dataclass(frozen=True)
class ReplayBuffer:
    """Circular buffer of ``capacity`` time slots per env (see the module docstring)."""

    capacity: int

    def init(self, example: Any) -> ReplayState:
        """An empty buffer for steps shaped like ``example`` (leaves ``(E, ...)``, e.g. one rollout step)."""
        num_envs = jax.tree.leaves(example)[0].shape[0]
        one = jax.tree.map(lambda x: x[0], example)
        return _tb.init(one, add_batch_size=num_envs, max_length_time_axis=self.capacity)

    def add(self, state: ReplayState, steps: Any) -> ReplayState:
        """Append ``T <= capacity`` consecutive steps (leaves ``(T, E, ...)``), overwriting the oldest."""
        length = jax.tree.leaves(steps)[0].shape[0]
        if length > self.capacity:
            raise ValueError(f"cannot add {length} steps to a buffer of {self.capacity} slots.")
        return _tb.add(state, _swap(steps))

    def can_sample(self, state: ReplayState, length: int = 1) -> jax.Array:
        """``()`` bool: at least one window of ``length`` consecutive valid slots exists."""
        return _tb.can_sample(state, length)

    def sample(self, state: ReplayState, key: jax.Array, batch_size: int, length: int = 1) -> Any:
        """``batch_size`` windows of ``length`` consecutive steps, uniformly over valid windows.

        Returns the step pytree with leaves ``(length, batch_size, ...)`` (time-major). A window
        never crosses the write head, so it never joins the newest step to the oldest. Only call
        when :meth:`can_sample` (otherwise the windows hold zeros / stale slots).
        """
        out = _tb.sample(state, key, batch_size=batch_size, sequence_length=length, period=1)
        return _swap(out.experience)
