"""SAC's squashed-Gaussian density and sampling: small pure functions tested against numerical references.

The targets every learner shares (``masked_mean``, ``td_target``, ``polyak``) are in
:mod:`phalanx.algos.common.targets`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from phalanx.networks.distributions import gaussian_log_prob


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
