"""Tabular meta-games — Kuhn and Leduc poker, matrix games — whose payoffs, mixtures and best responses are exact.

A member is a table ``(n_p, A_p)``: its action probabilities at each of player ``p``'s information
states. A learned member (any learner, ``GameSpec.algo``) keeps its table too, derived from the
learner's policy at every information state (:meth:`TabularMetaGame.tables_from_members`), so
payoffs and exploitability stay exact whatever learned the member.
"""

from __future__ import annotations

import abc
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from phalanx.population.game_spec import (
    GameSpec,
    MetaGame,
    Population,
    bucket,
    pad_index,
    pad_members,
    pad_weights,
    population_size,
)


class TabularMetaGame(MetaGame):
    """A game whose policies are tables and whose payoffs, mixtures and best responses are exact."""

    exact = True

    @abc.abstractmethod
    def legal(self, player: int) -> np.ndarray:
        """``(n_p, A_p)`` bool legal actions at each information state of ``player``."""

    @abc.abstractmethod
    def infostate_obs(self, player: int) -> np.ndarray:
        """``(n_p, *obs_shape)`` float32: the observation ``player`` sees at each information state."""

    @abc.abstractmethod
    def mixture(self, player: int, tables: Any, weights: Any) -> jax.Array:
        """The single table ``(n_p, A_p)`` that plays like picking a member by ``weights`` ``(K,)`` per game."""

    @abc.abstractmethod
    def best_response(self, player: int, opponent_table: Any) -> tuple[jax.Array, jax.Array]:
        """``(table (n_p, A_p) deterministic, value ())``: a best response to the opponent's table."""

    @abc.abstractmethod
    def values(self, table0: Any, table1: Any) -> jax.Array:
        """``(2,)`` expected payoffs of the profile ``(table0, table1)``."""

    def nash_conv(self, table0: Any, table1: Any) -> float:
        """What both players together gain by best-responding: 0 exactly at a Nash equilibrium."""
        v = self.values(table0, table1)
        b0 = self.best_response(0, table1)[1]
        b1 = self.best_response(1, table0)[1]
        return float(b0 + b1 - v[0] - v[1])

    def uniform_table(self, player: int) -> np.ndarray:
        """``(n_p, A_p)`` float32 uniform policy of ``player``: equal probability on the legal actions of each
        information state.
        """
        legal = self.legal(player)
        return (legal / legal.sum(-1, keepdims=True)).astype(np.float32)

    def initial_population(self, player: int, key: jax.Array) -> Population:
        """The uniform table; with a learner, a freshly initialised member and the table it plays."""
        if not self.spec.learned:
            return {"tables": self.uniform_table(player)[None]}
        params = jax.tree.map(lambda x: x[None], self.initial_member(player, key))
        return {"params": params, "tables": np.asarray(self.tables_from_members(player, params))}

    def tables_from_members(self, player: int, params: Any) -> jax.Array:
        """``(K, n_p, A_p)``: each member ``(K, ...)`` asked for its policy at every information state.

        A learner with ``action_probs(params, group, obs, mask) -> (E, A, n)`` (a stochastic policy,
        e.g. PPO's masked softmax) gives it directly; otherwise the member plays greedily (value-based:
        ``argmax Q`` among legal actions), so its table is the one-hot of ``act(greedy=True)``. Members
        are memoryless (checked by :func:`~phalanx.population.metagames.check_game_learner`), so the
        table is exactly how the member plays.
        """
        return self._tables_from_members(player, params)

    @functools.cached_property
    def _tables_from_members(self):
        learner = self.learner

        @functools.partial(jax.jit, static_argnums=0)
        def run(player, params):
            group = self.players[player]
            legal = jnp.asarray(self.legal(player))  # (n, A)
            obs = jnp.asarray(self.infostate_obs(player))[:, None]  # (n, 1, *obs_shape): one agent per group
            n = legal.shape[0]
            mask = legal[:, None]

            def one(p):
                if hasattr(learner, "action_probs"):
                    return learner.action_probs(p, group, obs, mask)[:, 0]
                hidden = learner.initial_hidden(n)[group]
                actions, _ = learner.act(p, group, hidden, obs, jnp.ones(n, bool), jax.random.PRNGKey(0), mask=mask,
                                         greedy=True)
                return jax.nn.one_hot(actions[:, 0], legal.shape[1])

            return jax.vmap(one)(params)

        return run

    def evaluate_cells(self, pop0, pop1, rows, cols, key):
        del key  # exact
        p = len(rows)
        c0, c1, cp = bucket(population_size(pop0)), bucket(population_size(pop1)), bucket(p)
        values = self._payoff_entries(pad_members(pop0["tables"], c0), pad_members(pop1["tables"], c1),
                                      pad_index(rows, cp), pad_index(cols, cp))
        return np.asarray(values, np.float64)[:, :p], None, None

    @abc.abstractmethod
    def _payoff_entries(self, tables0, tables1, rows, cols) -> jax.Array:
        """``(2, P)`` exact payoffs of the padded pairs (one jitted call)."""


