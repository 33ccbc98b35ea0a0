"""The whole game tree of a small two-player game as NumPy index arrays (built once, cached).

:func:`game_tree` walks every history of ``kuhn_poker`` or ``leduc_poker`` (all deals, all
betting sequences) and keeps what exact evaluation (:mod:`phalanx.population.exact`) needs,
in a form that turns it into gathers and segment sums:

* for each player, its information states in a fixed order (first visit of a depth-first
  walk, chance outcomes and actions in increasing order), with their legal-action masks,
  OpenSpiel information-state strings and tensors (so a neural policy becomes a table by
  running its network on ``tensors``);
* for each terminal history, its chance probability, its payoffs and, per player, the
  *sequence* of that player's own (information state, action) pairs leading to it.

Sequences are flat indices ``infostate * num_actions + action`` into a player's table; the
index ``num_infostates * num_actions`` stands for the empty sequence (and pads shorter paths),
so a reach probability is a product over a gather from the flattened table with a 1 appended.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping

import numpy as np

from phalanx.envs.poker.rules import KuhnHistory, LeducHistory
from phalanx.errors import PhalanxError, did_you_mean


@dataclasses.dataclass(frozen=True, eq=False)
class PlayerTree:
    """One player's information states and sequences. ``n`` infostates, ``A`` actions, ``Z`` terminals.

    Attributes:
        strings: ``(n,)`` OpenSpiel ``information_state_string`` of each infostate.
        index: string -> infostate index.
        legal: ``(n, A)`` bool legal actions.
        tensors: ``(n, T)`` float32 OpenSpiel ``information_state_tensor`` (the env's observation there).
        depth: ``(n,)`` int32 own actions taken before reaching the infostate.
        parent: ``(n,)`` int32 flat sequence (``I * A + a``) of the player's previous action, or
            ``n * A`` (the empty sequence) for its first decision.
        path: ``(n, D)`` int32 the player's own sequences leading to the infostate, padded with ``n * A``.
        terminal_last: ``(Z,)`` int32 the player's last sequence before each terminal (``n * A`` if none).
        terminal_path: ``(Z, L)`` int32 the player's own sequences leading to each terminal, padded.
        by_depth: ``by_depth[d]`` the infostate indices at depth ``d`` (int32 arrays).
    """

    strings: tuple[str, ...]
    index: Mapping[str, int]
    legal: np.ndarray
    tensors: np.ndarray
    depth: np.ndarray
    parent: np.ndarray
    path: np.ndarray
    terminal_last: np.ndarray
    terminal_path: np.ndarray
    by_depth: tuple[np.ndarray, ...]

    @property
    def num_infostates(self) -> int:
        """``n``, the number of this player's information states."""
        return len(self.strings)

    @property
    def empty_sequence(self) -> int:
        """The flat index that stands for "no own action yet" (and pads paths)."""
        return self.legal.size


@dataclasses.dataclass(frozen=True, eq=False)
class GameTree:
    """A two-player zero-sum game's full tree as arrays (compared and hashed by identity).

    Attributes:
        game: OpenSpiel short name, e.g. ``"kuhn_poker"``.
        num_actions: ``A``, distinct actions (Kuhn 2: pass, bet; Leduc 3: fold, call, raise).
        players: ``(player 0's tree, player 1's tree)``.
        chance: ``(Z,)`` float64 probability of each terminal's chance outcomes (the deal).
        payoffs: ``(Z, 2)`` float64 chips won by each player at each terminal.
        num_decision_nodes: histories where a player acts (all deals).
    """

    game: str
    num_actions: int
    players: tuple[PlayerTree, PlayerTree]
    chance: np.ndarray
    payoffs: np.ndarray
    num_decision_nodes: int

    @property
    def num_terminals(self) -> int:
        """``Z``, the number of terminal histories (over all deals)."""
        return len(self.chance)

    def num_infostates(self, player: int) -> int:
        """Information states of ``player`` (Kuhn 6, Leduc 468 each)."""
        return self.players[player].num_infostates

    def __repr__(self) -> str:
        n = [p.num_infostates for p in self.players]
        return f"GameTree({self.game!r}, infostates={n}, terminals={self.num_terminals})"


class _PlayerBuilder:
    """Collects one player's infostates during the walk."""

    def __init__(self, num_actions: int):
        self.num_actions = num_actions
        self.index: dict[str, int] = {}
        self.strings: list[str] = []
        self.legal: list[np.ndarray] = []
        self.tensors: list[np.ndarray] = []
        self.paths: list[tuple[int, ...]] = []

    def visit(self, history, player: int, path: tuple[int, ...]) -> int:
        key = history.info_string(player)
        legal = np.zeros(self.num_actions, bool)
        legal[history.legal_actions()] = True
        i = self.index.get(key)
        if i is None:
            i = self.index[key] = len(self.strings)
            self.strings.append(key)
            self.legal.append(legal)
            self.tensors.append(history.info_tensor(player))
            self.paths.append(path)
        elif self.paths[i] != path or not np.array_equal(self.legal[i], legal):
            # Cannot happen in a perfect-recall game; guards the rules against slips.
            raise AssertionError(f"infostate {key!r} reached by two different own sequences")
        return i


def _pad(rows: list[tuple[int, ...]], fill: int) -> np.ndarray:
    width = max(1, max((len(r) for r in rows), default=0))
    out = np.full((len(rows), width), fill, np.int32)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def build_tree(game: str, root, num_actions: int) -> GameTree:
    """Walk every history from ``root`` (a :mod:`~phalanx.envs.poker.rules` history) into a :class:`GameTree`."""
    builders = (_PlayerBuilder(num_actions), _PlayerBuilder(num_actions))
    chance: list[float] = []
    payoffs: list[tuple[float, float]] = []
    term_paths: tuple[list, list] = ([], [])
    num_decisions = 0

    # Own sequences use -1 for "empty" during the walk (n is unknown until the end).
    def walk(h, prob: float, paths: tuple[tuple[int, ...], tuple[int, ...]]) -> None:
        nonlocal num_decisions
        if h.is_terminal():
            chance.append(prob)
            payoffs.append(h.returns())
            for p in (0, 1):
                term_paths[p].append(paths[p])
            return
        if h.is_chance():
            for outcome, q in h.chance_outcomes():
                walk(h.child(outcome), prob * q, paths)
            return
        num_decisions += 1
        p = h.player()
        i = builders[p].visit(h, p, paths[p])
        for a in h.legal_actions():
            own = (*paths[p], i * num_actions + a)
            walk(h.child(a), prob, (own, paths[1]) if p == 0 else (paths[0], own))

    walk(root, 1.0, ((), ()))
    players = []
    for p, b in enumerate(builders):
        empty = len(b.strings) * num_actions
        depth = np.array([len(x) for x in b.paths], np.int32)
        players.append(
            PlayerTree(
                strings=tuple(b.strings),
                index=dict(b.index),
                legal=np.stack(b.legal),
                tensors=np.stack(b.tensors).astype(np.float32),
                depth=depth,
                parent=np.array([x[-1] if x else empty for x in b.paths], np.int32),
                path=_pad(b.paths, empty),
                terminal_last=np.array([x[-1] if x else empty for x in term_paths[p]], np.int32),
                terminal_path=_pad(term_paths[p], empty),
                by_depth=tuple(np.flatnonzero(depth == d).astype(np.int32) for d in range(depth.max() + 1)),
            )
        )
    return GameTree(
        game=game,
        num_actions=num_actions,
        players=(players[0], players[1]),
        chance=np.array(chance, np.float64),
        payoffs=np.array(payoffs, np.float64),
        num_decision_nodes=num_decisions,
    )


_ROOTS = {"kuhn_poker": (KuhnHistory, 2), "leduc_poker": (LeducHistory, 3)}


@functools.cache
def game_tree(game: str) -> GameTree:
    """The cached :class:`GameTree` of ``"kuhn_poker"`` or ``"leduc_poker"`` (built on first use).

    Raises:
        PhalanxError: for another name.
    """
    if game not in _ROOTS:
        raise PhalanxError(
            f"game_tree: unknown game {game!r}.{did_you_mean(str(game), _ROOTS)} Known: {', '.join(_ROOTS)}."
        )
    cls, num_actions = _ROOTS[game]
    return build_tree(game, cls(), num_actions)
