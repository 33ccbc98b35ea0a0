"""Meta-solvers on hand-checked games, the equilibrium property on random games, and OpenSpiel parity.

References: equilibria solved by hand (docstrings below), support enumeration (written here,
independent of Lemke–Howson), OpenSpiel's ``egt.alpharank`` and ``projected_replicator_dynamics``,
and the closed-form α-Rank distribution of identical-interest games.
"""

from __future__ import annotations

import itertools
import sys
import types

import numpy as np
import pytest
from scipy.special import logsumexp

import phalanx
from phalanx.errors import ConfigError, PhalanxError
from phalanx.population.meta_solvers import (
    META_SOLVERS,
    alpharank,
    general_sum,
    get_meta_solver,
    last,
    nash,
    nash_conv_of_meta,
    prd,
    uniform,
)

RPS = phalanx.make("rock_paper_scissors").payoffs.astype(np.float64)
PENNIES = phalanx.make("matching_pennies").payoffs.astype(np.float64)
PD = phalanx.make("prisoners_dilemma").payoffs.astype(np.float64)  # defect (1) dominant
STAG = phalanx.make("stag_hunt").payoffs.astype(np.float64)


def bimatrix(A, B) -> np.ndarray:
    return np.stack([np.asarray(A, float), np.asarray(B, float)])


def zero_sum(A) -> np.ndarray:
    return bimatrix(A, -np.asarray(A, float))


# Weighted RPS, skew-symmetric with A[0,1] = -1, A[0,2] = 2, A[1,2] = -3. A x = 0 gives x ∝ (3, 2, 1):
# row 0: -2/6 + 2/6 = 0, row 1: 3/6 - 3/6 = 0, row 2: -6/6 + 6/6 = 0.
WRPS = zero_sum([[0, -1, 2], [1, 0, -3], [-2, 3, 0]])
WRPS_NASH = np.array([3, 2, 1]) / 6
# Battle of the sexes: pure (0, 0), pure (1, 1), and the mixed one — the column player's y makes the
# row player indifferent: 3 y0 = 2 y1 → y0 = 2/5; the row player's x: 2 x0 = 3 x1 → x0 = 3/5.
BOS = bimatrix([[3, 0], [0, 2]], [[2, 0], [0, 3]])
BOS_EQUILIBRIA = [([1, 0], [1, 0]), ([0, 1], [0, 1]), ([0.6, 0.4], [0.4, 0.6])]
# Asymmetric matching pennies (general-sum), unique equilibrium, all mixed: row indifferent when
# 3 y0 - y1 = -y0 + y1 → y0 = 1/3; column indifferent when -x0 + x1 = x0 - x1 → x0 = 1/2.
ASYM_PENNIES = bimatrix([[3, -1], [-1, 1]], [[-1, 1], [1, -1]])
# Zero-sum with a dominant row: row 0 beats row 1 in every column; the column player then picks column 0.
DOMINANT_ZS = zero_sum([[1, 2], [0, -1]])
# von Stengel (2007), "Equilibrium computation for two-player games", degenerate 3x2 example:
# the row player's top strategy has two best responses.
DEGENERATE = bimatrix([[3, 3], [2, 5], [0, 6]], [[3, 2], [2, 6], [3, 1]])


def support_enumeration(P: np.ndarray, tol: float = 1e-9) -> list[tuple[np.ndarray, np.ndarray]]:
    """All equilibria of a nondegenerate bimatrix game: equal-size supports, indifference equations."""
    A, B = P
    n0, n1 = A.shape
    found = []
    for k in range(1, min(n0, n1) + 1):
        for I in itertools.combinations(range(n0), k):
            for J in itertools.combinations(range(n1), k):
                # y on J makes the row player indifferent over I; x on I makes the column player over J.
                My = np.block([[A[np.ix_(I, J)], -np.ones((k, 1))], [np.ones((1, k)), np.zeros((1, 1))]])
                Mx = np.block([[B[np.ix_(I, J)].T, -np.ones((k, 1))], [np.ones((1, k)), np.zeros((1, 1))]])
                rhs = np.r_[np.zeros(k), 1.0]
                try:
                    sy, sx = np.linalg.solve(My, rhs), np.linalg.solve(Mx, rhs)
                except np.linalg.LinAlgError:
                    continue
                x, y = np.zeros(n0), np.zeros(n1)
                x[list(I)], y[list(J)] = sx[:k], sy[:k]
                if (x < -tol).any() or (y < -tol).any():
                    continue
                if (A @ y).max() <= sy[k] + tol and (x @ B).max() <= sx[k] + tol:
                    found.append((x, y))
    return found