class PokerMetaGame(TabularMetaGame):
    """Kuhn or Leduc poker with exact evaluation on the full game tree (:mod:`phalanx.population.exact`)."""

    def __init__(self, spec: GameSpec):
        from phalanx.envs.poker import game_tree

        super().__init__(spec)
        self.tree = game_tree(spec.game)

    @property
    def zero_sum(self) -> bool:
        return True

    def legal(self, player):
        return self.tree.players[player].legal

    def infostate_obs(self, player):
        return self.tree.players[player].tensors

    def mixture(self, player, tables, weights):
        from phalanx.population import exact

        cap = bucket(len(weights))
        return exact.mixture_policy(self.tree, player, pad_members(tables, cap), pad_weights(weights, cap))

    def best_response(self, player, opponent_table):
        from phalanx.population import exact

        return exact.best_response(self.tree, player, jnp.asarray(opponent_table, jnp.float32))

    def values(self, table0, table1):
        from phalanx.population import exact

        return exact.expected_payoffs(self.tree, jnp.asarray(table0, jnp.float32), jnp.asarray(table1, jnp.float32))

    def nash_conv(self, table0, table1):
        from phalanx.population import exact

        return float(exact.nash_conv(self.tree, jnp.asarray(table0, jnp.float32), jnp.asarray(table1, jnp.float32)))

    def _payoff_entries(self, tables0, tables1, rows, cols):
        from phalanx.population import exact

        return exact.payoff_entries(self.tree, tables0, tables1, rows, cols)


class MatrixMetaGame(TabularMetaGame):
    """A matrix game: a member is a mixed strategy, a table with one information state ``(1, A_p)``."""

    def __init__(self, spec: GameSpec):
        super().__init__(spec)
        self.payoffs = np.asarray(self.env.payoffs, np.float64)  # (2, n0, n1)

    @property
    def zero_sum(self) -> bool:
        total = self.payoffs[0] + self.payoffs[1]
        return float(total.max() - total.min()) <= 1e-9 * max(1.0, float(np.abs(self.payoffs).max()))

    def legal(self, player):
        return np.ones((1, self.payoffs.shape[1 + player]), bool)

    def infostate_obs(self, player):
        return np.zeros((1, 1), np.float32)  # the env's constant observation

    def mixture(self, player, tables, weights):
        w = np.asarray(weights, np.float64)
        return ((w / w.sum()) @ np.asarray(tables, np.float64)[:, 0, :])[None]  # (1, A_p)

    def best_response(self, player, opponent_table):
        y = np.asarray(opponent_table, np.float64).reshape(-1)
        q = self.payoffs[0] @ y if player == 0 else y @ self.payoffs[1]
        best = int(np.argmax(q))  # ties: the first action
        return np.eye(len(q), dtype=np.float32)[best][None], float(q[best])

    def values(self, table0, table1):
        x, y = np.asarray(table0, np.float64).reshape(-1), np.asarray(table1, np.float64).reshape(-1)
        return np.array([x @ self.payoffs[0] @ y, x @ self.payoffs[1] @ y])

    def nash_conv(self, table0, table1):
        from phalanx.population.meta_solvers import nash_conv_of_meta

        x, y = np.asarray(table0, np.float64).reshape(-1), np.asarray(table1, np.float64).reshape(-1)
        return nash_conv_of_meta(self.payoffs, x, y)

    @functools.cached_property
    def _entries(self):
        payoffs = jnp.asarray(self.payoffs, jnp.float32)

        @jax.jit
        def entries(tables0, tables1, rows, cols):
            x, y = tables0[rows, 0], tables1[cols, 0]  # (P, n0), (P, n1)
            return jnp.einsum("ki,pij,kj->pk", x, payoffs, y)

        return entries

    def _payoff_entries(self, tables0, tables1, rows, cols):
        return self._entries(tables0, tables1, rows, cols)


__all__ = ["MatrixMetaGame", "PokerMetaGame", "TabularMetaGame"]
