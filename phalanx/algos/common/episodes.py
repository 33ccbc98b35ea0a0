"""Episode boundaries, the "active agent" rule and the four metrics every learner reports.

Every learner's per-update metrics start with :class:`BaseMetrics` (``env_steps``,
``episode_return_sum``, ``episode_length_sum``, ``episode_count``): episode statistics are
sums and a count, divided on the host, so chunks and seeds aggregate exactly. An env's episode
metrics (``EpisodeStats.metrics``, e.g. SMAX's ``win_rate``) travel the same way, as
``episode_metric_sums``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from phalanx.envs.types import TimeStep


def episode_starts(ts: TimeStep, env_steps: jax.Array) -> jax.Array:
    """``(E,)`` bool: the step about to be taken from ``ts`` begins an episode.

    A new episode starts where the last step ended one (auto-reset), and at a run's very first step.
    """
    return ts.done | (env_steps == 0)


def active_agents(terminated: jax.Array, starts: jax.Array) -> jax.Array:
    """``(E, A)`` bool: the agent is in the game and acts on this step.

    Agents terminated earlier in the episode (tagged out) do not act; everyone acts after a reset.
    ``terminated``: ``(E, A)`` of the timestep acted on; ``starts``: ``(E,)`` from :func:`episode_starts`.
    """
    return ~terminated | starts[:, None]


@struct.dataclass
class EpisodeSums:
    """Episodes that ended, summed over envs (and over steps once :meth:`total` is taken)."""

    return_sum: dict  # {group: (...)} sum of ended episodes' returns (each the mean over the group's agents)
    length_sum: jax.Array  # (...)
    count: jax.Array  # (...)
    metric_sums: dict = struct.field(default_factory=dict)  # {name: (...)} sum of the env's episode metrics

    @classmethod
    def of(cls, ts: TimeStep) -> EpisodeSums:
        """The episodes that ended on the step that produced ``ts`` (batched ``(E, ...)``)."""
        ep = ts.episode
        end = ep.completed
        return cls(
            return_sum={g: jnp.sum(jnp.where(end, r.mean(-1), 0.0)) for g, r in ep.returns.items()},
            length_sum=jnp.sum(jnp.where(end, ep.length, 0)).astype(jnp.float32),
            count=jnp.sum(end).astype(jnp.float32),
            metric_sums={k: jnp.sum(jnp.where(end, v, 0.0)) for k, v in ep.metrics.items()},
        )

    def total(self) -> EpisodeSums:
        """Summed over every leading axis (e.g. the rollout's steps)."""
        return jax.tree.map(jnp.sum, self)


@struct.dataclass
class BaseMetrics:
    """What every learner's update reports; learners subclass it with their own ``{group: ()}`` or ``()`` fields."""

    env_steps: jax.Array  # () env steps done, this update's rollout included
    episode_return_sum: dict  # {group: ()}
    episode_length_sum: jax.Array  # ()
    episode_count: jax.Array  # ()
    # {name: ()} sums of the env's episode metrics (EpisodeStats.metrics) over the episodes that ended;
    # keyword-only with a default, so learners' metrics that do not carry them need no change.
    episode_metric_sums: dict = struct.field(default_factory=dict, kw_only=True)


def base_metrics(env_steps: jax.Array, sums: EpisodeSums) -> dict:
    """The :class:`BaseMetrics` fields as keyword arguments, from an update's (already totalled) sums."""
    return {"env_steps": env_steps, "episode_return_sum": sums.return_sum,
            "episode_length_sum": sums.length_sum, "episode_count": sums.count,
            "episode_metric_sums": sums.metric_sums}
