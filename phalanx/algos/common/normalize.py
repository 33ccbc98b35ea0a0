"""Running mean/variance statistics (observation, value and reward normalisation), shared by every learner."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class RunningStats:
    """Mean and variance over everything seen so far (Chan et al.'s parallel update).

    ``mean``/``var`` have the shape of one sample (``(d,)`` for observations, ``()`` for
    values); ``count`` is ``()`` float32.
    """

    mean: jax.Array
    var: jax.Array
    count: jax.Array

    @classmethod
    def create(cls, shape: tuple[int, ...]) -> RunningStats:
        """Empty statistics (mean 0, variance 1) for samples of ``shape``."""
        return cls(jnp.zeros(shape), jnp.ones(shape), jnp.float32(1e-4))

    def update(self, x: jax.Array, mask: jax.Array | None = None) -> RunningStats:
        """Fold in a batch ``x: (..., *shape)``; ``mask: (...)`` selects the samples that count."""
        axes = tuple(range(x.ndim - self.mean.ndim))
        w = jnp.ones(x.shape[: len(axes)]) if mask is None else mask.astype(jnp.float32)
        n = jnp.sum(w)
        wx = w.reshape(w.shape + (1,) * self.mean.ndim)
        batch_mean = jnp.sum(x * wx, axis=axes) / jnp.maximum(n, 1.0)
        batch_var = jnp.sum(wx * (x - batch_mean) ** 2, axis=axes) / jnp.maximum(n, 1.0)
        total = self.count + n
        delta = batch_mean - self.mean
        mean = self.mean + delta * n / total
        m2 = self.var * self.count + batch_var * n + delta**2 * self.count * n / total
        return RunningStats(mean, m2 / total, total)

    def normalize(self, x: jax.Array, clip: float = 10.0) -> jax.Array:
        """``(x − mean) / std``, clipped to ``±clip``."""
        return jnp.clip((x - self.mean) / jnp.sqrt(self.var + 1e-8), -clip, clip)

    def denormalize(self, x: jax.Array) -> jax.Array:
        """Inverse of :meth:`normalize` (without the clip)."""
        return x * jnp.sqrt(self.var + 1e-8) + self.mean
