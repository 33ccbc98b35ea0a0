"""IPPO/MAPPO on host envs with acting overlapped across env splits (the Sebulba shape).

The host path for every learner is :mod:`phalanx.algos.common.host`: the learner's compiled
``update`` steps the envs through host callbacks, all envs at once. With worker processes, PPO
has one more option, kept here: the envs are cut into ``num_splits`` splits stepped by disjoint
workers, and a Python loop acts on one split while the workers step another, hiding the
policy's latency (and the loop's) behind the env step:

* each env step (per split), the host's batched :class:`~phalanx.envs.TimeStep` goes to the
  device once, as the argument of one jitted call that writes the finished step's
  :class:`Transition` into a rollout buffer on the device (donated, so in place) and samples
  the next actions, which come back in one ``device_get``;
* the rollout is kept on the device in the Anakin trainer's ``Transition`` layout
  ``(T, E, ...)`` and learnt from by the same :meth:`Trainer.learn` (GAE, epochs,
  minibatches, losses: one implementation of the PPO math);
* learning stays on-policy: every rollout starts after the previous update.

``train_overlapped(config, venv)`` runs a whole training and returns the final
:class:`TrainState` and one metrics dict per ``log_every`` updates (a ``metrics.jsonl`` line),
as :func:`phalanx.algos.common.host.train_host` does.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from jax.experimental import io_callback

from phalanx.algos.common.host import HostEnv, SpecEnv, metrics_line
from phalanx.algos.ppo.config import PPOConfig
from phalanx.algos.ppo.train import Trainer, TrainState, Transition, UpdateMetrics, make_train
from phalanx.envs.types import TimeStep
from phalanx.errors import PhalanxError
from phalanx.interop.host import HostVecEnv
from phalanx.networks import distributions as dist


@struct.dataclass
class Acting:
    """What is known about a step once actions are chosen: half a :class:`Transition`.

    Leaves are ``(E_split, A, ...)`` per group (``resets``: ``(E_split,)``).
    """

    actor_in: dict
    critic_in: dict
    mask: dict
    raw_action: dict
    log_prob: dict
    value_out: dict
    value: dict
    active: dict
    resets: jax.Array


@struct.dataclass
class ActorCarry:
    """Per-split state between env steps: the last timestep (on device) and recurrent states."""

    timestep: TimeStep  # leaves (E_split, ...)
    actor_hidden: dict  # {group: (E_split, A, H)}
    critic_hidden: dict  # {group: (E_split, A, H)}


@struct.dataclass
class Learner:
    """The part of the :class:`TrainState` acting reads (and, for the statistics, updates)."""

    params: dict
    obs_stats: dict | None
    state_stats: Any
    value_stats: dict | None


@dataclasses.dataclass
class HostTrainer:
    """PPO whose envs run on the host (see the module docstring). Build with :func:`make_host_trainer`."""

    config: PPOConfig
    venv: HostVecEnv
    trainer: Trainer

    def __post_init__(self):
        self._act = jax.jit(self._act_impl)
        # The rollout buffer is donated: each step writes its row in place.
        self._step = jax.jit(self._step_impl, static_argnames="act_next", donate_argnames="buf")
        self._learn = jax.jit(self.trainer.learn)
        self._join = jax.jit(_join_splits)
        self._zeros: Any = None
        # One split: the whole rollout is one compiled scan stepping the envs through a host callback (the
        # per-step jitted call above costs more than a small env's step, in dispatch alone).
        self._host_env = HostEnv(self.venv)
        self._scan = jax.jit(self._scan_impl)

    @property
    def num_updates(self) -> int:
        """PPO updates in the whole run: ``max(1, total_steps // (num_envs * num_steps))``."""
        return self.config.num_updates

    # ------------------------------------------------------------------ device functions
    def _real_value(self, value_stats: dict | None, name: str, out: jax.Array) -> jax.Array:
        return value_stats[name].denormalize(out) if value_stats is not None else out

    def _act_impl(self, learner: Learner, carry: ActorCarry, first: jax.Array, key: jax.Array, index: jax.Array):
        """Actions for one split (same math as ``Trainer._env_step``'s acting half).

        Returns ``(learner, carry, acting, actions)``; the step's key is ``fold_in(key, index)``.
        """
        c, policy = self.config, self.trainer.policy
        params, value_stats = learner.params, learner.value_stats
        obs_stats, state_stats = learner.obs_stats, learner.state_stats
        ts = carry.timestep
        resets = ts.episode.completed | first
        if obs_stats is not None:
            obs_stats = {n: s.update(ts.obs[n].reshape(*ts.obs[n].shape[:2], -1)) for n, s in obs_stats.items()}
            if state_stats is not None:
                state_stats = state_stats.update(ts.global_state)
        actor_in, critic_in = policy.inputs(ts, obs_stats, state_stats)
        key = jax.random.fold_in(key, index)
        keys = dict(zip(policy.groups, jax.random.split(key, len(policy.groups)), strict=True))
        actions, raw, logp, value_out, value, actor_hidden, critic_hidden = {}, {}, {}, {}, {}, {}, {}
        for name, g in policy.groups.items():
            h, out = policy.act(params[name]["actor"], name, carry.actor_hidden[name], actor_in[name], resets)
            mask = ts.action_mask.get(name) if g.masked else None
            actions[name], raw[name], logp[name] = dist.sample(keys[name], g.space, out, mask, c.squash)
            actor_hidden[name] = h
            if c.recurrent_size:
                hc, v = policy.values(params, name, carry.critic_hidden[name], critic_in[name][None], resets[None])
                critic_hidden[name], value_out[name] = hc, v[0]
            else:  # feed-forward critics run once over the whole rollout inside learn
                critic_hidden[name], value_out[name] = carry.critic_hidden[name], jnp.zeros(ts.reward[name].shape)
            value[name] = self._real_value(value_stats, name, value_out[name])
        acting = Acting(
            actor_in=actor_in, critic_in=critic_in,
            mask={n: ts.action_mask[n] for n, g in policy.groups.items() if g.masked},
            raw_action=raw, log_prob=logp, value_out=value_out, value=value,
            active={n: ~ts.terminated[n] | resets[:, None] for n in policy.groups}, resets=resets,
        )
        learner = learner.replace(obs_stats=obs_stats, state_stats=state_stats)
        carry = carry.replace(actor_hidden=actor_hidden, critic_hidden=critic_hidden)
        return learner, carry, acting, actions

    def _finish_impl(self, learner: Learner, carry: ActorCarry, acting: Acting,
                     next_ts: TimeStep) -> tuple[Transition, ActorCarry]:
        """The transition of the step that produced ``next_ts`` (its bootstrap inputs included)."""
        c, policy = self.config, self.trainer.policy
        _, final_critic = policy.inputs(next_ts, learner.obs_stats, learner.state_stats, final=True)
        next_value = {}
        for name in policy.groups:
            if c.recurrent_size:
                _, v = policy.values(learner.params, name, carry.critic_hidden[name], final_critic[name][None],
                                     jnp.zeros_like(acting.resets)[None])
                next_value[name] = self._real_value(learner.value_stats, name, v[0])
            else:
                next_value[name] = acting.value[name]
        ep = next_ts.episode
        transition = Transition(
            actor_in=acting.actor_in, critic_in=acting.critic_in,
            final_critic_in={} if c.recurrent_size else final_critic, mask=acting.mask,
            raw_action=acting.raw_action, log_prob=acting.log_prob, value_out=acting.value_out, value=acting.value,
            next_value=next_value, reward=next_ts.reward, terminated=next_ts.terminated, episode_end=ep.completed,
            active=acting.active, resets=acting.resets,
            episode_returns={n: r.mean(-1) for n, r in ep.returns.items()}, episode_length=ep.length,
        )
        return transition, carry.replace(timestep=next_ts)

    def _step_impl(self, learner: Learner, carry: ActorCarry, acting: Acting, buf: Transition, next_ts: TimeStep,
                   t: jax.Array, key: jax.Array, index: jax.Array, act_next: bool):
        """One env step of one split on the device: finish its transition into row ``t`` of
        ``buf`` and (``act_next``) choose the next actions — one call per step."""
        transition, carry = self._finish_impl(learner, carry, acting, next_ts)
        buf = jax.tree.map(lambda b, x: b.at[t].set(x), buf, transition)
        actions = None
        if act_next:
            learner, carry, acting, actions = self._act_impl(learner, carry, jnp.bool_(False), key, index)
        return learner, carry, acting, buf, actions

    def _scan_impl(self, learner: Learner, carry: ActorCarry, first: jax.Array, key: jax.Array):
        """A whole rollout of one split in one call: the same acting, finishing and keys as the host loop of
        :meth:`rollout` (step ``t`` acts with ``fold_in(key, t)``; the last step does not act)."""
        def env_step(actions: dict) -> TimeStep:
            return io_callback(self._host_env._host_step, self._host_env._shape, actions, ordered=True)

        def body(c, t):
            learner, carry, acting, actions = c
            transition, carry = self._finish_impl(learner, carry, acting, env_step(actions))
            return self._act_impl(learner, carry, jnp.bool_(False), key, t + 1), transition

        T = self.config.num_steps
        c = self._act_impl(learner, carry, first, key, jnp.int32(0))
        (learner, carry, acting, actions), traj = jax.lax.scan(body, c, jnp.arange(T - 1, dtype=jnp.int32))
        last, carry = self._finish_impl(learner, carry, acting, env_step(actions))
        traj = jax.tree.map(lambda xs, x: jnp.concatenate([xs, x[None]]), traj, last)
        return learner, carry, traj

    # ------------------------------------------------------------------ host loop
    def init(self, key: jax.Array, seed: int = 0) -> tuple[TrainState, list[ActorCarry]]:
        """Parameters and optimiser (as ``Trainer.init``), and the envs reset with ``seed``."""
        state = jax.jit(self.trainer.init)(key)
        state = state.replace(env_state=None, timestep=None)
        ts = jax.device_put(self.venv.reset(seed))
        hidden = self.trainer.policy.initial_hidden(self.venv.num_envs // self.venv.num_splits)
        carries = []
        for rows in self.venv.split_rows:
            split_ts = jax.tree.map(lambda x, rows=rows: x[rows.start : rows.stop], ts)
            carries.append(ActorCarry(timestep=split_ts, actor_hidden=hidden, critic_hidden=hidden))
        return state, carries

    def _buffer(self, learner: Learner, carry: ActorCarry, acting: Acting) -> Transition:
        """A zero rollout buffer ``(T, E_split, ...)`` for one split."""
        if self._zeros is None:
            row = jax.eval_shape(lambda *a: self._finish_impl(*a)[0], learner, carry, acting, carry.timestep)
            T = self.config.num_steps
            self._zeros = jax.jit(lambda: jax.tree.map(lambda x: jnp.zeros((T, *x.shape), x.dtype), row))
        return self._zeros()

    def rollout(
        self, state: TrainState, carries: list[ActorCarry]
    ) -> tuple[TrainState, list[ActorCarry], Transition, dict, jax.Array]:
        """``num_steps`` steps of every host env under the current policy.

        With one split, the whole rollout is one jitted scan whose env steps are host callbacks
        (:meth:`_scan_impl`); with several, per env step and split: one host→device transfer (the
        timestep, as a jitted call's argument), one jitted call, one device→host transfer (the
        actions), so that the other splits' workers step meanwhile. Both compute the same. Returns the state
        (key, statistics, counters advanced), the carries, the rollout ``(T, E, ...)`` in
        ``Trainer``'s :class:`Transition` layout, the recurrent states at its start and the key
        for :meth:`Trainer.learn`.
        """
        c, venv = self.config, self.venv
        S, T = venv.num_splits, c.num_steps
        key, k_roll, k_learn = jax.random.split(state.key, 3)
        start_hidden = {"actor": _concat([cr.actor_hidden for cr in carries]),
                        "critic": _concat([cr.critic_hidden for cr in carries])}
        learner = Learner(state.params, state.obs_stats, state.state_stats, state.value_stats)
        first = bool(state.env_steps == 0)  # the run's very first step starts every episode
        carries = list(carries)
        if S == 1:
            learner, carry, traj = self._scan(learner, carries[0], jnp.bool_(first), k_roll)
            return self._rolled(state, key, learner, [carry], traj), [carry], traj, start_hidden, k_learn
        acting: list[Any] = [None] * S
        bufs: list[Any] = [None] * S
        for s in range(S):
            learner, carries[s], acting[s], actions = self._act(learner, carries[s], first, k_roll, s)
            venv.step_async(jax.device_get(actions), s)
            bufs[s] = self._buffer(learner, carries[s], acting[s])
        for t in range(T):
            for s in range(S):  # while split s is handled here, the other splits' workers step
                next_ts = venv.step_wait(s)
                act_next = t + 1 < T
                learner, carries[s], acting[s], bufs[s], actions = self._step(
                    learner, carries[s], acting[s], bufs[s], next_ts, t, k_roll, (t + 1) * S + s, act_next=act_next)
                if act_next:
                    venv.step_async(jax.device_get(actions), s)
        traj = self._join(bufs)
        return self._rolled(state, key, learner, carries, traj), carries, traj, start_hidden, k_learn

    def _rolled(self, state: TrainState, key: jax.Array, learner: Learner, carries: list[ActorCarry],
                traj: Transition) -> TrainState:
        """``state`` after a rollout: key, statistics, counters and recurrent states advanced."""
        return state.replace(
            key=key, obs_stats=learner.obs_stats, state_stats=learner.state_stats,
            env_steps=state.env_steps + self.config.num_steps * self.venv.num_envs,
            actor_hidden=_concat([cr.actor_hidden for cr in carries]),
            critic_hidden=_concat([cr.critic_hidden for cr in carries]),
        )

    def update(
        self, state: TrainState, carries: list[ActorCarry]
    ) -> tuple[TrainState, list[ActorCarry], UpdateMetrics]:
        """One rollout on the host envs, then one ``Trainer.learn`` on it."""
        state, carries, traj, start_hidden, k_learn = self.rollout(state, carries)
        state, metrics = self._learn(state, traj, start_hidden, k_learn)
        return state, carries, metrics


def _concat(trees: list[Any]) -> Any:
    return trees[0] if len(trees) == 1 else jax.tree.map(lambda *xs: jnp.concatenate(xs, axis=0), *trees)


def _join_splits(bufs: list[Transition]) -> Transition:
    """Per-split rollouts ``(T, E_split, ...)`` → one ``(T, E, ...)``."""
    return bufs[0] if len(bufs) == 1 else jax.tree.map(lambda *xs: jnp.concatenate(xs, axis=1), *bufs)


def make_host_trainer(config: PPOConfig, venv: HostVecEnv) -> HostTrainer:
    """A :class:`HostTrainer` for ``venv`` (whose ``num_envs`` must be ``config.num_envs``)."""
    config.validate()
    if venv.num_envs != config.num_envs:
        raise PhalanxError(f"train_host: the env pool has {venv.num_envs} envs but train.num_envs={config.num_envs}.")
    return HostTrainer(config, venv, make_train(config, SpecEnv(venv.spec)))


def default_splits(num_envs: int, num_workers: int) -> int:
    """2 splits (policy on one half while the workers step the other) when the sizes allow, else 1."""
    return 2 if num_workers >= 2 and num_workers % 2 == 0 and num_envs % 2 == 0 else 1


def train_overlapped(
    config: PPOConfig,
    venv: HostVecEnv,
    *,
    seed: int = 0,
    log_every: int = 1,
    callback: Callable[[TrainState, dict[str, Any]], None] | None = None,
    line: Callable[..., dict[str, Any]] | None = None,
) -> tuple[TrainState, list[dict[str, Any]]]:
    """Train IPPO/MAPPO (``config.critic``) on host envs, e.g. ``phalanx.from_pettingzoo(factory, num_envs)``.

    Args:
        config: PPO settings; ``num_envs`` must be ``venv.num_envs``.
        venv: the open envs to train on (left open; the caller closes them).
        seed: PRNG seed of the learner (``PRNGKey(seed)``) and of the envs (env ``i``: ``seed + i``).
        log_every: updates per metrics line (the last line may cover fewer).
        callback: called after every line with the state and the line (e.g. to log, checkpoint).
        line: ``line(chunk, update, metrics, wall_time, steps_per_s) -> dict`` makes a line from the
            per-update metrics (default :func:`~phalanx.algos.common.host.metrics_line`).

    Returns:
        The final :class:`TrainState` and one metrics dict per ``log_every`` updates, with the keys
        of a ``metrics.jsonl`` line: ``chunk``, ``update``, ``env_steps``, ``wall_time``,
        ``steps_per_s``, ``episodes``, ``episode_return`` per group, ``episode_length``, per-group losses.
    """
    if not isinstance(log_every, int) or log_every < 1:
        raise PhalanxError(f"train_overlapped: log_every={log_every!r}; expected an integer >= 1.")
    host = make_host_trainer(config, venv)
    make_line = line or metrics_line
    state, carries = host.init(jax.random.PRNGKey(seed), seed)
    lines: list[dict[str, Any]] = []
    chunk: list[UpdateMetrics] = []
    wall0 = t0 = time.perf_counter()
    for u in range(host.num_updates):
        state, carries, metrics = host.update(state, carries)
        chunk.append(metrics)
        if len(chunk) == log_every or u + 1 == host.num_updates:
            jax.block_until_ready(metrics)
            now = time.perf_counter()
            entry = make_line(len(lines), u + 1, chunk, now - wall0,
                              len(chunk) * config.steps_per_update / (now - t0))
            lines.append(entry)
            chunk, t0 = [], now
            if callback is not None:
                callback(state, entry)
    return state, lines


__all__ = ["HostTrainer", "default_splits", "make_host_trainer", "train_overlapped"]
