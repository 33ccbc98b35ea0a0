"""WarpDrive's continuous Tag."""

from phalanx.envs.tag.env import Tag, TagParams, TagState

__all__ = ["Tag", "TagParams", "TagState"]
