"""What a network reads: flattened observations, optionally normalised, plus a one-hot agent id.

Every learner builds its per-agent inputs here, so a group's actor sees the same thing in
training, evaluation and when it plays as another learner's fixed opponent.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from phalanx.algos.common.normalize import RunningStats


def flatten_obs(obs: jax.Array, obs_ndim: int) -> jax.Array:
    """``(..., A, *obs_shape) -> (..., A, d)`` float32, where ``obs_shape`` has ``obs_ndim`` dims."""
    return obs.reshape(*obs.shape[: obs.ndim - obs_ndim], -1).astype(jnp.float32)


def with_agent_id(x: jax.Array) -> jax.Array:
    """Append each agent's one-hot index within its group: ``(..., A, d) -> (..., A, d + A)``."""
    num = x.shape[-2]
    return jnp.concatenate([x, jnp.broadcast_to(jnp.eye(num, dtype=x.dtype), (*x.shape[:-1], num))], axis=-1)


def agent_inputs(obs: jax.Array, obs_ndim: int, stats: RunningStats | None = None,
                 agent_id: bool = False) -> jax.Array:
    """One group's network input from its raw observations ``(..., A, *obs_shape)``.

    Flattened per agent, normalised with ``stats`` when given (statistics of the flat
    observation, ``(d,)``), then the one-hot agent id appended when ``agent_id``:
    ``(..., A, d [+ A])``.
    """
    x = flatten_obs(obs, obs_ndim)
    if stats is not None:
        x = stats.normalize(x)
    return with_agent_id(x) if agent_id else x
