"""Level-based foraging (Jumanji's ``LevelBasedForaging``), in pure JAX."""

from phalanx.envs.lbf.env import LBFParams, LBFState, LevelBasedForaging
from phalanx.envs.lbf.scenarios import MAVA_SCENARIOS, parse_scenario
from phalanx.envs.registry import register

# Sparse rewards want a constant, larger step and agent ids (a group's agents share one network;
# benchmarks/mava/README.md). Same lr and agent ids as the value-based learners' defaults.
register("lbf", LevelBasedForaging,
         train_defaults={"train.lr": 5e-4, "train.anneal_lr": False, "train.agent_id": True})

__all__ = ["MAVA_SCENARIOS", "LBFParams", "LBFState", "LevelBasedForaging", "parse_scenario"]
