"""Action distributions for each kind of action space, as small pure functions.

``raw`` actions are what the policy's log-probability is defined on: integer indices
for discrete spaces, the Gaussian sample before squashing or clipping for continuous
ones (the squashing Jacobian is the same for old and new policy, so it cancels in
PPO's ratio and is left out).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from phalanx.envs.spaces import Box, Discrete, MultiDiscrete, Space

NEG_INF = -1e9  # masked logits; finite so that 0 * logit stays 0


def masked_log_softmax(logits: jax.Array, mask: jax.Array | None) -> jax.Array:
    """``log_softmax`` with illegal actions (mask False) given probability 0."""
    if mask is not None:
        logits = jnp.where(mask, logits, NEG_INF)
    return jax.nn.log_softmax(logits, axis=-1)


def categorical_entropy(log_probs: jax.Array) -> jax.Array:
    """Entropy of categoricals given their log-probabilities ``(..., n) -> (...)``."""
    return -jnp.sum(jnp.exp(log_probs) * log_probs, axis=-1)


def gaussian_log_prob(x: jax.Array, mean: jax.Array, log_std: jax.Array) -> jax.Array:
    """Log density of a diagonal Gaussian, summed over the last axis."""
    z = (x - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z**2 - log_std - 0.5 * jnp.log(2 * jnp.pi), axis=-1)


def _splits(space: MultiDiscrete) -> list[int]:
    return list(np.cumsum(space.nvec)[:-1])


def sample(key: jax.Array, space: Space, out, mask: jax.Array | None, squash: str = "clip"):
    """Sample actions. Returns ``(env_action, raw_action, log_prob)``."""
    if isinstance(space, Discrete):
        logp = masked_log_softmax(out, mask)
        a = jax.random.categorical(key, logp).astype(jnp.int32)
        return a, a, jnp.take_along_axis(logp, a[..., None], -1)[..., 0]
    if isinstance(space, MultiDiscrete):
        parts = jnp.split(out, _splits(space), axis=-1)
        masks = jnp.split(mask, _splits(space), axis=-1) if mask is not None else [None] * len(parts)
        keys = jax.random.split(key, len(parts))
        acts, logps = [], []
        for k, logits, m in zip(keys, parts, masks, strict=True):
            lp = masked_log_softmax(logits, m)
            a = jax.random.categorical(k, lp).astype(jnp.int32)
            acts.append(a)
            logps.append(jnp.take_along_axis(lp, a[..., None], -1)[..., 0])
        a = jnp.stack(acts, -1)
        return a, a, sum(logps)
    mean, log_std = out
    raw = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
    return to_env_action(space, raw, squash), raw, gaussian_log_prob(raw, mean, log_std)


def to_env_action(space: Box, raw: jax.Array, squash: str) -> jax.Array:
    """Map a Gaussian sample into the box: ``tanh`` rescaling or clipping."""
    low, high = jnp.float32(space.low), jnp.float32(space.high)
    if squash == "tanh":
        return low + (jnp.tanh(raw) + 1.0) * 0.5 * (high - low)
    return jnp.clip(raw, low, high)


def log_prob_and_entropy(space: Space, out, raw: jax.Array, mask: jax.Array | None) -> tuple[jax.Array, jax.Array]:
    """Log-probability of ``raw`` actions and the distribution's entropy."""
    if isinstance(space, Discrete):
        logp = masked_log_softmax(out, mask)
        return jnp.take_along_axis(logp, raw[..., None], -1)[..., 0], categorical_entropy(logp)
    if isinstance(space, MultiDiscrete):
        parts = jnp.split(out, _splits(space), axis=-1)
        masks = jnp.split(mask, _splits(space), axis=-1) if mask is not None else [None] * len(parts)
        lp_sum, ent_sum = 0.0, 0.0
        for i, (logits, m) in enumerate(zip(parts, masks, strict=True)):
            lp = masked_log_softmax(logits, m)
            lp_sum = lp_sum + jnp.take_along_axis(lp, raw[..., i : i + 1], -1)[..., 0]
            ent_sum = ent_sum + categorical_entropy(lp)
        return lp_sum, ent_sum
    mean, log_std = out
    entropy = jnp.sum(log_std + 0.5 * jnp.log(2 * jnp.pi * jnp.e)) * jnp.ones(mean.shape[:-1])
    return gaussian_log_prob(raw, mean, log_std), entropy


def greedy(space: Space, out, mask: jax.Array | None, squash: str = "clip") -> jax.Array:
    """The most likely action (for evaluation)."""
    if isinstance(space, Discrete):
        return jnp.argmax(masked_log_softmax(out, mask), -1).astype(jnp.int32)
    if isinstance(space, MultiDiscrete):
        parts = jnp.split(out, _splits(space), axis=-1)
        masks = jnp.split(mask, _splits(space), axis=-1) if mask is not None else [None] * len(parts)
        return jnp.stack(
            [jnp.argmax(masked_log_softmax(p, m), -1) for p, m in zip(parts, masks, strict=True)], -1
        ).astype(jnp.int32)
    return to_env_action(space, out[0], squash)


def num_outputs(space: Space) -> int:
    """Width of the actor's output layer for ``space``."""
    if isinstance(space, Discrete):
        return space.n
    if isinstance(space, MultiDiscrete):
        return int(sum(space.nvec))
    return int(np.prod(space.shape))
