"""The offline learner: gradient steps on an on-device dataset, then greedy play in the env, in one update.

``update`` is pure: a ``lax.scan`` of gradient steps, each on rows drawn from :class:`OfflineData`
(behaviour cloning or IQL+CQL, per group, parameters shared within a group), followed by a ``lax.scan``
of evaluation steps of auto-resetting envs where every group acts greedily, whose finished episodes are
the run's returns. The dataset is a constant of the compiled program (it is not part of the train state,
so checkpoints hold parameters only); a learner built without one (``phalanx eval``, restoring a
checkpoint) acts but cannot update.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from phalanx.algos.common.episodes import BaseMetrics, EpisodeSums, base_metrics
from phalanx.algos.common.inputs import flatten_obs, with_agent_id
from phalanx.algos.common.opponents import Opponents
from phalanx.algos.common.protocol import train
from phalanx.algos.offline.config import OfflineConfig
from phalanx.algos.offline.data import OfflineData
from phalanx.algos.offline.losses import (
    bc_continuous_loss,
    bc_discrete_loss,
    iql_cql_loss,
    qmix_cql_loss,
    uniform_legal_actions,
)
from phalanx.algos.value_based.networks import QMixer, QNetwork, fan_in_uniform_init
from phalanx.algos.value_based.targets import NEG_INF, legal, masked_argmax
from phalanx.envs.spaces import Box, Discrete
from phalanx.envs.wrappers import wrap_for_training
from phalanx.errors import ConfigError


@struct.dataclass
class OfflineState:
    """Train state: parameters, target parameters (IQL+CQL), optimiser, evaluation envs and counters."""

    params: dict  # {group: {"net": network params[, "mixer": QMIX mixer params]}}
    target: dict  # {group: target copy of params[group]} ({} for behaviour cloning)
    opt_state: Any
    env_state: Any
    timestep: Any
    key: jax.Array
    env_steps: jax.Array  # evaluation env steps so far
    grad_steps: jax.Array


@struct.dataclass
class OfflineMetrics(BaseMetrics):
    """Per update: the base episode metrics of the greedy evaluation envs, and each group's losses."""

    loss: dict  # {group: ()} mean loss over the update's gradient steps
    td_loss: dict  # {group: ()} (0 for behaviour cloning)
    cql_loss: dict  # {group: ()} (0 for behaviour cloning)
    q_mean: dict  # {group: ()} mean Q of the data's actions (0 for behaviour cloning)