def assert_distribution(sigma: np.ndarray, n: int) -> None:
    assert sigma.dtype == np.float64 and sigma.shape == (n,)
    assert (sigma >= 0).all() and sigma.sum() == pytest.approx(1.0, abs=1e-12)


def assert_is_one_of(x, y, equilibria, atol=1e-7) -> None:
    assert any(np.allclose(x, ex, atol=atol) and np.allclose(y, ey, atol=atol) for ex, ey in equilibria), (x, y)


# --------------------------------------------------------------------------- every solver


@pytest.mark.parametrize("name", sorted(META_SOLVERS))
def test_every_solver_returns_float64_distributions(name):
    P = np.random.default_rng(0).normal(size=(2, 3, 4))
    if name == "nash":
        P[1] = -P[0]
    kwargs = {"iterations": 200} if name == "prd" else {}
    x, y = get_meta_solver(name, **kwargs)(P)
    assert_distribution(x, 3)
    assert_distribution(y, 4)


@pytest.mark.parametrize("name", sorted(META_SOLVERS))
def test_one_by_one_game(name):
    x, y = META_SOLVERS[name](np.array([[[2.0]], [[-2.0]]]))
    assert x.tolist() == [1.0] and y.tolist() == [1.0]


@pytest.mark.parametrize("name", sorted(META_SOLVERS))
def test_nan_cell_is_one_line_error(name):
    P = RPS.copy()
    P[:, 1, 2] = np.nan
    with pytest.raises(PhalanxError, match=r"NaN .* \[0, 1, 2\]") as err:
        META_SOLVERS[name](P)
    assert "\n" not in str(err.value) and "complete_subgame" in str(err.value)


@pytest.mark.parametrize("bad", [np.zeros((3, 2, 2)), np.zeros((2, 3)), np.zeros((2, 0, 3)), [["a"]]])
def test_bad_shapes_are_one_line_errors(bad):
    with pytest.raises(PhalanxError, match="payoffs") as err:
        nash(bad)
    assert "\n" not in str(err.value)


def test_uniform_and_last():
    P = np.zeros((2, 2, 3))
    x, y = uniform(P)
    np.testing.assert_array_equal(x, [0.5, 0.5])
    np.testing.assert_array_equal(y, [1 / 3, 1 / 3, 1 / 3])
    x, y = last(P)
    np.testing.assert_array_equal(x, [0, 1])
    np.testing.assert_array_equal(y, [0, 0, 1])


# --------------------------------------------------------------------------- hand-checked games


@pytest.mark.parametrize("name", ["nash", "general_sum", "alpharank"])
def test_rps_is_uniform(name):
    x, y = META_SOLVERS[name](RPS)
    np.testing.assert_allclose(x, 1 / 3, atol=1e-9)
    np.testing.assert_allclose(y, 1 / 3, atol=1e-9)


def test_rps_multi_population_alpharank_is_uniform():
    x, y = alpharank(RPS, population="multi")
    np.testing.assert_allclose(x, 1 / 3, atol=1e-9)
    np.testing.assert_allclose(y, 1 / 3, atol=1e-9)


@pytest.mark.parametrize("name", ["nash", "general_sum"])
def test_weighted_rps_exact(name):
    x, y = META_SOLVERS[name](WRPS)
    np.testing.assert_allclose(x, WRPS_NASH, atol=1e-8)
    np.testing.assert_allclose(y, WRPS_NASH, atol=1e-8)


