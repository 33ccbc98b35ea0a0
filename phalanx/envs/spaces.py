"""Per-agent observation and action spaces (the shapes of one agent's data).

A group of ``A`` agents stacks these along a leading agent axis: an observation of
``Box(shape=(d,))`` arrives as ``(A, d)``, a ``Discrete`` action as ``(A,)`` int32, a
``MultiDiscrete([n1, n2])`` action as ``(A, 2)`` int32, a ``Box`` action as ``(A, d)``.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class Discrete:
    """One categorical choice among ``n`` actions, ``0..n-1``."""

    n: int

    @property
    def shape(self) -> tuple[int, ...]:
        """One agent's action shape: ``()`` (a group's actions are ``(A,)``)."""
        return ()

    @property
    def dtype(self) -> np.dtype:
        """Actions are int32."""
        return np.dtype(np.int32)

    @property
    def mask_size(self) -> int:
        """Length of this space's legal-action mask."""
        return self.n

    def sample(self, key: jax.Array, num_agents: int) -> jax.Array:
        """Uniform random actions for ``num_agents`` agents: ``(A,)`` int32."""
        return jax.random.randint(key, (num_agents,), 0, self.n, dtype=jnp.int32)

    def contains(self, x: np.ndarray) -> bool:
        """Whether ``x`` (agent axis first) is a valid batch of actions."""
        x = np.asarray(x)
        return bool(x.dtype.kind in "iu" and np.all((x >= 0) & (x < self.n)))

    def __str__(self) -> str:
        return f"Discrete({self.n})"


@dataclasses.dataclass(frozen=True)
class MultiDiscrete:
    """Several independent categorical choices; choice ``i`` has ``nvec[i]`` options."""

    nvec: tuple[int, ...]

    @property
    def shape(self) -> tuple[int, ...]:
        """One agent's action shape: ``(len(nvec),)`` (a group's actions are ``(A, len(nvec))``)."""
        return (len(self.nvec),)

    @property
    def dtype(self) -> np.dtype:
        """Actions are int32."""
        return np.dtype(np.int32)

    @property
    def mask_size(self) -> int:
        """Length of the concatenated legal-action masks of all choices."""
        return int(sum(self.nvec))

    def sample(self, key: jax.Array, num_agents: int) -> jax.Array:
        """Uniform random actions: ``(A, len(nvec))`` int32."""
        high = jnp.asarray(self.nvec, dtype=jnp.int32)
        return jax.random.randint(key, (num_agents, len(self.nvec)), 0, high, dtype=jnp.int32)

    def contains(self, x: np.ndarray) -> bool:
        """Whether ``x`` (agent axis first) is a valid batch of actions."""
        x = np.asarray(x)
        return bool(
            x.dtype.kind in "iu"
            and x.shape[-1:] == self.shape
            and np.all((x >= 0) & (x < np.asarray(self.nvec)))
        )

    def __str__(self) -> str:
        return f"MultiDiscrete({list(self.nvec)})"


@dataclasses.dataclass(frozen=True)
class Box:
    """A real-valued array of ``shape`` with elementwise bounds ``low``/``high``."""

    low: float
    high: float
    shape: tuple[int, ...]
    dtype: type = np.float32

    @property
    def mask_size(self) -> int:
        """Continuous actions have no legal-action mask: 0."""
        return 0

    def sample(self, key: jax.Array, num_agents: int) -> jax.Array:
        """Uniform random values (bounds clipped to ±1 when infinite): ``(A, *shape)``."""
        low = max(self.low, -1.0)
        high = min(self.high, 1.0)
        return jax.random.uniform(
            key, (num_agents, *self.shape), self.dtype, minval=low, maxval=high
        )

    def contains(self, x: np.ndarray) -> bool:
        """Whether ``x`` (agent axis first) lies in the box and is finite."""
        x = np.asarray(x)
        return bool(
            x.shape[1:] == self.shape
            and np.all(np.isfinite(x))
            and np.all(x >= self.low - 1e-5)
            and np.all(x <= self.high + 1e-5)
        )

    def __str__(self) -> str:
        return f"Box({self.low}, {self.high}, {self.shape})"


Space = Discrete | MultiDiscrete | Box
