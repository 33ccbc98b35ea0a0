"""Elo and PFSP: hand-computed numbers, an independent likelihood optimiser, NumPy/JAX agreement."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import minimize

from phalanx.errors import ConfigError, PhalanxError
from phalanx.population.league_math import (
    elo_update,
    expected_score,
    fit_elo,
    pfsp_weights,
    pfsp_weights_jax,
)

# --------------------------------------------------------------------------- Elo


def test_expected_score_hand_computed():
    assert expected_score(1500.0, 1500.0) == 0.5
    assert expected_score(1400.0, 1000.0) == pytest.approx(10 / 11)  # 400 points: odds 10 to 1
    assert expected_score(1000.0, 1200.0) == pytest.approx(1 / (1 + 10**0.5))
    r = np.array([0.0, 100.0, 350.0])
    table = expected_score(r[:, None], r[None, :])
    np.testing.assert_allclose(table + table.T, 1.0)


def test_elo_update_hand_computed():
    np.testing.assert_allclose(elo_update(np.array([1000.0, 1000.0]), 0, 1, 1.0), [1016.0, 984.0])
    # Underdog (1000 vs 1200) wins: E = 1 / (1 + 10^0.5) = 0.240253, gain 32 * 0.759747 = 24.3119.
    np.testing.assert_allclose(elo_update(np.array([1200.0, 1000.0]), 1, 0, 1.0), [1175.6881, 1024.3119], atol=1e-4)
    # Favourite draws: 32 * (0.5 - 0.759747) = -8.3119.
    np.testing.assert_allclose(elo_update(np.array([1200.0, 1000.0, 7.0]), 0, 1, 0.5, k=32.0),
                               [1191.6881, 1008.3119, 7.0], atol=1e-4)


def test_elo_update_is_pure_and_jittable():
    ratings = np.array([1000.0, 1100.0, 900.0])
    before = ratings.copy()
    expected = elo_update(ratings, 2, 1, 1.0, k=16.0)
    np.testing.assert_array_equal(ratings, before)
    jitted = jax.jit(elo_update, static_argnames=("k", "scale"))
    got = jitted(jnp.asarray(ratings), jnp.int32(2), jnp.int32(1), jnp.float32(1.0), k=16.0)
    assert isinstance(got, jax.Array)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-6)
    assert float(np.sum(expected)) == pytest.approx(float(np.sum(ratings)))  # zero-sum update


def test_elo_update_errors():
    with pytest.raises(PhalanxError, match="cannot play itself"):
        elo_update(np.zeros(3), 1, 1, 1.0)
    with pytest.raises(PhalanxError, match=r"j=3 is not a player index in \[0, 3\)"):
        elo_update(np.zeros(3), 0, 3, 1.0)
    with pytest.raises(PhalanxError, match=r"score_i=1\.5"):
        elo_update(np.zeros(3), 0, 1, 1.5)


def test_fit_elo_two_players_hand_computed():
    # 3 wins in 4 games: E = 3/4 ⇒ 10^(d/400) = 3 ⇒ d = 400 log10(3) = 190.85; mean 0 ⇒ ±95.42.
    w = np.array([[np.nan, 0.75], [np.nan, np.nan]])
    c = np.array([[0, 4], [0, 0]])
    np.testing.assert_allclose(fit_elo(w, c, prior_std=None), [95.4243, -95.4243], atol=1e-4)
    # The same games written in both cells: the ML fit does not change.
    mirrored = np.array([[np.nan, 0.75], [0.25, np.nan]])
    np.testing.assert_allclose(fit_elo(mirrored, np.array([[0, 4], [4, 0]]), prior_std=None), [95.4243, -95.4243],
                               atol=1e-4)
    # The prior pulls toward the mean.
    shrunk = fit_elo(w, c, prior_std=200.0)
    assert 0 < shrunk[0] < 95.0 and shrunk[0] == pytest.approx(-shrunk[1])


def test_fit_elo_recovers_ratings_from_exact_scores():
    true = np.array([0.0, 150.0, -300.0, 500.0, 20.0])
    w = expected_score(true[:, None], true[None, :])
    fitted = fit_elo(w, np.full((5, 5), 10), prior_std=None, mean=float(true.mean()))
    np.testing.assert_allclose(fitted, true, atol=1e-6)


@pytest.mark.parametrize("prior_std", [None, 300.0])
def test_fit_elo_matches_generic_optimiser(prior_std):
    rng = np.random.default_rng(0)
    n = 5
    counts = rng.integers(0, 20, size=(n, n))
    counts[0, 1] = counts[1, 2] = counts[2, 3] = counts[3, 4] = counts[4, 0] = 5  # a cycle: ML exists
    np.fill_diagonal(counts, 0)
    wins = np.minimum(rng.binomial(counts, 0.5) + (counts > 0), counts)  # at least one win per pair played
    rates = np.where(counts > 0, wins / np.maximum(counts, 1), np.nan)

    beta = np.log(10) / 400  # optimise z = beta * r: well-scaled for the generic optimiser

    def neg_log_posterior(z):
        e = 1 / (1 + np.exp(-(z[:, None] - z[None, :])))
        ok = counts > 0
        w = np.where(ok, rates, 0.0)
        ll = np.sum(np.where(ok, counts * (w * np.log(e) + (1 - w) * np.log(1 - e)), 0.0))
        prior = 0.0 if prior_std is None else 0.5 * np.sum((z / (beta * prior_std)) ** 2)
        return -ll + prior + (np.sum(z) ** 2 if prior_std is None else 0.0)  # pin the mean for pure ML

    ref = minimize(neg_log_posterior, np.zeros(n), method="BFGS", options={"gtol": 1e-9}).x / beta
    np.testing.assert_allclose(fit_elo(rates, counts, prior_std=prior_std), ref - ref.mean(), atol=1e-4)


def test_fit_elo_sweep_needs_a_prior():
    w = np.array([[0.0, 1.0], [0.0, 0.0]])
    c = np.array([[0, 3], [0, 0]])
    with pytest.raises(PhalanxError, match=r"no finite maximum-likelihood ratings.*prior_std") as err:
        fit_elo(w, c, prior_std=None)
    assert "\n" not in str(err.value)
    r = fit_elo(w, c)
    assert np.all(np.isfinite(r)) and r[0] > 0 > r[1]


def test_fit_elo_errors():
    with pytest.raises(PhalanxError, match="square"):
        fit_elo(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(PhalanxError, match=r"in \[0, 1\]"):
        fit_elo(np.array([[0, 1.5], [0, 0]]), np.array([[0, 1], [0, 0]]))
    with pytest.raises(PhalanxError, match="counts"):
        fit_elo(np.zeros((2, 2)), -np.ones((2, 2)))
    with pytest.raises(ConfigError, match="prior_std"):
        fit_elo(np.zeros((2, 2)), np.zeros((2, 2)), prior_std=0.0)


# --------------------------------------------------------------------------- PFSP

WIN_RATES = np.array([0.2, 0.5, 0.9])


@pytest.mark.parametrize(
    ("weighting", "unnormalised"),
    [
        ("hard", [0.64, 0.25, 0.01]),  # (1 - x)^2
        ("squared", [0.64, 0.25, 0.01]),
        ("variance", [0.16, 0.25, 0.09]),  # x (1 - x)
        ("linear", [0.8, 0.5, 0.1]),  # 1 - x
        ("linear_capped", [0.5, 0.5, 0.1]),  # min(0.5, 1 - x)
        ("even", [1, 1, 1]),
        ("uniform", [1, 1, 1]),
    ],
)
def test_pfsp_hand_computed(weighting, unnormalised):
    expected = np.array(unnormalised) / np.sum(unnormalised)
    got = pfsp_weights(WIN_RATES, weighting)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(pfsp_weights_jax(jnp.asarray(WIN_RATES), weighting)), expected, rtol=1e-6)


def test_pfsp_hard_exponent():
    np.testing.assert_allclose(pfsp_weights(WIN_RATES, "hard", p=1.0), pfsp_weights(WIN_RATES, "linear"))
    np.testing.assert_allclose(pfsp_weights(WIN_RATES, "hard", p=3.0), np.array([0.512, 0.125, 0.001]) / 0.638)


def test_pfsp_all_zero_weights_fall_back_to_uniform():
    np.testing.assert_array_equal(pfsp_weights(np.ones(4), "hard"), np.full(4, 0.25))
    np.testing.assert_array_equal(pfsp_weights(np.array([0.0, 1.0]), "variance"), [0.5, 0.5])
    # Uniform among the eligible only.
    np.testing.assert_array_equal(pfsp_weights(np.ones(4), "hard", mask=np.array([1, 0, 1, 1], bool)),
                                  [1 / 3, 0, 1 / 3, 1 / 3])


def test_pfsp_mask():
    mask = np.array([True, False, True])
    np.testing.assert_allclose(pfsp_weights(WIN_RATES, "hard", mask=mask), np.array([0.64, 0, 0.01]) / 0.65)


def test_pfsp_under_jit_with_mask_and_fallback():
    f = jax.jit(pfsp_weights_jax, static_argnames=("weighting", "p"))
    mask = jnp.array([True, False, True])
    got = f(jnp.asarray(WIN_RATES), "hard", mask=mask)
    np.testing.assert_allclose(np.asarray(got), np.array([0.64, 0, 0.01]) / 0.65, rtol=1e-6)
    fallback = f(jnp.ones(3), "hard", mask=mask)  # the learner beats both eligible: uniform over them
    np.testing.assert_allclose(np.asarray(fallback), [0.5, 0, 0.5])
    # The polymorphic function traces too.
    np.testing.assert_allclose(np.asarray(jax.jit(lambda x: pfsp_weights(x, "variance"))(jnp.asarray(WIN_RATES))),
                               [0.32, 0.5, 0.18], rtol=1e-6)


def test_pfsp_errors():
    with pytest.raises(PhalanxError, match="non-empty") as err:
        pfsp_weights(np.array([]))
    assert "\n" not in str(err.value)
    with pytest.raises(PhalanxError, match="no eligible"):
        pfsp_weights(WIN_RATES, mask=np.zeros(3, bool))
    with pytest.raises(PhalanxError, match=r"\[0, 1\].*0.5 for opponents not yet played"):
        pfsp_weights(np.array([0.2, np.nan]))
    with pytest.raises(PhalanxError, match=r"\[0, 1\]"):
        pfsp_weights(np.array([1.2]))
    with pytest.raises(ConfigError, match=r"Did you mean 'hard'\?.*Valid weightings"):
        pfsp_weights(WIN_RATES, "hrad")
    with pytest.raises(PhalanxError, match="mask"):
        pfsp_weights(WIN_RATES, mask=np.ones(2, bool))
