"""League matches and scorers: hand-computed paired games, symmetry, and Tag's tag count against a plain loop."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import phalanx
from phalanx.algos.ppo.config import PPOConfig
from phalanx.algos.ppo.train import make_train as make_ppo
from phalanx.algos.value_based.config import QLearningConfig
from phalanx.algos.value_based.train import make_train as make_iql
from phalanx.errors import ConfigError
from phalanx.evaluation import Outcome
from phalanx.population.league_matches import make_match_evaluator, paired, sides
from phalanx.population.scorers import get_scorer, returns_scores, tags_scores


def outcome(returns: dict | None = None, **stats) -> Outcome:
    returns = {g: jnp.asarray(r, jnp.float32) for g, r in (returns or {}).items()}
    stats = {k: jnp.asarray(v) for k, v in stats.items()}
    n = len(next(iter({**returns, **stats}.values())))
    return Outcome(returns=returns, length=jnp.zeros(n, jnp.int32), done=jnp.ones(n, bool), stats=stats)


def stack(trees):
    return jax.tree.map(lambda *x: np.stack(x), *trees)


# ---------------------------------------------------------------------------------------------- sides
def test_sides_alternate_groups_and_refuse_one_group():
    assert sides(("taggers", "runners")) == (("taggers",), ("runners",))
    assert sides(("a", "b", "c")) == (("a", "c"), ("b",))
    with pytest.raises(ConfigError, match="one group"):
        sides(("agents",))
    a, b = {"x": "A.x", "y": "A.y"}, {"x": "B.x", "y": "B.y"}
    assert paired(a, b, (("x",), ("y",))) == ({"x": "A.x", "y": "B.y"}, {"x": "B.x", "y": "A.y"})


# ---------------------------------------------------------------------------------------------- scorers
def test_returns_scorer_hand_computed():
    # A plays x in the first episode and y in the second; B the other way round.
    first = outcome({"x": [1.0, 0.0, 2.0, 0.0], "y": [-1.0, 0.0, 0.0, 3.0]})
    second = outcome({"x": [0.5, 0.0, 2.0, 0.0], "y": [0.0, 0.0, 0.0, 1.0]})
    # A: first.x + second.y = [1, 0, 2, 1]; B: first.y + second.x = [-0.5, 0, 2, 3]
    np.testing.assert_array_equal(returns_scores(first, second, (("x",), ("y",))), [1.0, 0.5, 0.5, 0.0])
    # Three groups, sides (x, z) vs y: A = first.x + first.z + second.y = 3; B = first.y + second.x + second.z = 4
    three = (outcome({"x": [1.0], "y": [0.0], "z": [1.0]}), outcome({"x": [2.0], "y": [1.0], "z": [2.0]}))
    np.testing.assert_array_equal(returns_scores(*three, (("x", "z"), ("y",))), [0.0])
    # Swapping A and B swaps the episodes: complementary scores.
    np.testing.assert_array_equal(returns_scores(second, first, (("x",), ("y",))), [0.0, 0.5, 0.5, 1.0])


def test_returns_scorer_is_a_draw_up_to_rounding():
    first, second = outcome({"x": [1000.0], "y": [0.0]}), outcome({"x": [1000.0001], "y": [0.0]})
    np.testing.assert_array_equal(returns_scores(first, second, (("x",), ("y",))), [0.5])


def test_tags_scorer_hand_table():
    # The table today's league scored with match_scores(tags, runner_steps): [:, 0] A's taggers vs B's runners
    # (the first episode), [:, 1] B's taggers vs A's runners (the second).
    tags = np.array([[2, 1], [1, 2], [1, 1], [1, 1], [0, 0], [3, 0]])
    steps = np.array([[50, 90], [50, 90], [60, 70], [70, 60], [100, 100], [10, 100]])
    first = outcome(tags=tags[:, 0], runner_steps=steps[:, 0])
    second = outcome(tags=tags[:, 1], runner_steps=steps[:, 1])
    #  more tags win; equal tags: fewer runner steps for the opponent's runners win; all equal: draw
    scores = tags_scores(first, second, (("taggers",), ("runners",)))
    np.testing.assert_array_equal(scores, [1.0, 0.0, 1.0, 0.0, 0.5, 1.0])


def test_scorer_names_and_envs_one_line():
    assert get_scorer("returns", "simple_tag").name == "returns"
    assert get_scorer("tags", "tag").stat is not None
    with pytest.raises(ConfigError, match="provided by env=tag, not env=simple_tag"):
        get_scorer("tags", "simple_tag")
    with pytest.raises(ConfigError, match=r"unknown scorer\. Did you mean 'tags'"):
        get_scorer("tag", "tag")


# ---------------------------------------------------------------------------------------------- matches
def test_kuhn_matches_symmetric_and_a_policy_against_itself_scores_half():
    env = phalanx.make("kuhn_poker")
    learner = make_iql(QLearningConfig(hidden=(8,), recurrent_size=0, num_envs=2, buffer_size=16), env)
    members = [{g: learner.policy_params(learner.init(jax.random.PRNGKey(s)), g) for g in env.spec.groups}
               for s in range(3)]
    games = 64
    evaluate = make_match_evaluator(env, dict.fromkeys(env.spec.groups, learner.act), learner.initial_hidden(games),
                                    get_scorer("returns"), greedy=True)
    pairs = [(0, 1), (1, 2), (2, 2)]
    a, b = stack([members[x] for x, _ in pairs]), stack([members[y] for _, y in pairs])
    key = jax.random.PRNGKey(3)
    scores = np.asarray(evaluate(a, b, key))
    assert scores.shape == (3, games) and set(np.unique(scores)) <= {0.0, 0.5, 1.0}
    np.testing.assert_array_equal(scores[2], 0.5)  # identical episodes: every game a draw
    np.testing.assert_array_equal(np.asarray(evaluate(b, a, key)), 1.0 - scores)  # swapping A and B
    assert np.any(scores[:2] != 0.5)  # and not trivially so


# ------------------------------------------------------------------ Tag's tag count against a plain loop
@pytest.fixture(scope="module")
def tag_setup():
    env = phalanx.make("tag", num_taggers=1, num_runners=2, grid_length=3.0, episode_length=12,
                       tagging_distance=0.3, num_acceleration_levels=2, num_turn_levels=2)
    trainer = make_ppo(PPOConfig(hidden=(8,), num_envs=2), env)
    members = [{g: trainer.policy_params(trainer.init(jax.random.PRNGKey(s)), g) for g in ("taggers", "runners")}
               for s in range(3)]
    return env, trainer, members


@functools.cache
def jitted(env):
    return jax.jit(env.reset), jax.jit(env.step)


def reference_game(env, trainer, taggers, runners, reset_key):
    """One greedy episode stepped in a Python loop from ``reset_key``: (runners tagged, runner steps in the game)."""
    reset, step = jitted(env)
    state, ts = reset(reset_key)
    tags = steps = 0
    for _ in range(env.time_limit):
        actions = {g: trainer.act(p, g, jnp.zeros((1, ts.obs[g].shape[0], 0)), ts.obs[g][None], jnp.ones(1, bool),
                                  jax.random.PRNGKey(0), mask=ts.action_mask[g][None], greedy=True)[0][0]
                   for g, p in (("taggers", taggers), ("runners", runners))}
        before = np.asarray(state.alive)[np.asarray(state.runner_ids)]
        state, ts = step(jax.random.PRNGKey(0), state, actions)
        after = np.asarray(state.alive)[np.asarray(state.runner_ids)]
        tags += int(np.sum(before & ~after))
        steps += int(after.sum())
        if bool(ts.done):
            break
    return tags, steps


def old_match_scores(tags, runner_steps):
    """Today's league score of paired games (population/league.py before the split), verbatim."""
    t, s = np.asarray(tags), np.asarray(runner_steps)
    key = np.sign(t[..., 0] - t[..., 1]) * 2 + np.sign(s[..., 1] - s[..., 0])
    return 0.5 + 0.5 * np.sign(key)


