"""Meta-solvers: a two-player meta-game's payoff table → one mixture over members per player.

Every solver is a pure function ``payoffs -> (sigma0, sigma1)``:

* ``payoffs``: ``(2, n0, n1)``; ``payoffs[p, i, j]`` is player ``p``'s payoff when the row
  player plays member ``i`` and the column player member ``j`` (the layout of
  ``phalanx.make("rock_paper_scissors").payoffs`` and of :class:`~phalanx.population.payoff_table.PayoffTable`).
* ``sigma0`` ``(n0,)``, ``sigma1`` ``(n1,)``: float64 probability vectors (non-negative, sum 1).

=============== ==================================================================================
``uniform``     every member equally (fictitious play)
``last``        all mass on the newest member (self-play)
``nash``        a Nash equilibrium of a two-player zero-sum (or constant-sum) game, by linear programming
``prd``         projected replicator dynamics (Lanctot et al. 2017), time-averaged
``alpharank``   α-Rank (Omidshafiei et al. 2019), single- or multi-population
``general_sum`` a Nash equilibrium of any bimatrix game, by Lemke–Howson pivoting
=============== ==================================================================================

:data:`META_SOLVERS` maps these names to the functions; :func:`get_meta_solver` looks one up
(with options bound) and :func:`nash_conv_of_meta` measures how far a pair of mixtures is from
equilibrium within the table.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import logsumexp

from phalanx.errors import ConfigError, PhalanxError, did_you_mean

MetaSolver = Callable[..., tuple[np.ndarray, np.ndarray]]


# --------------------------------------------------------------------------- validation / helpers


def check_payoffs(payoffs: Any, solver: str = "meta-solver") -> np.ndarray:
    """``payoffs`` as a float64 ``(2, n0, n1)`` array with finite cells, or a one-line PhalanxError."""
    try:
        arr = np.asarray(payoffs, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise PhalanxError(f"{solver}: payoffs are not a numeric array ({err}).") from None
    if arr.ndim != 3 or arr.shape[0] != 2 or arr.shape[1] < 1 or arr.shape[2] < 1:
        raise PhalanxError(
            f"{solver}: payoffs have shape {arr.shape}; expected (2, n0, n1) with n0, n1 >= 1 "
            "(payoffs[p, i, j] = player p's payoff when row member i meets column member j)."
        )
    bad = ~np.isfinite(arr)
    if bad.any():
        p, i, j = (int(v) for v in np.argwhere(bad)[0])
        what = "NaN (not yet evaluated?)" if np.isnan(arr).any() else "inf"
        raise PhalanxError(
            f"{solver}: payoffs contain {what} in {int(bad.any(axis=0).sum())} cell(s), e.g. "
            f"[{p}, {i}, {j}]; evaluate the missing cells first (payoff_table.evaluate_missing) or solve "
            "PayoffTable.complete_subgame()."
        )
    return arr


def _clean(sigma: np.ndarray) -> np.ndarray:
    """Clip round-off negatives and renormalise to an exact float64 distribution."""
    sigma = np.clip(np.asarray(sigma, np.float64), 0.0, None)
    return sigma / sigma.sum()


def nash_conv_of_meta(payoffs: Any, sigma0: Any, sigma1: Any) -> float:
    """NashConv of ``(sigma0, sigma1)`` within the meta-game: the summed gains of best pure deviations.

    ``sum_p max_a u_p(a, sigma_-p) - u_p(sigma)``; 0 exactly at a Nash equilibrium of the table.

    Args:
        payoffs: ``(2, n0, n1)`` payoff table.
        sigma0: ``(n0,)`` row player's mixture.
        sigma1: ``(n1,)`` column player's mixture.
    """
    P = check_payoffs(payoffs, "nash_conv_of_meta")
    x, y = np.asarray(sigma0, np.float64), np.asarray(sigma1, np.float64)
    if x.shape != (P.shape[1],) or y.shape != (P.shape[2],):
        raise PhalanxError(
            f"nash_conv_of_meta: mixtures of shapes {x.shape} and {y.shape} do not fit payoffs {P.shape}; "
            f"expected ({P.shape[1]},) and ({P.shape[2]},)."
        )
    row_values = P[0] @ y  # (n0,) each row member's payoff against sigma1
    col_values = x @ P[1]  # (n1,)
    return float(row_values.max() - x @ row_values + col_values.max() - col_values @ y)


# --------------------------------------------------------------------------- trivial solvers


def uniform(payoffs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Every member with equal probability: fictitious play's meta-strategy."""
    P = check_payoffs(payoffs, "uniform")
    n0, n1 = P.shape[1:]
    return np.full(n0, 1.0 / n0), np.full(n1, 1.0 / n1)


