"""PayoffTable: growth, missing cells, validated fills, checkpoints, intervals, batch evaluation
(its heat map: tests/runtime/test_plots.py)."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import phalanx
from phalanx.errors import PhalanxError
from phalanx.population.payoff_table import PayoffTable, evaluate_missing


def table_of(n0: int, n1: int) -> PayoffTable:
    table = PayoffTable()
    for _ in range(n0):
        table.add_member(0)
    for _ in range(n1):
        table.add_member(1)
    return table


def fill_all(table: PayoffTable, fn=lambda r, c: np.stack([r * 10.0 + c, -(r * 10.0 + c)])) -> None:
    rows, cols = table.missing()
    table.fill(rows, cols, fn(rows, cols))


# --------------------------------------------------------------------------- members and cells


def test_add_member_and_missing_row_major():
    table = PayoffTable()
    assert table.shape == (0, 0) and table.payoffs.shape == (2, 0, 0)
    assert [table.add_member(0) for _ in range(2)] == [0, 1]
    assert table.add_member(1, name="rock") == 0
    assert table.add_member(1) == 1
    assert table.names == (("0", "1"), ("rock", "1"))
    rows, cols = table.missing()
    assert rows.dtype == np.int64 and cols.dtype == np.int64
    assert list(zip(rows.tolist(), cols.tolist(), strict=True)) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert np.isnan(table.payoffs).all()
    with pytest.raises(PhalanxError, match="must be 0"):
        table.add_member(2)


def test_growth_keeps_values_and_new_cells_are_nan():
    table = table_of(1, 1)
    expected = {}
    for step in range(12):  # past several capacity doublings on both axes
        fill_all(table)
        for r in range(table.shape[0]):
            for c in range(table.shape[1]):
                expected[(r, c)] = r * 10.0 + c
        table.add_member(step % 2)
        rows, cols = table.missing()
        new = set(zip(rows.tolist(), cols.tolist(), strict=True))
        n0, n1 = table.shape
        assert new == ({(n0 - 1, c) for c in range(n1)} if step % 2 == 0 else {(r, n1 - 1) for r in range(n0)})
    payoffs = table.payoffs
    assert payoffs.shape == (2, 7, 7)
    for (r, c), v in expected.items():
        assert payoffs[0, r, c] == v and payoffs[1, r, c] == -v


def test_payoffs_is_a_copy():
    table = table_of(1, 1)
    fill_all(table)
    view = table.payoffs
    view[:] = 99.0
    assert table.payoffs[0, 0, 0] == 0.0


def test_fill_with_stderr_and_counts_and_overwrite():
    table = table_of(2, 2)
    table.fill([0, 1], [1, 0], [[1.0, 2.0], [-1.0, -2.0]], stderr=[[0.1, 0.2], [0.1, 0.2]], counts=[5, 7])
    assert table.payoffs[0, 0, 1] == 1.0 and table.payoffs[1, 1, 0] == -2.0
    assert table.stderr[0, 1, 0] == 0.2 and np.isnan(table.stderr[0, 0, 0])
    np.testing.assert_array_equal(table.counts, [[0, 5], [7, 0]])
    table.fill([0], [1], [[3.0], [-3.0]])  # a re-evaluation replaces the estimate and forgets its stderr
    assert table.payoffs[0, 0, 1] == 3.0 and np.isnan(table.stderr[0, 0, 1]) and table.counts[0, 1] == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rows": [0, 2], "cols": [0, 0]}, "out of range.*add_member"),
        ({"rows": [0, 0], "cols": [1, 1]}, "more than once"),
        ({"rows": [0], "cols": [0, 1]}, "rows has 1 entries but cols 2"),
        ({"rows": [0.5, 1], "cols": [0, 1]}, "integer"),
        ({"values": np.ones((2, 3))}, r"shape \(2, 3\), expected \(2, 2\)"),
        ({"values": [[1.0, np.nan], [0.0, 0.0]]}, "NaN or inf"),
        ({"stderr": [[0.1, -0.1], [0.1, 0.1]]}, "stderr"),
        ({"counts": [3, 0]}, "counts"),
        ({"counts": [3.5, 1]}, "counts"),
    ],
)
def test_fill_validation_leaves_table_unchanged(kwargs, match):
    table = table_of(2, 2)
    args = {"rows": [0, 1], "cols": [0, 1], "values": np.ones((2, 2))} | kwargs
    with pytest.raises(PhalanxError, match=match) as err:
        table.fill(**args)
    assert "\n" not in str(err.value)
    assert np.isnan(table.payoffs).all() and (table.counts == 0).all()


def test_complete_subgame():
    assert PayoffTable().complete_subgame().shape == (2, 0, 0)
    table = table_of(3, 4)
    rows, cols = np.nonzero(np.ones((3, 4)))
    keep = ~(((rows == 2) & (cols == 1)) | ((rows == 1) & (cols == 3)))  # leave (2, 1) and (1, 3) missing
    table.fill(rows[keep], cols[keep], np.stack([rows[keep] * 10.0 + cols[keep]] * 2))
    # First missing column per row: 4, 3, 1 → blocks 1x4 (area 4), 2x3 (6), 3x1 (3): 2x3 wins.
    sub = table.complete_subgame()
    assert sub.shape == (2, 2, 3)
    np.testing.assert_array_equal(sub[0], [[0, 1, 2], [10, 11, 12]])
    # Tie on area (2x2 vs 1x4 after adding a row): the squarer one.
    square = table_of(2, 4)
    square.fill([0, 0, 0, 0, 1, 1], [0, 1, 2, 3, 0, 1], np.zeros((2, 6)))
    assert square.complete_subgame().shape == (2, 2, 2)
    missing_corner = table_of(2, 2)
    missing_corner.fill([0, 1, 1], [1, 0, 1], np.zeros((2, 3)))
    assert missing_corner.complete_subgame().shape == (2, 0, 0)


# --------------------------------------------------------------------------- intervals and checkpoints


def test_confidence_interval_hand_computed():
    table = table_of(1, 3)
    table.fill([0, 0, 0], [0, 1, 2], [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]], stderr=[[0.1, 0.1, 0.1]] * 2)
    table.fill([0], [0], [[1.0], [0.0]], stderr=[[0.1], [0.1]], counts=[10])
    table.fill([0], [2], [[1.0], [0.0]])  # no stderr
    low, high = table.confidence_interval(0.95)
    # Student's t, 9 degrees of freedom: t_0.975 = 2.262157; unknown count: the normal 1.959964.
    np.testing.assert_allclose(high[0, 0, :2] - 1.0, [0.2262157, 0.1959964], atol=1e-6)
    np.testing.assert_allclose(1.0 - low[0, 0, :2], [0.2262157, 0.1959964], atol=1e-6)
    assert np.isnan(low[0, 0, 2]) and np.isnan(high[1, 0, 2])
    _, high90 = table.confidence_interval(0.90)
    assert high90[0, 0, 1] - 1.0 == pytest.approx(0.1 * 1.644854, abs=1e-6)
    with pytest.raises(PhalanxError, match="level"):
        table.confidence_interval(95)


def test_to_dict_round_trip_through_strict_json():
    table = table_of(3, 2)
    table.add_member(1, name="best response 2")
    table.fill([0, 2], [1, 2], [[0.5, -1.0], [-0.5, 1.0]], stderr=[[0.01, 0.02], [0.01, 0.02]], counts=[8, 9])
    text = json.dumps(table.to_dict(), allow_nan=False)  # NaN is not JSON: must be written as null
    restored = PayoffTable.from_dict(json.loads(text))
    assert restored.shape == (3, 3) and restored.names == table.names
    np.testing.assert_array_equal(restored.payoffs, table.payoffs)  # NaNs in the same places
    np.testing.assert_array_equal(restored.stderr, table.stderr)
    np.testing.assert_array_equal(restored.counts, table.counts)
    assert restored.add_member(0) == 3 and restored.missing()[0].size == len(table.missing()[0]) + 3


def test_from_dict_errors():
    with pytest.raises(PhalanxError, match="version 1"):
        PayoffTable.from_dict({"version": 99})
    data = table_of(2, 2).to_dict()
    data["payoffs"] = [[1.0]]
    with pytest.raises(PhalanxError, match="malformed"):
        PayoffTable.from_dict(data)


# --------------------------------------------------------------------------- batch evaluation


def test_evaluate_missing_calls_the_evaluator_once_with_all_missing_cells():
    calls = []

    def evaluate_pairs(rows, cols):
        calls.append((rows.copy(), cols.copy()))
        return np.stack([rows + 0.5 * cols, -(rows + 0.5 * cols)]), None

    table = table_of(3, 2)
    table.fill([1], [1], [[7.0], [-7.0]])
    assert evaluate_missing(table, evaluate_pairs) == 5
    assert len(calls) == 1
    np.testing.assert_array_equal(calls[0][0], [0, 0, 1, 2, 2])
    np.testing.assert_array_equal(calls[0][1], [0, 1, 0, 0, 1])
    assert table.payoffs[0, 1, 1] == 7.0 and table.payoffs[0, 2, 1] == 2.5
    assert evaluate_missing(table, evaluate_pairs) == 0 and len(calls) == 1  # nothing missing: no call
    table.add_member(1)
    assert evaluate_missing(table, evaluate_pairs) == 3 and len(calls) == 2
    np.testing.assert_array_equal(calls[1][1], [2, 2, 2])


def test_evaluate_missing_with_stderr_and_counts_and_bad_return():
    table = table_of(1, 2)
    evaluate_missing(table, lambda r, c: (np.ones((2, r.size)), np.full((2, r.size), 0.1), np.full(r.size, 4)))
    np.testing.assert_array_equal(table.counts, [[4, 4]])
    np.testing.assert_array_equal(table.stderr, np.full((2, 1, 2), 0.1))
    fresh = table_of(1, 1)
    with pytest.raises(PhalanxError, match="must return"):
        evaluate_missing(fresh, lambda r, c: np.ones((2, r.size)))
    with pytest.raises(PhalanxError, match=r"shape \(2, 2\), expected \(2, 1\)"):
        evaluate_missing(fresh, lambda r, c: (np.ones((2, 2)), None))


def test_evaluate_missing_with_jitted_vmap_over_rock_paper_scissors():
    """Members are pure strategies of RPS; one jitted, vmapped env step per batch of (row, col) pairs."""
    env = phalanx.make("rock_paper_scissors")
    traces = []

    @jax.jit
    def play(a0, a1):  # (k,), (k,) actions → (2, k) payoffs
        traces.append(a0.shape)

        def one(x, y):
            key = jax.random.PRNGKey(0)
            state, _ = env.reset(key)
            _, ts = env.step(key, state, {"player_0": x[None], "player_1": y[None]})
            return jnp.stack([ts.reward["player_0"][0], ts.reward["player_1"][0]])

        return jax.vmap(one)(a0, a1).T

    actions = ([], [])  # each member's action, per player
    calls = []

    def evaluate_pairs(rows, cols):
        calls.append(rows.size)
        a0 = jnp.asarray(np.array(actions[0])[rows], jnp.int32)
        a1 = jnp.asarray(np.array(actions[1])[cols], jnp.int32)
        return play(a0, a1), None

    table = PayoffTable()
    for a0, a1 in [(0, 2), (1, 1), (2, 0)]:  # PSRO-like: both populations grow by one member per round
        actions[0].append(a0)
        table.add_member(0, name=("rock", "paper", "scissors")[a0])
        actions[1].append(a1)
        table.add_member(1, name=("rock", "paper", "scissors")[a1])
        evaluate_missing(table, evaluate_pairs)
    assert calls == [1, 3, 5] and len(traces) == 3  # one call and one trace per round, never one per cell
    expected = env.payoffs[:, actions[0]][:, :, actions[1]]
    np.testing.assert_array_equal(table.payoffs, expected)
    assert table.payoffs[0, 1, 0] == -1.0  # paper (row 1) vs scissors (column 0): the column wins
