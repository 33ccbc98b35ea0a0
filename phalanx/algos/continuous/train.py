"""Replay-based continuous learners compiled end to end (the Anakin shape).

One ``update`` is one pure function: a ``lax.scan`` over ``num_steps`` steps of ``vmap``-ped
envs whose transitions go into a replay buffer kept in the :class:`TrainState`, then a
``lax.scan`` of ``gradient_steps`` gradient steps on minibatches drawn from it. The
algorithm (MADDPG or SAC, see :class:`Learner`) only says how to act and how to take one
gradient step; everything else — envs, replay, warm-up, episode statistics — is here.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

import jax
import jax.numpy as jnp
from flax import struct

from phalanx.algos.continuous.buffer import ReplayBuffer
from phalanx.algos.continuous.config import OffPolicyConfig
from phalanx.algos.continuous.inputs import Layout
from phalanx.envs.types import TimeStep
from phalanx.envs.wrappers import VecEnv


@struct.dataclass
class Transition:
    """One env step of every agent, as stored in the replay buffer (batched: leading ``(N,)``).

    Actions are in ``[−1, 1]^k`` (the learners' space, not the env's box).
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

    params: dict  # {group: {"actor", "critic"[, "log_alpha"]}}
    target_params: dict  # {group: {"critic"[, "actor"]}}
    opt_state: dict  # {group: {"actor", "critic"[, "alpha"]}}
    buffer: ReplayBuffer  # of Transition, leaves (buffer_size, ...)
    env_state: Any  # batched env state, (E, ...)
    timestep: TimeStep  # the last timestep, (E, ...)
    key: jax.Array
    update_step: jax.Array  # () int32 updates done
    env_steps: jax.Array  # () int32 env steps done


