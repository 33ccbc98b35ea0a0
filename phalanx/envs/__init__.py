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


def __getattr__(name: str):
    # PettingZoo interop imports pettingzoo/gymnasium (optional dependencies): loaded on first use.
    if name == "to_pettingzoo":
        from phalanx.envs.pettingzoo_out import to_pettingzoo

        return to_pettingzoo
    if name == "from_pettingzoo":
        from phalanx.envs.pettingzoo_in import from_pettingzoo

        return from_pettingzoo
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
    "from_pettingzoo",
    "full_mask",
    "make",
    "make_timestep",
    "register",
    "registered",
    "to_pettingzoo",
    "wrap_for_training",
]
