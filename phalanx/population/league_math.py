"""League arithmetic as in AlphaStar (Vinyals et al. 2019): Elo ratings and PFSP opponent weights.

Pure functions. :func:`expected_score`, :func:`elo_update` and :func:`pfsp_weights` are
array-polymorphic: given NumPy inputs they compute in NumPy (and validate values), given JAX
arrays (or inside ``jit``) they compute with ``jax.numpy`` and skip value checks, so a league can
sample opponents inside a compiled program. :func:`pfsp_weights_jax` is the JAX form by name.
:func:`fit_elo` fits ratings to a whole win-rate table at once (NumPy, host side).

Elo convention: ``expected_score(r_i, r_j) = 1 / (1 + 10 ** ((r_j - r_i) / scale))`` with
``scale = 400``; a score is 1 for a win, 0.5 for a draw, 0 for a loss.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from phalanx.errors import ConfigError, PhalanxError, did_you_mean

#: PFSP weightings ``f(x)`` of the learner's win rate ``x`` against a candidate (AlphaStar's names where
#: they exist: its pseudocode's "squared" is "hard" with ``p = 2``).
PFSP_WEIGHTINGS = ("hard", "variance", "linear", "linear_capped", "even", "uniform", "squared")


def _xp(*values: Any):
    """``jax.numpy`` if any value is a JAX array (or tracer), else NumPy."""
    return jnp if any(isinstance(v, jax.Array) for v in values) else np


def expected_score(r_i: Any, r_j: Any, scale: float = 400.0) -> Any:
    """Elo's expected score of ``i`` against ``j`` (win probability counting draws as half); broadcasts."""
    xp = _xp(r_i, r_j)
    return 1.0 / (1.0 + xp.power(10.0, (xp.asarray(r_j) - xp.asarray(r_i)) / scale))


def elo_update(ratings: Any, i: Any, j: Any, score_i: Any, k: float = 32.0, scale: float = 400.0) -> Any:
    """Ratings after one game of ``i`` against ``j`` in which ``i`` scored ``score_i`` (1 win, 0.5 draw, 0 loss).

    ``r_i += k * (score_i - E_i)`` and ``r_j -= k * (score_i - E_i)`` (zero-sum, so the mean is kept).
    Returns a new array; the input is not modified.

    Args:
        ratings: ``(n,)`` current ratings.
        i, j: the players (integers, ``i != j``; may be traced inside ``jit``).
        score_i: ``i``'s score in ``[0, 1]``.
        k: the K-factor (step size in rating points).
        scale: rating difference at which the expected score is 10:1.
    """
    xp = _xp(ratings, i, j, score_i)
    r = xp.asarray(ratings, dtype=xp.float32 if xp is jnp else np.float64)
    if xp is np:
        if r.ndim != 1:
            raise PhalanxError(f"elo_update: ratings must be a vector (n,), got shape {r.shape}.")
        n = r.shape[0]
        for name, v in (("i", i), ("j", j)):
            if int(v) != v or not 0 <= int(v) < n:
                raise PhalanxError(f"elo_update: {name}={v} is not a player index in [0, {n}).")
        if int(i) == int(j):
            raise PhalanxError(f"elo_update: i and j are both {i}; a player cannot play itself.")
        if not 0.0 <= float(score_i) <= 1.0:
            raise PhalanxError(f"elo_update: score_i={score_i} must be in [0, 1] (1 win, 0.5 draw, 0 loss).")
    delta = k * (score_i - expected_score(r[i], r[j], scale))
    idx = xp.arange(r.shape[0])
    # One-hot form instead of indexed assignment: the same code runs in NumPy and under jit.
    return r + delta * ((idx == i).astype(r.dtype) - (idx == j).astype(r.dtype))


