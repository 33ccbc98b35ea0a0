"""Tag's state, settings and per-agent feature counts, shared by the env and its observation code."""

from __future__ import annotations

import jax
from flax import struct

NUM_FEATURES = 7  # Δx, Δy, Δspeed, Δacc, Δdir, type, alive — per observed agent
NUM_SELF_FEATURES = 6  # x, y, speed, acceleration, cos(direction), sin(direction) of the observer


@struct.dataclass
class TagParams:
    """Numeric settings of Tag (WarpDrive's defaults); ``vmap``-able."""

    grid_length: float = 10.0
    episode_length: int = 100
    max_speed: float = 1.0
    skill_level_runner: float = 1.0
    skill_level_tagger: float = 1.0
    edge_hit_penalty: float = -0.0
    tagging_distance: float = 0.01
    tag_reward_for_tagger: float = 1.0
    step_penalty_for_tagger: float = -0.0
    tag_penalty_for_runner: float = -1.0
    step_reward_for_runner: float = 0.0
    end_of_game_reward_for_runner: float = 1.0


@struct.dataclass
class TagState:
    """Every agent in one array, in WarpDrive's global agent order (taggers interleaved)."""

    pos: jax.Array  # (N, 2) float32 x, y in [0, L]
    speed: jax.Array  # (N,) float32
    direction: jax.Array  # (N,) float32 in [0, 2π)
    acceleration: jax.Array  # (N,) float32
    alive: jax.Array  # (N,) bool, still in the game
    agent_type: jax.Array  # (N,) int32, 1 = tagger, 0 = runner
    tagger_ids: jax.Array  # (n_taggers,) int32 global ids of taggers, ascending
    runner_ids: jax.Array  # (n_runners,) int32 global ids of runners, ascending
    t: jax.Array  # () int32 steps taken
