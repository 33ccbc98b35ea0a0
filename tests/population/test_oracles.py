"""Oracles: exact best responses against OpenSpiel's, learned (PPO, IQL) best responses near the exact ones, errors."""

from __future__ import annotations

import jax
import numpy as np
import pyspiel
import pytest
from open_spiel.python import policy as os_policy
from open_spiel.python.algorithms import best_response as os_best_response
from open_spiel.python.algorithms import policy_aggregator

from phalanx.errors import ConfigError
from phalanx.population.metagames import GameSpec, make_metagame
from phalanx.population.oracles import PROGRESS_STEPS, OracleSpec, best_response, check_oracle, set_progress

# The learned oracle as `phalanx psro env=kuhn_poker algo=A population.oracle=learned` runs it, compiled at XLA
# optimisation level 0 (faster to compile).
FAST = (("xla_backend_optimization_level", 0),)
KUHN_ORACLE = OracleSpec("learned", seeds=1, compiler_options=FAST)


def kuhn_spec(algo: str = "ippo") -> GameSpec:
    """The Kuhn GameSpec that `phalanx psro env=kuhn_poker algo=ALGO population.oracle=learned` builds."""
    from phalanx.runtime.population_config import from_values

    return from_values({"env": "kuhn_poker", "algo": algo, "population": {"oracle": "learned"}}).game_spec()


def _to_openspiel(game, tree, tables0, tables1) -> os_policy.TabularPolicy:
    tp = os_policy.TabularPolicy(game)
    for p, table in enumerate((tables0, tables1)):
        for i, key in enumerate(tree.players[p].strings):
            tp.action_probability_array[tp.state_lookup[key]] = table[i]
    return tp


@pytest.mark.parametrize(("name", "player"), [("kuhn_poker", 0), ("kuhn_poker", 1), ("leduc_poker", 1)])
def test_exact_oracle_value_equals_openspiel_best_response_to_the_mixture(name, player):
    """Our best response to a weighted population is worth what OpenSpiel's BestResponsePolicy gets against
    PolicyAggregator's mixture of the same members (an independent implementation of both steps)."""
    spec = GameSpec.create(name)
    mg = make_metagame(spec)
    rng = np.random.default_rng(3)
    members = []
    for _ in range(3):
        t = [rng.random(mg.legal(p).shape) ** 3 * mg.legal(p) + 1e-3 * mg.legal(p) for p in (0, 1)]
        members.append([(x / x.sum(1, keepdims=True)).astype(np.float32) for x in t])
    weights = np.array([0.5, 0.2, 0.3])
    opponents = {"tables": np.stack([m[1 - player] for m in members])}
    member, stats = best_response(spec, OracleSpec("exact"), player, opponents, weights, jax.random.PRNGKey(0))
    assert member["tables"].shape == (1, *mg.legal(player).shape)
    assert set(np.unique(member["tables"])) <= {0.0, 1.0}  # deterministic
    game = pyspiel.load_game(name)
    spiel = [_to_openspiel(game, mg.tree, m[0], m[1]) for m in members]
    agg = policy_aggregator.PolicyAggregator(game).aggregate([0, 1], [spiel, spiel], [list(weights)] * 2)
    reference = os_best_response.BestResponsePolicy(game, player, agg).value(game.new_initial_state())
    assert stats["value"] == pytest.approx(reference, abs=1e-5)
    # The member really earns that value against the mixture.
    mix = mg.mixture(1 - player, opponents["tables"], weights)
    pair = (member["tables"][0], mix) if player == 0 else (mix, member["tables"][0])
    assert float(mg.values(*pair)[player]) == pytest.approx(reference, abs=1e-5)


def test_exact_oracle_on_a_matrix_game():
    spec = GameSpec.create("rock_paper_scissors")
    pure = np.eye(3, dtype=np.float32)[:, None, :]
    # Against 20% rock + 80% scissors: rock earns 0.8, paper -0.6, scissors -0.2.
    member, stats = best_response(spec, OracleSpec("exact"), 0, {"tables": pure[[0, 2]]}, [0.2, 0.8], None)
    np.testing.assert_array_equal(member["tables"], [[[1, 0, 0]]])
    assert stats["value"] == pytest.approx(0.8)


