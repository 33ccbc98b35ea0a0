"""GAE and the PPO losses: small pure functions, tested on hand-computed numbers."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from phalanx.algos.common.targets import masked_mean


def compute_gae(
    rewards: jax.Array,
    values: jax.Array,
    next_values: jax.Array,
    terminated: jax.Array,
    episode_ends: jax.Array,
    gamma: float,
    gae_lambda: float,
) -> tuple[jax.Array, jax.Array]:
    """Generalised advantage estimation over a rollout, time-major.

    Args:
        rewards: ``[T, B]`` reward of each transition.
        values: ``[T, B]`` ``V(s_t)``.
        next_values: ``[T, B]`` ``V(s_{t+1})`` of the state this transition reached — on
            a truncated step that is the value of the *final* observation, not of the
            next episode's first one.
        terminated: ``[T, B]`` the transition reached a terminal state: no bootstrap.
        episode_ends: ``[T, B]`` the trajectory stops after this transition (terminated
            or truncated): advantages do not flow back across it.
        gamma, gae_lambda: discount and λ.

    Returns:
        ``(advantages, returns)``, both ``[T, B]``; ``returns = advantages + values``.
    """
    not_terminal = 1.0 - terminated.astype(jnp.float32)
    continues = 1.0 - episode_ends.astype(jnp.float32)
    deltas = rewards + gamma * next_values * not_terminal - values

    def backward(carry, xs):
        delta, cont = xs
        adv = delta + gamma * gae_lambda * cont * carry
        return adv, adv

    _, advantages = jax.lax.scan(
        backward, jnp.zeros_like(deltas[0]), (deltas, continues), reverse=True
    )
    return advantages, advantages + values


def normalize(x: jax.Array, mask: jax.Array, eps: float = 1e-8) -> jax.Array:
    """Zero-mean, unit-std over the masked entries."""
    mean = masked_mean(x, mask)
    std = jnp.sqrt(masked_mean((x - mean) ** 2, mask))
    return (x - mean) / (std + eps)


def policy_loss(
    log_prob: jax.Array,
    old_log_prob: jax.Array,
    advantages: jax.Array,
    clip_eps: float,
    mask: jax.Array,
    count: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Clipped surrogate ``-E[min(r A, clip(r, 1±ε) A)]``.

    Returns ``(loss, approx_kl, clip_fraction)`` (all masked means; ``count`` as in
    :func:`masked_mean`).
    """
    log_ratio = log_prob - old_log_prob
    ratio = jnp.exp(log_ratio)
    unclipped = ratio * advantages
    clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * advantages
    loss = -masked_mean(jnp.minimum(unclipped, clipped), mask, count)
    approx_kl = masked_mean((ratio - 1.0) - log_ratio, mask, count)
    clip_fraction = masked_mean((jnp.abs(ratio - 1.0) > clip_eps).astype(jnp.float32), mask, count)
    return loss, approx_kl, clip_fraction


def value_loss(
    values: jax.Array,
    old_values: jax.Array,
    targets: jax.Array,
    clip_eps: float,
    mask: jax.Array,
    count: jax.Array | None = None,
) -> jax.Array:
    """``½ E[(V − R)²]``, or with ``clip_eps > 0`` PPO's pessimistic clipped version
    ``½ E[max((V − R)², (V_old + clip(V − V_old, ±ε) − R)²)]``."""
    unclipped = (values - targets) ** 2
    if clip_eps > 0:
        clipped = (old_values + jnp.clip(values - old_values, -clip_eps, clip_eps) - targets) ** 2
        unclipped = jnp.maximum(unclipped, clipped)
    return 0.5 * masked_mean(unclipped, mask, count)
