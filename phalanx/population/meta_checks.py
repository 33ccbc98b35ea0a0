"""What every meta-solver checks and returns: a complete ``(2, n0, n1)`` payoff table in, exact mixtures out;
and NashConv of a pair of mixtures within the table."""

from __future__ import annotations

from typing import Any

import numpy as np

from phalanx.errors import PhalanxError


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


def clean(sigma: np.ndarray) -> np.ndarray:
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
