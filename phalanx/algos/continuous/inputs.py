"""What the networks see: actor inputs, critic inputs and joint actions, per group.

:class:`Layout` holds the static shapes of an env's groups. Observations are flattened
per agent (``(..., A, d)``); actions are handled in ``[−1, 1]^k`` and mapped to the env's
action box only when the env is stepped.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from phalanx.algos.common.inputs import flatten_obs, with_agent_id
from phalanx.algos.continuous.config import OffPolicyConfig
from phalanx.envs.spaces import Box
from phalanx.envs.types import EnvSpec
from phalanx.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class GroupLayout:
    """Static facts about one group: agents, flat observation width, action width and bounds."""

    num_agents: int
    obs_ndim: int  # dims of one agent's observation
    obs_dim: int
    action_dim: int
    low: float
    high: float


def check_continuous(spec: EnvSpec, algo: str) -> None:
    """Raise :class:`ConfigError` unless every group acts in a bounded ``Box``."""
    for name, g in spec.groups.items():
        if not isinstance(g.action, Box):
            raise ConfigError(
                f"algo={algo} needs continuous (Box) actions, but group {name!r} has {g.action}; use "
                "ippo/mappo (or iql/vdn/qmix) for discrete actions, or the env's continuous variant "
                "(e.g. env.continuous_actions=true for MPE)."
            )
        if not (np.isfinite(g.action.low) and np.isfinite(g.action.high)) or len(g.action.shape) != 1:
            raise ConfigError(
                f"algo={algo} needs a bounded 1-D action box, but group {name!r} has {g.action}."
            )


class Layout:
    """Shapes and input builders for every group of ``spec``.

    Args:
        spec: the env's spec (every group with a bounded 1-D ``Box`` action).
        config: the learner's settings (``agent_id``, ``critic_input``).
        learners: the groups that learn (default: all); joint actions are theirs only, the
            other groups' fixed policies being part of the environment the critics value.
    """

    def __init__(self, spec: EnvSpec, config: OffPolicyConfig, learners: tuple[str, ...] | None = None):
        self.agent_id = config.agent_id
        self.learners = tuple(spec.groups) if learners is None else tuple(learners)
        self.critic_input = config.critic_input
        self.groups = {
            name: GroupLayout(g.num_agents, len(g.observation.shape), int(np.prod(g.observation.shape)),
                              int(g.action.shape[0]), float(g.action.low), float(g.action.high))
            for name, g in spec.groups.items()
        }
        if config.critic_input == "state":
            if len(spec.global_state.shape) != 1:
                raise ConfigError(f"train.critic_input=state needs a 1-D global state; the env's is "
                                  f"{spec.global_state.shape}. Use train.critic_input=obs.")
            self.central_dim = int(spec.global_state.shape[0])
        else:
            self.central_dim = sum(g.num_agents * g.obs_dim for g in self.groups.values())
        self.joint_action_dim = sum(self.groups[n].num_agents * self.groups[n].action_dim for n in self.learners)

    # ---------------------------------------------------------------- actions
    def to_env(self, name: str, action: jax.Array) -> jax.Array:
        """``[−1, 1]`` actions of group ``name`` → its action box."""
        g = self.groups[name]
        return g.low + (action + 1.0) * 0.5 * (g.high - g.low)

    def random_actions(self, key: jax.Array, batch: tuple[int, ...]) -> dict[str, jax.Array]:
        """Uniform actions in ``[−1, 1]`` of the learning groups: ``{group: (*batch, A, k)}``."""
        keys = jax.random.split(key, len(self.learners))
        return {name: jax.random.uniform(k, (*batch, self.groups[name].num_agents, self.groups[name].action_dim),
                                         minval=-1.0, maxval=1.0)
                for k, name in zip(keys, self.learners, strict=True)}

    def joint(self, actions: dict[str, jax.Array]) -> jax.Array:
        """Every learning agent's action in group order: ``{group: (..., A, k)} -> (..., J)``."""
        return jnp.concatenate([actions[n].reshape(*actions[n].shape[:-2], -1) for n in self.learners], axis=-1)

    def joint_with_own(self, actions: dict[str, jax.Array], name: str, own: jax.Array) -> jax.Array:
        """For each agent ``i`` of group ``name``, the joint action with agent ``i``'s own
        replaced by ``own[..., i, :]`` (the others keep ``actions``).

        ``actions``: ``{group: (..., A, k)}``; ``own``: ``(..., A_name, k)`` →
        ``(..., A_name, J)``. Gradients reach ``own[..., i, :]`` only through row ``i``.
        """
        num = own.shape[-2]
        eye = jnp.eye(num, dtype=bool)[:, :, None]  # (rows i, agents j, 1)
        blocks = []
        for group in self.learners:
            a = actions[group]
            if group == name:
                block = jnp.where(eye, own[..., None, :, :], a[..., None, :, :])
            else:
                block = jnp.broadcast_to(a[..., None, :, :], (*a.shape[:-2], num, *a.shape[-2:]))
            blocks.append(block.reshape(*block.shape[:-2], -1))
        return jnp.concatenate(blocks, axis=-1)

    # ---------------------------------------------------------------- observations
    def flat_obs(self, obs: dict[str, jax.Array]) -> dict[str, jax.Array]:
        """``{group: (..., A, *obs_shape)} -> {group: (..., A, d)}`` float32."""
        return {name: flatten_obs(obs[name], g.obs_ndim) for name, g in self.groups.items()}

    def actor_input(self, name: str, obs: jax.Array) -> jax.Array:
        """Group ``name``'s actor input from its flat observations ``(..., A, d)``."""
        return with_agent_id(obs) if self.agent_id else obs

    def actor_input_dim(self, name: str) -> int:
        """Width ``d [+ A]`` of group ``name``'s actor input: flat obs, plus a one-hot agent id when ``agent_id``."""
        g = self.groups[name]
        return g.obs_dim + (g.num_agents if self.agent_id else 0)

    def central(self, obs: dict[str, jax.Array], state: jax.Array) -> jax.Array:
        """A centralised critic's view: the global state ``(..., S)`` or every agent's observation."""
        if self.critic_input == "state":
            return state
        return jnp.concatenate([obs[n].reshape(*obs[n].shape[:-2], -1) for n in self.groups], axis=-1)

    def central_input(self, name: str, central: jax.Array) -> jax.Array:
        """``(..., C) -> (..., A, C [+ A])``: the centralised view for each agent of group
        ``name``, with its one-hot index when the group's critic serves several agents."""
        num = self.groups[name].num_agents
        x = jnp.broadcast_to(central[..., None, :], (*central.shape[:-1], num, central.shape[-1]))
        return with_agent_id(x) if num > 1 else x

    def central_input_dim(self, name: str) -> int:
        """Width ``C [+ A]`` of group ``name``'s centralised critic input (:meth:`central_input`): the one-hot
        agent id is added only when the group has more than one agent.
        """
        num = self.groups[name].num_agents
        return self.central_dim + (num if num > 1 else 0)