def last(payoffs: Any) -> tuple[np.ndarray, np.ndarray]:
    """All mass on each player's newest member (the last row / column): self-play."""
    P = check_payoffs(payoffs, "last")
    n0, n1 = P.shape[1:]
    return np.eye(n0)[-1], np.eye(n1)[-1]


# --------------------------------------------------------------------------- zero-sum Nash (LP)


def _constant_sum(P: np.ndarray, tol: float) -> bool:
    total = P[0] + P[1]
    scale = max(1.0, float(np.abs(P).max()))
    return float(total.max() - total.min()) <= tol * scale


def nash(payoffs: Any, *, tol: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """A Nash equilibrium (maximin strategies) of a two-player zero-sum or constant-sum meta-game.

    Two linear programs (scipy ``linprog``, HiGHS): the row player maximises ``v`` subject to
    ``x @ M[:, j] >= v`` for every column ``j``; the column player does the same for ``-M``. ``M`` is
    ``(payoffs[0] - payoffs[1]) / 2``, which equals ``payoffs[0]`` up to a constant in a constant-sum game
    and averages out tiny evaluation noise. Where equilibria are not unique, one of them is returned.

    Args:
        payoffs: ``(2, n0, n1)`` payoff table.
        tol: how far ``payoffs[0] + payoffs[1]`` may vary (relative to ``max(1, max |payoff|)``) and the game
            still count as constant-sum.

    Raises:
        PhalanxError: the game is not constant-sum (use ``general_sum`` or ``prd``), or the LP fails.
    """
    P = check_payoffs(payoffs, "nash")
    if not _constant_sum(P, tol):
        total = P[0] + P[1]
        raise PhalanxError(
            "nash: the meta-game is not zero-sum (payoffs[0] + payoffs[1] ranges over "
            f"[{total.min():.4g}, {total.max():.4g}]); use meta-solver 'general_sum' (Lemke-Howson) or 'prd'."
        )
    M = (P[0] - P[1]) / 2.0
    return _maximin(M, "row"), _maximin(-M.T, "column")


def _maximin(M: np.ndarray, who: str) -> np.ndarray:
    """Maximin mixture of the player choosing rows of ``M`` ``(n, k)``: max_x min_j x @ M[:, j]."""
    from scipy.optimize import linprog

    n, k = M.shape
    c = np.zeros(n + 1)
    c[-1] = -1.0  # maximise v
    A_ub = np.hstack([-M.T, np.ones((k, 1))])  # v - x @ M[:, j] <= 0
    A_eq = np.hstack([np.ones((1, n)), np.zeros((1, 1))])
    bounds = [(0.0, None)] * n + [(None, None)]
    res = linprog(c, A_ub=A_ub, b_ub=np.zeros(k), A_eq=A_eq, b_eq=[1.0], bounds=bounds, method="highs")
    if res.status != 0:
        raise PhalanxError(f"nash: the {who} player's linear program failed ({res.message}).")
    return _clean(res.x[:n])


# --------------------------------------------------------------------------- projected replicator dynamics


def _project_floor(x: jax.Array, floor: jax.Array) -> jax.Array:
    """Euclidean projection of ``x`` ``(n,)`` onto ``{z : z_i >= floor, sum z = 1}`` (sort-based)."""
    n = x.shape[0]
    total = 1.0 - n * floor  # what is left above the floor
    z = x - floor
    u = jnp.sort(z)[::-1]
    css = jnp.cumsum(u) - total
    k = jnp.arange(1, n + 1, dtype=x.dtype)
    rho = jnp.sum(u - css / k > 0)  # the condition holds on a prefix of the sorted entries
    theta = css[rho - 1] / rho
    return jnp.maximum(z - theta, 0.0) + floor


@functools.partial(jax.jit, static_argnames=("iterations",))
def _prd_run(A, B, dt, floor0, floor1, iterations: int):
    """``iterations`` Euler steps of replicator dynamics, each followed by the projection; (last, mean)."""
    x0 = jnp.full(A.shape[0], 1.0 / A.shape[0], A.dtype)
    y0 = jnp.full(A.shape[1], 1.0 / A.shape[1], A.dtype)

    def body(_, carry):
        x, y, sx, sy = carry
        u, v = A @ y, x @ B  # each pure strategy's payoff against the other's mixture
        x = _project_floor(x + dt * x * (u - x @ u), floor0)
        y = _project_floor(y + dt * y * (v - y @ v), floor1)
        return x, y, sx + x, sy + y

    x, y, sx, sy = jax.lax.fori_loop(0, iterations, body, (x0, y0, x0, y0))
    return x, y, sx / (iterations + 1), sy / (iterations + 1)


def prd(
    payoffs: Any, *, gamma: float = 1e-6, step_size: float = 1e-3, iterations: int = 100_000, average: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Projected replicator dynamics (Lanctot et al. 2017, "A Unified Game-Theoretic Approach to MARL").

    From uniform mixtures, each step moves ``x += step_size * x * (u - x @ u)`` (``u``: each member's
    payoff against the opponent's mixture) and projects (Euclidean) onto the exploration simplex
    ``{x : x_i >= gamma / n, sum x = 1}``. Runs as one jitted ``fori_loop`` in float64 (one compile per
    table shape and ``iterations``; the default 1e5 steps take ~0.1 s for 3 x 3, ~3 s for 100 x 100 on
    CPU). Works for general-sum games; in zero-sum games the time average approaches a Nash equilibrium.

    Args:
        payoffs: ``(2, n0, n1)`` payoff table.
        gamma: exploration: every member keeps at least ``gamma / n`` probability (``0 <= gamma < 1``).
        step_size: Euler step (in units of payoff); OpenSpiel's default 1e-3.
        iterations: number of steps (OpenSpiel's default 1e5).
        average: return the average over the whole trajectory (as OpenSpiel does), else the last point.
    """
    P = check_payoffs(payoffs, "prd")
    if not 0.0 <= gamma < 1.0:
        raise ConfigError(f"prd: gamma={gamma} must be in [0, 1) (each member keeps at least gamma / n).")
    if not step_size > 0.0:
        raise ConfigError(f"prd: step_size={step_size} must be > 0.")
    if int(iterations) < 1:
        raise ConfigError(f"prd: iterations={iterations} must be >= 1.")
    n0, n1 = P.shape[1:]
    # float64: in float32 the round-off of each projection (~1e-7 per step) keeps dominated members
    # near eps / step_size (~1e-4) instead of letting them decay to the floor.
    with jax.enable_x64(True):
        x, y, mx, my = _prd_run(jnp.asarray(P[0]), jnp.asarray(P[1]), jnp.float64(step_size),
                                jnp.float64(gamma / n0), jnp.float64(gamma / n1), int(iterations))
        x, y, mx, my = (np.asarray(v) for v in (x, y, mx, my))
    if average:
        x, y = mx, my
    return _clean(x), _clean(y)


# --------------------------------------------------------------------------- alpha-rank


def _log_fixation(diffs: np.ndarray, alpha: float, m: int) -> np.ndarray:
    """log of the probability that one mutant takes over a population of ``m`` (Fermi selection).

    ``diffs[..., k-1]`` is ``f_mutant(k) - f_resident(k)`` with ``k`` mutants (``k = 1..m-1``); the
    fixation probability is ``1 / (1 + sum_{l=1}^{m-1} exp(-alpha * sum_{k<=l} diffs_k))``, computed as a
    log-sum-exp so that large ``alpha * m`` neither overflows nor underflows.
    """
    steps = -alpha * np.cumsum(diffs, axis=-1)
    zero = np.zeros((*diffs.shape[:-1], 1))
    return -logsumexp(np.concatenate([zero, steps], axis=-1), axis=-1)


def _stationary_from_log_rates(L: np.ndarray) -> np.ndarray:
    """Stationary distribution of an irreducible Markov chain given its log transition rates ``(N, N)``.

    Grassmann–Taksar–Heyman state reduction: it needs no subtractions, so it runs in log space
    (log-sum-exp for sums) and stays exact when α-Rank's rates span thousands of orders of magnitude,
    where an eigenvector or a linear solve would see a reducible chain. Cost O(N³).
    """
    L = np.array(L, np.float64)
    np.fill_diagonal(L, -np.inf)  # self-transitions do not enter the balance equations
    N = L.shape[0]
    with np.errstate(invalid="ignore"):  # -inf + -inf on absent transitions
        for k in range(N - 1, 0, -1):
            out = logsumexp(L[k, :k])
            L[:k, k] -= out
            L[:k, :k] = np.logaddexp(L[:k, :k], L[:k, k, None] + L[None, k, :k])
    log_pi = np.zeros(N)
    for j in range(1, N):
        log_pi[j] = logsumexp(log_pi[:j] + L[:j, j])
    return np.exp(log_pi - logsumexp(log_pi))


def alpharank(
    payoffs: Any, *, alpha: float = 100.0, m: int = 50, population: str = "auto", local_selection: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """α-Rank (Omidshafiei et al. 2019, "α-Rank: Multi-Agent Evaluation by Evolution").

    A Markov chain over monomorphic populations: a mutant member replaces the resident with the Fermi
    fixation probability ``rho(u) = (1 - e^{-u}) / (1 - e^{-m u})``, ``u = alpha * (payoff gain)``, and every
    possible mutant is proposed with equal probability. The stationary distribution ranks members.

    * multi-population (one population per player): states are pure profiles ``(i, j)``, a mutation
      changes one player's member and its gain is that player's payoff change; ``sigma_p`` is the
      stationary distribution's marginal for player ``p``.
    * single-population (symmetric games, ``payoffs[1] == payoffs[0].T``): states are members; with
      ``local_selection`` the gain is ``payoffs[0][r, s] - payoffs[0][s, r]`` (OpenSpiel's default),
      otherwise the paper's finite-population fitness (each agent meets the other ``m - 1``). Both
      players get the same distribution.

    ``alpha`` and ``m`` default to OpenSpiel's (100, 50); with payoffs of order 1 this is close to the
    ``alpha -> inf`` limit that the paper recommends. The stationary distribution is computed exactly
    in log space (see :func:`_stationary_from_log_rates`): O(n³) single-population, O((n0 n1)³)
    multi-population — on 2 CPU cores about 0.3 s for 20 x 20 members, 3 s for 30 x 30, 20 s for 40 x 40.

    Args:
        payoffs: ``(2, n0, n1)`` payoff table.
        alpha: ranking intensity (selection strength), > 0.
        m: population size, >= 2.
        population: ``"auto"`` (single for symmetric games, else multi), ``"single"`` or ``"multi"``.
        local_selection: single-population fitness against the current opponent only.
    """
    P = check_payoffs(payoffs, "alpharank")
    if not alpha > 0:
        raise ConfigError(f"alpharank: alpha={alpha} must be > 0.")
    if int(m) != m or m < 2:
        raise ConfigError(f"alpharank: m={m} must be an integer >= 2 (the population size).")
    if population not in ("auto", "single", "multi"):
        raise ConfigError(
            f"alpharank: population={population!r} is not one of 'auto', 'single', 'multi'."
            + did_you_mean(str(population), ("auto", "single", "multi"))
        )
    m = int(m)
    n0, n1 = P.shape[1:]
    symmetric = n0 == n1 and np.allclose(P[1], P[0].T, rtol=1e-9, atol=1e-12)
    if population == "single" and not symmetric:
        raise PhalanxError(
            "alpharank: population='single' needs a symmetric game (n0 == n1 and payoffs[1] == payoffs[0].T); "
            "use population='multi'."
        )
    if population == "single" or (population == "auto" and symmetric):
        pi = _alpharank_single(P[0], float(alpha), m, local_selection)
        return _clean(pi), _clean(pi)
    pi = _alpharank_multi(P, float(alpha), m).reshape(n0, n1)
    return _clean(pi.sum(axis=1)), _clean(pi.sum(axis=0))


def _alpharank_single(A: np.ndarray, alpha: float, m: int, local_selection: bool) -> np.ndarray:
    n = A.shape[0]
    if n == 1:
        return np.ones(1)
    s, r = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")  # resident s, mutant r
    k = np.arange(1, m, dtype=np.float64)  # number of mutants
    if local_selection:
        diffs = np.broadcast_to((A[r, s] - A[s, r])[..., None], (n, n, m - 1))
    else:  # each agent's mean payoff against the other m - 1 agents of the population
        f_mutant = ((k - 1) * A[r, r][..., None] + (m - k) * A[r, s][..., None]) / (m - 1)
        f_resident = ((m - k - 1) * A[s, s][..., None] + k * A[s, r][..., None]) / (m - 1)
        diffs = f_mutant - f_resident
    L = _log_fixation(diffs, alpha, m) - np.log(n - 1)  # L[s, r]: log P(s -> r)
    return _stationary_from_log_rates(L)


def _alpharank_multi(P: np.ndarray, alpha: float, m: int) -> np.ndarray:
    """Stationary distribution over profiles ``(i, j)``, flattened row-major ``(n0 * n1,)``."""
    n0, n1 = P.shape[1:]
    if n0 + n1 == 2:
        return np.ones(1)
    log_eta = -np.log((n0 - 1) + (n1 - 1))
    L = np.full((n0, n1, n0, n1), -np.inf)
    # Row player's mutations (i, j) -> (i2, j): gain P0[i2, j] - P0[i, j].
    gain0 = P[0][None, :, :] - P[0][:, None, :]  # [i, i2, j]
    log_rho0 = _log_fixation(np.repeat(gain0[..., None], m - 1, axis=-1), alpha, m) + log_eta
    i, i2, j = np.meshgrid(np.arange(n0), np.arange(n0), np.arange(n1), indexing="ij")
    L[i, j, i2, j] = log_rho0
    # Column player's mutations (i, j) -> (i, j2): gain P1[i, j2] - P1[i, j].
    gain1 = P[1][:, None, :] - P[1][:, :, None]  # [i, j, j2]
    log_rho1 = _log_fixation(np.repeat(gain1[..., None], m - 1, axis=-1), alpha, m) + log_eta
    i, j, j2 = np.meshgrid(np.arange(n0), np.arange(n1), np.arange(n1), indexing="ij")
    L[i, j, i, j2] = log_rho1
    return _stationary_from_log_rates(L.reshape(n0 * n1, n0 * n1))


# --------------------------------------------------------------------------- general-sum Nash (Lemke–Howson)


def general_sum(payoffs: Any, *, initial_label: int = 0, tol: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """A Nash equilibrium of a general-sum bimatrix meta-game, by Lemke–Howson complementary pivoting.

    Labels ``0..n0-1`` are the row player's members, ``n0..n0+n1-1`` the column player's. From the
    artificial equilibrium ``(0, 0)`` the path drops ``initial_label`` and pivots alternately in the two
    best-response polytopes' tableaux until that label is recovered (von Stengel 2007, "Equilibrium
    computation for two-player games in strategic and extensive form"). Payoffs are first rescaled per
    player to ``[1, 2]`` (equilibria are invariant), which makes both polytopes bounded.

    Degeneracy (ties, duplicate members, a pure strategy with several best responses — common in
    meta-games) is handled by the lexicographic minimum-ratio rule: equivalent to perturbing the
    right-hand side by ``(eps, eps², …)``, it makes every pivot unique, so the path cannot cycle and ends
    at an equilibrium of the unperturbed game. The result is checked (:func:`nash_conv_of_meta`); if
    float round-off spoils it, the other starting labels are tried before giving up.

    Args:
        payoffs: ``(2, n0, n1)`` payoff table.
        initial_label: the label dropped first (different labels may reach different equilibria).
        tol: pivot tolerance; the result must have NashConv <= ``1000 * tol * max(1, payoff range)``.

    Raises:
        PhalanxError: no label gave an equilibrium within tolerance (numerical trouble).
    """
    P = check_payoffs(payoffs, "general_sum")
    n0, n1 = P.shape[1:]
    if not 0 <= initial_label < n0 + n1:
        raise ConfigError(f"general_sum: initial_label={initial_label} must be in [0, {n0 + n1}).")
    scaled = np.stack([_rescale(P[0]), _rescale(P[1])])
    accept = tol * 1e3 * max(1.0, float(np.ptp(P)))
    labels = [initial_label] + [k for k in range(n0 + n1) if k != initial_label]
    best = None
    for label in labels:
        x, y = _lemke_howson(scaled[0], scaled[1], label, tol)
        gap = nash_conv_of_meta(P, x, y)
        if gap <= accept:
            return x, y
        best = gap if best is None else min(best, gap)
    raise PhalanxError(
        f"general_sum: Lemke-Howson found no equilibrium within tolerance (best NashConv {best:.3g}); "
        "the payoffs may be badly scaled — try 'prd' or 'alpharank'."
    )


def _rescale(M: np.ndarray) -> np.ndarray:
    lo, hi = M.min(), M.max()
    return np.ones_like(M) if hi - lo <= 0 else 1.0 + (M - lo) / (hi - lo)


def _lemke_howson(A: np.ndarray, B: np.ndarray, label: int, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """One Lemke–Howson path for positive ``A``, ``B`` ``(n0, n1)``; returns the normalised mixtures."""
    n0, n1 = A.shape
    # Columns are indexed by label; the last column is the right-hand side.
    # Row player's polytope {x >= 0 : B.T x <= 1}: variables x (labels 0..n0-1), slacks s (labels n0..).
    tab_x = np.hstack([B.T, np.eye(n1), np.ones((n1, 1))])
    basis_x = np.arange(n0, n0 + n1)
    # Column player's polytope {y >= 0 : A y <= 1}: slacks r (labels 0..n0-1), variables y (labels n0..).
    tab_y = np.hstack([np.eye(n0), A, np.ones((n0, 1))])
    basis_y = np.arange(n0)
    slack_x, slack_y = slice(n0, n0 + n1), slice(0, n0)
    # The dropped label's variable is non-basic in exactly one tableau; start there, then alternate.
    in_x = label < n0
    entering = label
    for _ in range(100 * (n0 + n1) ** 2):  # paths are short in practice; this only guards against bugs
        if in_x:
            leaving = _pivot(tab_x, basis_x, entering, slack_x, tol)
        else:
            leaving = _pivot(tab_y, basis_y, entering, slack_y, tol)
        if leaving == label:
            break
        entering, in_x = leaving, not in_x
    else:
        raise PhalanxError("general_sum: Lemke-Howson did not terminate (numerical trouble); try 'prd'.")
    x = np.zeros(n0)
    y = np.zeros(n1)
    for row, var in enumerate(basis_x):
        if var < n0:
            x[var] = tab_x[row, -1]
    for row, var in enumerate(basis_y):
        if var >= n0:
            y[var - n0] = tab_y[row, -1]
    return _clean(x), _clean(y)


def _pivot(tab: np.ndarray, basis: np.ndarray, col: int, slack: slice, tol: float) -> int:
    """Bring ``col`` into the basis (lexicographic min-ratio row); return the label that left."""
    column = tab[:, col]
    rows = np.flatnonzero(column > tol)
    if rows.size == 0:  # cannot happen for positive payoffs (bounded polytopes)
        raise PhalanxError("general_sum: unbounded pivot column (numerical trouble); try 'prd'.")
    # Ratios of the rhs and then of the columns of the basis inverse: the lexicographic rule.
    keys = np.hstack([tab[rows, -1:], tab[rows][:, slack]]) / column[rows, None]
    for c in range(keys.shape[1]):
        if rows.size == 1:
            break
        vals = keys[:, c]
        keep = vals <= vals.min() + tol * max(1.0, abs(float(vals.min())))
        rows, keys = rows[keep], keys[keep]
    row = int(rows[0])
    tab[row] /= tab[row, col]
    others = np.arange(tab.shape[0]) != row
    tab[others] -= np.outer(tab[others, col], tab[row])
    leaving = int(basis[row])
    basis[row] = col
    return leaving


# --------------------------------------------------------------------------- registry


META_SOLVERS: dict[str, MetaSolver] = {
    "uniform": uniform,
    "last": last,
    "nash": nash,
    "prd": prd,
    "alpharank": alpharank,
    "general_sum": general_sum,
}


def get_meta_solver(name: str, **options: Any) -> Callable[[Any], tuple[np.ndarray, np.ndarray]]:
    """The meta-solver called ``name`` (a key of :data:`META_SOLVERS`), with ``options`` bound.

    ``get_meta_solver("prd", gamma=1e-3)(payoffs)`` runs PRD with ``gamma=1e-3``.

    Raises:
        ConfigError: unknown name (with the closest match and the valid names) or unknown option.
    """
    if name not in META_SOLVERS:
        raise ConfigError(
            f"unknown meta-solver {name!r}.{did_you_mean(str(name), META_SOLVERS)} "
            f"Valid meta-solvers: {', '.join(META_SOLVERS)}."
        )
    solver = META_SOLVERS[name]
    if not options:
        return solver
    valid = [p.name for p in inspect.signature(solver).parameters.values() if p.kind is p.KEYWORD_ONLY]
    for key in options:
        if key not in valid:
            raise ConfigError(
                f"meta-solver {name!r} has no option {key!r}.{did_you_mean(key, valid)} "
                f"Its options: {', '.join(valid) or 'none'}."
            )
    return functools.partial(solver, **options)
