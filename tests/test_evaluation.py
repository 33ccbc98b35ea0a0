"""``phalanx.evaluation.play``: the one evaluator, against episodes stepped by hand."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import phalanx
from phalanx.algos.registry import get_algorithm
from phalanx.evaluation import Actor, learner_actor, play, random_actor, state_actors


def hand_played(env, actors, key, steps):
    """The same episodes as :func:`play`, stepped one by one in Python: ``(returns, lengths)``."""
    groups = tuple(env.spec.groups)
    num = actors[groups[0]].hidden.shape[0]
    k_reset, k_run = jax.random.split(key)
    state, ts = jax.vmap(env.reset)(jax.random.split(k_reset, num))
    hidden = {g: a.hidden for g, a in actors.items()}
    returns = {g: np.zeros(num) for g in groups}
    lengths = np.zeros(num, int)
    over = np.zeros(num, bool)
    for t, k in enumerate(jax.random.split(k_run, steps)):
        k_act, k_env = jax.random.split(k)
        actions = {}
        for g, k_g in zip(groups, jax.random.split(k_act, len(groups)), strict=True):
            a = actors[g]
            actions[g], hidden[g] = a.act(a.params, g, hidden[g], ts.obs[g], jnp.full((num,), t == 0), k_g,
                                          mask=ts.action_mask.get(g), greedy=a.greedy)
        state, ts = jax.vmap(env.step)(jax.random.split(k_env, num), state, actions)
        for e in range(num):
            if not over[e]:
                for g in groups:
                    returns[g][e] += float(np.mean(ts.reward[g][e]))
                lengths[e] += 1
                over[e] = bool(ts.done[e])
    return returns, lengths


@pytest.mark.parametrize("env_name", ["kuhn_poker", "rock_paper_scissors"])
def test_play_equals_a_hand_stepped_episode(env_name):
    env = phalanx.make(env_name)
    num = 6
    learner = get_algorithm("ippo").make_train(get_algorithm("ippo").config_cls(num_envs=2, num_steps=4), env)
    state = learner.init(jax.random.PRNGKey(1))
    g0, g1 = env.spec.groups
    actors = {g0: learner_actor(learner, learner.policy_params(state, g0), g0, num),
              g1: random_actor(env, g1, num)}
    key = jax.random.PRNGKey(3)
    outcome = jax.jit(lambda a, k: play(env, a, k))(actors, key)
    returns, lengths = hand_played(env, actors, key, env.time_limit)
    for g in (g0, g1):
        np.testing.assert_allclose(np.asarray(outcome.returns[g]), returns[g], atol=1e-6)
    np.testing.assert_array_equal(np.asarray(outcome.length), lengths)
    assert bool(outcome.done.all())
    assert outcome.returns[g0].shape == (num,) and outcome.stats == {}
    if env_name == "kuhn_poker":  # zero-sum, every game decided: payoffs cancel and are not all zero
        np.testing.assert_allclose(np.asarray(outcome.returns[g0] + outcome.returns[g1]), 0.0, atol=1e-6)
        assert np.abs(np.asarray(outcome.returns[g0])).min() >= 1.0


def test_play_counts_only_live_steps_and_sums_a_statistic():
    """Steps beyond the episode's end add neither reward, length nor statistic; record keeps every state."""
    env = phalanx.make("kuhn_poker")  # episodes of 2 or 3 steps
    num, steps = 8, 7
    actors = {g: random_actor(env, g, num) for g in env.spec.groups}
    stat = lambda s, n: {"steps": jnp.bool_(True), "half": jnp.float32(0.5)}  # noqa: E731
    outcome = play(env, actors, jax.random.PRNGKey(0), steps, stat=stat, record=True)
    length = np.asarray(outcome.length)
    assert set(length.tolist()) <= {2, 3} and len(set(length.tolist())) == 2
    np.testing.assert_array_equal(np.asarray(outcome.stats["steps"]), length)
    assert outcome.stats["steps"].dtype == jnp.int32
    np.testing.assert_allclose(np.asarray(outcome.stats["half"]), 0.5 * length)
    assert jax.tree.leaves(outcome.states)[0].shape[:2] == (steps + 1, num)
    short = play(env, actors, jax.random.PRNGKey(0), 7)
    np.testing.assert_allclose(np.asarray(short.returns["player_0"]), np.asarray(outcome.returns["player_0"]))


def test_state_actors_play_every_group_and_wrong_groups_fail():
    env = phalanx.make("matching_pennies")
    algo = get_algorithm("iql")
    learner = algo.make_train(algo.config_cls(num_envs=2, num_steps=2), env)
    state = learner.init(jax.random.PRNGKey(0))
    actors = state_actors(learner, state, 4, greedy=True)
    assert isinstance(actors["player_0"], Actor)
    outcome = play(env, actors, jax.random.PRNGKey(0))
    # Greedy players in a 1-step game with fixed params: the same action in every env.
    assert np.unique(np.asarray(outcome.returns["player_0"])).size == 1
    with pytest.raises(ValueError, match="one actor per group"):
        play(env, {"player_0": actors["player_0"]}, jax.random.PRNGKey(0))