def fit_elo(
    win_rates: Any,
    counts: Any,
    *,
    scale: float = 400.0,
    prior_std: float | None = 1000.0,
    mean: float = 0.0,
    iterations: int = 100,
    tol: float = 1e-9,
) -> np.ndarray:
    """Elo ratings fitted to a whole table of results: maximum likelihood (Bradley–Terry), by Newton's method.

    Each ordered cell ``(i, j)`` with ``counts[i, j] > 0`` is ``counts[i, j]`` games in which ``i`` scored
    ``win_rates[i, j]`` on average, and the fit maximises ``sum counts * (w log E + (1 - w) log(1 - E))`` with
    ``E = expected_score(r_i, r_j)``. The log-likelihood is concave, so Newton's method converges in a
    few steps. A mirrored table (``(j, i)`` holding the same games as ``(i, j)``) counts each game twice,
    which leaves the maximum-likelihood ratings unchanged.

    Ratings are only defined up to a constant: they are shifted to have mean ``mean``. A member that
    wins (or loses) every game has no finite maximum-likelihood rating; ``prior_std`` adds a Gaussian
    prior ``N(mean, prior_std²)`` per rating (a MAP fit; wide enough to change well-determined ratings
    little) that keeps them finite. With ``prior_std=None`` the fit is pure maximum likelihood.

    Args:
        win_rates: ``(n, n)`` mean score of the row member against the column member; cells with zero
            count are ignored (NaN allowed there).
        counts: ``(n, n)`` number of games behind each cell (>= 0).
        scale: Elo scale (400).
        prior_std: standard deviation of the Gaussian prior in rating points, or None.
        mean: the mean of the returned ratings.
        iterations: maximum Newton steps.
        tol: stop when the largest rating change is below ``tol``.

    Returns:
        ``(n,)`` float64 ratings.

    Raises:
        PhalanxError: bad shapes or values, or (with ``prior_std=None``) ratings that diverge because
            some member won or lost all its games.
    """
    w = np.asarray(win_rates, np.float64)
    c = np.asarray(counts, np.float64)
    if w.ndim != 2 or w.shape[0] != w.shape[1] or c.shape != w.shape:
        raise PhalanxError(
            f"fit_elo: win_rates {w.shape} and counts {c.shape} must both be square (n, n) tables of the same shape."
        )
    if not np.all(np.isfinite(c)) or (c < 0).any():
        raise PhalanxError("fit_elo: counts must be finite and >= 0 (the number of games behind each cell).")
    played = (c > 0) & ~np.eye(len(c), dtype=bool)
    if not np.all(np.isfinite(w[played])) or (w[played] < 0).any() or (w[played] > 1).any():
        raise PhalanxError("fit_elo: win_rates must be in [0, 1] wherever counts > 0.")
    if prior_std is not None and not prior_std > 0:
        raise ConfigError(f"fit_elo: prior_std={prior_std} must be > 0 or None.")
    n = len(c)
    c = np.where(played, c, 0.0)
    w = np.where(played, w, 0.0)
    beta = np.log(10.0) / scale  # E = sigmoid(beta * (r_i - r_j))
    precision = 0.0 if prior_std is None else 1.0 / prior_std**2
    if prior_std is None:
        _check_ml_exists(c, w)
    r = np.zeros(n)  # fit around 0, shift to `mean` at the end
    # Pure ML leaves the mean free (singular Hessian): a rank-one term fixes the step's mean to 0.
    pin = np.ones((n, n)) / n if prior_std is None else 0.0
    converged = False
    for _ in range(int(iterations)):
        e = 1.0 / (1.0 + np.exp(-beta * (r[:, None] - r[None, :])))
        resid = c * (w - e)  # d loglik / d (beta * (r_i - r_j)) per cell
        grad = beta * (resid.sum(axis=1) - resid.sum(axis=0)) - precision * r
        v = c * e * (1.0 - e)
        v = v + v.T
        hess = beta**2 * (np.diag(v.sum(axis=1)) - v) + precision * np.eye(n)  # minus the Hessian
        step = np.linalg.solve(hess + pin, grad)
        r = r + step
        if not np.all(np.isfinite(r)):
            break
        if np.abs(step).max() < tol:
            converged = True
            break
    if not converged:
        raise PhalanxError(f"fit_elo: Newton's method did not converge in {iterations} steps; raise iterations.")
    return r - r.mean() + mean


def _check_ml_exists(c: np.ndarray, w: np.ndarray) -> None:
    """Finite ML ratings exist iff "scored against" is strongly connected (Zermelo 1929; Ford 1957)."""
    from scipy.sparse.csgraph import connected_components

    scored = (c * w > 0) | (c.T * (1.0 - w.T) > 0)  # i took points off j in some game
    if len(c) > 1 and connected_components(scored, directed=True, connection="strong")[0] > 1:
        raise PhalanxError(
            "fit_elo: no finite maximum-likelihood ratings (some group of members won, or lost, all its games "
            "against the rest, or never met them); pass prior_std (e.g. 1000)."
        )


