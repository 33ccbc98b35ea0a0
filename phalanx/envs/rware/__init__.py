"""The multi-robot warehouse (RWARE), as Jumanji's ``RobotWarehouse``, in pure JAX."""

from phalanx.envs.registry import register
from phalanx.envs.rware.env import Rware, RwareParams, RwareState
from phalanx.envs.rware.layout import SCENARIOS

# As LBF (phalanx/envs/lbf/__init__.py): sparse rewards want a constant, larger step and agent ids.
register("rware", Rware, train_defaults={"train.lr": 5e-4, "train.anneal_lr": False, "train.agent_id": True})

__all__ = ["SCENARIOS", "Rware", "RwareParams", "RwareState"]
