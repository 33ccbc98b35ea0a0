"""Kuhn and Leduc poker (OpenSpiel's rules) in pure JAX, and their full game trees for exact evaluation."""

from phalanx.envs.poker.base import GROUPS, PokerEnv, PokerParams
from phalanx.envs.poker.kuhn import KuhnPoker, KuhnState
from phalanx.envs.poker.leduc import LeducPoker, LeducState
from phalanx.envs.poker.tree import GameTree, PlayerTree, build_tree, game_tree
from phalanx.envs.registry import register

# A PSRO best response is a short single-agent run against a fixed mixture. Poker rewards come
# once, at the end: no discounting.
_POKER = {"train.num_minibatches": 4, "train.update_epochs": 4, "train.hidden": [64, 64], "train.ent_coef": 0.0,
          "train.gamma": 1.0, "train.gae_lambda": 1.0, "train.lr": 3e-3}
# Value-based learners (algo=iql, ...; keys PPO lacks are skipped for it): memoryless members (a table
# per information state), a replay of ~30 rollouts, exploration decayed over half the run.
_POKER_Q = {"train.recurrent_size": 0, "train.gradient_steps": 64, "train.batch_size": 64,
            "train.learning_starts": 512, "train.buffer_size": 16384, "train.eps_decay_steps": 8000,
            "train.target_update_every": 50}
register(KuhnPoker.name, KuhnPoker, population_defaults={
    **_POKER, **_POKER_Q, "train.total_steps": 64 * 8 * 30, "train.num_envs": 64, "train.num_steps": 8,
    "train.hidden": [32, 32]})
register(LeducPoker.name, LeducPoker, population_defaults={
    **_POKER, **_POKER_Q, "train.total_steps": 128 * 32 * 50, "train.num_envs": 128, "train.num_steps": 32})
del _POKER, _POKER_Q

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
