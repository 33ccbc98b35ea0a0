"""``algo=iddpg_bc``: independent DDPG with a behaviour-cloning regulariser, offline (continuous actions).

OG-MARL's IDDPG+BC, with TD3+BC's weighting (Fujimoto & Gu, 2021). Per group, parameters shared by its
agents (a one-hot agent id in the inputs): a deterministic actor ``μ(o)`` squashed into the action box
and a critic ``Q(o, a)`` on the agent's own observation and action. Each gradient step, on dataset rows:

* critic: ``(Q(o, a_data) − y)²`` with ``y = r + γ (1 − terminal) Q'(o', μ'(o'))`` (target networks,
  Polyak-averaged with ``tau`` after every step);
* actor: ``−λ Q(o, μ(o)) + ‖μ(o) − a_data‖²`` with ``λ = bc_alpha / mean|Q(o, μ(o))|`` (the critic held
  fixed), so the data's actions anchor the policy wherever the critic's extrapolation cannot be trusted.

Actions enter the critic and the BC term scaled to ``[−1, 1]``. Everything else — dataset sampling,
greedy evaluation in the env, the train state and checkpoints — is :class:`OfflineTrainer`'s.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal

import jax
import jax.numpy as jnp
import optax
from flax import struct

from phalanx.algos.common.episodes import BaseMetrics, EpisodeSums, base_metrics
from phalanx.algos.common.inputs import flatten_obs, with_agent_id
from phalanx.algos.common.opponents import Opponents
from phalanx.algos.common.targets import masked_mean, polyak, td_target
from phalanx.algos.offline.config import OfflineConfig
from phalanx.algos.offline.data import OfflineData
from phalanx.algos.offline.train import OfflineState, OfflineTrainer
from phalanx.algos.value_based.networks import QNetwork
from phalanx.envs.spaces import Box
from phalanx.envs.wrappers import wrap_for_training
from phalanx.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class IDDPGBCConfig(OfflineConfig):
    """:class:`OfflineConfig` plus IDDPG+BC's own settings.

    Attributes:
        bc_alpha: TD3+BC's ``α``: the actor's Q term is scaled to ``α / mean|Q|`` against the BC term
            (0: pure behaviour cloning; large: plain DDPG).
        tau: Polyak step of the target actor and critic after every gradient step.
    """

    method: Literal["iddpg_bc"] = "iddpg_bc"
    bc_alpha: float = 2.5
    tau: float = 0.005

    def validate(self, prefix: str = "train.") -> IDDPGBCConfig:
        """Raise :class:`ConfigError` naming the first invalid key; return self."""
        super().validate(prefix)
        if self.bc_alpha < 0:
            raise ConfigError(f"{prefix}bc_alpha={self.bc_alpha}: expected a number >= 0.")
        if not 0 < self.tau <= 1:
            raise ConfigError(f"{prefix}tau={self.tau}: expected a number in (0, 1].")
        return self


@struct.dataclass
class IDDPGBCMetrics(BaseMetrics):
    """Per update: the greedy evaluation envs' episode metrics, and each group's losses."""

    loss: dict  # {group: ()} critic + actor loss, mean over the update's gradient steps
    critic_loss: dict  # {group: ()} TD error²
    bc_loss: dict  # {group: ()} ‖μ(o) − a_data‖² (scaled actions)
    q_mean: dict  # {group: ()} mean Q(o, a_data)


def iddpg_bc_loss(q_data: jax.Array, target: jax.Array, td_valid: jax.Array, q_policy: jax.Array,
                  policy_actions: jax.Array, data_actions: jax.Array, bc_alpha: float
                  ) -> tuple[jax.Array, tuple[jax.Array, jax.Array, jax.Array]]:
    """Critic TD loss plus the TD3+BC actor loss; ``(loss, (critic, bc, mean Q(o, a_data)))``.

    ``q_data``/``target``/``q_policy``: ``(B, A)``; ``td_valid`` ``(B,)``; actions ``(B, A, d)`` scaled to
    ``[−1, 1]``. ``q_policy`` must come from a critic whose parameters are held fixed (stop-gradient).
    """
    valid = jnp.broadcast_to(td_valid[:, None], q_data.shape)
    critic = masked_mean((q_data - jax.lax.stop_gradient(target)) ** 2, valid)
    lam = bc_alpha / jax.lax.stop_gradient(jnp.mean(jnp.abs(q_policy)) + 1e-6)
    bc = jnp.mean(jnp.sum((policy_actions - data_actions) ** 2, axis=-1))
    return critic + (-lam * jnp.mean(q_policy) + bc), (critic, bc, jnp.mean(q_data))


@dataclasses.dataclass(frozen=True)
class IDDPGBCTrainer(OfflineTrainer):
    """IDDPG+BC on :class:`OfflineTrainer`'s loop (see the module docstring)."""

    def _actor(self, group: str) -> QNetwork:
        return QNetwork(math.prod(self._spec(group).action.shape), tuple(self.config.hidden), self.config.activation, 0)

    def _critic(self) -> QNetwork:
        return QNetwork(1, tuple(self.config.hidden), self.config.activation, 0)

    @staticmethod
    def _apply(net: QNetwork, params: Any, x: jax.Array) -> jax.Array:
        return net.apply(params, jnp.zeros((*x.shape[:-1], 0)), x, jnp.zeros(x.shape[:-1], bool))[1]

    def _inputs(self, group: str, obs: jax.Array) -> jax.Array:
        return with_agent_id(obs) if self.config.agent_id else obs

    def _scaled(self, group: str, actions: jax.Array) -> jax.Array:
        """Env actions → ``[−1, 1]`` per dimension."""
        box = self._spec(group).action
        return 2.0 * (actions.reshape(*actions.shape[:2], -1) - box.low) / (box.high - box.low) - 1.0

    def _policy(self, actor: Any, group: str, x: jax.Array) -> jax.Array:
        """The actor's scaled actions ``tanh(out)`` in ``[−1, 1]``, ``(..., A, d)``."""
        return jnp.tanh(self._apply(self._actor(group), actor, x))

    def _q(self, critic: Any, x: jax.Array, scaled: jax.Array) -> jax.Array:
        return self._apply(self._critic(), critic, jnp.concatenate([x, scaled], -1))[..., 0]

    def init(self, key: jax.Array, opponents: Opponents | None = None) -> OfflineState:
        """Fresh actors and critics (and target copies) for every group; ``num_envs`` reset evaluation envs."""
        if opponents is not None:
            raise ConfigError("offline learners train every group from the dataset; they take no opponents.")
        k_env, k_params, key = jax.random.split(key, 3)
        env_state, ts = self.env.reset(k_env)
        params = {}
        for g, k in zip(self.env.spec.groups, jax.random.split(k_params, len(self.env.spec.groups)), strict=True):
            spec = self._spec(g)
            a, d = spec.num_agents, math.prod(spec.action.shape)
            x = jnp.zeros((1, a, math.prod(spec.observation.shape) + (a if self.config.agent_id else 0)))
            k_actor, k_critic = jax.random.split(k)
            params[g] = {"actor": self._actor(g).init(k_actor, jnp.zeros((1, a, 0)), x, jnp.zeros((1, a), bool)),
                         "critic": self._critic().init(k_critic, jnp.zeros((1, a, 0)),
                                                       jnp.concatenate([x, jnp.zeros((1, a, d))], -1),
                                                       jnp.zeros((1, a), bool))}
        return OfflineState(params, params, self.optimizer.init(params), env_state, ts, key, jnp.int32(0),
                            jnp.int32(0))

    def policy_params(self, state: OfflineState, group: str) -> Any:
        """The group's actor parameters (``{"actor": ...}``; the critic only trains)."""
        return {"actor": state.params[group]["actor"]}

    def act(self, params: Any, group: str, hidden: jax.Array, obs: jax.Array, first: jax.Array, key: jax.Array,
            *, mask: jax.Array | None = None, greedy: bool = False) -> tuple[jax.Array, jax.Array]:
        """The actor's deterministic action in the env's box (the same whether ``greedy`` or not)."""
        del first, key, mask, greedy
        spec = self._spec(group)
        x = self._inputs(group, flatten_obs(obs, len(spec.observation.shape)))
        box = spec.action
        unit = (self._policy(params["actor"], group, x) + 1.0) * 0.5
        return (box.low + unit * (box.high - box.low)).reshape(*unit.shape[:-1], *box.shape), hidden

    def _group_loss(self, params: Any, target: Any, group: str, batch: OfflineData,
                    key: jax.Array) -> tuple[jax.Array, tuple]:
        del key
        c = self.config
        x, x_next = self._inputs(group, batch.obs), self._inputs(group, batch.next_obs)
        data = self._scaled(group, batch.actions)
        q_next = self._q(target["critic"], x_next, self._policy(target["actor"], group, x_next))
        y = td_target(batch.rewards, batch.terminals, q_next, c.gamma)
        q_data = self._q(params["critic"], x, data)
        policy = self._policy(params["actor"], group, x)
        q_policy = self._q(jax.lax.stop_gradient(params["critic"]), x, policy)
        return iddpg_bc_loss(q_data, y, batch.td_valid, q_policy, policy, data, c.bc_alpha)

    def _next_target(self, target: Any, params: Any, count: jax.Array) -> Any:
        """Polyak-averaged targets (DDPG's), every step."""
        return polyak(target, params, self.config.tau)

    def _metrics(self, state: OfflineState, sums: EpisodeSums, losses: dict, aux: dict) -> IDDPGBCMetrics:
        """An update's metrics from its gradient steps' losses and ``(critic, bc, q)`` aux terms."""
        mean = lambda i: {g: jnp.mean(a[i]) for g, a in aux.items()}  # noqa: E731
        return IDDPGBCMetrics(**base_metrics(state.env_steps, sums.total()),
                              loss={g: jnp.mean(v) for g, v in losses.items()},
                              critic_loss=mean(0), bc_loss=mean(1), q_mean=mean(2))


def make_train(config: IDDPGBCConfig, env: Any, learners: tuple[str, ...] | None = None,
               dataset: OfflineData | None = None) -> IDDPGBCTrainer:
    """An IDDPG+BC learner for ``env`` (every group continuous) learning from ``dataset``."""
    config.validate()
    groups = tuple(env.spec.groups)
    if learners is not None and set(learners) != set(groups):
        raise ConfigError(f"offline learners train every group from the dataset; learners={list(learners)} "
                          f"is not all of {list(groups)}.")
    for g, spec in env.spec.groups.items():
        if not isinstance(spec.action, Box):
            raise ConfigError(f"algo=iddpg_bc: group {g!r} has {spec.action} actions; IDDPG+BC is for continuous "
                              "(Box) actions (use algo=bc, iql_cql or qmix_cql).")
    if dataset is not None and tuple(g for g, _, _ in dataset.layout) != groups:
        raise ConfigError(f"the dataset's groups {[g for g, _, _ in dataset.layout]} are not env {env.name}'s "
                          f"{list(groups)}.")
    optimizer = optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(config.lr))
    return IDDPGBCTrainer(config, wrap_for_training(env, config.num_envs), dataset, optimizer)
