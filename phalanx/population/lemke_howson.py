"""A Nash equilibrium of any two-player (general-sum) game by Lemke–Howson pivoting, as a meta-solver
(see :mod:`.meta_solvers`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from phalanx.errors import ConfigError, PhalanxError
from phalanx.population.meta_checks import check_payoffs, clean, nash_conv_of_meta


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
    return clean(x), clean(y)


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