@dataclasses.dataclass(frozen=True)
class OfflineTrainer:
    """A :class:`~phalanx.algos.common.protocol.Learner` that learns from ``data`` (see the module docstring)."""

    config: OfflineConfig
    env: Any  # the vectorised evaluation env
    data: OfflineData | None
    optimizer: optax.GradientTransformation

    @property
    def num_updates(self) -> int:
        """Updates in the whole run."""
        return self.config.num_updates

    def _spec(self, group: str) -> Any:
        return self.env.spec.groups[group]

    def _net(self, group: str) -> QNetwork:
        action = self._spec(group).action
        width = action.n if isinstance(action, Discrete) else math.prod(action.shape)
        return QNetwork(width, tuple(self.config.hidden), self.config.activation, 0)

    def _outputs(self, params: Any, group: str, x: jax.Array) -> jax.Array:
        """Network outputs for flat observations ``x`` ``(..., A, O)``: logits, Qs or raw actions."""
        if self.config.agent_id:
            x = with_agent_id(x)
        return self._net(group).apply(params, jnp.zeros((*x.shape[:-1], 0)), x, jnp.zeros(x.shape[:-1], bool))[1]

    def _mixer(self, group: str) -> QMixer:
        return QMixer(self._spec(group).num_agents, self.config.mixer_embed, self.config.hypernet_embed)

    def _box_action(self, group: str, out: jax.Array) -> jax.Array:
        action = self._spec(group).action
        return action.low + (jnp.tanh(out) + 1.0) * 0.5 * (action.high - action.low)

    def init(self, key: jax.Array, opponents: Opponents | None = None) -> OfflineState:
        """Fresh networks for every group and ``num_envs`` reset evaluation envs."""
        if opponents is not None:
            raise ConfigError("offline learners train every group from the dataset; they take no opponents.")
        k_env, k_params, key = jax.random.split(key, 3)
        env_state, ts = self.env.reset(k_env)
        params = {}
        for g, k in zip(self.env.spec.groups, jax.random.split(k_params, len(self.env.spec.groups)), strict=True):
            spec = self._spec(g)
            a = spec.num_agents
            x = jnp.zeros((1, a, math.prod(spec.observation.shape) + (a if self.config.agent_id else 0)))
            k_net, k_mix = jax.random.split(k)
            params[g] = {"net": self._net(g).init(k_net, jnp.zeros((1, a, 0)), x, jnp.zeros((1, a), bool))}
            if self.config.method == "qmix_cql":
                like = self._mixer(g).init(k_mix, jnp.zeros((1, a)), jnp.zeros((1, *self.env.spec.global_state.shape)))
                params[g]["mixer"] = fan_in_uniform_init(k_mix, like)
        target = params if self.config.method != "bc" else {}
        return OfflineState(params, target, self.optimizer.init(params), env_state, ts, key, jnp.int32(0),
                            jnp.int32(0))

    def initial_hidden(self, batch: int) -> dict[str, jax.Array]:
        """Feed-forward: ``{group: (batch, A, 0)}``."""
        return {g: jnp.zeros((batch, s.num_agents, 0)) for g, s in self.env.spec.groups.items()}

    def policy_params(self, state: OfflineState, group: str) -> Any:
        """The group's network parameters (``{"net": ...}``; a QMIX mixer only trains)."""
        return {"net": state.params[group]["net"]}

    def act(self, params: Any, group: str, hidden: jax.Array, obs: jax.Array, first: jax.Array, key: jax.Array,
            *, mask: jax.Array | None = None, greedy: bool = False) -> tuple[jax.Array, jax.Array]:
        """Greedy (``argmax`` Q or logits; the squashed mean) or, for BC with ``greedy=False``, sampled actions."""
        del first
        out = self._outputs(params["net"], group, flatten_obs(obs, len(self._spec(group).observation.shape)))
        if isinstance(self._spec(group).action, Box):
            return self._box_action(group, out), hidden
        mask = jnp.ones(out.shape, bool) if mask is None else mask
        if greedy or self.config.method != "bc":
            return masked_argmax(out, mask), hidden
        return jax.random.categorical(key, jnp.where(legal(mask), out, NEG_INF)).astype(jnp.int32), hidden

    def _group_loss(self, params: Any, target: Any, group: str, batch: OfflineData,
                    key: jax.Array) -> tuple[jax.Array, tuple]:
        out = self._outputs(params["net"], group, batch.obs)
        zero = jnp.float32(0.0)
        if isinstance(self._spec(group).action, Box):
            return bc_continuous_loss(self._box_action(group, out), batch.actions.reshape(out.shape)), (zero,) * 3
        mask = jnp.ones(out.shape, bool) if batch.legals is None else batch.legals
        if self.config.method == "bc":
            return bc_discrete_loss(out, batch.actions, mask), (zero,) * 3
        next_mask = jnp.ones(out.shape, bool) if batch.next_legals is None else batch.next_legals
        c = self.config
        q_next = self._outputs(params["net"], group, batch.next_obs)
        q_next_target = self._outputs(target["net"], group, batch.next_obs)
        if c.method == "iql_cql":
            return iql_cql_loss(out, q_next, q_next_target, batch.actions, mask, next_mask, batch.rewards,
                                batch.terminals, batch.td_valid, c.gamma, c.cql_weight, c.double_q)
        mixer = self._mixer(group)
        ood = uniform_legal_actions(key, mask, c.num_ood_actions)
        # One mixer call per state: the hypernetworks see (B, S) once and mix every (K + 1, B, A) Q vector.
        return qmix_cql_loss(out, q_next, q_next_target, batch.actions, next_mask, ood,
                             lambda qs: mixer.apply(params["mixer"], qs, batch.state),
                             lambda qs: mixer.apply(target["mixer"], qs, batch.next_state),
                             batch.rewards.mean(-1), (batch.terminals > 0).all(-1), batch.td_valid,
                             c.gamma, c.cql_weight, c.double_q)

    def _loss(self, params: dict, target: dict, batch: OfflineData, key: jax.Array) -> tuple[jax.Array, dict]:
        losses, aux = {}, {}
        for g, k in zip(self.env.spec.groups, jax.random.split(key, len(self.env.spec.groups)), strict=True):
            losses[g], aux[g] = self._group_loss(params[g], target.get(g, params[g]), g, batch.group(g), k)
        return sum(losses.values()), (losses, aux)

    def _grad_step(self, carry: tuple, key: jax.Array) -> tuple[tuple, tuple]:
        params, target, opt_state, count = carry
        k_batch, k_loss = jax.random.split(key)
        batch = self.data.sample(k_batch, self.config.batch_size)
        grads, (losses, aux) = jax.grad(self._loss, has_aux=True)(params, target, batch, k_loss)
        updates, opt_state = self.optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        count = count + 1
        return (params, self._next_target(target, params, count), opt_state, count), (losses, aux)

    def _next_target(self, target: Any, params: Any, count: jax.Array) -> Any:
        """Target networks after gradient step ``count``: a hard copy every ``target_update_every`` steps."""
        if not target:
            return target
        copy = count % self.config.target_update_every == 0
        return jax.tree.map(lambda t, p: jnp.where(copy, p, t), target, params)

    def _eval_step(self, state: OfflineState, key: jax.Array) -> tuple[OfflineState, EpisodeSums]:
        k_act, k_env = jax.random.split(key)
        ts, groups = state.timestep, self.env.spec.groups
        hidden, actions = self.initial_hidden(self.config.num_envs), {}
        for g, k in zip(groups, jax.random.split(k_act, len(groups)), strict=True):
            actions[g], _ = self.act(state.params[g], g, hidden[g], ts.obs[g], ts.done, k,
                                     mask=ts.action_mask.get(g), greedy=True)
        env_state, nts = self.env.step(k_env, state.env_state, actions)
        state = state.replace(env_state=env_state, timestep=nts, env_steps=state.env_steps + self.config.num_envs)
        return state, EpisodeSums.of(nts)

    def update(self, state: OfflineState) -> tuple[OfflineState, OfflineMetrics]:
        """``grad_steps_per_update`` gradient steps on the dataset, then ``eval_steps`` greedy env steps."""
        if self.data is None:
            raise ConfigError("this offline learner was built without a dataset: give data=PATH to train it.")
        c = self.config
        key, k_grad, k_eval = jax.random.split(state.key, 3)
        carry = (state.params, state.target, state.opt_state, state.grad_steps)
        (params, target, opt_state, count), (losses, aux) = jax.lax.scan(
            self._grad_step, carry, jax.random.split(k_grad, c.grad_steps_per_update))
        state = state.replace(params=params, target=target, opt_state=opt_state, grad_steps=count, key=key)
        state, sums = jax.lax.scan(self._eval_step, state, jax.random.split(k_eval, c.eval_steps))
        return state, self._metrics(state, sums, losses, aux)

    def _metrics(self, state: OfflineState, sums: EpisodeSums, losses: dict, aux: dict) -> OfflineMetrics:
        """An update's metrics from its gradient steps' losses and ``(td, cql, q)`` aux terms."""
        mean = lambda i: {g: jnp.mean(a[i]) for g, a in aux.items()}  # noqa: E731
        return OfflineMetrics(**base_metrics(state.env_steps, sums.total()),
                              loss={g: jnp.mean(v) for g, v in losses.items()},
                              td_loss=mean(0), cql_loss=mean(1), q_mean=mean(2))

    def train(self, key: jax.Array) -> tuple[OfflineState, OfflineMetrics]:
        """A whole run from one key."""
        return train(self, key)


