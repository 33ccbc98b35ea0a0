"""Exact game-tree evaluation against OpenSpiel and known facts of Kuhn and Leduc poker."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import phalanx.envs.poker  # noqa: F401  (registers the poker envs)
from phalanx.envs.poker import game_tree
from phalanx.errors import PhalanxError
from phalanx.population import exact

pyspiel = pytest.importorskip("pyspiel")
from open_spiel.python import policy as os_policy  # noqa: E402
from open_spiel.python.algorithms import expected_game_score, policy_aggregator  # noqa: E402
from open_spiel.python.algorithms import exploitability as os_exploitability  # noqa: E402

GAMES = ("kuhn_poker", "leduc_poker")


@functools.cache
def _spiel(name: str):
    return pyspiel.load_game(name)


def _random_table(tree, player: int, rng: np.random.Generator, sharp: float = 3.0) -> np.ndarray:
    """A random legal table; ``sharp`` > 1 makes some probabilities tiny, as trained policies have."""
    legal = tree.players[player].legal
    t = rng.random(legal.shape) ** sharp * legal
    t[np.arange(len(t)), np.argmax(legal, axis=1)] += 1e-3 * (t.sum(1) == 0)  # never an all-zero row
    return (t / t.sum(1, keepdims=True)).astype(np.float32)


def _to_openspiel(name: str, tree, tables) -> os_policy.TabularPolicy:
    """Our tables as an OpenSpiel TabularPolicy, row by row through the information-state strings."""
    tp = os_policy.TabularPolicy(_spiel(name))
    for p, table in enumerate(tables):
        for i, key in enumerate(tree.players[p].strings):
            tp.action_probability_array[tp.state_lookup[key]] = table[i]
    return tp


# --- the tree ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "per_player", "terminals"), [("kuhn_poker", 6, 30), ("leduc_poker", 468, 5520)])
def test_tree_counts_match_openspiel(name, per_player, terminals):
    tree = game_tree(name)
    tp = os_policy.TabularPolicy(_spiel(name))
    assert [len(s) for s in tp.states_per_player] == [per_player, per_player]
    assert tree.num_infostates(0) == tree.num_infostates(1) == per_player  # Leduc: 936 in all, 468 each
    assert len(tp.state_lookup) == 2 * per_player
    counts = {"terminal": 0, "decision": 0}

    def walk(s):
        if s.is_terminal():
            counts["terminal"] += 1
            return
        counts["decision"] += not s.is_chance_node()
        for a in s.legal_actions():
            walk(s.child(a))

    walk(_spiel(name).new_initial_state())
    assert tree.num_terminals == counts["terminal"] == terminals
    assert tree.num_decision_nodes == counts["decision"]
    # Deals: Kuhn 3 x 2 ordered private cards; Leduc 6 x 5, times 4 public cards once round 2 is reached.
    deal_probs = [1 / 6] if name == "kuhn_poker" else [1 / 120, 1 / 30]
    np.testing.assert_allclose(np.unique(tree.chance), deal_probs, rtol=1e-12)
    np.testing.assert_array_equal(tree.payoffs.sum(1), 0.0)
    assert game_tree(name) is tree  # built once, cached


@pytest.mark.parametrize("name", GAMES)
def test_tree_infostates_match_openspiel(name):
    """Every infostate's string, tensor and legal mask equal pyspiel's at every decision node."""
    tree = game_tree(name)
    seen = [set(), set()]
    for state in os_policy.TabularPolicy(_spiel(name)).states:
        p = state.current_player()
        pt = tree.players[p]
        i = pt.index[state.information_state_string(p)]
        assert pt.strings[i] == state.information_state_string(p)
        np.testing.assert_array_equal(pt.tensors[i], state.information_state_tensor(p))
        np.testing.assert_array_equal(pt.legal[i], np.array(state.legal_actions_mask(p), bool))
        seen[p].add(i)
    assert [len(s) for s in seen] == [tree.num_infostates(0), tree.num_infostates(1)]


def test_unknown_game_tree():
    with pytest.raises(PhalanxError, match="Did you mean 'kuhn_poker'"):
        game_tree("kuhn_pokr")


# --- known values -------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "want"), [("kuhn_poker", 11 / 24), ("leduc_poker", 2.373611111)])
def test_uniform_random_exploitability(name, want):
    tree = game_tree(name)
    u0, u1 = exact.uniform_policy(tree, 0), exact.uniform_policy(tree, 1)
    np.testing.assert_allclose(float(exact.exploitability(tree, u0, u1)), want, rtol=1e-6)
    np.testing.assert_allclose(float(exact.nash_conv(tree, u0, u1)), 2 * want, rtol=1e-6)


def _kuhn_equilibrium(alpha: float) -> dict[str, tuple[float, float]]:
    """Kuhn's (1950) equilibrium family: player 0 bets J w.p. alpha, K w.p. 3 alpha, calls with Q w.p. alpha + 1/3."""
    return {
        "0": (1 - alpha, alpha), "0pb": (1, 0), "1": (1, 0), "1pb": (2 / 3 - alpha, 1 / 3 + alpha),
        "2": (1 - 3 * alpha, 3 * alpha), "2pb": (0, 1),
        "0p": (2 / 3, 1 / 3), "0b": (1, 0), "1p": (1, 0), "1b": (2 / 3, 1 / 3), "2p": (0, 1), "2b": (0, 1),
    }  # fmt: skip


