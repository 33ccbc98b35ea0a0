"""The data that flows out of an environment: specs and the per-step ``TimeStep``."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import struct

from phalanx.envs.spaces import Box, Space


@dataclasses.dataclass(frozen=True)
class GroupSpec:
    """What one group (role) of agents sees and does.

    Attributes:
        num_agents: agents in the group; the leading axis of all its arrays.
        observation: one agent's observation space; the group's obs is ``(A, *shape)``.
        action: one agent's action space.
        has_action_mask: whether legal actions vary (the mask may then contain False).
    """

    num_agents: int
    observation: Box
    action: Space
    has_action_mask: bool = False


@dataclasses.dataclass(frozen=True)
class EnvSpec:
    """All groups of an env, in a fixed order, and its global state for critics."""

    groups: dict[str, GroupSpec]
    global_state: Box

    @property
    def num_agents(self) -> int:
        """Agents over all groups."""
        return sum(g.num_agents for g in self.groups.values())


@struct.dataclass
class EpisodeStats:
    """Statistics of the episode that ended on this step (zeros when ``completed`` is False).

    Attributes:
        returns: ``{group: (A,)}`` undiscounted return of each agent in the episode.
        length: ``()`` int32 number of steps in the episode.
        completed: ``()`` bool, whether an episode ended on this step.
        metrics: ``{name: ()}`` float32: each of the env's episode metrics (``TimeStep.info``) as it
            stood on the episode's last step, e.g. SMAX's ``win_rate`` (1 for a won battle); learners
            average them over the episodes that ended, so a won flag reads as a win rate.
    """

    returns: dict[str, jax.Array]
    length: jax.Array
    completed: jax.Array
    metrics: dict[str, jax.Array] = struct.field(default_factory=dict)


@struct.dataclass
class TimeStep:
    """What every agent receives after ``reset`` or ``step``.

    Attributes:
        obs: ``{group: (A, *obs_shape)}`` float32 observations.
        action_mask: ``{group: (A, mask_size)}`` bool legal actions, for every group with
            discrete actions (all True where the env has no masks).
        reward: ``{group: (A,)}`` float32 reward from the last transition.
        terminated: ``{group: (A,)}`` bool: the agent reached a terminal state of the game
            (no value to bootstrap after it).
        truncated: ``()`` bool: the episode was cut by a time limit (bootstrap from
            ``final_obs``).
        global_state: ``(S,)`` float32 state for centralised critics.
        final_obs: ``{group: (A, *obs_shape)}`` the observation reached by this step, before
            any automatic reset replaced ``obs`` (identical to ``obs`` without auto-reset).
        final_global_state: ``(S,)`` likewise for the global state.
        episode: episode statistics, filled by :class:`~phalanx.envs.EpisodeStatistics`.
        info: ``{name: ()}`` episode metrics the env reports on every step (the same names from
            ``reset`` and ``step``), read on an episode's last step into ``episode.metrics``;
            empty for most envs. Any env can declare one this way; no learner code names them.
    """

    obs: dict[str, jax.Array]
    action_mask: dict[str, jax.Array]
    reward: dict[str, jax.Array]
    terminated: dict[str, jax.Array]
    truncated: jax.Array
    global_state: jax.Array
    final_obs: dict[str, jax.Array]
    final_global_state: jax.Array
    episode: EpisodeStats | None = None
    info: dict[str, jax.Array] = struct.field(default_factory=dict)

    @property
    def done(self) -> jax.Array:
        """Whether the episode is over (every agent terminated, or truncated): ``()`` for one env,
        ``(E,)`` for a batch (agents are reduced along their own axis only, never across envs)."""
        all_terminated = jnp.stack([t.all(-1) for t in jax.tree.leaves(self.terminated)]).all(0)
        return all_terminated | self.truncated


def make_timestep(
    obs: dict[str, jax.Array],
    action_mask: dict[str, jax.Array],
    reward: dict[str, jax.Array],
    terminated: dict[str, jax.Array],
    truncated: jax.Array,
    global_state: jax.Array,
) -> TimeStep:
    """A ``TimeStep`` straight from an env (``final_obs`` is the observation itself)."""
    return TimeStep(
        obs=obs,
        action_mask=action_mask,
        reward=reward,
        terminated=terminated,
        truncated=jnp.asarray(truncated, jnp.bool_),
        global_state=global_state,
        final_obs=obs,
        final_global_state=global_state,
    )


def full_mask(num_agents: int, space: Space) -> jax.Array:
    """An all-legal action mask ``(A, mask_size)`` for envs without varying legal actions."""
    return jnp.ones((num_agents, space.mask_size), jnp.bool_)
