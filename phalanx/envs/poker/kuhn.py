"""Kuhn poker (OpenSpiel's two-player ``kuhn_poker``) in pure JAX.

Three cards, J < Q < K (0, 1, 2); each player antes 1 and gets one card. Player 0 acts first,
then they alternate; actions ``0 pass`` and ``1 bet`` (a bet is 1 chip; passing facing a bet
folds). The game ends after ``pp`` (showdown for 1), ``bp`` / ``pbp`` (a fold: the bettor wins
1), ``bb`` / ``pbb`` (showdown for 2). Both actions are always legal (an action id outside
``{0, 1}`` counts as a pass).

Observation: OpenSpiel's information-state tensor ``(11,)``: one-hot observing player (2),
one-hot private card (3), then one-hot action (pass, bet) of each of the 3 betting slots.
See :mod:`phalanx.envs.poker.base` for the turn-taking contract.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from phalanx.envs.poker.base import PokerEnv
from phalanx.envs.poker.rules import KUHN_BET, KUHN_NUM_CARDS, KUHN_PASS, KUHN_TENSOR_SIZE


@struct.dataclass
class KuhnState:
    """A Kuhn poker game in progress."""

    cards: jax.Array  # (2,) int32 each player's card (0 J, 1 Q, 2 K)
    bets: jax.Array  # (3,) int32 betting actions in order (0 pass, 1 bet); -1 in unused slots
    num_bets: jax.Array  # () int32 betting actions taken
    player: jax.Array  # () int32 player to move
    done: jax.Array  # () bool the game is over


class KuhnPoker(PokerEnv[KuhnState]):
    """Kuhn poker, registered as ``"kuhn_poker"``. No settings."""

    name = "kuhn_poker"
    num_actions = 2
    tensor_size = KUHN_TENSOR_SIZE
    deck_size = KUHN_NUM_CARDS
    cards_dealt = 2

    def initial_state(self, cards: jax.Array) -> KuhnState:
        return KuhnState(
            cards=jnp.asarray(cards, jnp.int32),
            bets=jnp.full((3,), -1, jnp.int32),
            num_bets=jnp.int32(0),
            player=jnp.int32(0),
            done=jnp.bool_(False),
        )

    def legal_actions(self, state: KuhnState) -> jax.Array:
        return jnp.ones((self.num_actions,), jnp.bool_)

    def apply_action(self, state: KuhnState, action: jax.Array) -> KuhnState:
        action = jnp.where((action == KUHN_PASS) | (action == KUHN_BET), action, KUHN_PASS)  # out of range: pass
        bets = state.bets.at[state.num_bets].set(action)
        n = state.num_bets + 1
        pass_bet = (bets[0] == KUHN_PASS) & (bets[1] == KUHN_BET)
        return KuhnState(cards=state.cards, bets=bets, num_bets=n, player=n % 2, done=(n == 3) | ((n == 2) & ~pass_bet))

    def returns(self, state: KuhnState) -> jax.Array:
        last = state.bets[state.num_bets - 1]
        any_bet = jnp.any(state.bets == KUHN_BET)
        folder = (state.num_bets - 1) % 2  # a pass after a bet folds; the folder loses its ante
        fold_won = jnp.where(folder == 1, 1.0, -1.0)
        stake = jnp.where(any_bet, 2.0, 1.0)
        showdown_won = jnp.where(state.cards[0] > state.cards[1], stake, -stake)
        won = jnp.where((last == KUHN_PASS) & any_bet, fold_won, showdown_won)
        return jnp.stack([won, -won]).astype(jnp.float32)

    def info_state_tensors(self, state: KuhnState) -> jax.Array:
        betting = jax.nn.one_hot(state.bets, 2).reshape(-1)  # -1 (no action yet) is all zeros
        rows = [
            jnp.concatenate([jax.nn.one_hot(p, 2), jax.nn.one_hot(state.cards[p], KUHN_NUM_CARDS), betting])
            for p in (0, 1)
        ]
        return jnp.stack(rows).astype(jnp.float32)
