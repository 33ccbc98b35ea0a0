"""Per-group actors and critics: one network shared by a group's agents, one per group."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from phalanx.algos.common.inputs import agent_inputs, with_agent_id
from phalanx.algos.common.normalize import RunningStats
from phalanx.algos.ppo.config import PPOConfig
from phalanx.envs.spaces import Box
from phalanx.envs.types import EnvSpec, TimeStep
from phalanx.networks import Actor, Critic
from phalanx.networks import distributions as dist


@dataclasses.dataclass(frozen=True)
class GroupPolicy:
    """Everything static about one group's networks and action space."""

    num_agents: int
    space: object
    actor: Actor
    critic: Critic
    actor_in_dim: int
    critic_in_dim: int
    masked: bool  # discrete spaces carry an action mask


class MultiAgentPolicy:
    """Builds and applies the actor and critic of every group of ``spec``.

    Inputs get a leading time axis inside; callers pass ``(T, E, A, ...)`` arrays.
    """

    def __init__(self, spec: EnvSpec, config: PPOConfig):
        self.spec = spec
        self.config = config
        self.groups: dict[str, GroupPolicy] = {}
        for name, g in spec.groups.items():
            ids = g.num_agents if config.agent_id else 0
            obs_dim = int(np.prod(g.observation.shape))
            critic_dim = (spec.global_state.shape[0] if config.critic == "mappo" else obs_dim) + ids
            continuous = isinstance(g.action, Box)
            self.groups[name] = GroupPolicy(
                num_agents=g.num_agents,
                space=g.action,
                actor=Actor(dist.num_outputs(g.action), continuous, config.hidden, config.activation,
                            config.recurrent_size),
                critic=Critic(config.hidden, config.activation, config.recurrent_size),
                actor_in_dim=obs_dim + ids,
                critic_in_dim=critic_dim,
                masked=not continuous,
            )

    def init(self, key: jax.Array) -> dict:
        """``{group: {"actor": params, "critic": params}}``."""
        params = {}
        for k, (name, g) in zip(jax.random.split(key, len(self.groups)), self.groups.items(), strict=True):
            ka, kc = jax.random.split(k)
            h = self.initial_hidden(1)[name]
            resets = jnp.zeros((1, 1, g.num_agents), bool)
            params[name] = {
                "actor": g.actor.init(ka, h, jnp.zeros((1, 1, g.num_agents, g.actor_in_dim)), resets),
                "critic": g.critic.init(kc, h, jnp.zeros((1, 1, g.num_agents, g.critic_in_dim)), resets),
            }
        return params

    def initial_hidden(self, batch: int) -> dict[str, jax.Array]:
        """Zero recurrent state ``{group: (batch, A, H)}`` (H = 0 for feed-forward)."""
        return {n: jnp.zeros((batch, g.num_agents, self.config.recurrent_size)) for n, g in self.groups.items()}

    def inputs(
        self, ts: TimeStep, obs_stats: dict[str, RunningStats] | None, state_stats: RunningStats | None,
        final: bool = False,
    ) -> tuple[dict[str, jax.Array], dict[str, jax.Array]]:
        """Actor and critic inputs ``{group: (E, A, d)}`` from a batched timestep.

        ``final=True`` uses the pre-reset observation (for bootstrapping values).
        """
        obs = ts.final_obs if final else ts.obs
        state = ts.final_global_state if final else ts.global_state
        if state_stats is not None:
            state = state_stats.normalize(state)
        actor_in, critic_in = {}, {}
        for name in self.groups:
            stats = None if obs_stats is None else obs_stats[name]
            o = agent_inputs(obs[name], len(self.spec.groups[name].observation.shape), stats)
            if self.config.critic == "mappo":
                c = jnp.broadcast_to(state[:, None, :], (*o.shape[:2], state.shape[-1]))
            else:
                c = o
            if self.config.agent_id:
                o, c = with_agent_id(o), with_agent_id(c)
            actor_in[name], critic_in[name] = o, c
        return actor_in, critic_in

    def actor_input(self, name: str, obs: jax.Array, stats: RunningStats | None) -> jax.Array:
        """Group ``name``'s actor input ``(E, A, d)`` from its raw observations ``(E, A, *obs_shape)``."""
        return agent_inputs(obs, len(self.spec.groups[name].observation.shape), stats, self.config.agent_id)

    def act(self, actor_params, name: str, hidden: jax.Array, actor_in: jax.Array, first: jax.Array):
        """One step of group ``name``'s actor: ``actor_in (E, A, d)``, ``first (E,)`` episode starts.

        Returns ``(hidden (E, A, H), outputs)`` with outputs ``logits (E, A, n)`` or, for continuous
        actions, ``(mean (E, A, k), log_std (k,))`` (what :mod:`phalanx.networks.distributions` reads).
        """
        resets = jnp.broadcast_to(first[..., None], actor_in.shape[:-1])
        hidden, out = self.groups[name].actor.apply(actor_params, hidden, actor_in[None], resets[None])
        if isinstance(out, tuple):
            return hidden, (out[0][0], out[1])
        return hidden, out[0]

    def actor_outputs(self, params, name: str, hidden, actor_in, resets):
        """Apply group ``name``'s actor over a ``(T, E, A, d)`` sequence."""
        resets = jnp.broadcast_to(resets[..., None], actor_in.shape[:-1])
        return self.groups[name].actor.apply(params[name]["actor"], hidden, actor_in, resets)

    def values(self, params, name: str, hidden, critic_in, resets):
        """Apply group ``name``'s critic over a ``(T, E, A, d)`` sequence → ``(T, E, A)``."""
        resets = jnp.broadcast_to(resets[..., None], critic_in.shape[:-1])
        return self.groups[name].critic.apply(params[name]["critic"], hidden, critic_in, resets)
