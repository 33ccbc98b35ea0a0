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

for _cls in (MatrixGame, RockPaperScissors, MatchingPennies, PrisonersDilemma, StagHunt):
    register(_cls.name, _cls)
del _cls

__all__ = [
    "MatchingPennies",
    "MatrixGame",
    "MatrixParams",
    "MatrixState",
    "PrisonersDilemma",
    "RockPaperScissors",
    "StagHunt",
]
