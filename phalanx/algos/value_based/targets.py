"""Q-learning's small pure pieces: masked greedy/ε-greedy actions, bootstrap values, n-step targets.

Shapes are written for one group: Q-values ``(..., n)`` over ``n`` actions, action masks
``(..., n)`` bool (True = legal), everything else ``(...)``. Time-indexed functions take a
leading time axis ``T``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

NEG_INF = -1e30  # Q of illegal actions: below any real value, finite so that arithmetic stays defined


def legal(mask: jax.Array) -> jax.Array:
    """The mask, with every action legal where none is (a state with no legal action has no choice to make)."""
    return mask | ~jnp.any(mask, axis=-1, keepdims=True)


def masked_argmax(q: jax.Array, mask: jax.Array) -> jax.Array:
    """``(..., n) -> (...)`` int32: the best legal action."""
    return jnp.argmax(jnp.where(legal(mask), q, NEG_INF), axis=-1).astype(jnp.int32)


def epsilon_greedy(key: jax.Array, q: jax.Array, mask: jax.Array, epsilon: jax.Array | float) -> jax.Array:
    """With probability ``epsilon`` a uniformly random legal action, else the best legal one; ``(...)`` int32."""
    k_explore, k_random = jax.random.split(key)
    random = jax.random.categorical(k_random, jnp.where(legal(mask), 0.0, NEG_INF)).astype(jnp.int32)
    explore = jax.random.uniform(k_explore, q.shape[:-1]) < epsilon
    return jnp.where(explore, random, masked_argmax(q, mask))


def linear_epsilon(env_steps: jax.Array, start: float, finish: float, decay_steps: int) -> jax.Array:
    """``start`` at 0 env steps, linearly to ``finish`` at ``decay_steps``, constant after."""
    frac = jnp.clip(env_steps / max(decay_steps, 1), 0.0, 1.0) if decay_steps else 1.0
    return jnp.float32(start + (finish - start) * frac)


def bootstrap_values(q_next_online: jax.Array, q_next_target: jax.Array, next_mask: jax.Array,
                     double_q: bool) -> jax.Array:
    """The value of the next state, ``(..., n) -> (...)``, over legal actions only.

    Double Q-learning (van Hasselt et al., 2016): the online network picks
    ``a* = argmax_a Q_online(s', a)`` and the target network values it, ``Q_target(s', a*)``.
    Otherwise ``max_a Q_target(s', a)``.
    """
    if double_q:
        best = masked_argmax(q_next_online, next_mask)
        return jnp.take_along_axis(q_next_target, best[..., None], axis=-1)[..., 0]
    return jnp.max(jnp.where(legal(next_mask), q_next_target, NEG_INF), axis=-1)


def n_step_targets(reward: jax.Array, terminal: jax.Array, stop: jax.Array, bootstrap: jax.Array,
                   gamma: float, n: int) -> jax.Array:
    """n-step Q-learning targets over a window; inputs ``(T, ...)``, output ``(T - n + 1, ...)``.

    For each start ``t``, with ``m = min(n, 1 + first k >= 0 with stop[t + k])``::

        y_t = Σ_{k<m} γ^k r[t+k] + γ^m (1 − terminal[t+m−1]) bootstrap[t+m−1]

    ``reward[t]`` and ``bootstrap[t]`` (the next state's value) belong to step ``t``'s
    transition; ``terminal[t]``: that transition reached a terminal state (no bootstrap);
    ``stop[t]``: the return ends after step ``t`` — a terminal state, or an episode cut by a
    time limit, where the value of the final observation stands in for the rest (so
    truncation bootstraps and termination does not).
    """
    length = reward.shape[0] - n + 1
    target = jnp.zeros((length, *reward.shape[1:]), jnp.float32)
    alive = jnp.ones_like(target)
    discount = 1.0
    for k in range(n):  # n is small and static: a short unrolled loop of shifted slices
        r, b = reward[k : k + length], bootstrap[k : k + length]
        term, end = terminal[k : k + length], stop[k : k + length] | (k == n - 1)
        target = target + alive * discount * (r + gamma * end * (1.0 - term) * b)
        alive = alive * (1.0 - end)
        discount *= gamma
    return target
