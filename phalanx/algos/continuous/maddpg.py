"""MADDPG (Lowe et al. 2017): deterministic actors trained through centralised critics.

Each group has one actor ``μ(o_i)`` and one critic ``Q_i(x, a_1, …, a_N)`` shared by its
agents (the critic also sees the agent's one-hot index when the group has several), where
``x`` is the global state or every agent's observation. One gradient step, per group:

* critic: regress ``Q_i(x, a)`` on ``r_i + γ (1 − terminated_i) Q'_i(x', μ'_1(o'_1), …, μ'_N(o'_N))``
  with target actors ``μ'`` and critic ``Q'``;
* actor: maximise ``Q_i(x, a_1, …, μ_i(o_i), …, a_N)`` — agent ``i``'s action from its current
  policy, the others' from the replay (the paper's Eq. 5), through the just-updated critic;
* targets: Polyak averaging ``θ' ← (1 − τ) θ' + τ θ``.

Exploration adds Gaussian noise to ``μ(o)`` and clips to the action box; gradients are
clipped by global norm. (The paper's small penalty on the actor's pre-activations, used
with its Gumbel-softmax discrete actions, is left out: actions here are continuous.)
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax
from flax import struct

from phalanx.algos.common.episodes import BaseMetrics
from phalanx.algos.common.opponents import check_learners
from phalanx.algos.common.targets import masked_mean, polyak, td_target
from phalanx.algos.continuous.config import MADDPGConfig
from phalanx.algos.continuous.inputs import Layout, check_continuous
from phalanx.algos.continuous.networks import DeterministicActor, QNetwork
from phalanx.algos.continuous.train import Trainer, Transition
from phalanx.algos.replay import ReplayBuffer
from phalanx.envs.environment import Environment
from phalanx.envs.wrappers import wrap_for_training


@struct.dataclass
class MADDPGMetrics(BaseMetrics):
    """Per-update numbers; episode statistics as sums and a count, losses as means over gradient steps."""

    critic_loss: dict  # {group: ()} mean squared TD error
    actor_loss: dict  # {group: ()} −Q of the policy's actions
    q_value: dict  # {group: ()} mean Q(x, a) on replayed actions


@dataclasses.dataclass(frozen=True)
class MADDPG:
    """MADDPG's networks and update rule (see the module docstring)."""

    config: MADDPGConfig
    layout: Layout
    actors: dict[str, DeterministicActor]  # per group (action widths may differ)
    critic: QNetwork
    actor_opt: optax.GradientTransformation
    critic_opt: optax.GradientTransformation
    metrics_cls: type = MADDPGMetrics

    @classmethod
    def create(cls, config: MADDPGConfig, layout: Layout) -> MADDPG:
        """MADDPG for ``layout``: a deterministic actor per group, one shared critic architecture, Adam with
        gradient clipping (``max_grad_norm``) for actors and critics.
        """
        def opt(lr):
            return optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(lr))

        # Every group's actor module: fixed groups act with their opponents' parameters.
        actors = {n: DeterministicActor(g.action_dim, config.hidden, config.activation)
                  for n, g in layout.groups.items()}
        return cls(config, layout, actors, QNetwork(config.hidden, config.activation), opt(config.actor_lr),
                   opt(config.critic_lr))

    @property
    def stores_state(self) -> bool:
        """Whether the critics read the global state (``critic_input == "state"``), so transitions store it."""
        return self.config.critic_input == "state"

    # ------------------------------------------------------------------ networks
    def init(self, key: jax.Array) -> tuple[dict, dict, dict]:
        """``(params, target_params, opt_state)``: per group ``{"actor", "critic"}`` parameters; the targets start
        as copies of them.
        """
        layout = self.layout
        params, opt_state = {}, {}
        for k, name in zip(jax.random.split(key, len(layout.learners)), layout.learners, strict=True):
            g = layout.groups[name]
            k_actor, k_critic = jax.random.split(k)
            params[name] = {
                "actor": self.actors[name].init(k_actor, jnp.zeros((1, g.num_agents, layout.actor_input_dim(name)))),
                "critic": self.critic.init(k_critic, jnp.zeros((1, g.num_agents, layout.central_input_dim(name))),
                                           jnp.zeros((1, g.num_agents, layout.joint_action_dim))),
            }
            opt_state[name] = {"actor": self.actor_opt.init(params[name]["actor"]),
                               "critic": self.critic_opt.init(params[name]["critic"])}
        return params, jax.tree.map(jnp.copy, params), opt_state

    def policy(self, params: dict, obs: dict) -> dict:
        """``μ(o)`` for every learning group: ``{group: (..., A, d)} -> {group: (..., A, k)}``."""
        return {n: self.actors[n].apply(params[n]["actor"], self.layout.actor_input(n, obs[n]))
                for n in self.layout.learners}

    def action(self, actor_params: dict, name: str, obs: jax.Array, key: jax.Array, greedy: bool) -> jax.Array:
        """``μ(o)`` of group ``name`` (``(..., A, d) -> (..., A, k)``), plus Gaussian noise (std
        ``exploration_noise``) clipped to ``[−1, 1]`` unless ``greedy``."""
        mu = self.actors[name].apply(actor_params, self.layout.actor_input(name, obs))
        if greedy:
            return mu
        return jnp.clip(mu + self.config.exploration_noise * jax.random.normal(key, mu.shape), -1.0, 1.0)

    # ------------------------------------------------------------------ learning
    def gradient_step(self, params: dict, target_params: dict, opt_state: dict, batch: Transition,
                      key: jax.Array) -> tuple[dict, dict, dict, dict]:
        """One critic then actor step per group on a minibatch (leaves ``(B, ...)``), then a Polyak
        target update (``tau``): ``(params, target_params, opt_state, info)``, ``info = {metric: {group: ()}}``.
        """
        del key  # deterministic given the minibatch
        c, layout = self.config, self.layout
        central = layout.central(batch.obs, batch.state)
        next_central = layout.central(batch.next_obs, batch.next_state)
        next_joint = layout.joint(self.policy(target_params, batch.next_obs))  # target actors, (B, J)
        joint = layout.joint(batch.action)
        params, opt_state = dict(params), dict(opt_state)
        info: dict[str, dict] = {"critic_loss": {}, "actor_loss": {}, "q_value": {}}
        for name in layout.learners:
            g = layout.groups[name]
            x, next_x = layout.central_input(name, central), layout.central_input(name, next_central)
            active = batch.active[name]
            rows = (*joint.shape[:-1], g.num_agents, joint.shape[-1])
            q_next = self.critic.apply(target_params[name]["critic"], next_x,
                                       jnp.broadcast_to(next_joint[..., None, :], rows))
            y = td_target(batch.reward[name], batch.terminated[name], q_next, c.gamma)

            def critic_loss(p, x=x, y=y, active=active, rows=rows):
                q = self.critic.apply(p, x, jnp.broadcast_to(joint[..., None, :], rows))
                return masked_mean((q - y) ** 2, active), q

            (loss_c, q), grads = jax.value_and_grad(critic_loss, has_aux=True)(params[name]["critic"])
            updates, opt_c = self.critic_opt.update(grads, opt_state[name]["critic"], params[name]["critic"])
            critic_params = optax.apply_updates(params[name]["critic"], updates)

            def actor_loss(p, name=name, x=x, active=active, critic_params=critic_params):
                own = self.actors[name].apply(p, layout.actor_input(name, batch.obs[name]))
                q = self.critic.apply(critic_params, x, layout.joint_with_own(batch.action, name, own))
                return -masked_mean(q, active)

            loss_a, grads = jax.value_and_grad(actor_loss)(params[name]["actor"])
            updates, opt_a = self.actor_opt.update(grads, opt_state[name]["actor"], params[name]["actor"])
            params[name] = {"actor": optax.apply_updates(params[name]["actor"], updates), "critic": critic_params}
            opt_state[name] = {"actor": opt_a, "critic": opt_c}
            info["critic_loss"][name], info["actor_loss"][name] = loss_c, loss_a
            info["q_value"][name] = masked_mean(q, active)
        return params, polyak(target_params, params, c.tau), opt_state, info


def make_train(config: MADDPGConfig, env: Environment, learners: tuple[str, ...] | None = None) -> Trainer:
    """MADDPG's :class:`Trainer` for ``env`` (a plain env with bounded ``Box`` actions; wrapped here).

    ``learners`` names the groups that learn (default: all); the others play the fixed opponents
    given to :meth:`Trainer.init`, deterministically.
    """
    config.validate()
    check_continuous(env.spec, "maddpg")
    layout = Layout(env.spec, config, check_learners(tuple(env.spec.groups), learners))
    return Trainer(config, wrap_for_training(env, config.num_envs), MADDPG.create(config, layout),
                   ReplayBuffer(config.buffer_size // config.num_envs))
