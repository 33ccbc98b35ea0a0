"""PSRO (Lanctot et al. 2017), self-play and fictitious self-play, as meta-solver + oracle + evaluator.

One coordinator loop over swappable pieces:

* **evaluator** — the :class:`~phalanx.population.metagames.MetaGame`: the missing cells of the
  :class:`~phalanx.population.payoff_table.PayoffTable`, each block of new cells in ONE batched call
  (:func:`evaluate_cells`, a backend task);
* **meta-solver** — any of :data:`~phalanx.population.meta_solvers.META_SOLVERS`: payoffs → one
  mixture over members per player. ``last`` is self-play, ``uniform`` fictitious self-play;
* **oracle** — :func:`~phalanx.population.oracles.best_response` (a backend task per player): a new
  member best-responding to the opponent population mixed by the meta-strategy.

Iteration 0 evaluates the first members (uniform random policies) and solves; every later
iteration adds one best response per player (both players' tasks submitted before either is
gathered, so a parallel backend trains them at once), evaluates the new cells and solves again.
The new cells come in three blocks, each one evaluation task submitted as soon as its members
exist: the first best response to arrive is evaluated against the other player's existing
members while the other best response still trains; the second's row (or column) and the
(new, new) cell follow when it arrives. Block ``b`` (0: player 0's new row, 1: player 1's new
column, 2: the new-new cell) draws from ``fold_in(k_eval, b)`` whatever the arrival order, so
every backend and every completion order gives the same table.
After iteration ``k`` each player has ``k + 1`` members, as after ``k`` iterations of OpenSpiel's
``psro_v2``. The run is a function of its seed: iteration ``i`` draws from ``fold_in(key, i)``,
so a run resumed from a saved :class:`PSROState` continues exactly as an uninterrupted one.

Example::

    from phalanx.runtime.backend import LocalBackend

    psro = PSRO(GameSpec.create("kuhn_poker"), OracleSpec("exact"), "nash", backend=LocalBackend())
    state = psro.run(10)            # exploitability(state) < 1e-3
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable
from typing import Any, Protocol

import jax
import numpy as np

from phalanx.errors import ConfigError
from phalanx.population import oracles
from phalanx.population.meta_solvers import get_meta_solver, nash_conv_of_meta
from phalanx.population.metagames import GameSpec, Population, concat_members, make_metagame, population_size
from phalanx.population.payoff_table import PayoffTable, evaluate_missing, fill_evaluated


class TaskBackend(Protocol):
    """What PSRO needs from an execution backend (``phalanx.runtime.backend``'s ``LocalBackend`` or Ray)."""

    def submit(self, fn: Callable[..., Any], *args: Any, name: str = "", **kwargs: Any) -> Any:
        """Start ``fn(*args, **kwargs)`` as a task called ``name``; returns a future for :meth:`gather`."""
        ...

    def gather(self, futures: Any) -> list[Any]:
        """The results of ``futures``, in order (blocks until all are done)."""
        ...


def evaluate_cells(game: GameSpec, pop0: Population, pop1: Population, rows: np.ndarray, cols: np.ndarray,
                   key: Any) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Backend task: the payoffs of the pairs ``(pop0[rows[t]], pop1[cols[t]])`` in one compiled call.

    Returns ``(values (2, P), stderr (2, P) or None, counts (P,) or None)``.
    """
    return make_metagame(game).evaluate_cells(pop0, pop1, rows, cols, key)


@dataclasses.dataclass
class PSROState:
    """Everything a PSRO run needs to continue exactly.

    Attributes:
        populations: each player's members (dicts of NumPy arrays with a leading member axis).
        table: the meta-game's payoffs ``(2, n0, n1)``, complete after every iteration.
        meta: each player's meta-strategy ``(n_p,)`` float64 over its members.
        key: ``(2,)`` uint32 base PRNG key; iteration ``i`` uses ``fold_in(key, i)``.
        iteration: oracle steps done (0 after :meth:`PSRO.init`).
    """

    populations: tuple[Population, Population]
    table: PayoffTable
    meta: tuple[np.ndarray, np.ndarray]
    key: np.ndarray
    iteration: int

    @property
    def sizes(self) -> tuple[int, int]:
        """``(n0, n1)``: members in each player's population."""
        return population_size(self.populations[0]), population_size(self.populations[1])


class PSRO:
    """The PSRO coordinator: submits evaluation and oracle tasks to ``backend`` and solves the meta-game.

    Args:
        game: the meta-game (:class:`~phalanx.population.metagames.GameSpec`).
        oracle: which oracle (:class:`~phalanx.population.oracles.OracleSpec`).
        meta_solver: a name in :data:`~phalanx.population.meta_solvers.META_SOLVERS`.
        backend: where tasks run (anything with ``submit(fn, *args, name=)`` and ``gather(futures)``).
        meta_solver_options: keyword options of the meta-solver (e.g. ``{"gamma": 1e-3}`` for ``prd``).
    """

    def __init__(self, game: GameSpec, oracle: oracles.OracleSpec, meta_solver: str = "nash", *,
                 backend: TaskBackend, meta_solver_options: dict[str, Any] | None = None):
        self.game = game
        self.oracle = oracle
        self.meta_solver_name = meta_solver
        self.solve = get_meta_solver(meta_solver, **(meta_solver_options or {}))
        self.backend = backend
        self.metagame = make_metagame(game)
        oracles.check_oracle(oracle.kind, game.game, "env" if not self.metagame.exact else "tabular")
        if oracle.kind == "learned" and not game.learned:
            raise ConfigError(f"{game.game}: the learned oracle needs GameSpec.algo, the learner it trains.")
        #: Batched evaluation tasks submitted (one in iteration 0, three per later iteration).
        self.evaluate_calls = 0

    # ------------------------------------------------------------------ iterations

    def init(self, seed: int = 0, populations: tuple[Population, Population] | None = None
             ) -> tuple[PSROState, dict[str, Any]]:
        """Iteration 0: each player's first member(s), their payoffs, the meta-strategy.

        Args:
            seed: the run's seed.
            populations: the first members of each player (default: one uniform random policy each),
                in the meta-game's format (``{"tables": (K, n_p, A_p)}`` for the exact oracle in tabular
                games, plus ``"params"``, the learner's stacked ``policy_params``, for the learned oracle).
        """
        t0 = time.perf_counter()
        key = np.asarray(jax.random.PRNGKey(seed))
        k_eval, k0, k1 = jax.random.split(jax.random.fold_in(key, 0), 3)
        if populations is None:
            populations = (self.metagame.initial_population(0, k0), self.metagame.initial_population(1, k1))
        pops = tuple(jax.tree.map(np.asarray, p) for p in populations)
        table = PayoffTable()
        for p in (0, 1):
            for _ in range(population_size(pops[p])):
                table.add_member(p, "0")
        state = PSROState((pops[0], pops[1]), table, (np.ones(1), np.ones(1)), key, 0)
        return self._finish(state, k_eval, t0, {})

    def step(self, state: PSROState) -> tuple[PSROState, dict[str, Any]]:
        """One iteration: a best response per player to the other's meta-mixture, new cells, new meta-strategy.

        Each new block of cells is submitted as soon as its members exist (see the module docstring), so on a
        parallel backend the first best response's evaluation runs while the second best response trains.
        """
        t0 = time.perf_counter()
        iteration = state.iteration + 1
        k_eval, k0, k1 = jax.random.split(jax.random.fold_in(state.key, iteration), 3)
        n0, n1 = state.sizes
        futures = [
            self.backend.submit(oracles.best_response, self.game, self.oracle, p, state.populations[1 - p],
                                state.meta[1 - p], np.asarray(k), name=f"best_response/player_{p}")
            for p, k in ((0, k0), (1, k1))
        ]
        table = copy.deepcopy(state.table)  # states stay immutable
        for p in (0, 1):
            table.add_member(p, str(iteration))
        # Block b: (rows, cols) of the table; player 0's new row against player 1's existing members, player 1's
        # new column against player 0's existing ones, the (new, new) cell.
        blocks = ((slice(n0, n0 + 1), slice(0, n1)), (slice(0, n0), slice(n1, n1 + 1)),
                  (slice(n0, n0 + 1), slice(n1, n1 + 1)))
        results: list[Any] = [None, None]
        pops: list[Population] = list(state.populations)
        evaluations = []
        as_completed = getattr(self.backend, "as_completed", iter)  # a backend without it: submission order
        for future in as_completed(futures):
            p = next(q for q in (0, 1) if futures[q] is future)
            results[p] = self.backend.gather([future])[0]  # a failed best response raises here
            pops[p] = concat_members(state.populations[p], results[p][0])
            # The other player's population as it was: the block's inputs do not depend on arrival order.
            inputs = (pops[0], state.populations[1]) if p == 0 else (state.populations[0], pops[1])
            evaluations.append(self._submit_block(table, blocks[p], p, inputs, k_eval))
        t_oracle = time.perf_counter()
        evaluations.append(self._submit_block(table, blocks[2], 2, (pops[0], pops[1]), k_eval))
        cells = 0
        for rows, cols, future in evaluations:
            if future is not None:
                cells += fill_evaluated(table, rows, cols, self.backend.gather([future])[0])
        new = PSROState((pops[0], pops[1]), table, state.meta, state.key, iteration)
        oracle_stats = {self.metagame.players[p]: results[p][1] for p in (0, 1)}
        # eval_time: evaluation not overlapped with training (from the last best response's arrival).
        return self._finish(new, k_eval, t0, {"oracle_time": t_oracle - t0, "oracle": oracle_stats},
                            done=(cells, t_oracle))

    def _submit_block(self, table: PayoffTable, block: tuple[slice, slice], index: int,
                      pops: tuple[Population, Population], key: jax.Array) -> tuple[np.ndarray, np.ndarray, Any]:
        """Submit the evaluation of ``block``'s missing cells (one task) with key ``fold_in(key, index)``.

        Returns ``(rows (k,), cols (k,), future or None when nothing in the block is missing)``.
        """
        rows, cols = table.missing(block)
        if rows.size == 0:
            return rows, cols, None
        self.evaluate_calls += 1
        future = self.backend.submit(evaluate_cells, self.game, pops[0], pops[1], rows, cols,
                                     np.asarray(jax.random.fold_in(key, index)), name=f"evaluate_cells/block_{index}")
        return rows, cols, future

    def run(self, iterations: int, seed: int = 0, state: PSROState | None = None,
            callback: Callable[[PSROState, dict[str, Any]], None] | None = None,
            populations: tuple[Population, Population] | None = None) -> PSROState:
        """Run until ``iterations`` oracle steps are done (from ``state`` when given, else from scratch,
        starting from ``populations`` when given — see :meth:`init`).

        ``callback(state, metrics)`` is called after every iteration, 0 included.
        """
        if state is None:
            state, metrics = self.init(seed, populations)
            if callback:
                callback(state, metrics)
        while state.iteration < iterations:
            state, metrics = self.step(state)
            if callback:
                callback(state, metrics)
        return state

    def _finish(self, state: PSROState, key: jax.Array, t0: float, extra: dict[str, Any],
                done: tuple[int, float] | None = None) -> tuple[PSROState, dict[str, Any]]:
        """Evaluate the missing cells (one batched task; unless ``done`` = ``(cells evaluated, start time)``
        says the caller did), solve the meta-game, measure."""
        pops = state.populations

        def evaluate(rows: np.ndarray, cols: np.ndarray):
            self.evaluate_calls += 1
            future = self.backend.submit(evaluate_cells, self.game, pops[0], pops[1], rows, cols, np.asarray(key),
                                         name="evaluate_cells")
            return self.backend.gather([future])[0]

        if done is None:
            t_eval = time.perf_counter()
            cells = evaluate_missing(state.table, evaluate)
        else:
            cells, t_eval = done
        t_solve = time.perf_counter()
        payoffs = state.table.payoffs
        sigma0, sigma1 = self.solve(payoffs)
        state = dataclasses.replace(state, meta=(np.asarray(sigma0, np.float64), np.asarray(sigma1, np.float64)))
        t_done = time.perf_counter()
        metrics: dict[str, Any] = {
            "iteration": state.iteration,
            "population": list(state.sizes),
            "cells_evaluated": cells,
            "meta_strategy": [state.meta[0].tolist(), state.meta[1].tolist()],
            "meta_nash_conv": nash_conv_of_meta(payoffs, *state.meta),
            "meta_value": [float(state.meta[0] @ payoffs[p] @ state.meta[1]) for p in (0, 1)],
            "eval_time": t_solve - t_eval,
            "solve_time": t_done - t_solve,
        }
        if self.metagame.exact:
            metrics.update(self.exploitability(state))
        metrics.update(extra)
        metrics["iteration_time"] = time.perf_counter() - t0
        return state, metrics

    # ------------------------------------------------------------------ exact measures (tabular games)

    def mixtures(self, state: PSROState) -> tuple[np.ndarray, np.ndarray]:
        """Tabular games: each player's meta-strategy as one table ``(n_p, A_p)`` (the reach-weighted mixture)."""
        mix0, mix1 = (self.metagame.mixture(p, state.populations[p]["tables"], state.meta[p]) for p in (0, 1))
        return np.asarray(mix0, np.float32), np.asarray(mix1, np.float32)

    def exploitability(self, state: PSROState) -> dict[str, float]:
        """Tabular games: ``{"nash_conv", "exploitability" (= nash_conv / 2)}`` of the meta-strategies' mixtures."""
        nash_conv = self.metagame.nash_conv(*self.mixtures(state))
        return {"nash_conv": nash_conv, "exploitability": nash_conv / 2.0}


__all__ = ["PSRO", "PSROState", "TaskBackend", "evaluate_cells"]
