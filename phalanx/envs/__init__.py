"""Pure-JAX multi-agent environments, their contract, wrappers and registry.

>>> import phalanx
>>> env = phalanx.make("tag", num_runners=20)
>>> state, ts = env.reset(jax.random.PRNGKey(0))   # doctest: +SKIP
"""

from phalanx.envs.environment import Environment, check_actions
from phalanx.envs.registry import (
    env_settings,
    from_jaxmarl,
    from_jumanji,
    make,
    register,
    register_namespace,
    registered,
)
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

# Tag's long episodes and sparse tags want more parallel envs per update (benchmarks/tag/README.md).
# The league plays a small Tag (1 tagger vs 2 runners on a 5 x 5 board, 50 steps) in which taggers learn
# to tag in minutes, with a constant learning rate and snapshot budgets scaled to it.
register("tag", Tag, train_defaults={"train.num_envs": 32},
         population_defaults={"train.num_envs": 32, "train.total_steps": 200_000},
         league_defaults={"env.num_taggers": 1, "env.num_runners": 2, "env.grid_length": 5.0,
                          "env.episode_length": 50, "env.tagging_distance": 0.05, "env.num_acceleration_levels": 4,
                          "env.num_turn_levels": 4, "train.num_envs": 32, "train.num_steps": 64, "train.lr": 1e-3,
                          "league.min_snapshot_steps": 100_000, "league.snapshot_budget_steps": 200_000,
                          "league.scorer": "tags"})

# Each family registers its own names on import.
from phalanx.envs import lbf, matrix, mpe, poker, rware, smax, tag_grid  # noqa: E402, F401

# Other libraries' envs by name, "jaxmarl:<name>" and "jumanji:<name>": the adapters (phalanx/interop/)
# are imported on first use of the prefix, so JaxMARL and Jumanji stay optional.
register_namespace("jaxmarl", "phalanx.interop.jaxmarl:from_jaxmarl")
register_namespace("jumanji", "phalanx.interop.jumanji:from_jumanji")

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
    "from_jaxmarl",
    "from_jumanji",
    "full_mask",
    "make",
    "make_timestep",
    "register",
    "register_namespace",
    "registered",
    "wrap_for_training",
]