@pytest.mark.slow
def test_ppo_oracle_on_a_matrix_game_trains_seeds_together_and_keeps_the_best():
    from phalanx.runtime.population_config import from_values

    spec = from_values({"env": "rock_paper_scissors", "population": {"oracle": "learned"}}).game_spec()
    mg = make_metagame(spec)
    # Opponents: pure rock and pure scissors actors (zero weights, a large bias), mixed 20/80.
    base = mg.initial_population(1, jax.random.PRNGKey(0))["params"]
    actor = base["actor"]["params"]
    def pure(action):
        head = {"kernel": 0 * actor["Dense_0"]["kernel"], "bias": 20.0 * np.eye(3, dtype=np.float32)[[action]]}
        return jax.tree.map(np.asarray, {**base, "actor": {"params": {**actor, "Dense_0": head}}})
    members = jax.tree.map(lambda a, b: np.concatenate([a, b]), pure(0), pure(2))
    opponents = {"params": members, "tables": np.asarray(mg.tables_from_members(1, members))}
    oracle = OracleSpec("learned", seeds=2, compiler_options=FAST)
    member, stats = best_response(spec, oracle, 0, opponents, [0.2, 0.8], jax.random.PRNGKey(1))
    assert len(stats["seed_values"]) == len(stats["train_returns"]) == 2
    assert stats["value"] == max(stats["seed_values"]) and stats["best_seed"] == int(np.argmax(stats["seed_values"]))
    assert stats["best_response_value"] == pytest.approx(0.8, abs=1e-4)
    assert stats["value"] > 0.7  # close to the exact best response (rock), far above random play (0)
    assert np.argmax(member["tables"][0, 0]) == 0
    # The kept table is the kept member's.
    np.testing.assert_allclose(member["tables"], mg.tables_from_members(0, member["params"]), atol=1e-6)


def test_ppo_oracle_on_kuhn_is_close_to_the_exact_best_response():
    spec = kuhn_spec("ippo")
    mg = make_metagame(spec)
    opponents = mg.initial_population(1, jax.random.PRNGKey(0))  # a fresh PPO actor: near uniform
    reports = []  # progress from inside the compiled run: (player, updates done, updates)
    previous = set_progress(lambda *report: reports.append(report))
    try:
        _member, stats = best_response(spec, KUHN_ORACLE, 0, opponents, [1.0], jax.random.PRNGKey(2))
    finally:
        set_progress(previous)
    total = spec.make_learner(mg.env, learners=(mg.players[0],)).num_updates
    every = max(1, total // PROGRESS_STEPS)
    assert sorted(set(reports)) == [(0, done, total) for done in range(every, total + 1, every)], reports
    assert stats["best_response_value"] == pytest.approx(0.5, abs=0.03)  # Kuhn: 1/2 against uniform play
    uniform_value = 0.125  # what the uniform policy gets as player 0 against uniform play
    assert stats["value"] > uniform_value + 0.8 * (stats["best_response_value"] - uniform_value), stats
    assert stats["gap"] == pytest.approx(stats["best_response_value"] - stats["value"], abs=1e-6)


def test_iql_oracle_on_kuhn_finds_the_exact_best_response():
    """IQL (Kuhn's registered population defaults: 15,360 env steps, 1,920 gradient steps) against a fresh
    Q-network's greedy policy, deterministic and exploitable: the learned member's greedy table is an exact
    best response (its value against the opponent equals the best response's)."""
    spec = kuhn_spec("iql")
    mg = make_metagame(spec)
    opponents = mg.initial_population(1, jax.random.PRNGKey(0))
    assert set(np.unique(opponents["tables"]).tolist()) == {0.0, 1.0}  # greedy: a pure policy
    member, stats = best_response(spec, KUHN_ORACLE, 0, opponents, [1.0], jax.random.PRNGKey(0))
    assert stats["gap"] == pytest.approx(0.0, abs=1e-6), stats
    assert stats["best_response_value"] > 0.5  # far from what uniform play gets
    np.testing.assert_allclose(member["tables"], mg.tables_from_members(0, member["params"]))


def test_oracle_errors():
    check_oracle("learned", "tag", "env")
    with pytest.raises(ConfigError, match=r"population.oracle='exac': unknown oracle\. Did you mean 'exact'\?"):
        check_oracle("exac", "kuhn_poker", "poker")
    with pytest.raises(ConfigError, match=r"exact needs a game with exact.*use population.oracle=learned"):
        check_oracle("exact", "tag", "env")
    with pytest.raises(ConfigError, match=r"population.oracle=ppo was renamed: use population.oracle=learned"):
        check_oracle("ppo", "kuhn_poker", "poker")
