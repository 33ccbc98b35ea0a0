"""Soft actor-critic (Haarnoja et al. 2018) for every agent: ISAC and MASAC.

Each group has one tanh-squashed Gaussian actor, twin critics with target copies and an
entropy temperature ``α``, all shared by its agents. The critics see

* ISAC: the agent's own observation and action, ``Q(o_i, a_i)``;
* MASAC: the centralised view (global state or all observations, plus the agent's one-hot
  index) and the joint action, ``Q(x, a_1, …, a_N)``.

One gradient step, per group:

* critics: regress both ``Q_j`` on ``r + γ (1 − terminated) (min_j Q'_j(s', a') − α log π(a'|o'))``
  with ``a' ~ π(·|o')`` from the current actors (clipped double-Q);
* actor: minimise ``α log π(ã|o) − min_j Q_j(·, ã)``, ``ã`` reparameterised (MASAC: the other
  agents' actions from the replay);
* temperature: minimise ``−α (log π(ã|o) + H̄)`` with target entropy ``H̄ = −scale × |A|``;
* targets: Polyak averaging of the critics.

Densities are of the actions in ``[−1, 1]^k`` (before mapping to the env's box), including
the tanh change of variables.
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
from phalanx.algos.continuous.config import SACConfig
from phalanx.algos.continuous.inputs import Layout, check_continuous
from phalanx.algos.continuous.losses import squashed_gaussian_sample
from phalanx.algos.continuous.networks import GaussianActor, TwinQNetwork
from phalanx.algos.continuous.train import Trainer, Transition
from phalanx.algos.replay import ReplayBuffer
from phalanx.envs.environment import Environment
from phalanx.envs.wrappers import wrap_for_training


@struct.dataclass
class SACMetrics(BaseMetrics):
    """Per-update numbers; episode statistics as sums and a count, the rest means over gradient steps."""

    critic_loss: dict  # {group: ()} squared TD error summed over the twin critics
    actor_loss: dict  # {group: ()}
    q_value: dict  # {group: ()} mean of the first critic on replayed actions
    alpha: dict  # {group: ()} entropy temperature
    entropy: dict  # {group: ()} −log π(ã|o) of the policy's actions


@dataclasses.dataclass(frozen=True)
class SAC:
    """SAC's networks and update rule (see the module docstring)."""

    config: SACConfig
    layout: Layout
    actors: dict[str, GaussianActor]
    critic: TwinQNetwork
    actor_opt: optax.GradientTransformation
    critic_opt: optax.GradientTransformation
    alpha_opt: optax.GradientTransformation
    metrics_cls: type = SACMetrics

    @classmethod
    def create(cls, config: SACConfig, layout: Layout) -> SAC:
        """SAC for ``layout``: a squashed-Gaussian actor per group, twin Q critics, Adam with gradient clipping
        (``max_grad_norm``) for actors and critics, and Adam for the temperature.
        """
        def opt(lr):
            return optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(lr))

        # Every group's actor module: fixed groups act with their opponents' parameters.
        actors = {n: GaussianActor(g.action_dim, config.hidden, config.activation) for n, g in layout.groups.items()}
        return cls(config, layout, actors, TwinQNetwork(config.hidden, config.activation), opt(config.actor_lr),
                   opt(config.critic_lr), optax.adam(config.alpha_lr))

    @property
    def centralised(self) -> bool:
        """Whether the critics are centralised (``critic == "masac"``); otherwise each agent's critic sees only
        its own observation and action (ISAC).
        """
        return self.config.critic == "masac"

    @property
    def stores_state(self) -> bool:
        """Whether the critics read the global state (centralised with ``critic_input == "state"``), so
        transitions store it.
        """
        return self.centralised and self.config.critic_input == "state"

    def target_entropy(self, name: str) -> float:
        """``−scale × |A|`` for group ``name``."""
        return -self.config.target_entropy_scale * self.layout.groups[name].action_dim

    # ------------------------------------------------------------------ networks
    def _critic_dims(self, name: str) -> tuple[int, int]:
        layout = self.layout
        if self.centralised:
            return layout.central_input_dim(name), layout.joint_action_dim
        return layout.actor_input_dim(name), layout.groups[name].action_dim

    def init(self, key: jax.Array) -> tuple[dict, dict, dict]:
        """``(params, target_params, opt_state)``: per group ``{"actor", "critic", "log_alpha"}`` parameters
        (``log_alpha`` ``()`` starts at ``log(init_alpha)``); the targets hold copies of the critics only.
        """
        layout = self.layout
        params, opt_state = {}, {}
        for k, name in zip(jax.random.split(key, len(layout.learners)), layout.learners, strict=True):
            g = layout.groups[name]
            k_actor, k_critic = jax.random.split(k)
            x_dim, a_dim = self._critic_dims(name)
            params[name] = {
                "actor": self.actors[name].init(k_actor, jnp.zeros((1, g.num_agents, layout.actor_input_dim(name)))),
                "critic": self.critic.init(k_critic, jnp.zeros((1, g.num_agents, x_dim)),
                                           jnp.zeros((1, g.num_agents, a_dim))),
                "log_alpha": jnp.log(jnp.float32(self.config.init_alpha)),
            }
            opt_state[name] = {"actor": self.actor_opt.init(params[name]["actor"]),
                               "critic": self.critic_opt.init(params[name]["critic"]),
                               "alpha": self.alpha_opt.init(params[name]["log_alpha"])}
        targets = {n: {"critic": jax.tree.map(jnp.copy, p["critic"])} for n, p in params.items()}
        return params, targets, opt_state

    def sample(self, actor_params, name: str, obs: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Group ``name``'s reparameterised actions ``(..., A, k)`` and log-densities ``(..., A)``."""
        mean, log_std = self.actors[name].apply(actor_params, self.layout.actor_input(name, obs))
        return squashed_gaussian_sample(key, mean, log_std)

    def action(self, actor_params: dict, name: str, obs: jax.Array, key: jax.Array, greedy: bool) -> jax.Array:
        """Group ``name``'s actions ``(..., A, k)`` in ``[−1, 1]``: sampled from its squashed Gaussian,
        or ``tanh`` of the mean when ``greedy``."""
        if greedy:
            return jnp.tanh(self.actors[name].apply(actor_params, self.layout.actor_input(name, obs))[0])
        return self.sample(actor_params, name, obs, key)[0]

    def _q_inputs(self, name: str, obs: dict, central: jax.Array | None, actions: dict,
                  own: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
        """Critic inputs of group ``name``: ISAC ``(own obs, own action)``; MASAC ``(x, joint)``,
        with the group's own actions replaced row by row by ``own`` when given."""
        layout = self.layout
        if not self.centralised:
            return layout.actor_input(name, obs[name]), actions[name] if own is None else own
        x = layout.central_input(name, central)
        if own is not None:
            return x, layout.joint_with_own(actions, name, own)
        joint = layout.joint(actions)
        return x, jnp.broadcast_to(joint[..., None, :], (*x.shape[:-1], joint.shape[-1]))

    # ------------------------------------------------------------------ learning
    def gradient_step(self, params: dict, target_params: dict, opt_state: dict, batch: Transition,
                      key: jax.Array) -> tuple[dict, dict, dict, dict]:
        """One critic, actor and temperature step per group on a minibatch (leaves ``(B, ...)``), then a Polyak
        target update of the critics: ``(params, target_params, opt_state, info)``, ``info = {metric: {group: ()}}``.
        """
        c, layout = self.config, self.layout
        k_next, k_actor = jax.random.split(key)
        central = next_central = None
        if self.centralised:
            central = layout.central(batch.obs, batch.state)
            next_central = layout.central(batch.next_obs, batch.next_state)
        next_a, next_logp = {}, {}
        for k, name in zip(jax.random.split(k_next, len(layout.learners)), layout.learners, strict=True):
            next_a[name], next_logp[name] = self.sample(params[name]["actor"], name, batch.next_obs[name], k)
        params, opt_state = dict(params), dict(opt_state)
        targets = {}
        names = ("critic_loss", "actor_loss", "q_value", "alpha", "entropy")
        info: dict[str, dict] = {k: {} for k in names}
        actor_keys = dict(zip(layout.learners, jax.random.split(k_actor, len(layout.learners)), strict=True))
        for name in layout.learners:
            p, o = params[name], opt_state[name]
            alpha = jnp.exp(p["log_alpha"])
            active = batch.active[name]
            # Critics: clipped double-Q soft targets from the target critics.
            q_next = self.critic.apply(target_params[name]["critic"],
                                       *self._q_inputs(name, batch.next_obs, next_central, next_a)).min(0)
            y = td_target(batch.reward[name], batch.terminated[name], q_next - alpha * next_logp[name], c.gamma)
            y = jax.lax.stop_gradient(y)
            x, a = self._q_inputs(name, batch.obs, central, batch.action)

            def critic_loss(cp, x=x, a=a, y=y, active=active):
                q = self.critic.apply(cp, x, a)  # (2, B, A)
                return masked_mean((q[0] - y) ** 2, active) + masked_mean((q[1] - y) ** 2, active), q[0]

            (loss_c, q), grads = jax.value_and_grad(critic_loss, has_aux=True)(p["critic"])
            updates, opt_c = self.critic_opt.update(grads, o["critic"], p["critic"])
            critic_params = optax.apply_updates(p["critic"], updates)

            # Actor, through the just-updated critics.
            def actor_loss(ap, name=name, alpha=alpha, active=active, critic_params=critic_params):
                own, logp = self.sample(ap, name, batch.obs[name], actor_keys[name])
                q_pi = self.critic.apply(critic_params, *self._q_inputs(name, batch.obs, central, batch.action, own))
                return masked_mean(alpha * logp - q_pi.min(0), active), logp

            (loss_a, logp), grads = jax.value_and_grad(actor_loss, has_aux=True)(p["actor"])
            updates, opt_a = self.actor_opt.update(grads, o["actor"], p["actor"])
            actor_params = optax.apply_updates(p["actor"], updates)

            # Temperature towards the target entropy.
            log_alpha, opt_alpha = p["log_alpha"], o["alpha"]
            if c.autotune:
                gap = jax.lax.stop_gradient(masked_mean(logp, active)) + self.target_entropy(name)
                grad = jax.grad(lambda la, gap=gap: -jnp.exp(la) * gap)(log_alpha)
                updates, opt_alpha = self.alpha_opt.update(grad, opt_alpha, log_alpha)
                log_alpha = optax.apply_updates(log_alpha, updates)

            params[name] = {"actor": actor_params, "critic": critic_params, "log_alpha": log_alpha}
            opt_state[name] = {"actor": opt_a, "critic": opt_c, "alpha": opt_alpha}
            targets[name] = {"critic": polyak(target_params[name]["critic"], critic_params, c.tau)}
            for k, v in (("critic_loss", loss_c), ("actor_loss", loss_a), ("q_value", masked_mean(q, active)),
                         ("alpha", alpha), ("entropy", -masked_mean(logp, active))):
                info[k][name] = v
        return params, targets, opt_state, info


def make_train(config: SACConfig, env: Environment, learners: tuple[str, ...] | None = None) -> Trainer:
    """ISAC's or MASAC's :class:`Trainer` (``config.critic``) for ``env`` (bounded ``Box`` actions).

    ``learners`` names the groups that learn (default: all); the others play the fixed opponents
    given to :meth:`Trainer.init`, deterministically.
    """
    config.validate()
    check_continuous(env.spec, config.critic)
    layout = Layout(env.spec, config, check_learners(tuple(env.spec.groups), learners))
    return Trainer(config, wrap_for_training(env, config.num_envs), SAC.create(config, layout),
                   ReplayBuffer(config.buffer_size // config.num_envs))
