"""WarpDrive's gridworld Tag, in pure JAX."""

from phalanx.envs.registry import register
from phalanx.envs.tag_grid.env import TagGrid, TagGridParams, TagGridState

register("tag_grid", TagGrid)

__all__ = ["TagGrid", "TagGridParams", "TagGridState"]
