"""WarpDrive's gridworld Tag, in pure JAX."""

from phalanx.envs.registry import register
from phalanx.envs.tag_grid.env import TagGrid, TagGridParams, TagGridState

register("tag_grid", TagGrid, train_defaults={"train.num_envs": 32},
         population_defaults={"train.num_envs": 32, "train.total_steps": 200_000})

__all__ = ["TagGrid", "TagGridParams", "TagGridState"]
