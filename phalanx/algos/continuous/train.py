"""Replay-based continuous learners compiled end to end (the Anakin shape), behind the one learner protocol.

One ``update`` is one pure function: a ``lax.scan`` over ``num_steps`` steps of ``vmap``-ped
envs whose transitions go into the replay buffer (:class:`~phalanx.algos.replay.ReplayBuffer`,
kept in the :class:`TrainState`), then a ``lax.scan`` of ``gradient_steps`` gradient steps on
minibatches drawn from it. The algorithm (MADDPG or SAC, an :class:`UpdateRule`) only says how
a group acts and how to take one gradient step; envs, replay, warm-up, fixed opponents and
episode statistics are here.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

import jax
import jax.numpy as jnp
from flax import struct

from phalanx.algos.common import protocol
from phalanx.algos.common.episodes import EpisodeSums, active_agents, base_metrics, episode_starts
from phalanx.algos.common.inputs import flatten_obs
from phalanx.algos.common.opponents import Opponents, check_opponents, draw_members, opponent_actions
from phalanx.algos.continuous.config import OffPolicyConfig
from phalanx.algos.continuous.inputs import Layout
from phalanx.algos.replay import ReplayBuffer, ReplayState
from phalanx.envs.types import TimeStep
from phalanx.envs.wrappers import VecEnv


@struct.dataclass
class Transition:
    """One env step, as stored in the replay buffer (batched: leading ``(E,)`` or ``(B,)``).

    Actions are in ``[−1, 1]^k`` (the learners' space, not the env's box); action, reward,
    termination and activity are the learning groups', observations every group's.
    """

    obs: dict  # {group: (A, d)} flat observations
    action: dict  # {group: (A, k)}
    reward: dict  # {group: (A,)}
    terminated: dict  # {group: (A,)} bool: no bootstrapping after this step
    active: dict  # {group: (A,)} bool: the agent was still in the episode and acted
    next_obs: dict  # {group: (A, d)} the observation reached (the final one when an episode ended)
    state: jax.Array  # (S,) global state, or (0,) when no critic reads it
    next_state: jax.Array  # (S,) or (0,); the final global state when an episode ended


@struct.dataclass
class TrainState:
    """Everything a run needs to continue exactly: checkpoint this and resume bit for bit."""

    params: dict  # {group: {"actor", "critic"[, "log_alpha"]}} (learning groups)
    target_params: dict  # {group: {"critic"[, "actor"]}}
    opt_state: dict  # {group: {"actor", "critic"[, "alpha"]}}
    buffer: ReplayState  # flashbax trajectory-buffer state of Transition, leaves (E, capacity, ...)
    env_state: Any  # batched env state, (E, ...)
    timestep: TimeStep  # the last timestep, (E, ...)
    key: jax.Array
    update_step: jax.Array  # () int32 updates done
    env_steps: jax.Array  # () int32 env steps done
    # Fixed opponents for the groups that do not learn (None when every group learns):
    opponents: Opponents | None = None  # members' actor params (K, ...) and mixture weights (K,)
    opponent_index: jax.Array | None = None  # (E,) int32 member playing in each env this episode


class UpdateRule(Protocol):
    """What an algorithm supplies to :class:`Trainer` (MADDPG and SAC implement it)."""

    config: OffPolicyConfig
    layout: Layout
    metrics_cls: type
    stores_state: bool  # whether its critics read Transition.state

    def init(self, key: jax.Array) -> tuple[dict, dict, dict]:
        """``(params, target_params, opt_state)`` of the learning groups at the start of a run."""
        ...

    def action(self, actor_params: Any, name: str, obs: jax.Array, key: jax.Array, greedy: bool) -> jax.Array:
        """Group ``name``'s actions ``(..., A, k)`` in ``[−1, 1]`` from flat observations ``(..., A, d)``:
        exploring (noise or sampling), or deterministic when ``greedy``."""
        ...

    def gradient_step(self, params: dict, target_params: dict, opt_state: dict, batch: Transition,
                      key: jax.Array) -> tuple[dict, dict, dict, dict]:
        """One step on a minibatch (leaves ``(B, ...)``): ``(params, target_params, opt_state, info)``
        with ``info = {metric: {group: ()}}``."""
        ...


@dataclasses.dataclass(frozen=True)
class Trainer:
    """The compiled pieces of an off-policy run (all pure functions of their inputs)."""

    config: OffPolicyConfig
    env: VecEnv
    learner: UpdateRule
    buffer: ReplayBuffer

    @property
    def num_updates(self) -> int:
        """Updates in the whole run: ``max(1, total_steps // (num_envs * num_steps))``."""
        return self.config.num_updates

    @property
    def layout(self) -> Layout:
        """The learner's :class:`~phalanx.algos.continuous.inputs.Layout` (groups, input widths)."""
        return self.learner.layout

    @property
    def learners(self) -> tuple[str, ...]:
        """The groups that learn; the others play fixed opponents (deterministically)."""
        return self.layout.learners

    def init(self, key: jax.Array, opponents: Opponents | None = None) -> TrainState:
        """Networks, optimisers, an empty replay buffer and freshly reset envs (``opponents``: the
        population of the groups that do not learn, members' :meth:`policy_params` stacked ``(K, ...)``)."""
        opponents, opponent_index = check_opponents(tuple(self.layout.groups), self.learners, opponents,
                                                    self.config.num_envs)
        k_params, k_env, k_run = jax.random.split(key, 3)
        params, target_params, opt_state = self.learner.init(k_params)
        env_state, ts = self.env.reset(k_env)
        example = self._transition(ts, self.layout.random_actions(k_run, (self.config.num_envs,)), ts,
                                   jnp.zeros_like(ts.done))
        return TrainState(params=params, target_params=target_params, opt_state=opt_state,
                          buffer=self.buffer.init(example), env_state=env_state, timestep=ts, key=k_run,
                          update_step=jnp.int32(0), env_steps=jnp.int32(0), opponents=opponents,
                          opponent_index=opponent_index)

    # ------------------------------------------------------------------ rollout
    def _transition(self, ts: TimeStep, actions: dict, next_ts: TimeStep, starts: jax.Array) -> Transition:
        layout = self.layout
        num_envs = ts.truncated.shape[0]
        if self.learner.stores_state:
            state, next_state = ts.global_state, next_ts.final_global_state
        else:
            state = next_state = jnp.zeros((num_envs, 0))
        return Transition(
            obs=layout.flat_obs(ts.obs), action=actions, reward={n: next_ts.reward[n] for n in self.learners},
            terminated={n: next_ts.terminated[n] for n in self.learners},
            active={n: active_agents(ts.terminated[n], starts) for n in self.learners},
            next_obs=layout.flat_obs(next_ts.final_obs), state=state, next_state=next_state,
        )

    def _env_step(self, state: TrainState, key: jax.Array) -> tuple[TrainState, tuple[Transition, EpisodeSums]]:
        c, layout = self.config, self.layout
        k_act, k_random, k_env = jax.random.split(key, 3)
        ts = state.timestep
        starts = episode_starts(ts, state.env_steps)
        obs = layout.flat_obs(ts.obs)
        keys = dict(zip(layout.groups, jax.random.split(k_act, len(layout.groups)), strict=True))
        random = layout.random_actions(k_random, (c.num_envs,))
        warm = state.env_steps < c.warmup_steps  # uniform random actions during warm-up
        actions = {n: jnp.where(warm, random[n], self.learner.action(state.params[n]["actor"], n, obs[n], keys[n],
                                                                     False))
                   for n in self.learners}
        env_actions = {n: layout.to_env(n, a) for n, a in actions.items()}
        index = state.opponent_index
        if index is not None:
            k_opp, k_env = jax.random.split(k_env)
            index = draw_members(k_opp, state.opponents, index, starts)
            no_hidden = self.initial_hidden(c.num_envs)
            for n in layout.groups:
                if n not in self.learners:
                    env_actions[n], _ = opponent_actions(self.act, state.opponents, index, n, no_hidden[n], ts.obs[n],
                                                         starts, keys[n], greedy=True)
        env_state, next_ts = self.env.step(k_env, state.env_state, env_actions)
        new_state = state.replace(env_state=env_state, timestep=next_ts, env_steps=state.env_steps + c.num_envs,
                                  opponent_index=index)
        return new_state, (self._transition(ts, actions, next_ts, starts), EpisodeSums.of(next_ts))

    # ------------------------------------------------------------------ update
    def update(self, state: TrainState) -> tuple[TrainState, Any]:
        """One update: a rollout of ``num_steps`` into the buffer, then ``gradient_steps`` steps."""
        key, k_roll, k_learn = jax.random.split(state.key, 3)
        state, (items, sums) = jax.lax.scan(self._env_step, state, jax.random.split(k_roll, self.config.num_steps))
        return self.learn(state.replace(key=key), items, sums.total(), k_learn)

    def learn(self, state: TrainState, items: Transition, sums: EpisodeSums, key: jax.Array) -> tuple[TrainState, Any]:
        """A rollout's ``items`` (``(T, E, ...)``, here or from remote actors) into the buffer, then the gradient
        steps (once ``learning_starts`` env steps are stored); ``sums`` its episode totals (reported)."""
        c = self.config
        buffer = self.buffer.add(state.buffer, items)

        def learn(nets):
            def body(carry, k):
                k_batch, k_step = jax.random.split(k)
                batch = jax.tree.map(lambda x: x[0], self.buffer.sample(buffer, k_batch, c.batch_size))
                *carry, info = self.learner.gradient_step(*carry, batch, k_step)
                return tuple(carry), info

            nets, info = jax.lax.scan(body, nets, jax.random.split(key, c.gradient_steps))
            return nets, jax.tree.map(jnp.mean, info)

        nets = (state.params, state.target_params, state.opt_state)
        _, info_shape = jax.eval_shape(learn, nets)
        skip = lambda nets: (nets, jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), info_shape))  # noqa: E731
        # No gradient step before the buffer holds learning_starts env steps.
        ready = jnp.minimum(state.env_steps, self.buffer.capacity * c.num_envs) >= c.learning_starts
        (params, target_params, opt_state), info = jax.lax.cond(ready, learn, skip, nets)
        metrics = self.learner.metrics_cls(**base_metrics(state.env_steps, sums), **info)
        state = state.replace(params=params, target_params=target_params, opt_state=opt_state, buffer=buffer,
                              update_step=state.update_step + 1)
        return state, metrics

    def train(self, key: jax.Array) -> tuple[TrainState, Any]:
        """A whole run as one function of one key: ``vmap`` it over keys for several seeds."""
        return protocol.train(self, key)

    # ------------------------------------------------------------------ acting
    def initial_hidden(self, batch: int) -> dict[str, jax.Array]:
        """Feed-forward actors carry no state: ``{group: (batch, A, 0)}``."""
        return {n: jnp.zeros((batch, g.num_agents, 0)) for n, g in self.layout.groups.items()}

    def policy_params(self, state: TrainState, group: str) -> Any:
        """Group ``group``'s actor parameters (a fixed group: opponent member 0)."""
        if group not in self.learners:
            return jax.tree.map(lambda p: p[0], state.opponents.params[group])
        return state.params[group]["actor"]

    def act(self, params: Any, group: str, hidden: jax.Array, obs: jax.Array, first: jax.Array, key: jax.Array,
            *, mask: jax.Array | None = None, greedy: bool = False) -> tuple[jax.Array, jax.Array]:
        """One step of ``group`` in ``E`` envs: env-box actions ``(E, A, k)`` — exploring (MADDPG: with its
        noise; SAC: sampled), or deterministic when ``greedy`` — and the (empty) hidden state."""
        del first, mask
        obs = flatten_obs(obs, self.layout.groups[group].obs_ndim)
        return self.layout.to_env(group, self.learner.action(params, group, obs, key, greedy)), hidden
