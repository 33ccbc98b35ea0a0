"""IPPO and MAPPO: one implementation, the critic's input is the switch."""

from phalanx.algos.ppo.config import PPOConfig
from phalanx.algos.ppo.losses import compute_gae, policy_loss, value_loss
from phalanx.algos.ppo.train import Trainer, TrainState, UpdateMetrics, make_train

__all__ = ["PPOConfig", "TrainState", "Trainer", "UpdateMetrics", "compute_gae", "make_train", "policy_loss",
           "value_loss"]
