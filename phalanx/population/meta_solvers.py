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

:data:`META_SOLVERS` maps these names to the functions (α-Rank in :mod:`.alpharank`, Lemke–Howson in
:mod:`.lemke_howson`); :func:`get_meta_solver` looks one up
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

from phalanx.errors import ConfigError, PhalanxError, did_you_mean
from phalanx.population.alpharank import alpharank
from phalanx.population.lemke_howson import general_sum
from phalanx.population.meta_checks import check_payoffs, clean, nash_conv_of_meta

MetaSolver = Callable[..., tuple[np.ndarray, np.ndarray]]



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
    return clean(res.x[:n])


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
    return clean(x), clean(y)


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


__all__ = [
    "META_SOLVERS",
    "MetaSolver",
    "alpharank",
    "check_payoffs",
    "general_sum",
    "get_meta_solver",
    "last",
    "nash",
    "nash_conv_of_meta",
    "prd",
    "uniform",
]