@pytest.mark.parametrize("alpha", [0.0, 1 / 6, 1 / 3])
def test_kuhn_equilibrium_value_is_minus_one_eighteenth(alpha):
    tree = game_tree("kuhn_poker")
    eq = _kuhn_equilibrium(alpha)
    pi = [np.array([eq[s] for s in tree.players[p].strings], np.float32) for p in (0, 1)]
    np.testing.assert_allclose(np.asarray(exact.expected_payoffs(tree, *pi)), [-1 / 18, 1 / 18], atol=1e-6)
    assert abs(float(exact.nash_conv(tree, *pi))) < 1e-6
    # Perturbing player 0 at its first decision with a J makes it exploitable.
    pi[0][tree.players[0].index["0"]] = [0.5, 0.5]
    assert float(exact.nash_conv(tree, *pi)) > 0.01


# --- parity with OpenSpiel ----------------------------------------------------------------------


@pytest.mark.parametrize(("name", "num"), [("kuhn_poker", 5), ("leduc_poker", 2)])
def test_nash_conv_and_values_match_openspiel(name, num):
    tree = game_tree(name)
    rng = np.random.default_rng(42)
    for k in range(num):
        tables = [_random_table(tree, p, rng, sharp=1.0 + 3 * k) for p in (0, 1)]
        tp = _to_openspiel(name, tree, tables)
        root = _spiel(name).new_initial_state()
        np.testing.assert_allclose(
            np.asarray(exact.expected_payoffs(tree, *tables)),
            expected_game_score.policy_value(root, [tp, tp]),
            atol=2e-6,
        )
        np.testing.assert_allclose(
            float(exact.nash_conv(tree, *tables)), os_exploitability.nash_conv(_spiel(name), tp), rtol=2e-6
        )
        np.testing.assert_allclose(
            float(exact.exploitability(tree, *tables)), os_exploitability.exploitability(_spiel(name), tp), rtol=2e-6
        )


@pytest.mark.parametrize("name", GAMES)
def test_best_response_matches_openspiel(name):
    tree = game_tree(name)
    rng = np.random.default_rng(7)
    tables = [_random_table(tree, p, rng) for p in (0, 1)]
    tp = _to_openspiel(name, tree, tables)
    for p in (0, 1):
        br, value = exact.best_response(tree, p, tables[1 - p])
        ref = os_exploitability.best_response(_spiel(name), tp, p)
        np.testing.assert_allclose(float(value), ref["best_response_value"], rtol=2e-6)
        br = np.asarray(br)
        assert np.all(br.sum(1) == 1) and np.all(br[~tree.players[p].legal] == 0)
        # Playing the table really earns the value.
        pair = (br, tables[1]) if p == 0 else (tables[0], br)
        np.testing.assert_allclose(float(exact.expected_payoffs(tree, *pair)[p]), float(value), rtol=2e-6)
        # Random tables leave no ties: the best action is unique at every infostate, and both pick it.
        ref_actions = ref["best_response_action"]
        assert len(ref_actions) == tree.num_infostates(p)
        for key, a in ref_actions.items():
            assert int(np.argmax(br[tree.players[p].index[key]])) == a, key


def test_best_responses_vmapped_equal_single_calls():
    tree = game_tree("leduc_poker")
    rng = np.random.default_rng(3)
    opps = np.stack([_random_table(tree, 1, rng) for _ in range(4)])
    brs, values = exact.best_responses(tree, 0, opps)
    assert brs.shape == (4, 468, 3) and values.shape == (4,)
    for k in range(4):
        br, v = exact.best_response(tree, 0, opps[k])
        np.testing.assert_array_equal(brs[k], br)
        np.testing.assert_allclose(values[k], v, rtol=1e-6)


# --- mixtures and payoff tables -----------------------------------------------------------------


