"""Meta-games: exact payoffs of poker and matrix members, tables of learned members, Monte-Carlo env payoffs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import phalanx
from phalanx.algos.ppo import PPOConfig
from phalanx.algos.value_based.config import QLearningConfig
from phalanx.errors import ConfigError
from phalanx.population import exact
from phalanx.population.metagames import (
    GameSpec,
    bucket,
    check_game_learner,
    game_kind,
    make_metagame,
    pad_members,
    pad_weights,
    supported_games,
)

TINY_NET = PPOConfig(num_envs=4, num_steps=4, num_minibatches=1, total_steps=16, hidden=(8,))
TINY_Q = QLearningConfig(num_envs=4, num_steps=4, total_steps=16, hidden=(8,), recurrent_size=0, buffer_size=64,
                         agent_id=False, learning_starts=8)


def ppo_spec(game: str, settings: dict | None = None, **kwargs) -> GameSpec:
    return GameSpec.create(game, settings, algo="ippo", train=TINY_NET, **kwargs)


def random_tables(tree, player: int, k: int, seed: int) -> np.ndarray:
    logits = jax.random.normal(jax.random.PRNGKey(seed), (k, *tree.players[player].legal.shape))
    return np.asarray(exact.table_from_logits(tree, player, logits))


# --------------------------------------------------------------------------- padding


def test_bucket_and_padding():
    assert [bucket(n) for n in (0, 1, 16, 17, 33, 200)] == [16, 16, 16, 32, 64, 256]
    assert bucket(3, floor=1) == 4
    pop = {"tables": np.arange(6.0).reshape(3, 2)}
    padded = pad_members(pop, 5)["tables"]
    np.testing.assert_array_equal(padded, [[0, 1], [2, 3], [4, 5], [0, 1], [0, 1]])
    np.testing.assert_array_equal(pad_weights([0.5, 0.5], 4), [0.5, 0.5, 0, 0])


# --------------------------------------------------------------------------- poker


@pytest.mark.parametrize("game", ["kuhn_poker", "leduc_poker"])
def test_poker_cells_equal_the_full_payoff_matrix(game):
    """Any subset of cells, padded to a bucket (20 pairs → 32), equals the full exact payoff matrix."""
    mg = make_metagame(GameSpec.create(game))
    t0, t1 = random_tables(mg.tree, 0, 3, 0), random_tables(mg.tree, 1, 7, 1)
    full = np.asarray(exact.payoff_matrix(mg.tree, t0, t1))
    rows, cols = np.divmod(np.arange(21), 7)
    rows, cols = rows[:20], cols[:20]
    values, stderr, counts = mg.evaluate_cells({"tables": t0}, {"tables": t1}, rows, cols, jax.random.PRNGKey(0))
    assert stderr is None and counts is None and values.shape == (2, 20)
    np.testing.assert_allclose(values, full[:, rows, cols], atol=1e-6)
    np.testing.assert_allclose(values[0], -values[1], atol=1e-6)  # zero-sum
    assert mg.zero_sum and mg.exact


def test_learned_tables_are_the_members_policy_at_every_infostate():
    """A PPO member's table row = its actor's masked softmax on the env's observation at that infostate."""
    for game in ("kuhn_poker", "leduc_poker"):
        mg = make_metagame(ppo_spec(game))
        params = mg.initial_member(1, jax.random.PRNGKey(3))
        table = np.asarray(mg.tables_from_members(1, jax.tree.map(lambda x: x[None], params)))[0]
        assert table.shape == mg.legal(1).shape
        np.testing.assert_allclose(table.sum(-1), 1.0, rtol=1e-6)
        assert np.all(table[~mg.legal(1)] == 0.0)  # Leduc: no fold with nothing to call
    # Kuhn, played in the env: at player 1's turn, its observation and legal actions index into the table.
    env = phalanx.make("kuhn_poker")
    mg = make_metagame(ppo_spec("kuhn_poker"))
    actor = mg.learner.policy.groups["player_1"].actor
    params = mg.initial_member(1, jax.random.PRNGKey(3))
    table = np.asarray(mg.tables_from_members(1, jax.tree.map(lambda x: x[None], params)))[0]
    reset_to_deal, step = jax.jit(env.reset_to_deal), jax.jit(env.step)
    seen = set()
    for deal, moves in (([0, 2], [0]), ([2, 1], [1]), ([1, 0], [0])):  # player 0 passes or bets, then player 1
        state, ts = reset_to_deal(np.array(deal))
        for a in moves:
            state, ts = step(jax.random.PRNGKey(0), state, {"player_0": jnp.array([a]), "player_1": jnp.array([0])})
        obs = np.asarray(ts.obs["player_1"][0])
        row = int(np.flatnonzero((mg.infostate_obs(1) == obs).all(-1))[0])
        _, logits = actor.apply(params["actor"], jnp.zeros((1, 0)), jnp.asarray(obs)[None, None],
                                jnp.zeros((1, 1), bool))
        expected = jax.nn.softmax(jnp.where(ts.action_mask["player_1"][0], logits[0, 0], -jnp.inf))
        np.testing.assert_allclose(table[row], expected, atol=1e-6)
        seen.add(row)
    assert len(seen) == 3  # three different information states of player 1


