"""Kuhn and Leduc poker (OpenSpiel's rules) in pure JAX, and their full game trees for exact evaluation."""

from phalanx.envs.poker.base import GROUPS, PokerEnv, PokerParams
from phalanx.envs.poker.kuhn import KuhnPoker, KuhnState
from phalanx.envs.poker.leduc import LeducPoker, LeducState
from phalanx.envs.poker.tree import GameTree, PlayerTree, build_tree, game_tree
from phalanx.envs.registry import register

register(KuhnPoker.name, KuhnPoker)
register(LeducPoker.name, LeducPoker)

__all__ = [
    "GROUPS",
    "GameTree",
    "KuhnPoker",
    "KuhnState",
    "LeducPoker",
    "LeducState",
    "PlayerTree",
    "PokerEnv",
    "PokerParams",
    "build_tree",
    "game_tree",
]