class Learner(Protocol):
    """What an algorithm supplies to :class:`Trainer` (MADDPG and SAC implement it)."""

    config: OffPolicyConfig
    layout: Layout
    metrics_cls: type
    stores_state: bool  # whether its critics read Transition.state

    def init(self, key: jax.Array) -> tuple[dict, dict, dict]:
        """``(params, target_params, opt_state)`` at the start of a run."""
        ...

    def explore(self, params: dict, obs: dict, key: jax.Array) -> dict:
        """Training actions ``{group: (..., A, k)}`` in ``[−1, 1]`` from flat observations."""
        ...

    def greedy(self, params: dict, obs: dict) -> dict:
        """Deterministic evaluation actions ``{group: (..., A, k)}`` in ``[−1, 1]``."""
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
    learner: Learner

    @property
    def num_updates(self) -> int:
        """Updates in the whole run: ``max(1, total_steps // (num_envs * num_steps))``."""
        return self.config.num_updates

    @property
    def layout(self) -> Layout:
        """The learner's :class:`~phalanx.algos.continuous.inputs.Layout` (groups, input widths)."""
        return self.learner.layout

    def init(self, key: jax.Array) -> TrainState:
        """Networks, optimisers, an empty replay buffer and freshly reset envs."""
        k_params, k_env, k_run = jax.random.split(key, 3)
        params, target_params, opt_state = self.learner.init(k_params)
        env_state, ts = self.env.reset(k_env)
        example = jax.tree.map(lambda x: x[0], self._transition(ts, self.layout.random_actions(k_run, (1,)), ts))
        buffer = ReplayBuffer.create(example, self.config.buffer_size)
        return TrainState(params=params, target_params=target_params, opt_state=opt_state, buffer=buffer,
                          env_state=env_state, timestep=ts, key=k_run, update_step=jnp.int32(0),
                          env_steps=jnp.int32(0))

    # ------------------------------------------------------------------ rollout
    def _transition(self, ts: TimeStep, actions: dict, next_ts: TimeStep) -> Transition:
        layout = self.layout
        num_envs = ts.truncated.shape[0]
        if self.learner.stores_state:
            state, next_state = ts.global_state, next_ts.final_global_state
        else:
            state = next_state = jnp.zeros((num_envs, 0))
        # An agent terminated earlier in the episode no longer acts; after an auto-reset everyone does.
        fresh = ts.episode.completed[:, None]
        return Transition(
            obs=layout.flat_obs(ts.obs), action=actions, reward=next_ts.reward, terminated=next_ts.terminated,
            active={n: ~ts.terminated[n] | fresh for n in layout.groups},
            next_obs=layout.flat_obs(next_ts.final_obs), state=state, next_state=next_state,
        )

    def _env_step(self, state: TrainState, key: jax.Array) -> tuple[TrainState, tuple[Transition, dict]]:
        c, layout = self.config, self.layout
        k_act, k_random, k_env = jax.random.split(key, 3)
        ts = state.timestep
        policy = self.learner.explore(state.params, layout.flat_obs(ts.obs), k_act)
        random = layout.random_actions(k_random, (c.num_envs,))
        warm = state.env_steps < c.warmup_steps  # uniform random actions during warm-up
        actions = {n: jnp.where(warm, random[n], policy[n]) for n in layout.groups}
        env_state, next_ts = self.env.step(k_env, state.env_state, {n: layout.to_env(n, a) for n, a in actions.items()})
        ep = next_ts.episode
        stats = {"end": ep.completed, "returns": {n: r.mean(-1) for n, r in ep.returns.items()}, "length": ep.length}
        new_state = state.replace(env_state=env_state, timestep=next_ts, env_steps=state.env_steps + c.num_envs)
        return new_state, (self._transition(ts, actions, next_ts), stats)

    # ------------------------------------------------------------------ update
    def update(self, state: TrainState) -> tuple[TrainState, Any]:
        """One update: a rollout of ``num_steps`` into the buffer, then ``gradient_steps`` steps."""
        c = self.config
        key, k_roll, k_learn = jax.random.split(state.key, 3)
        state, (items, stats) = jax.lax.scan(self._env_step, state, jax.random.split(k_roll, c.num_steps))
        buffer = state.buffer.add(jax.tree.map(lambda x: x.reshape(x.shape[0] * x.shape[1], *x.shape[2:]), items))

        def learn(nets):
            def body(carry, k):
                k_batch, k_step = jax.random.split(k)
                *carry, info = self.learner.gradient_step(*carry, buffer.sample(k_batch, c.batch_size), k_step)
                return tuple(carry), info

            nets, info = jax.lax.scan(body, nets, jax.random.split(k_learn, c.gradient_steps))
            return nets, jax.tree.map(jnp.mean, info)

        nets = (state.params, state.target_params, state.opt_state)
        _, info_shape = jax.eval_shape(learn, nets)
        skip = lambda nets: (nets, jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), info_shape))  # noqa: E731
        # No gradient step before the buffer holds learning_starts env steps.
        (params, target_params, opt_state), info = jax.lax.cond(buffer.size >= c.learning_starts, learn, skip, nets)

        ends = stats["end"]
        metrics = self.learner.metrics_cls(
            env_steps=state.env_steps,
            episode_return_sum={n: jnp.sum(jnp.where(ends, r, 0.0)) for n, r in stats["returns"].items()},
            episode_length_sum=jnp.sum(jnp.where(ends, stats["length"], 0)).astype(jnp.float32),
            episode_count=jnp.sum(ends).astype(jnp.float32),
            **info,
        )
        state = state.replace(params=params, target_params=target_params, opt_state=opt_state, buffer=buffer,
                              key=key, update_step=state.update_step + 1)
        return state, metrics

    # ------------------------------------------------------------------ acting (evaluation)
    def initial_hidden(self, batch: int) -> dict[str, jax.Array]:
        """Feed-forward actors carry no state: ``{group: (batch, A, 0)}``."""
        return {n: jnp.zeros((batch, g.num_agents, 0)) for n, g in self.layout.groups.items()}

    def act(self, state: TrainState, hidden: dict, key: jax.Array, ts: TimeStep, first: jax.Array,
            greedy: bool = False) -> tuple[dict, dict]:
        """Env actions of every group for a batch of envs ``ts`` (``(E, ...)``): the exploration
        policy (MADDPG: with its noise; SAC: sampled), or the deterministic one when ``greedy``."""
        del first
        obs = self.layout.flat_obs(ts.obs)
        actions = self.learner.greedy(state.params, obs) if greedy else self.learner.explore(state.params, obs, key)
        return hidden, {n: self.layout.to_env(n, a) for n, a in actions.items()}

    def train(self, key: jax.Array) -> tuple[TrainState, Any]:
        """A whole run as one function of one key: ``vmap`` it over keys for several seeds."""
        state = self.init(key)
        return jax.lax.scan(lambda s, _: self.update(s), state, None, length=self.num_updates)