def test_prd_rps_and_weighted_rps():
    # From uniform, RPS's equilibrium is a fixed point; weighted RPS needs the dynamics' time average.
    for P, target in ((RPS, np.full(3, 1 / 3)), (WRPS, WRPS_NASH)):
        x, y = prd(P)
        np.testing.assert_allclose(x, target, atol=0.02)
        np.testing.assert_allclose(y, target, atol=0.02)
    assert nash_conv_of_meta(WRPS, *prd(WRPS)) < 0.05


@pytest.mark.parametrize("name", ["nash", "general_sum", "alpharank"])
def test_matching_pennies(name):
    x, y = META_SOLVERS[name](PENNIES)
    np.testing.assert_allclose(x, [0.5, 0.5], atol=1e-9)
    np.testing.assert_allclose(y, [0.5, 0.5], atol=1e-9)


@pytest.mark.parametrize("name", ["nash", "general_sum", "alpharank"])
def test_dominant_row_zero_sum(name):
    x, y = META_SOLVERS[name](DOMINANT_ZS)
    np.testing.assert_allclose(x, [1, 0], atol=1e-6)
    np.testing.assert_allclose(y, [1, 0], atol=1e-6)


def test_prisoners_dilemma_dominant_defect():
    x, y = general_sum(PD)
    np.testing.assert_array_equal(x, [0, 1])
    np.testing.assert_array_equal(y, [0, 1])
    for population in ("single", "multi"):  # PD is symmetric: both models apply
        x, y = alpharank(PD, population=population)
        assert x[1] > 1 - 1e-9 and y[1] > 1 - 1e-9
    x, y = prd(PD, iterations=20_000)
    assert x[1] > 0.9 and y[1] > 0.9  # the time average includes the start at uniform
    x, y = prd(PD, iterations=20_000, average=False)
    assert x[1] > 1 - 1e-5 and y[1] > 1 - 1e-5


def test_prd_gamma_floor():
    # Cooperation is dominated, so the last point sits on the floor gamma / n = 0.3 / 2.
    x, y = prd(PD, gamma=0.3, iterations=5_000, average=False)
    np.testing.assert_allclose(x, [0.15, 0.85], atol=1e-6)
    np.testing.assert_allclose(y, [0.15, 0.85], atol=1e-6)


def test_nash_rejects_general_sum_and_accepts_constant_sum():
    with pytest.raises(PhalanxError, match=r"not zero-sum.*general_sum.*prd"):
        nash(PD)
    x, y = nash(RPS + np.array([3.0, 2.0])[:, None, None])  # constant sum 5
    np.testing.assert_allclose(x, 1 / 3, atol=1e-9)
    np.testing.assert_allclose(y, 1 / 3, atol=1e-9)


@pytest.mark.parametrize("label", range(4))
def test_battle_of_the_sexes(label):
    assert len(support_enumeration(BOS)) == 3
    assert_is_one_of(*general_sum(BOS, initial_label=label), BOS_EQUILIBRIA)
    for ex, ey in BOS_EQUILIBRIA:  # the mixed one too is an equilibrium by the definition
        assert nash_conv_of_meta(BOS, ex, ey) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("label", range(4))
def test_asymmetric_pennies_unique_mixed(label):
    x, y = general_sum(ASYM_PENNIES, initial_label=label)
    np.testing.assert_allclose(x, [1 / 2, 1 / 2], atol=1e-9)
    np.testing.assert_allclose(y, [1 / 3, 2 / 3], atol=1e-9)


def test_stag_hunt():
    assert_is_one_of(*general_sum(STAG), [([1, 0], [1, 0]), ([0, 1], [0, 1]), ([2 / 3, 1 / 3], [2 / 3, 1 / 3])])
    # Single-population, local selection: hare earns 3 against stag, stag 0 against hare: hare wins.
    x, _ = alpharank(STAG)
    assert x[1] > 1 - 1e-9


def test_nash_conv_hand_computed():
    # RPS, row plays rock, column uniform: the row player cannot gain (all rows earn 0 against uniform);
    # the column player earns 0 but paper earns 1 against rock.
    assert nash_conv_of_meta(RPS, [1, 0, 0], [1 / 3, 1 / 3, 1 / 3]) == pytest.approx(1.0)
    assert nash_conv_of_meta(RPS, [1 / 3] * 3, [1 / 3] * 3) == pytest.approx(0.0)
    with pytest.raises(PhalanxError, match="do not fit"):
        nash_conv_of_meta(RPS, [0.5, 0.5], [1, 0, 0])


