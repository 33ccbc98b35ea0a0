"""Kuhn and Leduc poker rules as small immutable Python histories (host side, no JAX).

The game-tree builder (:mod:`phalanx.envs.poker.tree`) walks these to enumerate every
history of a game once; the JAX environments implement the same rules on arrays. Both
follow OpenSpiel's two-player ``kuhn_poker`` and ``leduc_poker`` (default parameters) and
are tested against ``pyspiel``: same legal actions, returns, information-state strings and
information-state tensors.

Every history answers the same questions, the ones a tree walk needs: is it terminal, a
chance node (and with which outcomes), whose move, which actions are legal, the child after
an action, the returns, and each player's information state (string and tensor).
"""

from __future__ import annotations

import dataclasses

import numpy as np

#: Kuhn actions, as OpenSpiel numbers them.
KUHN_PASS, KUHN_BET = 0, 1
#: Leduc actions, as OpenSpiel numbers them.
LEDUC_FOLD, LEDUC_CALL, LEDUC_RAISE = 0, 1, 2

KUHN_NUM_CARDS = 3  # J, Q, K
KUHN_TENSOR_SIZE = 2 + KUHN_NUM_CARDS + 3 * 2  # player, private card, 3 betting slots x (pass, bet)

LEDUC_NUM_CARDS = 6  # J, Q, K in two suits: card c has rank c // 2
LEDUC_MAX_BETS = 4  # betting actions per round at most: call, raise, raise, call
LEDUC_RAISES = (2, 4)  # raise size in round 1, round 2
LEDUC_MAX_RAISES = 2  # raises per round
LEDUC_ANTE = 1
LEDUC_STARTING_MONEY = 100  # only shown in information-state strings
#: player, private card, public card, 2 rounds x 4 betting slots x (call, raise).
LEDUC_TENSOR_SIZE = 2 + 2 * LEDUC_NUM_CARDS + 2 * LEDUC_MAX_BETS * 2