def test_value_based_tables_are_the_greedy_legal_action():
    """An IQL member plays greedily: its table is the one-hot argmax Q among the legal actions."""
    mg = make_metagame(GameSpec.create("leduc_poker", algo="iql", train=TINY_Q))
    assert mg.members_act_greedily and not make_metagame(ppo_spec("leduc_poker")).members_act_greedily
    params = jax.tree.map(lambda x: x[None], mg.initial_member(0, jax.random.PRNGKey(1)))
    table = np.asarray(mg.tables_from_members(0, params))[0]
    legal = mg.legal(0)
    assert set(np.unique(table).tolist()) == {0.0, 1.0} and np.all(table.sum(-1) == 1.0)
    assert np.all(table[~legal] == 0.0)
    obs = jnp.asarray(mg.infostate_obs(0))[:, None]
    x = obs.reshape(*obs.shape[:2], -1)
    _, q = mg.learner.networks["player_0"].apply(jax.tree.map(lambda v: v[0], params), jnp.zeros((len(obs), 1, 0)),
                                                 x[None], jnp.zeros((1, len(obs), 1), bool))
    np.testing.assert_array_equal(table.argmax(-1), np.where(legal, np.asarray(q[0, :, 0]), -np.inf).argmax(-1))


def test_initial_member_is_a_fresh_learner_policy():
    pop = make_metagame(ppo_spec("kuhn_poker")).initial_population(0, jax.random.PRNGKey(0))
    np.testing.assert_allclose(pop["tables"][0], 0.5, atol=0.05)  # PPO's small output layer: near uniform
    assert jax.tree.leaves(pop["params"])[0].shape[0] == 1 and pop["tables"].shape == (1, 6, 2)
    tabular = make_metagame(GameSpec.create("kuhn_poker")).initial_population(1, jax.random.PRNGKey(0))
    assert set(tabular) == {"tables"}
    np.testing.assert_allclose(tabular["tables"][0], 0.5)


# --------------------------------------------------------------------------- matrix games


def test_matrix_game_cells_best_responses_and_nash_conv():
    mg = make_metagame(GameSpec.create("rock_paper_scissors"))
    pure = np.eye(3, dtype=np.float32)[:, None, :]  # rock, paper, scissors as (1, 3) tables
    uniform = np.full((1, 1, 3), 1 / 3, np.float32)
    pop0 = {"tables": np.concatenate([pure, uniform])}
    rows, cols = np.array([0, 1, 2, 3, 0]), np.array([2, 0, 1, 0, 0])
    values, _, _ = mg.evaluate_cells(pop0, {"tables": pure}, rows, cols, None)
    # Rock beats scissors, paper beats rock, scissors beat paper; uniform earns 0; rock ties rock.
    np.testing.assert_allclose(values, [[1, 1, 1, 0, 0], [-1, -1, -1, 0, 0]], atol=1e-6)
    table, value = mg.best_response(0, pure[0])  # against rock: paper, worth 1
    np.testing.assert_array_equal(table, [[0, 1, 0]])
    assert value == pytest.approx(1.0)
    table, value = mg.best_response(1, uniform[0])  # all tie at 0: the first action
    np.testing.assert_array_equal(table, [[1, 0, 0]])
    assert mg.nash_conv(uniform[0], uniform[0]) == pytest.approx(0.0)
    assert mg.nash_conv(pure[0], pure[0]) == pytest.approx(2.0)  # each gains 1 by switching to paper
    np.testing.assert_allclose(mg.mixture(0, pure, [1, 1, 2]), [[0.25, 0.25, 0.5]])


def test_general_sum_matrix_game_is_not_zero_sum():
    assert make_metagame(GameSpec.create("rock_paper_scissors")).zero_sum
    assert not make_metagame(GameSpec.create("prisoners_dilemma")).zero_sum


