"""The multi-robot warehouse (RWARE), as Jumanji's ``RobotWarehouse``, in pure JAX."""

from phalanx.envs.registry import register
from phalanx.envs.rware.env import Rware, RwareParams, RwareState
from phalanx.envs.rware.layout import SCENARIOS

register("rware", Rware)

__all__ = ["SCENARIOS", "Rware", "RwareParams", "RwareState"]
