"""Actors and Q-critics for continuous actions (feed-forward; leading axes are free).

Actions inside the learners live in ``[−1, 1]^k``; :class:`~phalanx.algos.continuous.inputs.Layout`
maps them to and from each group's action box.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from phalanx.networks import MLP
from phalanx.networks.modules import Dense, orthogonal

#: SAC's usual bounds on the actor's log standard deviation (keeps exp(log_std) sane).
LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


class DeterministicActor(nn.Module):
    """MADDPG's policy ``μ(o)``: ``(..., d) -> (..., k)`` in ``[−1, 1]`` (tanh output)."""

    action_dim: int
    hidden: Sequence[int] = (64, 64)
    activation: str = "relu"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = MLP(self.hidden, self.activation)(x)
        return jnp.tanh(Dense(self.action_dim, kernel_init=orthogonal(0.01))(x))


class GaussianActor(nn.Module):
    """SAC's policy before squashing: ``(..., d) -> (mean (..., k), log_std (..., k))``.

    ``log_std`` depends on the input and is clipped to ``[LOG_STD_MIN, LOG_STD_MAX]``.
    """

    action_dim: int
    hidden: Sequence[int] = (64, 64)
    activation: str = "relu"

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = MLP(self.hidden, self.activation)(x)
        mean = Dense(self.action_dim, kernel_init=orthogonal(0.01))(x)
        log_std = Dense(self.action_dim, kernel_init=orthogonal(0.01))(x)
        return mean, jnp.clip(log_std, LOG_STD_MIN, LOG_STD_MAX)


class QNetwork(nn.Module):
    """``Q(x, a)``: ``(..., d), (..., j) -> (...)``."""

    hidden: Sequence[int] = (64, 64)
    activation: str = "relu"

    @nn.compact
    def __call__(self, x: jax.Array, action: jax.Array) -> jax.Array:
        h = MLP(self.hidden, self.activation)(jnp.concatenate([x, action], axis=-1))
        return Dense(1, kernel_init=orthogonal(1.0))(h)[..., 0]


class TwinQNetwork(nn.Module):
    """Two independent :class:`QNetwork` s (SAC's clipped double-Q): ``-> (2, ...)``."""

    hidden: Sequence[int] = (64, 64)
    activation: str = "relu"

    @nn.compact
    def __call__(self, x: jax.Array, action: jax.Array) -> jax.Array:
        twins = nn.vmap(
            QNetwork, variable_axes={"params": 0}, split_rngs={"params": True}, in_axes=None, out_axes=0,
            axis_size=2,
        )
        return twins(self.hidden, self.activation)(x, action)
