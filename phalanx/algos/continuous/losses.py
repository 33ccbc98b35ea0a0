"""Small pure functions of the off-policy learners, each tested on hand-computed numbers."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from phalanx.networks.distributions import gaussian_log_prob


def masked_mean(x: jax.Array, mask: jax.Array) -> jax.Array:
    """Mean of ``x`` over entries where ``mask`` is True (0 when none is)."""
    m = mask.astype(x.dtype)
    return jnp.sum(x * m) / jnp.maximum(jnp.sum(m), 1.0)


def td_target(reward: jax.Array, terminated: jax.Array, next_value: jax.Array, gamma: float) -> jax.Array:
    """One-step target ``r + γ (1 − terminated) V(s')`` (all ``(...)``).

    Only termination stops bootstrapping: on a time-limit truncation ``s'`` is the final
    observation before the reset and its value counts.
    """
    return reward + gamma * (1.0 - terminated.astype(reward.dtype)) * next_value


def polyak(target: Any, online: Any, tau: float) -> Any:
    """Target networks after one Polyak step: ``(1 − τ) θ' + τ θ`` leaf by leaf."""
    return jax.tree.map(lambda t, o: (1.0 - tau) * t + tau * o, target, online)


def log1m_tanh_sq(u: jax.Array) -> jax.Array:
    """``log(1 − tanh(u)²)`` without cancellation: ``2 (log 2 − u − softplus(−2u))``."""
    return 2.0 * (jnp.log(2.0) - u - jax.nn.softplus(-2.0 * u))


def squashed_log_prob(u: jax.Array, mean: jax.Array, log_std: jax.Array) -> jax.Array:
    """Log density of ``a = tanh(u)``, ``u ~ N(mean, exp(log_std)²)``, at the pre-squash ``u``.

    Change of variables: ``log p(a) = log N(u) − Σ log(1 − tanh(u)²)`` (summed over the last axis).
    """
    return gaussian_log_prob(u, mean, log_std) - jnp.sum(log1m_tanh_sq(u), axis=-1)


def squashed_gaussian_sample(key: jax.Array, mean: jax.Array, log_std: jax.Array) -> tuple[jax.Array, jax.Array]:
    """A reparameterised sample ``a = tanh(mean + σ ε)`` in ``(−1, 1)^k`` and its log density.

    ``mean``, ``log_std``: ``(..., k)`` → ``(action (..., k), log_prob (...))``.
    """
    u = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
    return jnp.tanh(u), squashed_log_prob(u, mean, log_std)
