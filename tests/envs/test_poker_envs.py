"""Kuhn and Leduc poker envs: the contract, and step-by-step parity with OpenSpiel (pyspiel)."""

from __future__ import annotations

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import phalanx
import phalanx.envs.poker  # registers kuhn_poker and leduc_poker
from phalanx.envs import wrap_for_training
from phalanx.envs.testing import check_env
from phalanx.population import exact

pyspiel = pytest.importorskip("pyspiel")

GAMES = ("kuhn_poker", "leduc_poker")


@functools.cache
def _setup(name: str):
    """(env, pyspiel game, jitted reset_to_deal, jitted step), shared by the tests of one game."""
    env = phalanx.make(name)
    return env, pyspiel.load_game(name), jax.jit(env.reset_to_deal), jax.jit(env.step)


@pytest.fixture(params=GAMES)
def game(request):
    return _setup(request.param)


def _actions(mover: int, action: int, other: int = 0) -> dict[str, jax.Array]:
    a = [other, other]
    a[mover] = action
    return {"player_0": jnp.array([a[0]], jnp.int32), "player_1": jnp.array([a[1]], jnp.int32)}


def _replay(game, deal: list[int], actions: list[int], ref_game=None, waiting_action: int = 0) -> None:
    """Play ``actions`` from ``deal`` in pyspiel and in our env; compare everything at every step.

    With ``ref_game`` (a pyspiel game whose legal actions are all actions) the masks are not compared.
    """
    env, spiel_game, reset_to_deal, step = game
    s = (ref_game or spiel_game).new_initial_state()
    for c in deal[:2]:
        s.apply_action(c)
    state, ts = reset_to_deal(jnp.array(deal, jnp.int32))
    only_first = [True] + [False] * (env.num_actions - 1)
    for t, a in enumerate(actions):
        where = f"deal {deal}, actions {actions[:t]}"
        p = s.current_player()
        assert int(state.player) == p, where
        for q in (0, 1):
            np.testing.assert_array_equal(ts.obs[f"player_{q}"][0], s.information_state_tensor(q), err_msg=where)
        if ref_game is None:
            legal = np.zeros(env.num_actions, bool)
            legal[s.legal_actions()] = True
            np.testing.assert_array_equal(ts.action_mask[f"player_{p}"][0], legal, err_msg=where)
        np.testing.assert_array_equal(ts.action_mask[f"player_{1 - p}"][0], only_first, err_msg=where)
        np.testing.assert_array_equal(ts.global_state, np.concatenate([ts.obs["player_0"][0], ts.obs["player_1"][0]]))
        assert not bool(ts.done) and float(ts.reward["player_0"][0]) == 0.0, where
        state, ts = step(jax.random.PRNGKey(t), state, _actions(p, a, waiting_action))
        s.apply_action(a)
        if s.is_chance_node():  # Leduc's public card: ours was dealt at reset
            s.apply_action(deal[2])
    assert s.is_terminal() and bool(ts.done), (deal, actions)
    assert not bool(ts.truncated)
    for q in (0, 1):
        assert bool(ts.terminated[f"player_{q}"][0])
        np.testing.assert_array_equal(ts.obs[f"player_{q}"][0], s.information_state_tensor(q))
        assert float(ts.reward[f"player_{q}"][0]) == s.returns()[q], (deal, actions)
        np.testing.assert_array_equal(ts.action_mask[f"player_{q}"][0], only_first)


def test_registered_and_contract(game):
    env, spiel_game, _, _ = game
    assert env.groups == {"player_0": 1, "player_1": 1}
    for g in env.spec.groups.values():
        assert g.action.n == spiel_game.num_distinct_actions()
        assert g.observation.shape == tuple(spiel_game.information_state_tensor_shape())
        assert g.has_action_mask
    assert env.spec.global_state.shape == (2 * spiel_game.information_state_tensor_shape()[0],)
    assert check_env(env, num_steps=25) >= 3  # episodes of 2-8 steps end and reset


def test_kuhn_every_history_matches_pyspiel():
    """Kuhn: all 6 deals x all 5 betting sequences, compared step by step."""
    game = _setup("kuhn_poker")
    sequences = [[0, 0], [0, 1, 0], [0, 1, 1], [1, 0], [1, 1]]
    for deal in itertools.permutations(range(3), 2):
        for seq in sequences:
            _replay(game, list(deal), seq, waiting_action=1)  # the waiting player's 1 must be ignored


def _random_game(spiel_game, rng: np.random.Generator) -> tuple[list[int], list[int]]:
    """A random OpenSpiel game: the deal (3 cards for Leduc, unused public card filled in) and the actions."""
    s = spiel_game.new_initial_state()
    deal, actions = [], []
    while not s.is_terminal():
        if s.is_chance_node():
            a = int(rng.choice([o for o, _ in s.chance_outcomes()]))
            deal.append(a)
        else:
            legal = s.legal_actions()
            # Favour raises so that capped rounds (2 raises) and round 2 are visited often.
            w = np.array([3.0 if x == 2 else 1.0 for x in legal])
            a = int(rng.choice(legal, p=w / w.sum()))
            actions.append(a)
        s.apply_action(a)
    if spiel_game.get_type().short_name == "leduc_poker" and len(deal) == 2:
        deal.append(next(c for c in range(6) if c not in deal))  # folded in round 1: the public card is never seen
    return deal, actions