# --------------------------------------------------------------------------- random games


@pytest.mark.parametrize("seed", range(6))
def test_equilibrium_property_random_games(seed):
    rng = np.random.default_rng(seed)
    n0, n1 = rng.integers(2, 9, size=2)
    P = rng.normal(size=(2, n0, n1))
    x, y = general_sum(P)
    assert nash_conv_of_meta(P, x, y) < 1e-9
    Z = zero_sum(P[0])
    xz, yz = nash(Z)
    assert nash_conv_of_meta(Z, xz, yz) < 1e-8
    # The value of a zero-sum game is unique: Lemke-Howson must find the same one.
    xg, yg = general_sum(Z)
    assert xg @ Z[0] @ yg == pytest.approx(xz @ Z[0] @ yz, abs=1e-8)


@pytest.mark.parametrize("seed", range(6))
def test_lemke_howson_finds_a_support_enumeration_equilibrium(seed):
    rng = np.random.default_rng(100 + seed)
    n0, n1 = rng.integers(2, 5, size=2)
    P = rng.normal(size=(2, n0, n1))
    equilibria = support_enumeration(P)
    assert len(equilibria) % 2 == 1  # nondegenerate games have an odd number of equilibria
    for label in range(n0 + n1):
        assert_is_one_of(*general_sum(P, initial_label=label), equilibria)


# Seeds 55, 72, 86: without the lexicographic ratio rule some Lemke-Howson paths cycle on these games.
@pytest.mark.parametrize("seed", [0, 1, 2, 3, 55, 72, 86])
def test_lemke_howson_degenerate_games(seed):
    # Small integer payoffs: ties everywhere, and duplicated members as PSRO produces them.
    rng = np.random.default_rng(seed)
    n0, n1 = rng.integers(2, 7, size=2)
    P = rng.integers(0, 3, size=(2, n0, n1)).astype(float)
    P = np.concatenate([P, P[:, :1]], axis=1)  # row 0 duplicated
    P = np.concatenate([P, P[:, :, -1:]], axis=2)  # last column duplicated
    for label in range(P.shape[1] + P.shape[2]):
        x, y = general_sum(P, initial_label=label)
        assert nash_conv_of_meta(P, x, y) < 1e-9


@pytest.mark.parametrize("label", range(5))
def test_lemke_howson_von_stengel_degenerate_example(label):
    x, y = general_sum(DEGENERATE, initial_label=label)
    assert nash_conv_of_meta(DEGENERATE, x, y) < 1e-12


def test_constant_game():
    x, y = general_sum(np.ones((2, 3, 2)))
    assert nash_conv_of_meta(np.ones((2, 3, 2)), x, y) == 0.0


# --------------------------------------------------------------------------- references


@pytest.fixture(scope="module")
def open_spiel_alpharank():
    # OpenSpiel's alpharank imports its visualiser, which needs networkx (not installed here); the
    # computation does not use it, so a stand-in module is enough.
    saved = sys.modules.get("open_spiel.python.egt.alpharank_visualizer")
    sys.modules["open_spiel.python.egt.alpharank_visualizer"] = types.ModuleType("alpharank_visualizer")
    try:
        from open_spiel.python.egt import alpharank as reference
    finally:
        if saved is None:
            del sys.modules["open_spiel.python.egt.alpharank_visualizer"]
        else:
            sys.modules["open_spiel.python.egt.alpharank_visualizer"] = saved
    return reference


@pytest.mark.parametrize("shape", [(2, 3), (3, 3), (4, 2), (4, 4)])
@pytest.mark.parametrize("alpha", [0.5, 2.0])
def test_alpharank_multi_population_matches_open_spiel(open_spiel_alpharank, shape, alpha):
    P = np.random.default_rng(sum(shape)).uniform(-1, 1, size=(2, *shape))
    _, _, pi, _, _ = open_spiel_alpharank.compute([P[0], P[1]], m=20, alpha=alpha)
    joint = pi.reshape(shape)  # OpenSpiel numbers profiles row-major
    x, y = alpharank(P, alpha=alpha, m=20, population="multi")
    np.testing.assert_allclose(x, joint.sum(axis=1), atol=1e-10)
    np.testing.assert_allclose(y, joint.sum(axis=0), atol=1e-10)