def pfsp_weights(win_rates: Any, weighting: str = "hard", *, p: float = 2.0, mask: Any = None) -> Any:
    """Prioritised fictitious self-play: a distribution over candidate opponents from the learner's win rates.

    ``weights_c = f(x_c) / sum f(x)`` with ``x_c`` the learner's win rate against candidate ``c`` and

    * ``"hard"``: ``(1 - x)^p`` (``p = 2`` default: AlphaStar's main agents, focusing on the hardest),
    * ``"squared"``: ``(1 - x)^2``, ``"linear"``: ``1 - x``, ``"linear_capped"``: ``min(0.5, 1 - x)``,
    * ``"variance"``: ``x (1 - x)`` (opponents of about equal strength),
    * ``"even"`` / ``"uniform"``: 1.

    If every weight is (near) zero — the learner beats everyone — the result is uniform over the
    candidates, as in AlphaStar. ``mask`` (bool, same shape) excludes candidates (weight 0) while
    keeping a fixed shape, for use inside ``jit``.

    Args:
        win_rates: ``(c,)`` learner's win rates in ``[0, 1]`` (NumPy or JAX).
        weighting: one of :data:`PFSP_WEIGHTINGS`.
        p: exponent of ``"hard"``.
        mask: ``(c,)`` True for eligible candidates, or None (all).

    Returns:
        ``(c,)`` probabilities (NumPy float64, or JAX float32 for JAX input).

    Raises:
        ConfigError: unknown weighting. PhalanxError (NumPy input): no candidates, or win rates not in
            ``[0, 1]`` (with JAX input values are not checked, and an empty mask gives all zeros).
    """
    if weighting not in PFSP_WEIGHTINGS:
        raise ConfigError(
            f"unknown PFSP weighting {weighting!r}.{did_you_mean(str(weighting), PFSP_WEIGHTINGS)} "
            f"Valid weightings: {', '.join(PFSP_WEIGHTINGS)}."
        )
    xp = _xp(win_rates, mask)
    x = xp.asarray(win_rates, dtype=xp.float32 if xp is jnp else np.float64)
    if x.ndim != 1 or x.shape[0] == 0:
        raise PhalanxError(
            f"pfsp_weights: win_rates must be a non-empty vector (one per candidate opponent), got shape {x.shape}."
        )
    eligible = xp.ones(x.shape, bool) if mask is None else xp.asarray(mask, dtype=bool)
    if eligible.shape != x.shape:
        raise PhalanxError(f"pfsp_weights: mask has shape {eligible.shape}, win_rates {x.shape}; they must match.")
    if xp is np:
        if not eligible.any():
            raise PhalanxError("pfsp_weights: no eligible candidate opponents (empty set or all masked out).")
        bad = eligible & ~((x >= 0) & (x <= 1))
        if bad.any():
            raise PhalanxError(
                f"pfsp_weights: win rates must be in [0, 1], got {x[bad][0]} (use 0.5 for opponents not yet played)."
            )
    x = xp.where(eligible, x, 0.0)
    if weighting == "hard":
        f = (1.0 - x) ** p
    elif weighting == "squared":
        f = (1.0 - x) ** 2
    elif weighting == "variance":
        f = x * (1.0 - x)
    elif weighting == "linear":
        f = 1.0 - x
    elif weighting == "linear_capped":
        f = xp.minimum(0.5, 1.0 - x)
    else:  # even / uniform
        f = xp.ones_like(x)
    f = xp.where(eligible, f, 0.0)
    even = eligible.astype(x.dtype)
    total = f.sum()
    # AlphaStar's rule: if the weights vanish, sample uniformly (among the eligible).
    degenerate = total < 1e-10
    f = xp.where(degenerate, even, f)
    total = xp.where(degenerate, even.sum(), total)
    return f / xp.maximum(total, 1e-30)


def pfsp_weights_jax(win_rates: jax.Array, weighting: str = "hard", *, p: float = 2.0,
                     mask: jax.Array | None = None) -> jax.Array:
    """:func:`pfsp_weights` computed with ``jax.numpy`` (jittable; ``weighting`` must be static)."""
    return pfsp_weights(jnp.asarray(win_rates), weighting, p=p, mask=None if mask is None else jnp.asarray(mask))
