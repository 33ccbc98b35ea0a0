"""IPPO/MAPPO compiled end to end (the Anakin shape), behind the one learner protocol.

``make_train(config, env, learners=None)`` returns a :class:`Trainer` whose ``update`` is one pure
function — a ``lax.scan`` over the rollout of ``vmap``-ped envs (:mod:`phalanx.algos.ppo.rollout`),
then GAE and all epochs and minibatches (:mod:`phalanx.algos.ppo.learn`) — and whose ``train(key)``
scans ``update`` over the whole run, so several seeds train in one program with
``jax.vmap(trainer.train)(keys)``. A host loop (the runtime) can instead call ``update`` in
compiled chunks to log and checkpoint between them.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

from phalanx.algos.common import protocol
from phalanx.algos.common.normalize import RunningStats
from phalanx.algos.common.opponents import Opponents, check_learners, check_opponents
from phalanx.algos.ppo import learn as _learn
from phalanx.algos.ppo.config import PPOConfig
from phalanx.algos.ppo.policy import MultiAgentPolicy
from phalanx.algos.ppo.rollout import env_step
from phalanx.algos.ppo.types import Minibatch, TrainState, Transition, UpdateMetrics
from phalanx.envs.environment import Environment
from phalanx.envs.wrappers import VecEnv, wrap_for_training
from phalanx.networks import distributions as dist

__all__ = ["Minibatch", "TrainState", "Trainer", "Transition", "UpdateMetrics", "make_train"]


@dataclasses.dataclass(frozen=True)
class Trainer:
    """The compiled pieces of a PPO run (all pure functions of their inputs)."""

    config: PPOConfig
    env: VecEnv
    policy: MultiAgentPolicy
    optimizer: optax.GradientTransformation
    learners: tuple[str, ...]  # groups trained; the others play fixed opponents

    @property
    def num_updates(self) -> int:
        """PPO updates in the whole run: ``max(1, total_steps // (num_envs * num_steps))``."""
        return self.config.num_updates

    def init(self, key: jax.Array, opponents: Opponents | dict | None = None,
             opponent_weights: jax.Array | None = None) -> TrainState:
        """Parameters, optimiser, envs and statistics at the start of a run.

        When some groups do not learn, ``opponents`` (:class:`Opponents`) gives their population:
        members' :meth:`policy_params` stacked ``(K, ...)`` and the mixture ``(K,)`` each env draws
        its opponent from at every episode start. A plain ``{group: actor params (K, ...)}`` dict
        with ``opponent_weights`` (uniform when None) is accepted too: actors reading raw
        observations. Replace ``state.opponents`` later to change them.
        """
        c, policy = self.config, self.policy
        k_params, k_env, k_run = jax.random.split(key, 3)
        params = policy.init(k_params)
        env_state, ts = self.env.reset(k_env)
        spec = self.env.spec
        obs_stats = state_stats = value_stats = None
        if c.normalize_obs:
            obs_stats = {n: RunningStats.create((int(np.prod(g.observation.shape)),))
                         for n, g in spec.groups.items()}
            if c.critic == "mappo":
                state_stats = RunningStats.create(spec.global_state.shape)
        if c.normalize_values:
            value_stats = {n: RunningStats.create(()) for n in policy.groups}
        if isinstance(opponents, dict):
            opponents = Opponents.create({g: {"actor": p, "obs_stats": None} for g, p in opponents.items()},
                                         opponent_weights)
        opponents, opponent_index = check_opponents(tuple(policy.groups), self.learners, opponents, c.num_envs)
        hidden = policy.initial_hidden(c.num_envs)
        return TrainState(
            params=params, opt_state=self.optimizer.init(params), obs_stats=obs_stats,
            state_stats=state_stats, value_stats=value_stats, env_state=env_state, timestep=ts,
            actor_hidden=hidden, critic_hidden=hidden, key=k_run,
            update_step=jnp.int32(0), env_steps=jnp.int32(0),
            opponents=opponents, opponent_index=opponent_index,
        )

    def update(self, state: TrainState) -> tuple[TrainState, UpdateMetrics]:
        """One PPO update: a rollout of ``num_steps``, GAE, then epochs × minibatches."""
        key, k_roll, k_epochs = jax.random.split(state.key, 3)
        start_hidden = {"actor": state.actor_hidden, "critic": state.critic_hidden}
        state, traj = jax.lax.scan(lambda s, k: env_step(self, s, k), state,
                                   jax.random.split(k_roll, self.config.num_steps))
        return self.learn(state.replace(key=key), traj, start_hidden, k_epochs)

    def learn(self, state: TrainState, traj: Transition, start_hidden: dict,
              key: jax.Array) -> tuple[TrainState, UpdateMetrics]:
        """GAE and epochs × minibatches on a collected rollout (:func:`phalanx.algos.ppo.learn.learn`)."""
        return _learn.learn(self, state, traj, start_hidden, key)

    def _num_chunks(self, rows: int, length: int) -> int:
        return _learn.num_chunks(self, rows, length)

    def train(self, key: jax.Array) -> tuple[TrainState, UpdateMetrics]:
        """A whole run as one function of one key: ``vmap`` it over keys for several seeds."""
        return protocol.train(self, key)

    # ------------------------------------------------------------------ acting
    def initial_hidden(self, batch: int) -> dict[str, jax.Array]:
        """Zero recurrent state of the actors for ``batch`` envs: ``{group: (batch, A, H)}``."""
        return self.policy.initial_hidden(batch)

    def policy_params(self, state: TrainState, group: str) -> dict:
        """``{"actor": params, "obs_stats": RunningStats | None}`` of ``group`` (a fixed group: opponent member 0)."""
        if group not in self.learners:
            return jax.tree.map(lambda p: p[0], state.opponents.params[group])
        stats = None if state.obs_stats is None else state.obs_stats[group]
        return {"actor": state.params[group]["actor"], "obs_stats": stats}

    def act(self, params: dict, group: str, hidden: jax.Array, obs: jax.Array, first: jax.Array, key: jax.Array,
            *, mask: jax.Array | None = None, greedy: bool = False) -> tuple[jax.Array, jax.Array]:
        """One step of ``group`` in ``E`` envs: sampled (or, ``greedy``, most likely) env actions and hidden state."""
        g = self.policy.groups[group]
        x = self.policy.actor_input(group, obs, params["obs_stats"])
        hidden, out = self.policy.act(params["actor"], group, hidden, x, first)
        mask = mask if g.masked else None
        if greedy:
            return dist.greedy(g.space, out, mask, self.config.squash), hidden
        return dist.sample(key, g.space, out, mask, self.config.squash)[0], hidden

    def action_probs(self, params: dict, group: str, obs: jax.Array, mask: jax.Array | None = None) -> jax.Array:
        """``(E, A, n)``: the probabilities ``act`` samples a discrete group's actions with at an episode's first
        step (masked softmax) — a member's exact policy table where observations are information states."""
        x = self.policy.actor_input(group, obs, params["obs_stats"])
        hidden = self.initial_hidden(obs.shape[0])[group]
        _, logits = self.policy.act(params["actor"], group, hidden, x, jnp.ones(obs.shape[0], bool))
        return jnp.exp(dist.masked_log_softmax(logits, mask))


def make_train(config: PPOConfig, env: Environment, learners: tuple[str, ...] | None = None) -> Trainer:
    """Build the :class:`Trainer` for ``env`` (a plain env; wrapping is done here).

    ``learners`` names the groups that learn (default: all). The others act with fixed
    opponents given to :meth:`Trainer.init` — a best response against a population.
    """
    config.validate()
    learners = check_learners(tuple(env.spec.groups), learners)
    venv = wrap_for_training(env, config.num_envs)
    policy = MultiAgentPolicy(env.spec, config)
    total = config.num_updates * config.update_epochs * config.num_minibatches
    lr = optax.linear_schedule(config.lr, 0.0, total) if config.anneal_lr else config.lr
    optimizer = optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(lr, eps=1e-5))
    return Trainer(config, venv, policy, optimizer, learners)