@pytest.mark.parametrize("local_selection", [True, False])
@pytest.mark.parametrize("alpha", [0.5, 3.0])
def test_alpharank_single_population_matches_open_spiel(open_spiel_alpharank, local_selection, alpha):
    A = np.random.default_rng(7).uniform(-1, 1, size=(4, 4))
    _, _, pi, _, _ = open_spiel_alpharank.compute([A], m=10, alpha=alpha, use_local_selection_model=local_selection)
    x, y = alpharank(bimatrix(A, A.T), alpha=alpha, m=10, population="single", local_selection=local_selection)
    np.testing.assert_allclose(x, pi, atol=1e-10)
    np.testing.assert_array_equal(x, y)


def test_alpharank_identical_interest_closed_form_at_large_alpha():
    """Identical interests (A = B) make the chain reversible: pi(i, j) ∝ exp((m - 1) alpha A[i, j]).

    With alpha = 100, m = 50 the transition probabilities out of the two near-tied top profiles are
    around exp(-29000), far below float64 (OpenSpiel's eigenvector solve sees a reducible chain here),
    yet the answer is far from a point mass.
    """
    A = np.array([[1.0, -5.0, -2.0], [-5.0, 1.0 - 2e-4, -3.0], [-1.0, -4.0, -6.0]])
    x, y = alpharank(bimatrix(A, A), alpha=100.0, m=50, population="multi")
    log_pi = 49 * 100.0 * A
    joint = np.exp(log_pi - logsumexp(log_pi))
    assert 0.2 < joint[1, 1] < 0.35  # non-trivial: 1 / (1 + e^0.98) = 0.273
    np.testing.assert_allclose(x, joint.sum(axis=1), atol=1e-12)
    np.testing.assert_allclose(y, joint.sum(axis=0), atol=1e-12)


def test_alpharank_rejects_single_population_for_asymmetric_game():
    with pytest.raises(PhalanxError, match="symmetric"):
        alpharank(BOS, population="single")
    with pytest.raises(ConfigError, match="Did you mean 'multi'"):
        alpharank(RPS, population="mutli")


def test_prd_matches_open_spiel():
    from open_spiel.python.algorithms.projected_replicator_dynamics import projected_replicator_dynamics

    P = np.random.default_rng(3).normal(size=(2, 3, 4))
    ref = projected_replicator_dynamics([P[0], P[1]], prd_iterations=3000, prd_dt=1e-2, prd_gamma=0.0)
    x, y = prd(P, gamma=0.0, step_size=1e-2, iterations=3000)
    np.testing.assert_allclose(x, ref[0], atol=1e-4)
    np.testing.assert_allclose(y, ref[1], atol=1e-4)


# --------------------------------------------------------------------------- registry


def test_get_meta_solver_names_and_options():
    assert set(META_SOLVERS) == {"uniform", "last", "nash", "prd", "alpharank", "general_sum"}
    assert get_meta_solver("nash") is nash
    with pytest.raises(ConfigError, match=r"Did you mean 'nash'.*Valid meta-solvers: uniform, last, nash") as err:
        get_meta_solver("nsah")
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match=r"no option 'gama'.*Did you mean 'gamma'"):
        get_meta_solver("prd", gama=0.1)
    x, _ = get_meta_solver("prd", gamma=0.3, iterations=5_000, average=False)(PD)
    np.testing.assert_allclose(x, [0.15, 0.85], atol=1e-6)


def test_solver_options_validated():
    with pytest.raises(ConfigError, match="gamma"):
        prd(RPS, gamma=1.5)
    with pytest.raises(ConfigError, match="m=1"):
        alpharank(RPS, m=1)
    with pytest.raises(ConfigError, match="initial_label"):
        general_sum(RPS, initial_label=6)
