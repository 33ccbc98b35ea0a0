"""IPPO/MAPPO compiled end to end (the Anakin shape).

``make_train(config, env)`` returns a :class:`Trainer` whose ``update`` is one pure
function — a ``lax.scan`` over the rollout of ``vmap``-ped envs, then all epochs and
minibatches — and whose ``train(key)`` scans ``update`` over the whole run, so several
seeds train in one program with ``jax.vmap(trainer.train)(keys)``. A host loop (the
runtime) can instead call ``update`` in compiled chunks to log and checkpoint between them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from phalanx.algos.ppo.config import PPOConfig
from phalanx.algos.ppo.losses import compute_gae, masked_mean, normalize, policy_loss, value_loss
from phalanx.algos.ppo.normalize import RunningStats
from phalanx.algos.ppo.policy import MultiAgentPolicy
from phalanx.envs.environment import Environment
from phalanx.envs.types import TimeStep
from phalanx.envs.wrappers import VecEnv, wrap_for_training
from phalanx.errors import PhalanxError
from phalanx.networks import distributions as dist

#: ``grad_chunk=-1``: most agent-samples per forward/backward pass on CPU.
AUTO_CHUNK = 2048


@struct.dataclass
class TrainState:
    """Everything a run needs to continue exactly: checkpoint this and resume bit for bit."""

    params: dict  # {group: {"actor", "critic"}}
    opt_state: Any
    obs_stats: dict | None  # {group: RunningStats((d,))} when normalize_obs
    state_stats: RunningStats | None  # global-state stats (MAPPO with normalize_obs)
    value_stats: dict | None  # {group: RunningStats(())} when normalize_values
    env_state: Any  # batched env state, (E, ...)
    timestep: TimeStep  # the last timestep, (E, ...)
    actor_hidden: dict  # {group: (E, A, H)}
    critic_hidden: dict  # {group: (E, A, H)}
    key: jax.Array
    update_step: jax.Array  # () int32 updates done
    env_steps: jax.Array  # () int32 env steps done
    # Fixed opponents for the groups that do not learn (None when every group learns):
    opponents: dict | None = None  # {group: actor params with a leading member axis (K, ...)}
    opponent_weights: jax.Array | None = None  # (K,) mixture the opponent of each episode is drawn from
    opponent_index: jax.Array | None = None  # (E,) int32 member playing in each env this episode


@struct.dataclass
class Transition:
    """One rollout step; leaves are ``(E, A, ...)`` per group, or ``(E,)``."""

    actor_in: dict
    critic_in: dict
    final_critic_in: dict  # critic inputs of the state reached (feed-forward critics only)
    mask: dict  # {group: (E, A, m)} for discrete groups
    raw_action: dict
    log_prob: dict
    value_out: dict  # critic output (normalised space when normalize_values)
    value: dict  # V(s_t), real scale
    next_value: dict  # V(s_{t+1}), real scale; the final observation's value on episode ends
    reward: dict
    terminated: dict  # the agent reached a terminal state on this step
    episode_end: jax.Array  # (E,) the episode ended on this step
    active: dict  # the agent was in the game and acted on this step
    resets: jax.Array  # (E,) this step begins an episode (recurrent state zeroed)
    episode_returns: dict  # {group: (E,)} mean return over the group's agents of an episode that ended
    episode_length: jax.Array  # (E,)


@struct.dataclass
class UpdateMetrics:
    """Per-update numbers; episode statistics as sums and a count (divide on the host)."""

    env_steps: jax.Array
    episode_return_sum: dict  # {group: ()}
    episode_length_sum: jax.Array
    episode_count: jax.Array
    policy_loss: dict
    value_loss: dict
    entropy: dict
    approx_kl: dict
    clip_fraction: dict


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

    def init(
        self, key: jax.Array, opponents: dict | None = None, opponent_weights: jax.Array | None = None
    ) -> TrainState:
        """Parameters, optimiser, envs and statistics at the start of a run.

        When some groups do not learn, ``opponents`` gives their actors: ``{group: actor
        params with a leading member axis (K, ...)}`` (e.g. a population's members), and
        ``opponent_weights`` ``(K,)`` the mixture each env draws its opponent from at every
        episode start (uniform when None). Replace both in the state later to change them.
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
        hidden = policy.initial_hidden(c.num_envs)
        opponent_index = None
        fixed = [n for n in policy.groups if n not in self.learners]
        if fixed:
            if opponents is None or set(opponents) != set(fixed):
                raise PhalanxError(
                    f"groups {fixed} do not learn, so init needs opponents={{group: stacked actor params}} for "
                    f"exactly those groups; got {sorted(opponents or {})}."
                )
            num = jax.tree.leaves(opponents)[0].shape[0]
            if opponent_weights is None:
                opponent_weights = jnp.full((num,), 1.0 / num)
            opponent_index = jnp.zeros((c.num_envs,), jnp.int32)
        else:
            opponents = opponent_weights = None
        return TrainState(
            params=params, opt_state=self.optimizer.init(params), obs_stats=obs_stats,
            state_stats=state_stats, value_stats=value_stats, env_state=env_state, timestep=ts,
            actor_hidden=hidden, critic_hidden=hidden, key=k_run,
            update_step=jnp.int32(0), env_steps=jnp.int32(0),
            opponents=opponents, opponent_weights=opponent_weights, opponent_index=opponent_index,
        )

    # ------------------------------------------------------------------ rollout
    def _real_value(self, ts: TrainState, name: str, out: jax.Array) -> jax.Array:
        return ts.value_stats[name].denormalize(out) if ts.value_stats is not None else out

    def _env_step(self, state: TrainState, key: jax.Array) -> tuple[TrainState, Transition]:
        c, policy = self.config, self.policy
        k_act, k_env = jax.random.split(key)
        ts = state.timestep
        obs_stats, state_stats = state.obs_stats, state.state_stats
        # A new episode starts where the last step ended one (and at the very first step).
        resets = ts.done | (state.env_steps == 0)
        if obs_stats is not None:
            obs_stats = {n: s.update(ts.obs[n].reshape(*ts.obs[n].shape[:2], -1)) for n, s in obs_stats.items()}
            if state_stats is not None:
                state_stats = state_stats.update(ts.global_state)
        actor_in, critic_in = policy.inputs(ts, obs_stats, state_stats)
        k_act, k_opp = jax.random.split(k_act)
        keys = dict(zip(policy.groups, jax.random.split(k_act, len(policy.groups)), strict=True))
        actions, raw, logp, value_out, value = {}, {}, {}, {}, {}
        actor_hidden, critic_hidden = dict(state.actor_hidden), dict(state.critic_hidden)
        opponent_index = state.opponent_index
        if opponent_index is not None:  # each env draws its opponent when an episode starts
            drawn = jax.random.categorical(k_opp, jnp.log(state.opponent_weights), shape=resets.shape)
            opponent_index = jnp.where(resets, drawn, opponent_index)
        for name, g in policy.groups.items():
            mask = ts.action_mask.get(name) if g.masked else None
            if name not in self.learners:
                h, out = self._opponent_outputs(state, name, opponent_index, actor_in[name], resets)
                actions[name], _, _ = dist.sample(keys[name], g.space, out, mask, c.squash)
                actor_hidden[name] = h
                continue
            h, out = policy.actor_outputs(state.params, name, state.actor_hidden[name], actor_in[name][None],
                                          resets[None])
            out = jax.tree.map(lambda x: x[0] if x.ndim > 1 else x, out)
            actions[name], raw[name], logp[name] = dist.sample(keys[name], g.space, out, mask, c.squash)
            actor_hidden[name] = h
            if c.recurrent_size:  # feed-forward critics run once over the whole rollout instead
                hc, v = policy.values(state.params, name, state.critic_hidden[name], critic_in[name][None],
                                      resets[None])
                critic_hidden[name], value_out[name] = hc, v[0]
            else:
                critic_hidden[name], value_out[name] = state.critic_hidden[name], jnp.zeros(ts.reward[name].shape)
            value[name] = self._real_value(state, name, value_out[name])
        # Agents tagged out earlier in the episode do not act; everyone acts after a reset.
        active = {n: ~ts.terminated[n] | resets[:, None] for n in self.learners}
        env_state, next_ts = self.env.step(k_env, state.env_state, actions)
        # Bootstrap from the state each transition reached: the final observation on episode ends.
        _, final_critic = policy.inputs(next_ts, obs_stats, state_stats, final=True)
        next_value = {}
        for name in self.learners:
            if c.recurrent_size:
                _, v = policy.values(state.params, name, critic_hidden[name], final_critic[name][None],
                                     jnp.zeros_like(resets)[None])
                next_value[name] = self._real_value(state, name, v[0])
            else:
                next_value[name] = value[name]
        ep = next_ts.episode
        learn = self.learners
        transition = Transition(
            actor_in={n: actor_in[n] for n in learn}, critic_in={n: critic_in[n] for n in learn},
            final_critic_in={} if c.recurrent_size else {n: final_critic[n] for n in learn},
            mask={n: ts.action_mask[n] for n in learn if policy.groups[n].masked},
            raw_action=raw, log_prob=logp, value_out=value_out, value=value, next_value=next_value,
            reward={n: next_ts.reward[n] for n in learn}, terminated={n: next_ts.terminated[n] for n in learn},
            episode_end=next_ts.done, active=active,
            resets=resets, episode_returns={n: r.mean(-1) for n, r in ep.returns.items()},
            episode_length=ep.length,
        )
        new_state = state.replace(
            env_state=env_state, timestep=next_ts, actor_hidden=actor_hidden, critic_hidden=critic_hidden,
            obs_stats=obs_stats, state_stats=state_stats, env_steps=state.env_steps + c.num_envs,
            opponent_index=opponent_index,
        )
        return new_state, transition

    def _opponent_outputs(self, state: TrainState, name: str, index: jax.Array, actor_in: jax.Array,
                          resets: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Group ``name``'s actor outputs in every env, each env with its own opponent member."""
        params = jax.tree.map(lambda p: p[index], state.opponents[name])  # (E, ...)

        def one_env(p, h, x, r):
            h, out = self.policy.actor_outputs({name: {"actor": p}}, name, h[None], x[None, None], r[None, None])
            return h[0], jax.tree.map(lambda y: y[0, 0] if y.ndim > 1 else y, out)

        return jax.vmap(one_env)(params, state.actor_hidden[name], actor_in, resets)

    def _batched_values(self, state: TrainState, traj: Transition) -> Transition:
        """Feed-forward critics: ``V(s_t)`` and ``V(s_{t+1})`` for the whole rollout in two
        large batched calls (same numbers as per step, far fewer small matmuls)."""
        value_out, value, next_value = {}, {}, {}
        for name in self.learners:
            empty = jnp.zeros((*traj.reward[name].shape[1:], 0))
            _, out = self.policy.values(state.params, name, empty, traj.critic_in[name], traj.resets)
            _, nxt = self.policy.values(state.params, name, empty, traj.final_critic_in[name], traj.resets)
            value_out[name] = out
            value[name] = self._real_value(state, name, out)
            next_value[name] = self._real_value(state, name, nxt)
        return traj.replace(value_out=value_out, value=value, next_value=next_value, final_critic_in={})

    # ------------------------------------------------------------------ update
    def update(self, state: TrainState) -> tuple[TrainState, UpdateMetrics]:
        """One PPO update: a rollout of ``num_steps``, GAE, then epochs × minibatches."""
        key, k_roll, k_epochs = jax.random.split(state.key, 3)
        start_hidden = {"actor": state.actor_hidden, "critic": state.critic_hidden}
        state, traj = jax.lax.scan(self._env_step, state, jax.random.split(k_roll, self.config.num_steps))
        return self.learn(state.replace(key=key), traj, start_hidden, k_epochs)

    def learn(
        self, state: TrainState, traj: Transition, start_hidden: dict, key: jax.Array
    ) -> tuple[TrainState, UpdateMetrics]:
        """GAE and epochs × minibatches on a collected rollout ``traj`` (leaves ``(T, E, ...)``).

        ``start_hidden`` is ``{"actor": ..., "critic": ...}``, the recurrent states at the
        rollout's first step. Rollouts collected elsewhere (host envs) learn through this too.
        """
        c = self.config
        k_epochs = key
        start_actor_hidden, start_critic_hidden = start_hidden["actor"], start_hidden["critic"]
        if not c.recurrent_size:
            traj = self._batched_values(state, traj)

        advantages, targets = {}, {}
        value_stats = state.value_stats
        for name in self.learners:
            ends = jnp.broadcast_to(traj.episode_end[..., None], traj.terminated[name].shape)
            terminal = traj.terminated[name] if c.bootstrap_truncation else traj.terminated[name] | ends
            adv, ret = compute_gae(traj.reward[name], traj.value[name], traj.next_value[name],
                                   terminal, ends | traj.terminated[name], c.gamma, c.gae_lambda)
            advantages[name] = adv
            if value_stats is not None:
                value_stats = {**value_stats, name: value_stats[name].update(ret, traj.active[name])}
                ret = (ret - value_stats[name].mean) / jnp.sqrt(value_stats[name].var + 1e-8)
            targets[name] = ret

        # Sequences are (T, B, ...) and split along B; recurrent starts are (B, ...).
        # Only what the loss reads is shuffled; IPPO's critic reads the actor's inputs.
        needed = ("actor_in", "mask", "raw_action", "log_prob", "value_out", "active", "resets")
        seq = {k: getattr(traj, k) for k in needed}
        seq.update(adv=advantages, targets=targets)
        if c.critic == "mappo":
            seq["critic_in"] = traj.critic_in
        start = {"actor": start_actor_hidden, "critic": start_critic_hidden}
        if not c.recurrent_size:
            # Feed-forward: every (step, env) is an independent sample, so fold time into B.
            seq = jax.tree.map(lambda x: x.reshape(1, x.shape[0] * x.shape[1], *x.shape[2:]), seq)
            start = jax.tree.map(lambda x: jnp.zeros((c.num_steps * x.shape[0], *x.shape[1:])), start)
        m = c.num_minibatches
        n = c.num_envs if c.recurrent_size else c.num_envs * c.num_steps

        def split_seq(x, perm):
            x = jnp.take(x, perm, axis=1)
            return jnp.swapaxes(x.reshape(x.shape[0], m, n // m, *x.shape[2:]), 0, 1)

        def split_start(x, perm):
            return jnp.take(x, perm, axis=0).reshape(m, n // m, *x.shape[1:])

        chunks = self._num_chunks(n // m, c.num_steps if c.recurrent_size else 1)

        def minibatch_step(carry, mb):
            params, opt_state = carry
            grads, info = self._grad(params, *mb, chunks)
            updates, opt_state = self.optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), info

        def epoch(carry, k):
            perm = jax.random.permutation(k, n)
            mbs = (jax.tree.map(lambda x: split_seq(x, perm), seq), jax.tree.map(lambda x: split_start(x, perm), start))
            return jax.lax.scan(minibatch_step, carry, mbs)

        (params, opt_state), info = jax.lax.scan(
            epoch, (state.params, state.opt_state), jax.random.split(k_epochs, c.update_epochs)
        )
        info = jax.tree.map(jnp.mean, info)
        ends = traj.episode_end
        metrics = UpdateMetrics(
            env_steps=state.env_steps,
            episode_return_sum={n: jnp.sum(jnp.where(ends, r, 0.0)) for n, r in traj.episode_returns.items()},
            episode_length_sum=jnp.sum(jnp.where(ends, traj.episode_length, 0)).astype(jnp.float32),
            episode_count=jnp.sum(ends).astype(jnp.float32),
            **info,
        )
        state = state.replace(params=params, opt_state=opt_state, value_stats=value_stats,
                              update_step=state.update_step + 1)
        return state, metrics

    def _num_chunks(self, rows: int, length: int) -> int:
        """Chunks per minibatch of ``rows`` sequences of ``length`` steps: the fewest that
        divide ``rows`` and keep each chunk within ``grad_chunk`` agent-samples."""
        limit = self.config.grad_chunk
        per_row = length * sum(g.num_agents for g in self.env.spec.groups.values())
        if limit == -1:
            # Auto, CPU only: 2048-sample passes measured fastest or tied on LBF/RWARE (128 envs) and
            # simple_spread (1024 envs), against 256, 1024, 4096 and none (benchmarks/RESULTS.md).
            limit = AUTO_CHUNK if jax.default_backend() == "cpu" else 0
        if limit == 0 or rows * per_row <= limit:
            return 1
        return next(k for k in range(1, rows + 1) if rows % k == 0 and (rows // k) * per_row <= max(limit, per_row))

    def _grad(self, params: dict, seq: dict, start: dict, chunks: int) -> tuple[dict, dict]:
        """Gradient of the minibatch loss, summed over ``chunks`` slices of the batch axis.

        Means over the minibatch become sums over chunks divided by the whole minibatch's
        counts, and advantages are normalised with the whole minibatch's statistics, so
        the result is the unchunked gradient (up to float rounding).
        """
        grad = jax.grad(self._loss, has_aux=True)
        if chunks == 1:
            return grad(params, seq, start)
        stats = {}
        for name in self.learners:
            active = seq["active"][name]
            count = jnp.maximum(jnp.sum(active.astype(jnp.float32)), 1.0)
            adv = seq["adv"][name]
            mean = masked_mean(adv, active)
            std = jnp.sqrt(masked_mean((adv - mean) ** 2, active))
            stats[name] = {"count": count, "adv_mean": mean, "adv_std": std}
        def cut(x, axis):  # (..., B, ...) -> (chunks, ..., B / chunks, ...)
            x = x.reshape(*x.shape[:axis], chunks, x.shape[axis] // chunks, *x.shape[axis + 1 :])
            return jnp.moveaxis(x, axis, 0)

        seq_c = jax.tree.map(lambda x: cut(x, 1), seq)
        start_c = jax.tree.map(lambda x: cut(x, 0), start)

        def body(acc, chunk):
            g, info = grad(params, *chunk, stats)
            return jax.tree.map(jnp.add, acc, (g, info)), None

        zeros = jax.tree.map(jnp.zeros_like, jax.eval_shape(lambda: grad(params, seq, start)))
        return jax.lax.scan(body, zeros, (seq_c, start_c))[0]

    def _loss(self, params: dict, seq: dict, start: dict, stats: dict | None = None) -> tuple[jax.Array, dict]:
        """PPO loss summed over groups, on one minibatch of ``(T, B, ...)`` sequences.

        ``stats`` (``{group: {"count", "adv_mean", "adv_std"}}``) are the whole minibatch's
        when ``seq`` is one chunk of it; None computes them from ``seq``.
        """
        c, policy = self.config, self.policy
        total = 0.0
        names = ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction")
        info: dict[str, dict] = {k: {} for k in names}
        for name in self.learners:
            g = policy.groups[name]
            active = seq["active"][name]
            count = None if stats is None else stats[name]["count"]
            _, out = policy.actor_outputs(params, name, start["actor"][name], seq["actor_in"][name], seq["resets"])
            mask = seq["mask"][name] if g.masked else None
            logp, entropy = dist.log_prob_and_entropy(g.space, out, seq["raw_action"][name], mask)
            critic_in = seq["critic_in"][name] if c.critic == "mappo" else seq["actor_in"][name]
            _, values = policy.values(params, name, start["critic"][name], critic_in, seq["resets"])
            adv = seq["adv"][name]
            if c.normalize_advantages:
                if stats is None:
                    adv = normalize(adv, active)
                else:
                    adv = (adv - stats[name]["adv_mean"]) / (stats[name]["adv_std"] + 1e-8)
            pl, kl, cf = policy_loss(logp, seq["log_prob"][name], adv, c.clip_eps, active, count)
            vl = value_loss(values, seq["value_out"][name], seq["targets"][name], c.value_clip_eps, active, count)
            ent = masked_mean(entropy, active, count)
            total = total + pl + c.vf_coef * vl - c.ent_coef * ent
            for k, v in (("policy_loss", pl), ("value_loss", vl), ("entropy", ent), ("approx_kl", kl),
                         ("clip_fraction", cf)):
                info[k][name] = v
        return total, info

    # ------------------------------------------------------------------ acting (evaluation)
    def initial_hidden(self, batch: int) -> dict[str, jax.Array]:
        """Zero recurrent state of the actors for ``batch`` envs: ``{group: (batch, A, H)}``."""
        return self.policy.initial_hidden(batch)

    def act(self, state: TrainState, hidden: dict, key: jax.Array, ts: TimeStep, first: jax.Array,
            greedy: bool = False) -> tuple[dict, dict]:
        """Actions of every group for a batch of envs ``ts`` (``(E, ...)``) from ``state``'s actors.

        ``first`` (``(E,)`` or ``()``) marks episode starts (recurrent state reset). Groups
        that do not learn act with their opponent member 0.
        """
        policy, c = self.policy, self.config
        params = dict(state.params)
        for name in state.opponents or {}:
            params[name] = {**params[name], "actor": jax.tree.map(lambda p: p[0], state.opponents[name])}
        actor_in, _ = policy.inputs(ts, state.obs_stats, state.state_stats)
        resets = jnp.broadcast_to(first, ts.truncated.shape)
        keys = dict(zip(policy.groups, jax.random.split(key, len(policy.groups)), strict=True))
        actions, new_hidden = {}, {}
        for name, g in policy.groups.items():
            h, out = policy.actor_outputs(params, name, hidden[name], actor_in[name][None], resets[None])
            out = jax.tree.map(lambda x: x[0] if x.ndim > 1 else x, out)
            mask = ts.action_mask.get(name) if g.masked else None
            if greedy:
                actions[name] = dist.greedy(g.space, out, mask, c.squash)
            else:
                actions[name] = dist.sample(keys[name], g.space, out, mask, c.squash)[0]
            new_hidden[name] = h
        return new_hidden, actions

    def train(self, key: jax.Array) -> tuple[TrainState, UpdateMetrics]:
        """A whole run as one function of one key: ``vmap`` it over keys for several seeds."""
        state = self.init(key)
        return jax.lax.scan(lambda s, _: self.update(s), state, None, length=self.num_updates)


def make_train(config: PPOConfig, env: Environment, learners: tuple[str, ...] | None = None) -> Trainer:
    """Build the :class:`Trainer` for ``env`` (a plain env; wrapping is done here).

    ``learners`` names the groups that learn (default: all). The others act with fixed
    opponents given to :meth:`Trainer.init` — a best response against a population.
    """
    config.validate()
    groups = tuple(env.spec.groups)
    learners = groups if learners is None else tuple(learners)
    unknown = [g for g in learners if g not in groups]
    if unknown or not learners:
        raise PhalanxError(
            f"learners={list(learners)}: expected a non-empty subset of the env's groups {list(groups)}."
        )
    venv = wrap_for_training(env, config.num_envs)
    policy = MultiAgentPolicy(env.spec, config)
    total = config.num_updates * config.update_epochs * config.num_minibatches
    lr = optax.linear_schedule(config.lr, 0.0, total) if config.anneal_lr else config.lr
    optimizer = optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(lr, eps=1e-5))
    return Trainer(config, venv, policy, optimizer, learners)