def leduc_hand_rank(private: int, public: int) -> int:
    """Strength of a Leduc hand (higher wins, equal ties): a pair beats any high card.

    High cards compare by the higher rank, then the lower one; suits never matter.
    """
    hi, lo = max(private // 2, public // 2), min(private // 2, public // 2)
    return 100 + hi if hi == lo else 3 * hi + lo


@dataclasses.dataclass(frozen=True)
class KuhnHistory:
    """A Kuhn poker history: the dealt cards, then the betting actions.

    Attributes:
        cards: cards dealt so far, player 0's first (0 = J, 1 = Q, 2 = K).
        bets: betting actions so far (0 pass, 1 bet); player 0 acts first, then alternate.
    """

    cards: tuple[int, ...] = ()
    bets: tuple[int, ...] = ()

    def is_chance(self) -> bool:
        """Whether a card is still to be dealt (fewer than two cards so far)."""
        return len(self.cards) < 2

    def chance_outcomes(self) -> list[tuple[int, float]]:
        """At a chance node: ``[(card, probability)]``, uniform over the cards not dealt yet."""
        left = [c for c in range(KUHN_NUM_CARDS) if c not in self.cards]
        return [(c, 1.0 / len(left)) for c in left]

    def is_terminal(self) -> bool:
        # Over after "pp", "bp", "bb" (two actions, unless "pb") or after any third action.
        """Whether the betting is over (pass-pass, bet-pass, bet-bet, or any third action)."""
        return len(self.bets) == 3 or (len(self.bets) == 2 and self.bets != (KUHN_PASS, KUHN_BET))

    def player(self) -> int:
        """The player to act at a decision node (players alternate, player 0 first)."""
        return len(self.bets) % 2

    def legal_actions(self) -> list[int]:
        """Both betting actions, ``[pass, bet]``, are always legal."""
        return [KUHN_PASS, KUHN_BET]

    def child(self, action: int) -> KuhnHistory:
        """The history after ``action``: a dealt card at a chance node, else a betting action."""
        if self.is_chance():
            return KuhnHistory((*self.cards, action), self.bets)
        return KuhnHistory(self.cards, (*self.bets, action))

    def returns(self) -> tuple[float, float]:
        """Chips won by each player (zero-sum): a pass after a bet folds, else a showdown."""
        if self.bets[-1] == KUHN_PASS and KUHN_BET in self.bets:
            folder = (len(self.bets) - 1) % 2
            won = 1.0 if folder == 1 else -1.0  # the folder loses its ante
        else:
            stake = 2.0 if KUHN_BET in self.bets else 1.0
            won = stake if self.cards[0] > self.cards[1] else -stake
        return won, -won

    def info_string(self, player: int) -> str:
        """OpenSpiel's string: the private card, then ``p``/``b`` per betting action, e.g. ``"0pb"``."""
        return str(self.cards[player]) + "".join("pb"[b] for b in self.bets)

    def info_tensor(self, player: int) -> np.ndarray:
        """``(11,)``: one-hot player (2), one-hot private card (3), one-hot action per betting slot (3 x 2)."""
        out = np.zeros(KUHN_TENSOR_SIZE, np.float32)
        out[player] = 1.0
        out[2 + self.cards[player]] = 1.0
        for i, b in enumerate(self.bets):
            out[2 + KUHN_NUM_CARDS + 2 * i + b] = 1.0
        return out


@dataclasses.dataclass(frozen=True)
class LeducHistory:
    """A Leduc poker history (two players, OpenSpiel's default parameters).

    Both players ante 1; each gets one private card; a betting round; a public card; a second
    betting round. Raises are 2 in round 1 and 4 in round 2, at most 2 per round; player 0
    opens both rounds. Fold is legal only when facing a bet.

    Attributes:
        cards: cards dealt so far: player 0's, player 1's, then the public card.
        rounds: betting actions of each started round (0 fold, 1 call, 2 raise).
        contrib: chips each player has put in the pot.
        stakes: the level each player must match to stay in.
        raises, calls: raises and calls in the current round (calls since the last raise).
        mover: the player to act (meaningful at decision nodes).
        folded: the player who folded, or -1.
        over: whether the betting is over (a fold, or the end of round 2).
    """

    cards: tuple[int, ...] = ()
    rounds: tuple[tuple[int, ...], ...] = ((),)
    contrib: tuple[int, int] = (LEDUC_ANTE, LEDUC_ANTE)
    stakes: int = LEDUC_ANTE
    raises: int = 0
    calls: int = 0
    mover: int = 0
    folded: int = -1
    over: bool = False

    def is_chance(self) -> bool:
        """Whether a card is to be dealt: a private card, or the public card once round 2 has started."""
        return len(self.cards) < 2 or (len(self.rounds) == 2 and len(self.cards) == 2)

    def chance_outcomes(self) -> list[tuple[int, float]]:
        """At a chance node: ``[(card, probability)]``, uniform over the cards not dealt yet."""
        left = [c for c in range(LEDUC_NUM_CARDS) if c not in self.cards]
        return [(c, 1.0 / len(left)) for c in left]

    def is_terminal(self) -> bool:
        """Whether the hand is over (a fold, or the end of round 2)."""
        return self.over

    def player(self) -> int:
        """The player to act at a decision node."""
        return self.mover

    def legal_actions(self) -> list[int]:
        """Legal actions of the mover: fold only when facing a bet, call always, raise below the per-round cap."""
        actions = [LEDUC_FOLD] if self.stakes > self.contrib[self.mover] else []
        actions.append(LEDUC_CALL)
        if self.raises < LEDUC_MAX_RAISES:
            actions.append(LEDUC_RAISE)
        return actions

    def child(self, action: int) -> LeducHistory:
        """The history after ``action``: a dealt card at a chance node, else fold, call or raise by the mover
        (updating contributions, stakes, raise/call counts, and starting round 2 or ending the hand).
        """
        if self.is_chance():
            return dataclasses.replace(self, cards=(*self.cards, action))
        p = self.mover
        rounds = (*self.rounds[:-1], self.rounds[-1] + (action,))
        if action == LEDUC_FOLD:
            return dataclasses.replace(self, rounds=rounds, folded=p, over=True)
        contrib = list(self.contrib)
        if action == LEDUC_RAISE:
            stakes = self.stakes + LEDUC_RAISES[len(self.rounds) - 1]
            contrib[p] = stakes
            return dataclasses.replace(
                self, rounds=rounds, contrib=tuple(contrib), stakes=stakes, raises=self.raises + 1, calls=0, mover=1 - p
            )
        contrib[p] = self.stakes  # a call (or a check, when nothing is owed)
        calls = self.calls + 1
        round_over = calls == 2 if self.raises == 0 else calls == 1
        nxt = dataclasses.replace(self, rounds=rounds, contrib=tuple(contrib), calls=calls, mover=1 - p)
        if not round_over:
            return nxt
        if len(self.rounds) == 2:
            return dataclasses.replace(nxt, over=True)
        # Round 1 is over: the public card comes next (a chance node), then player 0 opens round 2.
        return dataclasses.replace(nxt, rounds=(*rounds, ()), raises=0, calls=0, mover=0)

    def returns(self) -> tuple[float, float]:
        """Chips won: the folder loses what it put in; at a showdown the better hand wins the other's stake."""
        if self.folded >= 0:
            lost = float(self.contrib[self.folded])
            return (-lost, lost) if self.folded == 0 else (lost, -lost)
        r0 = leduc_hand_rank(self.cards[0], self.cards[2])
        r1 = leduc_hand_rank(self.cards[1], self.cards[2])
        won = float(np.sign(r0 - r1)) * self.contrib[0]  # both put in the same at a showdown
        return won, -won

    def info_string(self, player: int) -> str:
        """OpenSpiel's information-state string, e.g. ``[Observer: 0][Private: 3][Round 1]...[Round2: ]``."""
        money = " ".join(str(LEDUC_STARTING_MONEY - c) for c in self.contrib)
        public = f"[Public: {self.cards[2]}]" if len(self.cards) == 3 else ""
        seqs = [" ".join(map(str, s)) for s in (*self.rounds, ())[:2]]
        return (
            f"[Observer: {player}][Private: {self.cards[player]}][Round {len(self.rounds)}]"
            f"[Player: {self.mover}][Pot: {sum(self.contrib)}][Money: {money}]{public}"
            f"[Round1: {seqs[0]}][Round2: {seqs[1]}]"
        )

    def info_tensor(self, player: int) -> np.ndarray:
        """``(30,)``: one-hot player (2), private card (6), public card (6, zeros before it is dealt),
        then per round and betting slot ``[call, raise]`` bits (2 x 4 x 2; a fold sets neither)."""
        out = np.zeros(LEDUC_TENSOR_SIZE, np.float32)
        out[player] = 1.0
        out[2 + self.cards[player]] = 1.0
        if len(self.cards) == 3:
            out[2 + LEDUC_NUM_CARDS + self.cards[2]] = 1.0
        base = 2 + 2 * LEDUC_NUM_CARDS
        for r, seq in enumerate(self.rounds):
            for i, a in enumerate(seq):
                if a != LEDUC_FOLD:
                    out[base + (r * LEDUC_MAX_BETS + i) * 2 + (a - 1)] = 1.0
        return out
