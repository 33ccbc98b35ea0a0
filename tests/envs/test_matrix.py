"""Matrix games: contract checks, hand-checked payoffs, input errors, vmapped payoffs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import phalanx
from phalanx.envs.matrix import MatrixGame, MatrixParams
from phalanx.envs.testing import assert_trees_equal, check_env, rollout
from phalanx.errors import PhalanxError

PD = [[[3, 3], [0, 5]], [[5, 0], [1, 1]]]

# Every action pair, written out by hand: (action 0, action 1) -> (payoff 0, payoff 1).
EXPECTED = {
    "rock_paper_scissors": {
        (0, 0): (0, 0), (0, 1): (-1, 1), (0, 2): (1, -1),   # rock vs rock, paper, scissors
        (1, 0): (1, -1), (1, 1): (0, 0), (1, 2): (-1, 1),   # paper
        (2, 0): (-1, 1), (2, 1): (1, -1), (2, 2): (0, 0),   # scissors
    },
    "matching_pennies": {(0, 0): (1, -1), (0, 1): (-1, 1), (1, 0): (-1, 1), (1, 1): (1, -1)},
    "prisoners_dilemma": {(0, 0): (3, 3), (0, 1): (0, 5), (1, 0): (5, 0), (1, 1): (1, 1)},
    "stag_hunt": {(0, 0): (4, 4), (0, 1): (0, 3), (1, 0): (3, 0), (1, 1): (2, 2)},
    "matrix_game": {  # 2x3, asymmetric, made with payoffs=...
        (0, 0): (1, -2), (0, 1): (0.5, 7), (0, 2): (-3, 0), (1, 0): (2, 2), (1, 1): (0, 1), (1, 2): (4, -1),
    },
}
CUSTOM = [[[1, -2], [0.5, 7], [-3, 0]], [[2, 2], [0, 1], [4, -1]]]


def _make(name: str) -> MatrixGame:
    return phalanx.make(name, payoffs=CUSTOM) if name == "matrix_game" else phalanx.make(name)


def _act(a0, a1) -> dict[str, jax.Array]:
    return {"player_0": jnp.array([a0], jnp.int32), "player_1": jnp.array([a1], jnp.int32)}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_check_env(name):
    env = _make(name)
    assert env.groups == {"player_0": 1, "player_1": 1}
    # One-step games: every step ends an episode (terminated, not truncated).
    assert check_env(env, num_steps=12) == 12


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_action_pair_pays_as_by_hand(name):
    env = _make(name)
    table = EXPECTED[name]
    n0 = 1 + max(i for i, _ in table)
    n1 = 1 + max(j for _, j in table)
    assert len(table) == n0 * n1
    assert env.n_actions == (n0, n1)
    assert env.spec.groups["player_0"].action == phalanx.envs.Discrete(n0)
    assert env.spec.groups["player_1"].action == phalanx.envs.Discrete(n1)
    payoffs = env.payoffs
    assert isinstance(payoffs, np.ndarray) and payoffs.shape == (2, n0, n1)
    reset, step = jax.jit(env.reset), jax.jit(env.step)
    key = jax.random.PRNGKey(0)
    state, ts0 = reset(key)
    np.testing.assert_array_equal(ts0.obs["player_0"], [[0.0]])
    assert not bool(ts0.done)
    for (a0, a1), (r0, r1) in table.items():
        new_state, ts = step(key, state, _act(a0, a1))
        np.testing.assert_array_equal(ts.reward["player_0"], np.float32([r0]), err_msg=str((a0, a1)))
        np.testing.assert_array_equal(ts.reward["player_1"], np.float32([r1]), err_msg=str((a0, a1)))
        assert payoffs[0, a0, a1] == np.float32(r0) and payoffs[1, a0, a1] == np.float32(r1)
        assert bool(ts.done) and not bool(ts.truncated)
        assert bool(ts.terminated["player_0"][0]) and bool(ts.terminated["player_1"][0])
        np.testing.assert_array_equal(ts.obs["player_1"], [[0.0]])
        np.testing.assert_array_equal(ts.global_state, [0.0])
        np.testing.assert_array_equal(new_state.last_actions, [a0, a1])
        assert int(new_state.t) == 1


def test_payoff_forms_agree_and_payoffs_is_a_copy():
    a = phalanx.make("matrix_game", payoffs=PD)
    b = phalanx.make("matrix_game", row_payoffs=[[3, 0], [5, 1]], column_payoffs=np.array([[3, 5], [0, 1]]))
    np.testing.assert_array_equal(a.payoffs, b.payoffs)
    np.testing.assert_array_equal(a.payoffs, phalanx.make("prisoners_dilemma").payoffs)
    # Without payoffs, matrix_game is the prisoner's dilemma (every env builds with defaults).
    np.testing.assert_array_equal(phalanx.make("matrix_game").payoffs, a.payoffs)
    assert a.payoffs.dtype == np.float32
    a.payoffs[0, 0, 0] = 100.0
    assert a.payoffs[0, 0, 0] == 3.0
    assert isinstance(a.default_params, MatrixParams)


def test_zero_sum_games_are_zero_sum():
    for name in ("rock_paper_scissors", "matching_pennies"):
        p = phalanx.make(name).payoffs
        np.testing.assert_array_equal(p[0], -p[1])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"payoffs": PD, "row_payoffs": [[1]]}, "both payoffs and row_payoffs"),
        ({"row_payoffs": [[1, 2]]}, "column_payoffs is missing"),
        ({"column_payoffs": [[1, 2]]}, "row_payoffs is missing"),
        ({"payoffs": [[1, 2], [3, 4]]}, r"shape \(2, 2\), expected \(n0, n1, 2\)"),
        ({"payoffs": [[[1, 2, 3]]]}, r"shape \(1, 1, 3\)"),
        ({"payoffs": np.zeros((0, 2, 2))}, r"shape \(0, 2, 2\)"),
        ({"payoffs": [[[1, 2]], [[3, 4], [5, 6]]]}, "not a rectangular array"),
        ({"payoffs": [[["a", 1]]]}, "must contain only numbers"),
        ({"payoffs": [[[None, 1]]]}, "must contain only numbers"),
        ({"payoffs": [[[True, False]]]}, "must contain only numbers"),
        ({"payoffs": "rock"}, "must contain only numbers"),
        ({"payoffs": [[[np.inf, 0]]]}, "inf or nan"),
        ({"row_payoffs": [1, 2], "column_payoffs": [1, 2]}, r"row_payoffs has shape \(2,\), expected a matrix"),
        ({"row_payoffs": [[1, 2]], "column_payoffs": [[1], [2]]}, r"row_payoffs has shape \(1, 2\) but column"),
        ({"row_payoffs": [[1, 2]], "column_payoffs": [["x", 2]]}, "column_payoffs=.* must contain only numbers"),
    ],
)
def test_matrix_game_input_errors(kwargs, match):
    with pytest.raises(PhalanxError, match=match):
        phalanx.make("matrix_game", **kwargs)


def test_named_games_take_no_settings():
    with pytest.raises(PhalanxError, match="unknown setting 'payoffs'"):
        phalanx.make("stag_hunt", payoffs=PD)


def test_determinism():
    env = phalanx.make("rock_paper_scissors")
    run = jax.jit(lambda key: rollout(env, key, 40))
    a, b, c = run(jax.random.PRNGKey(1)), run(jax.random.PRNGKey(1)), run(jax.random.PRNGKey(2))
    assert_trees_equal(a, b)
    # Only the actions are random: other keys, other actions, other rewards.
    assert not np.array_equal(a.reward["player_0"], c.reward["player_0"])
    # Reset ignores its key: every game starts from the same constant observation.
    sa, ta = env.reset(jax.random.PRNGKey(1))
    sb, tb = env.reset(jax.random.PRNGKey(2))
    assert_trees_equal((sa, ta), (sb, tb))


def test_vmap_over_a_batch_of_payoffs():
    env = phalanx.make("matrix_game", payoffs=CUSTOM)  # 2 x 3
    B = 8
    table = np.random.default_rng(0).normal(size=(B, 2, 2, 3)).astype(np.float32)
    params = env.make_params(table)
    assert params.payoffs.shape == (B, 2, 2, 3)
    a0, a1 = np.arange(B) % 2, np.arange(B) % 3
    keys = jax.random.split(jax.random.PRNGKey(0), B)
    actions = {"player_0": jnp.asarray(a0[:, None], jnp.int32), "player_1": jnp.asarray(a1[:, None], jnp.int32)}

    @jax.jit
    def play(keys, actions, params):
        states, _ = jax.vmap(env.reset)(keys, params)
        return jax.vmap(env.step)(keys, states, actions, params)

    _, ts = play(keys, actions, params)
    np.testing.assert_array_equal(ts.reward["player_0"][:, 0], table[np.arange(B), 0, a0, a1])
    np.testing.assert_array_equal(ts.reward["player_1"][:, 0], table[np.arange(B), 1, a0, a1])
    assert np.asarray(ts.terminated["player_0"]).all() and not np.asarray(ts.truncated).any()
    with pytest.raises(PhalanxError, match=r"expected \(2, 2, 3\)"):
        env.make_params(np.zeros((2, 3, 3)))
