"""PPO's learning half: GAE on a rollout, then epochs × minibatches of clipped-surrogate steps.

:func:`learn` turns a rollout (:class:`Transition`, leaves ``(T, E, ...)``) into advantages
and value targets, packs what the loss reads into a :class:`Minibatch`, and scans the optimiser
over shuffled minibatches. :func:`loss` is the whole objective, summed over the learning groups.

Large minibatches may be cut into ``grad_chunk``-sized slices whose gradients are summed
(:func:`minibatch_grad`): means over the minibatch become sums over chunks divided by the whole
minibatch's counts, and advantages are normalised with the whole minibatch's statistics, so the
result is the unchunked gradient up to float rounding. A new loss term must keep that property:
divide by the ``count`` it is given (``tests/algos/test_ppo_learning.py`` checks it).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import optax

from phalanx.algos.common.targets import masked_mean
from phalanx.algos.ppo.losses import compute_gae, normalize, policy_loss, value_loss
from phalanx.algos.ppo.rollout import batched_values
from phalanx.algos.ppo.types import Minibatch, TrainerParts, TrainState, Transition, UpdateMetrics
from phalanx.networks import distributions as dist

#: ``grad_chunk=-1`` on CPU: most agent-samples per forward/backward pass (the fastest of those tried on
#: LBF, RWARE and simple_spread: benchmarks/mava/README.md).
AUTO_CHUNK = 2048


def learn(trainer: TrainerParts, state: TrainState, traj: Transition, start_hidden: dict,
          key: jax.Array) -> tuple[TrainState, UpdateMetrics]:
    """GAE and epochs × minibatches on a collected rollout ``traj`` (leaves ``(T, E, ...)``).

    ``start_hidden`` is ``{"actor": ..., "critic": ...}``, the recurrent states ``{group: (E, A, H)}``
    at the rollout's first step. Rollouts collected elsewhere (host envs) learn through this too.
    """
    c = trainer.config
    if not c.recurrent_size:
        traj = batched_values(trainer, state, traj)

    advantages, targets = {}, {}
    value_stats = state.value_stats
    for name in trainer.learners:
        ends = jnp.broadcast_to(traj.episode_end[..., None], traj.terminated[name].shape)
        terminal = traj.terminated[name] if c.bootstrap_truncation else traj.terminated[name] | ends
        adv, ret = compute_gae(traj.reward[name], traj.value[name], traj.next_value[name],
                               terminal, ends | traj.terminated[name], c.gamma, c.gae_lambda)
        advantages[name] = adv
        if value_stats is not None:
            value_stats = {**value_stats, name: value_stats[name].update(ret, traj.active[name])}
            ret = (ret - value_stats[name].mean) / jnp.sqrt(value_stats[name].var + 1e-8)
        targets[name] = ret

    # Only what the loss reads is shuffled; IPPO's critic reads the actor's inputs.
    batch = Minibatch(
        actor_in=traj.actor_in, critic_in=traj.critic_in if c.critic == "mappo" else {}, mask=traj.mask,
        raw_action=traj.raw_action, log_prob=traj.log_prob, value_out=traj.value_out, active=traj.active,
        resets=traj.resets, advantages=advantages, targets=targets,
        actor_hidden=start_hidden["actor"], critic_hidden=start_hidden["critic"],
    )
    if not c.recurrent_size:
        # Feed-forward: every (step, env) is an independent sample, so fold time into B.
        batch = batch.map_batch(lambda x: x.reshape(1, x.shape[0] * x.shape[1], *x.shape[2:]),
                                lambda x: jnp.zeros((c.num_steps * x.shape[0], *x.shape[1:])))
    m = c.num_minibatches
    n = c.num_envs if c.recurrent_size else c.num_envs * c.num_steps
    chunks = num_chunks(trainer, n // m, c.num_steps if c.recurrent_size else 1)

    def split(perm: jax.Array) -> Minibatch:  # -> leading (m,) minibatch axis
        def seq(x):
            x = jnp.take(x, perm, axis=1)
            return jnp.swapaxes(x.reshape(x.shape[0], m, n // m, *x.shape[2:]), 0, 1)

        def start(x):
            return jnp.take(x, perm, axis=0).reshape(m, n // m, *x.shape[1:])

        return batch.map_batch(seq, start)

    def minibatch_step(carry, mb: Minibatch):
        params, opt_state = carry
        grads, info = minibatch_grad(trainer, params, mb, chunks)
        updates, opt_state = trainer.optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), info

    def epoch(carry, k):
        return jax.lax.scan(minibatch_step, carry, split(jax.random.permutation(k, n)))

    (params, opt_state), info = jax.lax.scan(
        epoch, (state.params, state.opt_state), jax.random.split(key, c.update_epochs)
    )
    info = jax.tree.map(jnp.mean, info)
    ends = traj.episode_end
    metrics = UpdateMetrics(
        env_steps=state.env_steps,
        episode_return_sum={n: jnp.sum(jnp.where(ends, r, 0.0)) for n, r in traj.episode_returns.items()},
        episode_length_sum=jnp.sum(jnp.where(ends, traj.episode_length, 0)).astype(jnp.float32),
        episode_count=jnp.sum(ends).astype(jnp.float32),
        episode_metric_sums={k: jnp.sum(jnp.where(ends, v, 0.0)) for k, v in traj.episode_metrics.items()},
        **info,
    )
    state = state.replace(params=params, opt_state=opt_state, value_stats=value_stats,
                          update_step=state.update_step + 1)
    return state, metrics


def num_chunks(trainer: TrainerParts, rows: int, length: int) -> int:
    """Chunks per minibatch of ``rows`` sequences of ``length`` steps: the fewest that divide
    ``rows`` and keep each chunk within ``grad_chunk`` agent-samples."""
    limit = trainer.config.grad_chunk
    per_row = length * sum(g.num_agents for g in trainer.env.spec.groups.values())
    if limit == -1:
        # auto: cache-sized passes on CPU, whole minibatches on accelerators. Recurrent nets are
        # never cut: each chunk reruns the GRU's sequential scan over whole sequences, which costs
        # more than the cache saves (benchmarks/smax/README.md).
        limit = AUTO_CHUNK if jax.default_backend() == "cpu" and length == 1 else 0
    if limit == 0 or rows * per_row <= limit:
        return 1
    return next(k for k in range(1, rows + 1) if rows % k == 0 and (rows // k) * per_row <= max(limit, per_row))


def minibatch_grad(trainer: TrainerParts, params: dict, mb: Minibatch, chunks: int) -> tuple[dict, dict]:
    """Gradient of the minibatch loss, summed over ``chunks`` slices of the batch axis (see the module docstring)."""
    grad = jax.grad(functools.partial(loss, trainer), has_aux=True)
    if chunks == 1:
        return grad(params, mb)
    stats = {}
    for name in trainer.learners:
        active = mb.active[name]
        count = jnp.maximum(jnp.sum(active.astype(jnp.float32)), 1.0)
        adv = mb.advantages[name]
        mean = masked_mean(adv, active)
        std = jnp.sqrt(masked_mean((adv - mean) ** 2, active))
        stats[name] = {"count": count, "adv_mean": mean, "adv_std": std}

    def cut(x, axis):  # (..., B, ...) -> (chunks, ..., B / chunks, ...)
        x = x.reshape(*x.shape[:axis], chunks, x.shape[axis] // chunks, *x.shape[axis + 1 :])
        return jnp.moveaxis(x, axis, 0)

    pieces = mb.map_batch(lambda x: cut(x, 1), lambda x: cut(x, 0))

    def body(acc, piece):
        g, info = grad(params, piece, stats)
        return jax.tree.map(jnp.add, acc, (g, info)), None

    zeros = jax.tree.map(jnp.zeros_like, jax.eval_shape(lambda: grad(params, mb)))
    return jax.lax.scan(body, zeros, pieces)[0]


def loss(trainer: TrainerParts, params: dict, mb: Minibatch, stats: dict | None = None) -> tuple[jax.Array, dict]:
    """PPO loss summed over the learning groups, on one minibatch of ``(T, B, ...)`` sequences.

    ``stats`` (``{group: {"count", "adv_mean", "adv_std"}}``) are the whole minibatch's when ``mb``
    is one chunk of it; None computes them from ``mb``. Returns ``(loss, {metric: {group: ()}})``.
    """
    c, policy = trainer.config, trainer.policy
    total = 0.0
    names = ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction")
    info: dict[str, dict] = {k: {} for k in names}
    for name in trainer.learners:
        g = policy.groups[name]
        active = mb.active[name]
        count = None if stats is None else stats[name]["count"]
        _, out = policy.actor_outputs(params, name, mb.actor_hidden[name], mb.actor_in[name], mb.resets)
        mask = mb.mask[name] if g.masked else None
        logp, entropy = dist.log_prob_and_entropy(g.space, out, mb.raw_action[name], mask)
        critic_in = mb.critic_in[name] if c.critic == "mappo" else mb.actor_in[name]
        _, values = policy.values(params, name, mb.critic_hidden[name], critic_in, mb.resets)
        adv = mb.advantages[name]
        if c.normalize_advantages:
            if stats is None:
                adv = normalize(adv, active)
            else:
                adv = (adv - stats[name]["adv_mean"]) / (stats[name]["adv_std"] + 1e-8)
        pl, kl, cf = policy_loss(logp, mb.log_prob[name], adv, c.clip_eps, active, count)
        vl = value_loss(values, mb.value_out[name], mb.targets[name], c.value_clip_eps, active, count)
        ent = masked_mean(entropy, active, count)
        total = total + pl + c.vf_coef * vl - c.ent_coef * ent
        for k, v in (("policy_loss", pl), ("value_loss", vl), ("entropy", ent), ("approx_kl", kl),
                     ("clip_fraction", cf)):
            info[k][name] = v
    return total, info
