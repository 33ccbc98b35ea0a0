"""Exact evaluation of tabular policies on a two-player game tree, in pure JAX.

A *table* for player ``p`` is an array ``(n_p, A)`` of action probabilities, one row per
information state of ``p`` in the order of ``tree.players[p]`` (see
:mod:`phalanx.envs.poker.tree`), zero on illegal actions. Everything here is a handful of
gathers, products and segment sums over index arrays precomputed in NumPy; best responses
add one backward pass per depth of the player's own infostate tree (Leduc: 4). No Python
loop runs over nodes, so each function is one small XLA program: ``jit`` compiles it once per
tree (the tree is a static argument, hashed by identity) and ``vmap`` batches it over tables.

Reach probabilities factor per player: the probability of terminal ``z`` is
``chance(z) * x_0(z) * x_1(z)``, where ``x_p(z)`` is the product of player ``p``'s own action
probabilities on the way to ``z``. That is all an expected payoff needs. A best response of
``p`` weighs each terminal by ``chance * x_{-p} * u_p``, sums those weights into ``p``'s own
sequences and takes the best action at each infostate, deepest first.

Typical use (PSRO with an exact oracle)::

    tree = game_tree("leduc_poker")
    mix1 = mixture_policy(tree, 1, tables1, meta_strategy1)   # behaviour policy of the mixture
    br0, value = best_response(tree, 0, mix1)                  # new member for player 0
    payoffs = payoff_matrix(tree, tables0, tables1)            # (2, K0, K1)
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from phalanx.envs.poker.tree import GameTree, PlayerTree
from phalanx.errors import PhalanxError

_jit_tree = functools.partial(jax.jit, static_argnames=("tree",))
_jit_tree_player = functools.partial(jax.jit, static_argnames=("tree", "player"))


def _check_player(player: int) -> None:
    if player not in (0, 1):
        raise PhalanxError(f"player={player!r} is invalid; expected 0 or 1.")


def _check_table(tree: GameTree, player: int, table: jax.Array, name: str, batched: bool = False) -> None:
    """Trace-time shape check, so a wrong table fails with a clear line instead of a gather error."""
    want = (tree.num_infostates(player), tree.num_actions)
    shape = tuple(np.shape(table))
    if (shape[1:] if batched else shape) != want or (batched and len(shape) != 3):
        lead = "(K, " if batched else "("
        raise PhalanxError(
            f"{name} has shape {shape}, expected {lead}{want[0]}, {want[1]}): one row per information state "
            f"of player {player} in {tree.game} (tree.players[{player}].strings), one column per action."
        )


def uniform_policy(tree: GameTree, player: int) -> jax.Array:
    """``(n_p, A)`` float32: uniform over the legal actions at every infostate of ``player``."""
    _check_player(player)
    legal = tree.players[player].legal
    return jnp.asarray(legal / legal.sum(-1, keepdims=True), jnp.float32)


@_jit_tree_player
def table_from_logits(tree: GameTree, player: int, logits: jax.Array) -> jax.Array:
    """Masked softmax of ``logits`` ``(..., n_p, A)`` over each infostate's legal actions.

    Run a network on ``tree.players[player].tensors`` (the observations at every infostate)
    and pass its logits here to get the network's policy as a table.
    """
    legal = jnp.asarray(tree.players[player].legal)
    return jax.nn.softmax(jnp.where(legal, logits, -jnp.inf), axis=-1)


def _padded(table: jax.Array) -> jax.Array:
    """The flattened table with a trailing 1: the empty sequence / padding of paths."""
    return jnp.concatenate([jnp.reshape(table, -1), jnp.ones((1,), table.dtype)])


def _own_reach(pt: PlayerTree, table: jax.Array, paths: np.ndarray) -> jax.Array:
    """Product of the player's own action probabilities along each path: ``(rows,)``."""
    return jnp.prod(_padded(table)[paths], axis=-1)


def terminal_reach(tree: GameTree, player: int, table: jax.Array) -> jax.Array:
    """``(Z,)`` player ``player``'s own contribution ``x_p(z)`` to the reach of every terminal."""
    pt = tree.players[player]
    return _own_reach(pt, jnp.asarray(table, jnp.float32), pt.terminal_path)


