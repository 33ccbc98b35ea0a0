"""The payoff table of a two-player meta-game whose populations grow.

:class:`PayoffTable` holds ``payoffs`` ``(2, n0, n1)`` — ``payoffs[p, i, j]`` is player ``p``'s
(estimated) payoff when row member ``i`` meets column member ``j``, the layout the meta-solvers
take — with NaN in cells not evaluated yet, and optionally each cell's standard error ``(2, n0, n1)``
and number of games ``(n0, n1)`` behind a Monte-Carlo estimate. Members are numbered in the order
they were added.

The table never evaluates anything. The caller evaluates every missing cell in one batch (a
jitted ``vmap`` over ``(row, col)`` pairs) and fills them at once; :func:`evaluate_missing` does
exactly that with the caller's vectorised evaluator. The heat map of a table is drawn by
``phalanx.runtime.plots.plot_payoffs`` (this layer touches no files).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from phalanx.errors import PhalanxError

#: Version of :meth:`PayoffTable.to_dict`'s format.
FORMAT_VERSION = 1

#: ``evaluate_pairs(rows, cols)`` → ``(values (2, k), stderr (2, k) or None)`` or
#: ``(values, stderr or None, counts (k,) or None)``.
PairEvaluator = Callable[[np.ndarray, np.ndarray], tuple[Any, ...]]


class PayoffTable:
    """A growing two-player meta-game payoff table with NaN for cells not evaluated yet.

    Storage grows by doubling (amortised O(1) per added member); views and copies are trimmed to
    the current ``(n0, n1)``.

    Example::

        table = PayoffTable()
        table.add_member(0); table.add_member(1)
        rows, cols = table.missing()            # [0], [0]
        table.fill(rows, cols, values)          # values (2, k)
        table.payoffs                           # (2, 1, 1)
    """

    def __init__(self) -> None:
        self._n = [0, 0]
        self._payoffs = np.full((2, 0, 0), np.nan)  # (2, cap0, cap1)
        self._stderr = np.full((2, 0, 0), np.nan)  # (2, cap0, cap1); NaN = unknown
        self._counts = np.zeros((0, 0), np.int64)  # (cap0, cap1); 0 = unknown
        self._names: tuple[list[str], list[str]] = ([], [])

    # ------------------------------------------------------------------ shape and members

    @property
    def shape(self) -> tuple[int, int]:
        """``(n0, n1)``: members of the row and column player."""
        return self._n[0], self._n[1]

    @property
    def names(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Each player's member names, in order of addition."""
        return tuple(self._names[0]), tuple(self._names[1])

    def add_member(self, player: int, name: str | None = None) -> int:
        """Add a member to ``player``'s population (0 rows, 1 columns); its cells start NaN. Returns its index.

        Args:
            player: 0 (row player) or 1 (column player).
            name: a label for plots and checkpoints (default ``"<index>"``).
        """
        if player not in (0, 1):
            raise PhalanxError(f"PayoffTable.add_member: player={player!r} must be 0 (rows) or 1 (columns).")
        index = self._n[player]
        if index == self._payoffs.shape[1 + player]:
            self._grow(player, max(4, 2 * index))
        self._n[player] += 1
        self._names[player].append(str(index) if name is None else str(name))
        return index

    def _grow(self, player: int, capacity: int) -> None:
        cap = list(self._payoffs.shape[1:])
        cap[player] = capacity
        payoffs = np.full((2, *cap), np.nan)
        stderr = np.full((2, *cap), np.nan)
        counts = np.zeros(cap, np.int64)
        n0, n1 = self._n
        payoffs[:, :n0, :n1] = self._payoffs[:, :n0, :n1]
        stderr[:, :n0, :n1] = self._stderr[:, :n0, :n1]
        counts[:n0, :n1] = self._counts[:n0, :n1]
        self._payoffs, self._stderr, self._counts = payoffs, stderr, counts

    # ------------------------------------------------------------------ reading

    @property
    def payoffs(self) -> np.ndarray:
        """``(2, n0, n1)`` float64 copy; NaN where not evaluated."""
        n0, n1 = self._n
        return self._payoffs[:, :n0, :n1].copy()

    @property
    def stderr(self) -> np.ndarray:
        """``(2, n0, n1)`` float64 copy of the standard errors; NaN where unknown."""
        n0, n1 = self._n
        return self._stderr[:, :n0, :n1].copy()

    @property
    def counts(self) -> np.ndarray:
        """``(n0, n1)`` int64 copy of the games behind each cell; 0 where unknown."""
        n0, n1 = self._n
        return self._counts[:n0, :n1].copy()

    def missing(self, block: tuple[slice, slice] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, cols)``: int64 ``(k,)`` indices of all cells not evaluated yet, row-major.

        Args:
            block: ``(row slice, column slice)`` to look in only that block of the table (default: everywhere).
        """
        todo = np.isnan(self.payoffs).any(axis=0)  # (n0, n1)
        if block is not None:
            inside = np.zeros_like(todo)
            inside[block] = True
            todo &= inside
        rows, cols = np.nonzero(todo)
        return rows.astype(np.int64), cols.astype(np.int64)

    def complete_subgame(self) -> np.ndarray:
        """Payoffs ``(2, k0, k1)`` of the largest complete top-left block (the first ``k0`` rows and ``k1`` columns).

        Largest by area; ties go to the squarer block, then to more rows. ``(2, 0, 0)`` if cell
        ``(0, 0)`` is missing.
        """
        n0, n1 = self._n
        done = ~np.isnan(self.payoffs).any(axis=0)  # (n0, n1)
        if n0 == 0 or n1 == 0 or not done[0, 0]:
            return np.zeros((2, 0, 0))
        # Columns fully evaluated within the first k0 rows: the first missing column of any of them.
        first_missing = np.where(done.all(axis=1), n1, np.argmin(done, axis=1))  # (n0,)
        widths = np.minimum.accumulate(first_missing)  # widths[k0 - 1]: best k1 for k0 rows
        k0s = np.arange(1, n0 + 1)
        key = [(k0 * k1, -abs(k0 - k1), k0) for k0, k1 in zip(k0s, widths, strict=True)]
        best = max(range(n0), key=lambda t: key[t])
        k0, k1 = int(k0s[best]), int(widths[best])
        return self.payoffs[:, :k0, :k1]

    def confidence_interval(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Two-sided confidence interval of every cell: ``(low, high)``, each ``(2, n0, n1)``.

        ``payoff ∓ q * stderr`` with ``q`` Student's t quantile on ``counts - 1`` degrees of freedom where the
        count is known and >= 2, else the normal quantile. NaN where the payoff or its stderr is unknown.
        """
        from scipy.stats import norm, t

        if not 0.0 < level < 1.0:
            raise PhalanxError(f"PayoffTable.confidence_interval: level={level} must be in (0, 1), e.g. 0.95.")
        counts = self.counts
        upper = 0.5 + level / 2.0
        with np.errstate(invalid="ignore"):
            q = np.where(counts >= 2, t.ppf(upper, np.maximum(counts - 1, 1)), norm.ppf(upper))
        half = q[None] * self.stderr
        return self.payoffs - half, self.payoffs + half

    # ------------------------------------------------------------------ writing

    def fill(self, rows: Any, cols: Any, values: Any, stderr: Any = None, counts: Any = None) -> None:
        """Set cells ``(rows[t], cols[t])`` to ``values[:, t]`` (overwriting earlier estimates of those cells).

        Args:
            rows, cols: ``(k,)`` integer indices within the current table; no pair twice.
            values: ``(2, k)`` finite payoffs of the row and column player.
            stderr: ``(2, k)`` standard errors (>= 0, finite), or None (unknown).
            counts: ``(k,)`` games behind each estimate (>= 1), or None (unknown).

        Raises:
            PhalanxError: any shape, range or value problem; the table is then unchanged.
        """
        r, c = _indices(rows, "rows"), _indices(cols, "cols")
        k = r.shape[0]
        if c.shape[0] != k:
            raise PhalanxError(
                f"PayoffTable.fill: rows has {k} entries but cols {c.shape[0]}; give one (row, col) per cell."
            )
        n0, n1 = self._n
        if k and (r.min() < 0 or r.max() >= n0 or c.min() < 0 or c.max() >= n1):
            raise PhalanxError(
                f"PayoffTable.fill: cell indices out of range for a {n0} x {n1} table "
                f"(rows in [{r.min()}, {r.max()}], cols in [{c.min()}, {c.max()}]); add_member first."
            )
        if len(set(zip(r.tolist(), c.tolist(), strict=True))) != k:
            raise PhalanxError("PayoffTable.fill: a (row, col) cell appears more than once; fill each cell once.")
        vals = _matrix(values, "values", k)
        if not np.all(np.isfinite(vals)):
            raise PhalanxError("PayoffTable.fill: values contain NaN or inf; the evaluator must return finite payoffs.")
        errs = None
        if stderr is not None:
            errs = _matrix(stderr, "stderr", k)
            if not np.all(np.isfinite(errs)) or (errs < 0).any():
                raise PhalanxError("PayoffTable.fill: stderr must be finite and >= 0.")
        cnt = None
        if counts is not None:
            cnt = np.asarray(counts)
            if cnt.shape != (k,) or cnt.dtype.kind not in "iuf" or not np.all(cnt == np.round(cnt)) or (cnt < 1).any():
                raise PhalanxError(f"PayoffTable.fill: counts must be {k} integers >= 1 (games per cell), got {cnt!r}.")
        self._payoffs[:, r, c] = vals
        self._stderr[:, r, c] = np.nan if errs is None else errs
        self._counts[r, c] = 0 if cnt is None else cnt.astype(np.int64)

    # ------------------------------------------------------------------ checkpoints

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able snapshot (NaN written as None); :meth:`from_dict` restores it."""
        return {
            "version": FORMAT_VERSION,
            "names": [list(self._names[0]), list(self._names[1])],
            "payoffs": _nan_to_none(self.payoffs),
            "stderr": _nan_to_none(self.stderr),
            "counts": self.counts.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PayoffTable:
        """The table :meth:`to_dict` wrote."""
        if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
            version = data.get("version") if isinstance(data, dict) else None
            raise PhalanxError(
                f"PayoffTable.from_dict: expected a dict with version {FORMAT_VERSION}, got version {version!r}."
            )
        try:
            names = [list(map(str, data["names"][0])), list(map(str, data["names"][1]))]
            n0, n1 = len(names[0]), len(names[1])
            payoffs = _none_to_nan(data["payoffs"], (2, n0, n1))
            stderr = _none_to_nan(data["stderr"], (2, n0, n1))
            counts = np.asarray(data["counts"], np.int64).reshape(n0, n1)
        except (KeyError, IndexError, TypeError, ValueError) as err:
            raise PhalanxError(f"PayoffTable.from_dict: malformed payoff table ({err!r}).") from None
        table = cls()
        for player in (0, 1):
            for name in names[player]:
                table.add_member(player, name)
        table._payoffs[:, :n0, :n1] = payoffs
        table._stderr[:, :n0, :n1] = stderr
        table._counts[:n0, :n1] = counts
        return table

    def __repr__(self) -> str:
        n0, n1 = self._n
        return f"PayoffTable({n0} x {n1}, {len(self.missing()[0])} missing)"


def evaluate_missing(table: PayoffTable, evaluate_pairs: PairEvaluator,
                     block: tuple[slice, slice] | None = None) -> int:
    """Evaluate every missing cell of ``table`` with ONE call of the caller's vectorised evaluator and fill them.

    ``evaluate_pairs(rows, cols)`` gets int64 ``(k,)`` arrays of all missing cells (row-major) and returns
    ``(values (2, k), stderr (2, k) or None)`` or ``(values, stderr or None, counts (k,) or None)`` — typically
    a jitted ``vmap`` over the pairs. It is not called when nothing is missing.

    Args:
        table: the table to complete.
        evaluate_pairs: the vectorised evaluator.
        block: ``(row slice, column slice)``: only the missing cells of that block (see :meth:`PayoffTable.missing`).

    Returns:
        The number of cells filled.
    """
    rows, cols = table.missing(block)
    if rows.size == 0:
        return 0
    return fill_evaluated(table, rows, cols, evaluate_pairs(rows, cols))


def fill_evaluated(table: PayoffTable, rows: np.ndarray, cols: np.ndarray, out: Any) -> int:
    """Fill cells ``(rows[t], cols[t])`` with an evaluator's output ``out`` (the form :func:`evaluate_missing`
    takes), e.g. the result of an evaluation task submitted earlier. Returns the number of cells filled."""
    if not isinstance(out, tuple) or len(out) not in (2, 3):
        raise PhalanxError(
            "evaluate_missing: evaluate_pairs must return (values (2, k), stderr or None) "
            f"or (values, stderr, counts); got {type(out).__name__}."
        )
    values, stderr = np.asarray(out[0]), None if out[1] is None else np.asarray(out[1])
    counts = None if len(out) == 2 or out[2] is None else np.asarray(out[2])
    table.fill(rows, cols, values, stderr, counts)
    return int(np.asarray(rows).size)


def _indices(value: Any, name: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise PhalanxError(f"PayoffTable.fill: {name} must be a 1-D integer array, got shape {arr.shape} {arr.dtype}.")
    return arr.astype(np.int64)


def _matrix(value: Any, name: str, k: int) -> np.ndarray:
    try:
        arr = np.asarray(value, np.float64)
    except (TypeError, ValueError) as err:
        raise PhalanxError(f"PayoffTable.fill: {name} is not numeric ({err}).") from None
    if arr.shape != (2, k):
        raise PhalanxError(
            f"PayoffTable.fill: {name} has shape {arr.shape}, expected (2, {k}): a row per player, a column per cell."
        )
    return arr


def _nan_to_none(arr: np.ndarray) -> list:
    return np.where(np.isnan(arr), None, arr).tolist()


def _none_to_nan(value: Any, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.array(value, dtype=object).reshape(shape)
    return np.where(arr == None, np.nan, arr).astype(np.float64)  # noqa: E711 (elementwise on objects)