def test_leduc_random_games_match_pyspiel():
    game = _setup("leduc_poker")
    env, spiel_game = game[0], game[1]
    rng = np.random.default_rng(0)
    lengths = set()
    for _ in range(40):
        deal, actions = _random_game(spiel_game, rng)
        lengths.add(len(actions))
        _replay(game, deal, actions, waiting_action=int(rng.integers(env.num_actions)))
    assert len(lengths) >= 4  # short (fold) and long (two raised rounds) games were played


def test_leduc_illegal_actions_count_as_calls_like_openspiel_action_mapping():
    """Arbitrary actions (illegal folds and raises included) vs pyspiel's leduc_poker(action_mapping=True)."""
    game = _setup("leduc_poker")
    mapped = pyspiel.load_game("leduc_poker", {"action_mapping": True})
    rng = np.random.default_rng(1)
    remapped = 0
    for _ in range(15):
        s = mapped.new_initial_state()
        deal = [int(c) for c in rng.permutation(6)[:3]]
        for c in deal[:2]:
            s.apply_action(c)
        actions = []
        while not s.is_terminal():
            if s.is_chance_node():
                s.apply_action(deal[2])
                continue
            actions.append(int(rng.integers(3)))
            s.apply_action(actions[-1])
        _replay(game, deal, actions, ref_game=mapped)
        # pyspiel records the action it applied: count the submitted ones it changed into calls.
        text = s.information_state_string(0)
        recorded = [int(x) for part in text.split("[Round")[2:] for x in part.split(":")[1].strip(" ]").split()]
        assert len(recorded) == len(actions)
        remapped += sum(a != b for a, b in zip(actions, recorded, strict=True))
    assert remapped >= 5  # the mapping was exercised


def test_step_after_the_end_changes_nothing(game):
    env, _, reset_to_deal, step = game
    state, ts = reset_to_deal(jnp.arange(env.cards_dealt, dtype=jnp.int32))
    for _ in range(2):  # bet, bet (Kuhn: over) / raise, raise (Leduc: then calls until the end)
        state, ts = step(jax.random.PRNGKey(0), state, _actions(int(state.player), env.num_actions - 1))
    while not bool(ts.done):
        state, ts = step(jax.random.PRNGKey(0), state, _actions(int(state.player), 1))
    after, ts2 = step(jax.random.PRNGKey(0), state, _actions(0, 1, 1))
    jax.tree.map(np.testing.assert_array_equal, after, state)
    assert bool(ts2.done) and float(ts2.reward["player_0"][0]) == 0.0 and float(ts2.reward["player_1"][0]) == 0.0


def test_reset_deals_uniformly_distinct_cards(game):
    env = game[0]
    n = 6000
    states, _ = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(0), n))
    cards = np.asarray(states.cards)
    assert cards.shape == (n, env.cards_dealt)
    assert all(len(set(row)) == env.cards_dealt for row in cards[:500])
    assert cards.min() >= 0 and cards.max() < env.deck_size
    # Every ordered pair of private cards equally likely: deck * (deck - 1) cells.
    cells = env.deck_size * (env.deck_size - 1)
    counts = np.bincount(cards[:, 0] * env.deck_size + cards[:, 1], minlength=env.deck_size**2)
    counts = counts[counts > 0]
    assert len(counts) == cells
    expected = n / cells
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected)), counts


def test_vmapped_random_play_pays_the_exact_uniform_value():
    """Leduc through the training wrappers (auto-reset, episode stats, vmap): the mean return of
    uniform random legal play equals the tree's exact value of the uniform profile (zero-sum)."""
    env = _setup("leduc_poker")[0]
    venv = wrap_for_training(env, num_envs=512)
    steps = 24

    @jax.jit
    def play(key):
        k0, k1 = jax.random.split(key)
        carry = venv.reset(k0)

        def body(carry, k):
            state, ts = carry
            ka, ks = jax.random.split(k)
            keys = jax.random.split(ka, 512)
            actions = jax.vmap(env.sample_actions)(keys, ts.action_mask)
            state, ts = venv.step(ks, state, actions)
            return (state, ts), (ts.episode.returns, ts.episode.completed)

        _, (returns, done) = jax.lax.scan(body, carry, jax.random.split(k1, steps))
        return returns, done

    returns, done = play(jax.random.PRNGKey(3))
    done = np.asarray(done)
    r0 = np.asarray(returns["player_0"])[..., 0][done]
    r1 = np.asarray(returns["player_1"])[..., 0][done]
    np.testing.assert_array_equal(r0, -r1)
    tree = env.tree
    want = float(exact.expected_payoffs(tree, exact.uniform_policy(tree, 0), exact.uniform_policy(tree, 1))[0])
    assert len(r0) > 1500
    assert abs(r0.mean() - want) < 4 * r0.std() / np.sqrt(len(r0)), (r0.mean(), want)


@pytest.mark.slow
def test_leduc_every_history_matches_pyspiel():
    """All 120 deals x all betting sequences of Leduc (5520 terminal histories), step by step."""
    game = _setup("leduc_poker")
    spiel_game = game[1]
    count = 0

    def walk(s, deal, actions):
        nonlocal count
        if s.is_terminal():
            full = deal if len(deal) == 3 else [*deal, next(c for c in range(6) if c not in deal)]
            _replay(game, full, actions)
            count += 1
            return
        for a in s.legal_actions():
            if s.is_chance_node():
                walk(s.child(a), [*deal, a], actions)
            else:
                walk(s.child(a), deal, [*actions, a])

    walk(spiel_game.new_initial_state(), [], [])
    assert count == 5520