def test_tags_scorer_gives_todays_scores_on_the_same_games(tag_setup):
    env, trainer, members = tag_setup
    games = 3
    evaluate = make_match_evaluator(env, {g: trainer.act for g in env.spec.groups}, trainer.initial_hidden(games),
                                    get_scorer("tags", "tag"), greedy=True)
    pairs = [(0, 1), (1, 2)]
    a, b = stack([members[x] for x, _ in pairs]), stack([members[y] for _, y in pairs])
    key = jax.random.PRNGKey(5)
    scores = np.asarray(evaluate(a, b, key))
    counts = np.zeros((len(pairs), games, 2, 2), np.int64)  # match, game, side, (tags, runner steps)
    for m, (x, y) in enumerate(pairs):
        # play's keys: match m plays with split(key, K)[m]; game g resets from split(split(that)[0], G)[g].
        reset_keys = jax.random.split(jax.random.split(jax.random.split(key, len(pairs))[m])[0], games)
        for g in range(games):
            counts[m, g, 0] = reference_game(env, trainer, members[x]["taggers"], members[y]["runners"], reset_keys[g])
            counts[m, g, 1] = reference_game(env, trainer, members[y]["taggers"], members[x]["runners"], reset_keys[g])
    assert counts[..., 0].sum() > 0  # the setting really tags (else the comparison is vacuous)
    np.testing.assert_array_equal(scores, old_match_scores(counts[..., 0], counts[..., 1]))
    assert np.any(scores != 0.5)
