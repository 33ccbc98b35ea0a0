"""Level-based foraging (Jumanji's ``LevelBasedForaging``), in pure JAX."""

from phalanx.envs.lbf.env import LBFParams, LBFState, LevelBasedForaging
from phalanx.envs.lbf.scenarios import MAVA_SCENARIOS, parse_scenario
from phalanx.envs.registry import register

register("lbf", LevelBasedForaging)

__all__ = ["MAVA_SCENARIOS", "LBFParams", "LBFState", "LevelBasedForaging", "parse_scenario"]
