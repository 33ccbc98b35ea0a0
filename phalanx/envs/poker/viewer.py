"""Poker as text: one Kuhn or Leduc state → a few readable lines (cards, pot, bets, whose turn).

The state is replayed into the host-side histories of :mod:`phalanx.envs.poker.rules` (the
rules the game-tree builder uses, tested against OpenSpiel), so the pot, the legal actions and
the result printed are the rules' own, not a second implementation. Example (Kuhn, a finished
game)::

    kuhn_poker  game over
    cards    player_0 K    player_1 Q
    pot      4  (player_0 2, player_1 2)
    betting  player_0 check, player_1 bet, player_0 call
    result   showdown: K beats Q, player_0 wins 2

``draw_poker(fig, env, state)`` writes the same text on a matplotlib figure, the cards drawn below it, so
:func:`phalanx.envs.viewers.render_frame` and ``phalanx render env=kuhn_poker`` give frames and GIFs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from phalanx.envs.poker.rules import (
    KUHN_BET,
    LEDUC_CALL,
    LEDUC_FOLD,
    LEDUC_MAX_BETS,
    LEDUC_RAISE,
    LEDUC_RAISES,
    KuhnHistory,
    LeducHistory,
)

RANKS = "JQK"
#: Leduc's two suits (OpenSpiel numbers card ``c`` as rank ``c // 2``, suit ``c % 2``; suits never matter).
SUITS = "sh"
PLAYERS = ("player_0", "player_1")
#: Most betting actions in one game: Kuhn's 3 slots; Leduc's 2 rounds of at most 4 (call, raise, raise, call).
MAX_GAME_LENGTH = {"kuhn_poker": 3, "leduc_poker": 2 * LEDUC_MAX_BETS}


def kuhn_card(card: int) -> str:
    """``0 → "J"``, ``1 → "Q"``, ``2 → "K"``."""
    return RANKS[int(card)]


def leduc_card(card: int) -> str:
    """OpenSpiel's Leduc card number as rank and suit: ``0 → "Js"``, ``1 → "Jh"``, ..., ``5 → "Kh"``."""
    return RANKS[int(card) // 2] + SUITS[int(card) % 2]


def _lines(rows: list[tuple[str, str]]) -> list[str]:
    return [f"{label:<8} {text}" for label, text in rows]


def kuhn_text(state: Any) -> str:
    """Kuhn poker state (``KuhnState``, host or device arrays) as text: cards, pot, betting, turn or result."""
    cards = tuple(int(c) for c in np.asarray(state.cards))
    bets = tuple(int(b) for b in np.asarray(state.bets)[: int(state.num_bets)])
    h = KuhnHistory(cards, ())
    contrib = [1, 1]  # antes
    words = []
    for b in bets:
        p, facing = h.player(), KUHN_BET in h.bets
        if b == KUHN_BET:
            contrib[p] += 1
        words.append(f"{PLAYERS[p]} " + (("call" if b == KUHN_BET else "fold") if facing else
                                         ("bet" if b == KUHN_BET else "check")))
        h = h.child(b)
    over = h.is_terminal()
    rows = [("cards", f"{PLAYERS[0]} {kuhn_card(cards[0])}    {PLAYERS[1]} {kuhn_card(cards[1])}"),
            ("pot", f"{sum(contrib)}  ({PLAYERS[0]} {contrib[0]}, {PLAYERS[1]} {contrib[1]})"),
            ("betting", ", ".join(words) or "none yet")]
    if over:
        won = h.returns()[0]
        winner = 0 if won > 0 else 1
        if words[-1].endswith("fold"):
            result = f"{PLAYERS[1 - winner]} folds, {PLAYERS[winner]} wins {abs(won):g}"
        else:
            hi, lo = sorted(cards, reverse=True)
            result = f"showdown: {kuhn_card(hi)} beats {kuhn_card(lo)}, {PLAYERS[winner]} wins {abs(won):g}"
        rows.append(("result", result))
    else:
        p = h.player()
        options = "check or bet" if KUHN_BET not in h.bets else "fold or call"
        rows.append(("to act", f"{PLAYERS[p]} ({options})"))
    head = "kuhn_poker  " + ("game over" if over else f"{PLAYERS[h.player()]} to act")
    return "\n".join([head, *_lines(rows)])


def _leduc_history(state: Any) -> tuple[LeducHistory, list[list[str]]]:
    """Replay ``state`` into a :class:`LeducHistory`; also each round's actions in words."""
    cards = [int(c) for c in np.asarray(state.cards)]
    seq, seq_len = np.asarray(state.seq), np.asarray(state.seq_len)
    h = LeducHistory().child(cards[0]).child(cards[1])
    rounds: list[list[str]] = [[], []]
    for r in range(2):
        if r == 1:
            if seq_len[1] == 0 and int(state.round) == 0:
                break
            h = h.child(cards[2])  # the public card, dealt between the rounds
        for a in seq[r, : seq_len[r]]:
            p, owed = h.player(), h.stakes > h.contrib[h.player()]
            a = int(a)
            if a == LEDUC_FOLD:
                word = "fold"
            elif a == LEDUC_CALL:
                word = "call" if owed else "check"
            else:
                word = f"raise {LEDUC_RAISES[r]}"
            rounds[r].append(f"{PLAYERS[p]} {word}")
            h = h.child(a)
    return h, rounds


def leduc_text(state: Any) -> str:
    """Leduc poker state (``LeducState``) as text: private and public cards, pot, both rounds, turn or result."""
    cards = [int(c) for c in np.asarray(state.cards)]
    h, rounds = _leduc_history(state)
    over = h.is_terminal()
    shown = len(h.cards) == 3  # the public card is turned after round 1
    public = leduc_card(cards[2]) if shown else "not shown yet"
    rows = [("cards", f"{PLAYERS[0]} {leduc_card(cards[0])}    {PLAYERS[1]} {leduc_card(cards[1])}"),
            ("public", public),
            ("pot", f"{sum(h.contrib)}  ({PLAYERS[0]} {h.contrib[0]}, {PLAYERS[1]} {h.contrib[1]})"),
            ("round 1", ", ".join(rounds[0]) or "none yet"),
            ("round 2", ", ".join(rounds[1]) or ("none yet" if shown else "-"))]
    if over:
        won = h.returns()[0]
        if h.folded >= 0:
            result = f"{PLAYERS[h.folded]} folds, {PLAYERS[1 - h.folded]} wins {abs(won):g}"
        elif won == 0:
            result = "showdown: equal hands, the pot is split"
        else:
            w = 0 if won > 0 else 1
            result = (f"showdown: {_leduc_hand(cards[w], cards[2])} beats {_leduc_hand(cards[1 - w], cards[2])}, "
                      f"{PLAYERS[w]} wins {abs(won):g}")
        rows.append(("result", result))
        head = "leduc_poker  game over"
    else:
        names = {LEDUC_FOLD: "fold", LEDUC_CALL: "call" if h.stakes > h.contrib[h.player()] else "check",
                 LEDUC_RAISE: "raise"}
        legal = " / ".join(names[a] for a in h.legal_actions())
        rows.append(("to act", f"{PLAYERS[h.player()]} ({legal})"))
        head = f"leduc_poker  round {len(h.rounds)}, {PLAYERS[h.player()]} to act"
    return "\n".join([head, *_lines(rows)])


def _leduc_hand(private: int, public: int) -> str:
    """``"pair of Ks"``, or the two ranks high to low (``"K-J"``), as hands compare."""
    hi, lo = max(private // 2, public // 2), min(private // 2, public // 2)
    return f"pair of {RANKS[hi]}s" if hi == lo else f"{RANKS[hi]}-{RANKS[lo]}"


def poker_text(env: Any, state: Any) -> str:
    """The text of one (unbatched) state of a Kuhn or Leduc env."""
    return leduc_text(state) if env.name == "leduc_poker" else kuhn_text(state)


def table_cards(env: Any, state: Any) -> list[tuple[str, str | None]]:
    """``(owner, card)`` of each card on the table, in drawing order; ``None`` for a card not shown yet."""
    cards = [int(c) for c in np.asarray(state.cards)]
    if env.name != "leduc_poker":
        return [(PLAYERS[0], kuhn_card(cards[0])), (PLAYERS[1], kuhn_card(cards[1]))]
    shown = int(state.round) == 1
    return [(PLAYERS[0], leduc_card(cards[0])), ("public", leduc_card(cards[2]) if shown else None),
            (PLAYERS[1], leduc_card(cards[1]))]


def draw_poker(fig: Any, env: Any, state: Any) -> None:
    """Write :func:`poker_text` on the matplotlib figure ``fig`` (monospace), the cards drawn large below it."""
    from matplotlib.patches import FancyBboxPatch

    text = poker_text(env, state)
    width = max(len(line) for line in text.splitlines())
    # Monospace glyphs are ~0.6 em wide: the largest font (≤ 11 pt) that fits the figure's width.
    size = min(11.0, 0.9 * fig.get_figwidth() * 72.0 / (0.6 * width))
    fig.text(0.04, 0.95, text, family="monospace", fontsize=size, va="top", ha="left", linespacing=1.6)
    ax = fig.add_axes((0.0, 0.02, 1.0, 0.36))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_axis_off()
    cards = table_cards(env, state)
    for k, (owner, card) in enumerate(cards):
        x = (k + 0.5) / len(cards)
        face = "white" if card is not None else (0.55, 0.6, 0.7)  # face down: the public card before round 2
        ax.add_patch(FancyBboxPatch((x - 0.08, 0.22), 0.16, 0.66, boxstyle="round,pad=0.01", fc=face, ec="0.2",
                                    lw=1.2))
        if card is not None:
            red = card.endswith("h")  # hearts red, spades (and Kuhn's suitless cards) black
            ax.text(x, 0.55, card, ha="center", va="center", fontsize=22, weight="bold",
                    color=(0.75, 0.1, 0.1) if red else "0.1")
        ax.text(x, 0.08, owner, ha="center", va="center", fontsize=9)