def infostate_reach(tree: GameTree, player: int, table: jax.Array) -> jax.Array:
    """``(n_p,)`` player ``player``'s own probability of playing to each of its infostates."""
    pt = tree.players[player]
    return _own_reach(pt, jnp.asarray(table, jnp.float32), pt.path)


@_jit_tree
def expected_payoffs(tree: GameTree, pi0: jax.Array, pi1: jax.Array) -> jax.Array:
    """``(2,)`` expected payoff of each player when player 0 plays ``pi0`` ``(n0, A)``, player 1 ``pi1`` ``(n1, A)``."""
    _check_table(tree, 0, pi0, "pi0")
    _check_table(tree, 1, pi1, "pi1")
    reach = jnp.asarray(tree.chance, jnp.float32) * terminal_reach(tree, 0, pi0) * terminal_reach(tree, 1, pi1)
    return reach @ jnp.asarray(tree.payoffs, jnp.float32)


def _best_response_pass(tree: GameTree, player: int, weights: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Best action values given terminal weights ``chance * x_opp * u_player`` ``(Z,)``.

    Returns ``(q (n, A) with -inf on illegal actions, root value ())``.
    """
    pt = tree.players[player]
    n, A = pt.legal.shape
    # value[s]: what the player gets from sequence s on (filled deepest first); the last slot is the root.
    value = jax.ops.segment_sum(weights, pt.terminal_last, num_segments=n * A + 1)
    q_all = jnp.full((n, A), -jnp.inf, weights.dtype)
    for idx in reversed(pt.by_depth):  # a few static depths, not nodes
        q = jnp.where(pt.legal[idx], value[: n * A].reshape(n, A)[idx], -jnp.inf)
        q_all = q_all.at[idx].set(q)
        value = value.at[pt.parent[idx]].add(q.max(-1))
    return q_all, value[n * A]


def _opponent_weights(tree: GameTree, player: int, opponent_pi: jax.Array) -> jax.Array:
    x_opp = terminal_reach(tree, 1 - player, opponent_pi)
    return jnp.asarray(tree.chance, jnp.float32) * x_opp * jnp.asarray(tree.payoffs[:, player], jnp.float32)


@_jit_tree_player
def best_response(tree: GameTree, player: int, opponent_pi: jax.Array) -> tuple[jax.Array, jax.Array]:
    """A deterministic best response of ``player`` to the opponent's table ``(n_{1-p}, A)``.

    Returns ``(br (n_p, A) float32 one-hot on the best legal action, value ())``: ``value`` is
    ``player``'s expected payoff when playing ``br``. At infostates the opponent never lets the
    game reach, every action is worth 0 and the first legal one is chosen.
    """
    _check_player(player)
    _check_table(tree, 1 - player, opponent_pi, "opponent_pi")
    q, value = _best_response_pass(tree, player, _opponent_weights(tree, player, opponent_pi))
    br = jax.nn.one_hot(jnp.argmax(q, axis=-1), tree.num_actions, dtype=jnp.float32)
    return br, value


@_jit_tree_player
def best_responses(tree: GameTree, player: int, opponent_tables: jax.Array) -> tuple[jax.Array, jax.Array]:
    """:func:`best_response` to each of ``K`` opponent tables ``(K, n_{1-p}, A)`` at once.

    Returns ``(brs (K, n_p, A), values (K,))``.
    """
    _check_player(player)
    _check_table(tree, 1 - player, opponent_tables, "opponent_tables", batched=True)
    return jax.vmap(lambda t: best_response(tree, player, t))(opponent_tables)


@_jit_tree
def best_response_values(tree: GameTree, pi0: jax.Array, pi1: jax.Array) -> jax.Array:
    """``(2,)``: what each player gets by best-responding to the other's table."""
    _check_table(tree, 0, pi0, "pi0")
    _check_table(tree, 1, pi1, "pi1")
    v0 = _best_response_pass(tree, 0, _opponent_weights(tree, 0, pi1))[1]
    v1 = _best_response_pass(tree, 1, _opponent_weights(tree, 1, pi0))[1]
    return jnp.stack([v0, v1])


@_jit_tree
def nash_conv(tree: GameTree, pi0: jax.Array, pi1: jax.Array) -> jax.Array:
    """``()`` NashConv: the sum over players of what a best response gains over the profile.

    Zero exactly at a Nash equilibrium; equals OpenSpiel's ``exploitability.nash_conv``.
    """
    return jnp.sum(best_response_values(tree, pi0, pi1) - expected_payoffs(tree, pi0, pi1))


@_jit_tree
def exploitability(tree: GameTree, pi0: jax.Array, pi1: jax.Array) -> jax.Array:
    """``()`` ``nash_conv / 2`` (OpenSpiel's ``exploitability`` of a two-player zero-sum profile)."""
    return nash_conv(tree, pi0, pi1) / 2.0


@_jit_tree_player
def mixture_policy(tree: GameTree, player: int, tables: jax.Array, weights: jax.Array) -> jax.Array:
    """The behaviour policy equivalent to picking member ``k`` with probability ``weights[k]`` for a whole game.

    At each infostate, members are weighed by ``weights[k]`` times their own probability of
    reaching it (Kuhn's theorem: the result induces the same distribution over terminals as
    the mixture, whatever the opponent does). Where no member reaches an infostate, the
    plain ``weights``-average of the tables is used (any legal policy would do there).

    Args:
        tables: ``(K, n_p, A)`` member tables.
        weights: ``(K,)`` nonnegative meta-strategy (normalised here).

    Returns:
        ``(n_p, A)`` float32 table.
    """
    _check_player(player)
    _check_table(tree, player, tables, "tables", batched=True)
    tables = jnp.asarray(tables, jnp.float32)
    w = jnp.asarray(weights, jnp.float32)
    w = w / jnp.sum(w)
    reach = jax.vmap(lambda t: infostate_reach(tree, player, t))(tables) * w[:, None]  # (K, n)
    num = jnp.einsum("kn,kna->na", reach, tables)
    den = jnp.sum(reach, axis=0)[:, None]
    fallback = jnp.einsum("k,kna->na", w, tables)
    return jnp.where(den > 0, num / jnp.where(den > 0, den, 1.0), fallback)


def _member_reach(tree: GameTree, player: int, tables: jax.Array) -> jax.Array:
    return jax.vmap(lambda t: terminal_reach(tree, player, t))(jnp.asarray(tables, jnp.float32))  # (K, Z)


@_jit_tree
def payoff_matrix(tree: GameTree, tables0: jax.Array, tables1: jax.Array) -> jax.Array:
    """``(2, K0, K1)`` expected payoffs of every pair: ``tables0`` ``(K0, n0, A)`` against ``tables1`` ``(K1, n1, A)``.

    One program: each member's terminal reach once (``vmap``), then a matrix product per player.
    """
    _check_table(tree, 0, tables0, "tables0", batched=True)
    _check_table(tree, 1, tables1, "tables1", batched=True)
    r0 = _member_reach(tree, 0, tables0) * jnp.asarray(tree.chance, jnp.float32)
    r1 = _member_reach(tree, 1, tables1)
    return jnp.einsum("iz,jz,zp->pij", r0, r1, jnp.asarray(tree.payoffs, jnp.float32))


@_jit_tree
def payoff_entries(
    tree: GameTree, tables0: jax.Array, tables1: jax.Array, rows: jax.Array, cols: jax.Array
) -> jax.Array:
    """``(2, P)`` expected payoffs of the ``P`` pairs ``(tables0[rows[i]], tables1[cols[i]])`` only.

    For filling the missing cells of a payoff table: ``rows``, ``cols`` are ``(P,)`` int member
    indices; the work grows with ``K0 + K1 + P``, not ``K0 * K1``.
    """
    _check_table(tree, 0, tables0, "tables0", batched=True)
    _check_table(tree, 1, tables1, "tables1", batched=True)
    r0 = _member_reach(tree, 0, tables0) * jnp.asarray(tree.chance, jnp.float32)
    r1 = _member_reach(tree, 1, tables1)
    rows, cols = jnp.asarray(rows, jnp.int32), jnp.asarray(cols, jnp.int32)
    return jnp.einsum("kz,kz,zp->pk", r0[rows], r1[cols], jnp.asarray(tree.payoffs, jnp.float32))


__all__ = [
    "best_response",
    "best_response_values",
    "best_responses",
    "expected_payoffs",
    "exploitability",
    "infostate_reach",
    "mixture_policy",
    "nash_conv",
    "payoff_entries",
    "payoff_matrix",
    "table_from_logits",
    "terminal_reach",
    "uniform_policy",
]
