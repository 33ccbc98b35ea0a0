"""Leduc poker (OpenSpiel's two-player ``leduc_poker``, default parameters) in pure JAX.

Six cards: J, Q, K in two suits; card ``c`` has rank ``c // 2`` (0 J, 1 Q, 2 K). Each player
antes 1 and gets one private card. Round 1 of betting; a public card; round 2 of betting.
Player 0 opens both rounds. Actions, numbered as in OpenSpiel: ``0 fold`` (legal only when
facing a bet), ``1 call`` (a check when nothing is owed), ``2 raise`` (by 2 in round 1, 4 in
round 2; at most 2 raises per round). A round ends when the players have checked around or
the last raise is called. At the showdown a pair with the public card beats any high card,
then the higher card wins (then the lower); equal hands split the pot (0 each). An illegal
action counts as a call (OpenSpiel's ``action_mapping``).

Observation: OpenSpiel's information-state tensor ``(30,)``: one-hot observing player (2),
private card (6), public card (6; zeros before round 2), then for each round and each of 4
betting slots a ``[call, raise]`` pair of bits (a fold sets neither).
See :mod:`phalanx.envs.poker.base` for the turn-taking contract.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from phalanx.envs.poker.base import PokerEnv
from phalanx.envs.poker.rules import (
    LEDUC_ANTE,
    LEDUC_CALL,
    LEDUC_FOLD,
    LEDUC_MAX_BETS,
    LEDUC_MAX_RAISES,
    LEDUC_NUM_CARDS,
    LEDUC_RAISE,
    LEDUC_RAISES,
    LEDUC_TENSOR_SIZE,
)


@struct.dataclass
class LeducState:
    """A Leduc poker game in progress."""

    cards: jax.Array  # (3,) int32 player 0's card, player 1's card, the public card (shown from round 2)
    round: jax.Array  # () int32 betting round, 0 or 1
    seq: jax.Array  # (2, 4) int32 betting actions of each round in order; -1 in unused slots
    seq_len: jax.Array  # (2,) int32 betting actions taken in each round
    contrib: jax.Array  # (2,) int32 chips each player has put in the pot
    stakes: jax.Array  # () int32 the contribution a player must match to stay in
    raises: jax.Array  # () int32 raises in the current round
    calls: jax.Array  # () int32 calls in the current round since its last raise
    player: jax.Array  # () int32 player to move
    folded: jax.Array  # () int32 the player who folded, or -1
    done: jax.Array  # () bool the game is over


def hand_rank(private: jax.Array, public: jax.Array) -> jax.Array:
    """Strength of a hand, higher wins: a pair beats any high card; else the higher, then the lower rank."""
    hi = jnp.maximum(private // 2, public // 2)
    lo = jnp.minimum(private // 2, public // 2)
    return jnp.where(hi == lo, 100 + hi, 3 * hi + lo)


class LeducPoker(PokerEnv[LeducState]):
    """Leduc poker, registered as ``"leduc_poker"``. No settings."""

    name = "leduc_poker"
    num_actions = 3
    tensor_size = LEDUC_TENSOR_SIZE
    deck_size = LEDUC_NUM_CARDS
    cards_dealt = 3

    def initial_state(self, cards: jax.Array) -> LeducState:
        return LeducState(
            cards=jnp.asarray(cards, jnp.int32),
            round=jnp.int32(0),
            seq=jnp.full((2, LEDUC_MAX_BETS), -1, jnp.int32),
            seq_len=jnp.zeros((2,), jnp.int32),
            contrib=jnp.full((2,), LEDUC_ANTE, jnp.int32),
            stakes=jnp.int32(LEDUC_ANTE),
            raises=jnp.int32(0),
            calls=jnp.int32(0),
            player=jnp.int32(0),
            folded=jnp.int32(-1),
            done=jnp.bool_(False),
        )

    def legal_actions(self, state: LeducState) -> jax.Array:
        facing_bet = state.stakes > state.contrib[state.player]
        return jnp.stack([facing_bet, jnp.bool_(True), state.raises < LEDUC_MAX_RAISES])

    def apply_action(self, state: LeducState, action: jax.Array) -> LeducState:
        p, r = state.player, state.round
        in_range = (action >= 0) & (action < self.num_actions)
        ok = in_range & self.legal_actions(state)[jnp.clip(action, 0, self.num_actions - 1)]
        a = jnp.where(ok, action, LEDUC_CALL)
        is_fold, is_call, is_raise = a == LEDUC_FOLD, a == LEDUC_CALL, a == LEDUC_RAISE
        stakes = state.stakes + jnp.where(is_raise, jnp.asarray(LEDUC_RAISES)[r], 0)
        raises = state.raises + is_raise
        calls = jnp.where(is_raise, 0, state.calls + is_call)
        round_over = is_call & jnp.where(raises == 0, calls == 2, calls == 1)
        next_round = round_over & (r == 0)
        return LeducState(
            cards=state.cards,
            round=jnp.where(next_round, 1, r),
            seq=state.seq.at[r, state.seq_len[r]].set(a),
            seq_len=state.seq_len.at[r].add(1),
            contrib=state.contrib.at[p].set(jnp.where(is_fold, state.contrib[p], stakes)),
            stakes=stakes,
            raises=jnp.where(next_round, 0, raises),
            calls=jnp.where(next_round, 0, calls),
            player=jnp.where(next_round, 0, 1 - p),  # player 0 opens round 2
            folded=jnp.where(is_fold, p, state.folded),
            done=is_fold | (round_over & (r == 1)),
        )

    def returns(self, state: LeducState) -> jax.Array:
        lost = state.contrib[jnp.maximum(state.folded, 0)]  # the folder loses what it put in
        fold_won = jnp.where(state.folded == 0, -lost, lost)
        r0 = hand_rank(state.cards[0], state.cards[2])
        r1 = hand_rank(state.cards[1], state.cards[2])
        showdown_won = jnp.sign(r0 - r1) * state.contrib[0]  # both put in the same at a showdown
        won = jnp.where(state.folded >= 0, fold_won, showdown_won).astype(jnp.float32)
        return jnp.stack([won, -won])

    def info_state_tensors(self, state: LeducState) -> jax.Array:
        public = jax.nn.one_hot(state.cards[2], LEDUC_NUM_CARDS) * (state.round == 1)
        betting = jax.nn.one_hot(state.seq - 1, 2).reshape(-1)  # call -> [1, 0], raise -> [0, 1], fold/none -> 0
        rows = [
            jnp.concatenate([jax.nn.one_hot(p, 2), jax.nn.one_hot(state.cards[p], LEDUC_NUM_CARDS), public, betting])
            for p in (0, 1)
        ]
        return jnp.stack(rows).astype(jnp.float32)