@pytest.mark.parametrize("name", GAMES)
def test_mixture_policy_matches_openspiel_policy_aggregator(name):
    tree = game_tree(name)
    rng = np.random.default_rng(11)
    members = [[_random_table(tree, p, rng, sharp=4.0) for _ in range(3)] for p in (0, 1)]
    weights = [np.array([0.2, 0.5, 0.3]), np.array([0.6, 0.0, 0.4])]
    spiel_members = [_to_openspiel(name, tree, (members[0][k], members[1][k])) for k in range(3)]
    agg = policy_aggregator.PolicyAggregator(_spiel(name)).aggregate(
        [0, 1], [spiel_members, spiel_members], [list(w) for w in weights]
    )
    for p in (0, 1):
        mix = np.asarray(exact.mixture_policy(tree, p, np.stack(members[p]), weights[p]))
        ref = agg.policy[p]
        for i, key in enumerate(tree.players[p].strings):
            want = np.zeros(tree.num_actions)
            for a, prob in ref[key].items():
                want[a] = prob
            np.testing.assert_allclose(mix[i], want, atol=2e-5, err_msg=key)


def test_mixture_policy_is_realisation_equivalent_and_not_a_plain_average():
    """Brute force: vs any opponent, the mixture's payoff is the weighted sum of its members' payoffs."""
    tree = game_tree("leduc_poker")
    rng = np.random.default_rng(5)
    members = np.stack([_random_table(tree, 0, rng, sharp=4.0) for _ in range(3)])
    weights = np.array([0.5, 0.3, 0.2], np.float32)
    mix = exact.mixture_policy(tree, 0, members, weights * 7)  # weights are normalised
    plain = np.einsum("k,kna->na", weights, members)
    for _ in range(3):
        opp = _random_table(tree, 1, rng)
        by_member = [float(exact.expected_payoffs(tree, m, opp)[0]) for m in members]
        want = float(np.dot(weights, by_member))
        np.testing.assert_allclose(float(exact.expected_payoffs(tree, mix, opp)[0]), want, atol=2e-6)
        assert abs(float(exact.expected_payoffs(tree, plain, opp)[0]) - want) > 1e-3
    # Terminal by terminal: the mixture's own reach is the weighted sum of the members' reaches.
    reach = np.array([np.asarray(exact.terminal_reach(tree, 0, m)) for m in members])
    np.testing.assert_allclose(np.asarray(exact.terminal_reach(tree, 0, mix)), weights @ reach, atol=1e-6)


def test_payoff_matrix_and_entries_match_pairwise_values():
    tree = game_tree("leduc_poker")
    rng = np.random.default_rng(9)
    t0 = np.stack([_random_table(tree, 0, rng) for _ in range(3)])
    t1 = np.stack([_random_table(tree, 1, rng) for _ in range(4)])
    m = np.asarray(exact.payoff_matrix(tree, t0, t1))
    assert m.shape == (2, 3, 4)
    for i in range(3):
        for j in range(4):
            np.testing.assert_allclose(m[:, i, j], np.asarray(exact.expected_payoffs(tree, t0[i], t1[j])), atol=2e-6)
    np.testing.assert_allclose(m[0], -m[1], atol=1e-6)
    rows, cols = np.array([2, 0, 1]), np.array([3, 0, 3])
    np.testing.assert_allclose(np.asarray(exact.payoff_entries(tree, t0, t1, rows, cols)), m[:, rows, cols], atol=1e-6)
    # One entry against OpenSpiel itself.
    tp = _to_openspiel("leduc_poker", tree, (t0[2], t1[1]))
    ref = expected_game_score.policy_value(_spiel("leduc_poker").new_initial_state(), [tp, tp])
    np.testing.assert_allclose(m[:, 2, 1], ref, atol=2e-6)


def test_vmap_and_table_from_logits():
    tree = game_tree("kuhn_poker")
    logits = np.random.default_rng(0).normal(size=(5, 6, 2)).astype(np.float32)
    tables = exact.table_from_logits(tree, 0, logits)
    np.testing.assert_allclose(np.asarray(tables.sum(-1)), 1.0, rtol=1e-6)
    opp = exact.uniform_policy(tree, 1)
    values = jax.vmap(lambda t: exact.expected_payoffs(tree, t, opp))(tables)
    for k in range(5):
        np.testing.assert_allclose(values[k], exact.expected_payoffs(tree, tables[k], opp), rtol=1e-6)
    leduc = game_tree("leduc_poker")
    masked = exact.table_from_logits(leduc, 1, jnp.zeros((468, 3)))
    np.testing.assert_allclose(np.asarray(masked), np.asarray(exact.uniform_policy(leduc, 1)), rtol=1e-6)


def test_wrong_shapes_raise_clear_errors():
    tree = game_tree("kuhn_poker")
    u = exact.uniform_policy(tree, 0)
    with pytest.raises(PhalanxError, match=r"pi1 has shape \(6, 3\), expected \(6, 2\)"):
        exact.expected_payoffs(tree, u, jnp.ones((6, 3)))
    with pytest.raises(PhalanxError, match=r"expected \(K, 6, 2\)"):
        exact.payoff_matrix(tree, u, u[None])
    with pytest.raises(PhalanxError, match="player=2"):
        exact.best_response(tree, 2, u)
