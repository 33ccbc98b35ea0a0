"""Two-player matrix games as one-step environments."""

from phalanx.envs.matrix.env import (
    MatchingPennies,
    MatrixGame,
    MatrixParams,
    MatrixState,
    PrisonersDilemma,
    RockPaperScissors,
    StagHunt,
)
from phalanx.envs.registry import register

# A PSRO best response in a one-step game: short rollouts, a small network.
_POPULATION = {"train.total_steps": 32 * 4 * 40, "train.num_envs": 32, "train.num_steps": 4,
               "train.num_minibatches": 2, "train.hidden": [16], "train.ent_coef": 0.0, "train.lr": 3e-3,
               # value-based learners: a memoryless member (one table), learning from the first rollout
               "train.recurrent_size": 0, "train.learning_starts": 128, "train.eps_decay_steps": 2000,
               "train.gradient_steps": 8}
for _cls in (MatrixGame, RockPaperScissors, MatchingPennies, PrisonersDilemma, StagHunt):
    register(_cls.name, _cls, population_defaults=_POPULATION)
del _cls, _POPULATION

__all__ = [
    "MatchingPennies",
    "MatrixGame",
    "MatrixParams",
    "MatrixState",
    "PrisonersDilemma",
    "RockPaperScissors",
    "StagHunt",
]
