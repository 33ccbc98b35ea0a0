"""PPO's rollout: one step of every env, the learners sampling, fixed opponents acting.

:func:`env_step` is scanned over ``num_steps`` by :meth:`Trainer.update`; it returns the
:class:`Transition` of the learning groups. Feed-forward critics are evaluated once over the
whole rollout afterwards (:func:`batched_values`), recurrent ones step by step here.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from phalanx.algos.common.episodes import active_agents, episode_starts
from phalanx.algos.common.opponents import draw_members, opponent_actions
from phalanx.algos.ppo.types import TrainerParts, TrainState, Transition
from phalanx.networks import distributions as dist


def real_value(state: TrainState, name: str, out: jax.Array) -> jax.Array:
    """Critic output ``out`` in the returns' scale (undoing value normalisation when on)."""
    return state.value_stats[name].denormalize(out) if state.value_stats is not None else out


def env_step(trainer: TrainerParts, state: TrainState, key: jax.Array) -> tuple[TrainState, Transition]:
    """Act in every env (learners sample; fixed groups play their drawn member), step, record."""
    c, policy, learners = trainer.config, trainer.policy, trainer.learners
    k_act, k_env = jax.random.split(key)
    ts = state.timestep
    obs_stats, state_stats = state.obs_stats, state.state_stats
    resets = episode_starts(ts, state.env_steps)
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
        opponent_index = draw_members(k_opp, state.opponents, opponent_index, resets)
    for name, g in policy.groups.items():
        mask = ts.action_mask.get(name) if g.masked else None
        if name not in learners:
            actions[name], actor_hidden[name] = opponent_actions(
                trainer.act, state.opponents, opponent_index, name, state.actor_hidden[name], ts.obs[name], resets,
                keys[name], mask)
            continue
        actor_hidden[name], out = policy.act(state.params[name]["actor"], name, state.actor_hidden[name],
                                             actor_in[name], resets)
        actions[name], raw[name], logp[name] = dist.sample(keys[name], g.space, out, mask, c.squash)
        if c.recurrent_size:  # feed-forward critics run once over the whole rollout instead
            hc, v = policy.values(state.params, name, state.critic_hidden[name], critic_in[name][None], resets[None])
            critic_hidden[name], value_out[name] = hc, v[0]
        else:
            critic_hidden[name], value_out[name] = state.critic_hidden[name], jnp.zeros(ts.reward[name].shape)
        value[name] = real_value(state, name, value_out[name])
    active = {n: active_agents(ts.terminated[n], resets) for n in learners}
    env_state, next_ts = trainer.env.step(k_env, state.env_state, actions)
    # Bootstrap from the state each transition reached: the final observation on episode ends.
    _, final_critic = policy.inputs(next_ts, obs_stats, state_stats, final=True)
    next_value = {}
    for name in learners:
        if c.recurrent_size:
            _, v = policy.values(state.params, name, critic_hidden[name], final_critic[name][None],
                                 jnp.zeros_like(resets)[None])
            next_value[name] = real_value(state, name, v[0])
        else:
            next_value[name] = value[name]
    ep = next_ts.episode
    transition = Transition(
        actor_in={n: actor_in[n] for n in learners}, critic_in={n: critic_in[n] for n in learners},
        final_critic_in={} if c.recurrent_size else {n: final_critic[n] for n in learners},
        mask={n: ts.action_mask[n] for n in learners if policy.groups[n].masked},
        raw_action=raw, log_prob=logp, value_out=value_out, value=value, next_value=next_value,
        reward={n: next_ts.reward[n] for n in learners}, terminated={n: next_ts.terminated[n] for n in learners},
        episode_end=next_ts.done, active=active, resets=resets,
        episode_returns={n: r.mean(-1) for n, r in ep.returns.items()}, episode_length=ep.length,
        episode_metrics=ep.metrics,
    )
    new_state = state.replace(
        env_state=env_state, timestep=next_ts, actor_hidden=actor_hidden, critic_hidden=critic_hidden,
        obs_stats=obs_stats, state_stats=state_stats, env_steps=state.env_steps + c.num_envs,
        opponent_index=opponent_index,
    )
    return new_state, transition


def batched_values(trainer: TrainerParts, state: TrainState, traj: Transition) -> Transition:
    """Feed-forward critics: ``V(s_t)`` and ``V(s_{t+1})`` for the whole rollout (leaves ``(T, E, ...)``)
    in two batched calls — the same numbers as per step, in far fewer small matrix products."""
    value_out, value, next_value = {}, {}, {}
    for name in trainer.learners:
        empty = jnp.zeros((*traj.reward[name].shape[1:], 0))
        _, out = trainer.policy.values(state.params, name, empty, traj.critic_in[name], traj.resets)
        _, nxt = trainer.policy.values(state.params, name, empty, traj.final_critic_in[name], traj.resets)
        value_out[name] = out
        value[name] = real_value(state, name, out)
        next_value[name] = real_value(state, name, nxt)
    return traj.replace(value_out=value_out, value=value, next_value=next_value, final_critic_in={})
