"""Pure-JAX multi-agent environments, their contract, wrappers and registry.

>>> import phalanx
>>> env = phalanx.make("tag", num_runners=20)
>>> state, ts = env.reset(jax.random.PRNGKey(0))   # doctest: +SKIP
"""

from phalanx.envs.environment import Environment, check_actions
from phalanx.envs.registry import env_settings, make, register, registered
from phalanx.envs.spaces import Box, Discrete, MultiDiscrete, Space
from phalanx.envs.tag import Tag, TagParams, TagState
from phalanx.envs.types import EnvSpec, EpisodeStats, GroupSpec, TimeStep, full_mask, make_timestep
from phalanx.envs.wrappers import (
    AutoReset,
    EpisodeStatistics,
    EpisodeStatisticsState,
    VecEnv,
    Wrapper,
    wrap_for_training,
)

register("tag", Tag)

# Each family registers its own names on import.
from phalanx.envs import lbf, matrix, mpe, poker, rware, tag_grid  # noqa: E402, F401

#: Adapters that moved out of the env layer (they sit above it), by name → where they live now.
_MOVED = {"to_pettingzoo": "phalanx.to_pettingzoo (phalanx.interop.pettingzoo_out)",
          "from_pettingzoo": "phalanx.from_pettingzoo (phalanx.runtime.host_envs)"}


def __getattr__(name: str):
    if name in _MOVED:
        raise AttributeError(f"phalanx.envs.{name} moved: use {_MOVED[name]}.")
    raise AttributeError(f"module 'phalanx.envs' has no attribute {name!r}")


__all__ = [
    "AutoReset",
    "Box",
    "Discrete",
    "EnvSpec",
    "Environment",
    "EpisodeStatistics",
    "EpisodeStatisticsState",
    "EpisodeStats",
    "GroupSpec",
    "MultiDiscrete",
    "Space",
    "Tag",
    "TagParams",
    "TagState",
    "TimeStep",
    "VecEnv",
    "Wrapper",
    "check_actions",
    "env_settings",
    "full_mask",
    "make",
    "make_timestep",
    "register",
    "registered",
    "wrap_for_training",
]
