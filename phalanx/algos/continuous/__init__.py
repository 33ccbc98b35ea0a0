"""Continuous-action learners on a replay buffer: MADDPG, ISAC and MASAC, compiled end to end."""

from phalanx.algos.continuous import maddpg, sac
from phalanx.algos.continuous.config import MADDPGConfig, OffPolicyConfig, SACConfig
from phalanx.algos.continuous.maddpg import MADDPG, MADDPGMetrics
from phalanx.algos.continuous.sac import SAC, SACMetrics
from phalanx.algos.continuous.train import Trainer, TrainState, Transition, UpdateRule
from phalanx.algos.registry import Algorithm, register_algorithm

register_algorithm(Algorithm("maddpg", MADDPGConfig, maddpg.make_train, {},
                             "MADDPG: deterministic actors, centralised critics (continuous actions)"))
register_algorithm(Algorithm("isac", SACConfig, sac.make_train, {"critic": "isac"},
                             "SAC per agent, critics on its own observation and action (continuous actions)"))
register_algorithm(Algorithm("masac", SACConfig, sac.make_train, {"critic": "masac"},
                             "SAC per agent, critics on the global state and joint action (continuous actions)"))

__all__ = ["MADDPG", "SAC", "MADDPGConfig", "MADDPGMetrics", "OffPolicyConfig", "SACConfig", "SACMetrics", "TrainState",
           "Trainer", "Transition", "UpdateRule"]
