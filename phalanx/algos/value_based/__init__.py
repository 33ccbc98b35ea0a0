"""Value-based MARL: IQL, VDN and QMIX — one Q-learning implementation, the mixer is the switch.

All three compile end to end (rollout into a replay buffer + gradient steps in one ``update``),
feed-forward or recurrent (GRU), with double Q-learning, n-step returns, target networks
(periodic copies or Polyak averaging), ε-greedy exploration and action masks. See
:mod:`phalanx.algos.value_based.train` for how termination, truncation, mixing across groups
and recurrent training windows are handled.
"""

from phalanx.algos.registry import Algorithm, register_algorithm
from phalanx.algos.value_based.config import QLearningConfig
from phalanx.algos.value_based.networks import QMixer, QNetwork, fan_in_uniform_init, vdn_mix
from phalanx.algos.value_based.targets import (
    bootstrap_values,
    epsilon_greedy,
    linear_epsilon,
    masked_argmax,
    n_step_targets,
)
from phalanx.algos.value_based.train import Step, Trainer, TrainState, UpdateMetrics, make_train

register_algorithm(Algorithm("iql", QLearningConfig, make_train, {"mixer": "none"},
                             "independent Q-learning (parameters shared within each group)"))
register_algorithm(Algorithm("vdn", QLearningConfig, make_train, {"mixer": "vdn"},
                             "value decomposition: Q_tot = sum of the agents' Qs"))
register_algorithm(Algorithm("qmix", QLearningConfig, make_train, {"mixer": "qmix"},
                             "QMIX: monotonic mixing of the agents' Qs by hypernetworks on the global state"))

__all__ = ["QLearningConfig", "QMixer", "QNetwork", "Step", "TrainState", "Trainer", "UpdateMetrics",
           "bootstrap_values", "epsilon_greedy", "fan_in_uniform_init", "linear_epsilon", "make_train",
           "masked_argmax", "n_step_targets", "vdn_mix"]
