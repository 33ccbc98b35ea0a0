"""Small pure pieces every learner's loss uses: masked means, one-step TD targets, Polyak averaging."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp


def masked_mean(x: jax.Array, mask: jax.Array, count: jax.Array | None = None) -> jax.Array:
    """Mean of ``x`` over entries where ``mask`` is True (0 if none).

    With ``count`` given, the masked sum is divided by it instead of by this array's own
    count: a batch cut into chunks then sums its chunks' results to the batch's mean.
    """
    mask = mask.astype(x.dtype)
    if count is None:
        count = jnp.maximum(jnp.sum(mask), 1.0)
    return jnp.sum(x * mask) / count


def td_target(reward: jax.Array, terminated: jax.Array, next_value: jax.Array, gamma: float) -> jax.Array:
    """One-step target ``r + γ (1 − terminated) V(s')`` (all ``(...)``).

    Only termination stops bootstrapping: on a time-limit truncation ``s'`` is the final
    observation before the reset and its value counts.
    """
    return reward + gamma * (1.0 - terminated.astype(reward.dtype)) * next_value


def polyak(target: Any, online: Any, tau: float | jax.Array) -> Any:
    """Target networks after one Polyak step: ``(1 − τ) θ' + τ θ`` leaf by leaf."""
    return jax.tree.map(lambda t, o: (1.0 - tau) * t + tau * o, target, online)