# --------------------------------------------------------------------------- env games


@pytest.mark.slow
@pytest.mark.parametrize(("game", "settings", "steps"), [
    ("tag", {"num_taggers": 2, "num_runners": 2, "episode_length": 12, "tagging_distance": 0.25, "grid_length": 2.0},
     12),
    ("simple_tag", {"max_cycles": 10}, 10),
])
def test_monte_carlo_payoffs_match_an_independent_random_rollout(game, settings, steps):
    """Uniform members' MC payoffs agree with the runtime's random-policy rollout (same rules, other code)."""
    from phalanx.evaluation import play, random_actor

    mg = make_metagame(ppo_spec(game, settings, eval_episodes=256))
    assert not mg.exact and mg.steps == steps
    pops = [mg.initial_population(p, jax.random.PRNGKey(p)) for p in (0, 1)]
    values, stderr, counts = mg.evaluate_cells(pops[0], pops[1], np.array([0]), np.array([0]),
                                               jax.random.PRNGKey(7))
    assert values.shape == stderr.shape == (2, 1) and counts.tolist() == [256]
    env = phalanx.make(game, **mg.spec.settings())
    outcome = play(env, {g: random_actor(env, g, 2048) for g in env.spec.groups}, jax.random.PRNGKey(8), steps)
    returns = outcome.returns
    assert bool(np.all(outcome.done))
    for p, group in enumerate(mg.players):
        ref = np.asarray(returns[group])
        ref_se = ref.std(ddof=1) / np.sqrt(ref.size)
        assert abs(values[p, 0] - ref.mean()) < 4 * np.hypot(stderr[p, 0], ref_se), (group, values[p, 0], ref.mean())
        assert abs(values[p, 0]) > 2 * stderr[p, 0]  # a real signal, so the comparison is not 0 == 0


def test_monte_carlo_cells_are_one_batch_with_distinct_randomness():
    """tag_grid (cheaper to compile than tag): 4 cells of identical members in one call, each its own games."""
    spec = ppo_spec("tag_grid", {"num_taggers": 3, "grid_length": 5, "episode_length": 12, "random_start": True},
                    eval_episodes=128)
    mg = make_metagame(spec)
    assert mg.players == ("taggers", "runners") and mg.steps == 12
    pops = [mg.initial_population(p, jax.random.PRNGKey(p)) for p in (0, 1)]
    pops = [jax.tree.map(lambda x: np.concatenate([x, x]), pop) for pop in pops]  # two identical members
    rows, cols = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])
    values, stderr, counts = mg.evaluate_cells(pops[0], pops[1], rows, cols, jax.random.PRNGKey(1))
    assert values.shape == (2, 4) and np.all(counts == 128) and np.all(stderr > 0)
    assert len(set(values[0].tolist())) > 1  # each pair plays its own games
    assert np.all(np.abs(values - values.mean(1, keepdims=True)) < 5 * stderr)  # same members: same payoffs
    assert values[0].mean() > 0 > values[1].mean()  # random taggers do catch a random runner on a 5 x 5 grid


# --------------------------------------------------------------------------- lookup


def test_game_kinds_and_errors():
    assert game_kind("kuhn_poker") == "poker"
    assert game_kind("matching_pennies") == "matrix"
    assert game_kind("simple_tag") == "env"
    games = supported_games()
    assert {"kuhn_poker", "leduc_poker", "rock_paper_scissors", "tag", "simple_tag"} <= set(games)
    assert "simple_spread" not in games
    with pytest.raises(ConfigError, match=r"env='kuhn_pokr': unknown env\. Did you mean 'kuhn_poker'\?"):
        game_kind("kuhn_pokr")
    with pytest.raises(ConfigError, match="has 1 group"):
        game_kind("simple_spread")
    with pytest.raises(ConfigError, match="need learned members"):
        make_metagame(GameSpec.create("tag"))


def test_check_game_learner_asks_the_learner_and_the_game():
    check_game_learner(GameSpec.create("kuhn_poker", algo="iql", train=TINY_Q))
    check_game_learner(GameSpec.create("tag_grid", algo="iql"))  # recurrent members are fine in env games
    with pytest.raises(ConfigError, match="needs continuous"):
        check_game_learner(GameSpec.create("kuhn_poker", algo="maddpg"))
    with pytest.raises(ConfigError, match=r"memoryless.*train\.recurrent_size=0"):
        check_game_learner(GameSpec.create("kuhn_poker", algo="iql", train=QLearningConfig(recurrent_size=8)))