def make_train(config: OfflineConfig, env: Any, learners: tuple[str, ...] | None = None,
               dataset: OfflineData | None = None) -> OfflineTrainer:
    """An offline learner for ``env`` learning from ``dataset`` (None: it can act and be restored, not update)."""
    config.validate()
    groups = tuple(env.spec.groups)
    if learners is not None and set(learners) != set(groups):
        raise ConfigError(f"offline learners train every group from the dataset; learners={list(learners)} "
                          f"is not all of {list(groups)}.")
    for g, spec in env.spec.groups.items():
        if isinstance(spec.action, Box):
            if config.method != "bc":
                raise ConfigError(f"algo={config.method}: group {g!r} has continuous actions; the "
                                  "Q-learners are for discrete actions (use algo=bc).")
        elif not isinstance(spec.action, Discrete):
            raise ConfigError(f"algo={config.method}: group {g!r} has {spec.action} actions; offline learners take "
                              "Discrete or Box actions.")
    if dataset is not None and tuple(g for g, _, _ in dataset.layout) != groups:
        raise ConfigError(f"the dataset's groups {[g for g, _, _ in dataset.layout]} are not env {env.name}'s "
                          f"{list(groups)}.")
    optimizer = optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(config.lr))
    return OfflineTrainer(config, wrap_for_training(env, config.num_envs), dataset, optimizer)
