"""IPPO and MAPPO: one implementation, the critic's input is the switch."""

from phalanx.algos.ppo.config import PPOConfig
from phalanx.algos.ppo.losses import compute_gae, policy_loss, value_loss
from phalanx.algos.ppo.train import Minibatch, Trainer, TrainState, Transition, UpdateMetrics, make_train
from phalanx.algos.registry import Algorithm, register_algorithm

register_algorithm(Algorithm("ippo", PPOConfig, make_train, {"critic": "ippo"},
                             "PPO, each agent's critic on its own observation"))
register_algorithm(Algorithm("mappo", PPOConfig, make_train, {"critic": "mappo"},
                             "PPO with a centralised critic on the global state"))

__all__ = ["Minibatch", "PPOConfig", "TrainState", "Trainer", "Transition", "UpdateMetrics", "compute_gae",
           "make_train", "policy_loss", "value_loss"]
