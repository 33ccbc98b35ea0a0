"""A tiny continuous task for learner tests: each agent moves on a line to its own target.

Agent ``i`` at ``x_i`` with target ``g_i`` (both uniform in ``[−1, 1]`` at reset) observes
``(g_i − x_i, x_i)`` and moves by ``step_size × a_i`` with ``a_i ∈ [−1, 1]``; its reward is
``−|g_i − x_i|`` after the move. Episodes are cut after ``episode_length`` steps (a time
limit: truncated, never terminated). With the defaults (8 steps of at most 0.25) uniformly
random actions score −5.67 per agent on average and moving straight to the target −1.02
(Monte Carlo over 200,000 starts).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from phalanx.envs.environment import Environment
from phalanx.envs.spaces import Box
from phalanx.envs.types import EnvSpec, GroupSpec, TimeStep, make_timestep


@struct.dataclass
class ReachState:
    pos: jax.Array  # (A,) positions
    goal: jax.Array  # (A,) targets
    t: jax.Array  # () int32 steps taken


class Reach(Environment[ReachState, None]):
    """``num_agents`` agents (group ``agents``), each reaching its own target on a line."""

    name = "reach_1d"

    def __init__(self, num_agents: int = 2, episode_length: int = 8, step_size: float = 0.25):
        self.num_agents = num_agents
        self.episode_length = episode_length
        self.step_size = step_size

    @property
    def spec(self) -> EnvSpec:
        group = GroupSpec(self.num_agents, Box(-np.inf, np.inf, (2,)), Box(-1.0, 1.0, (1,)))
        return EnvSpec({"agents": group}, Box(-np.inf, np.inf, (2 * self.num_agents,)))

    @property
    def default_params(self) -> None:
        return None

    def _timestep(self, state: ReachState, reward: jax.Array) -> TimeStep:
        obs = jnp.stack([state.goal - state.pos, state.pos], axis=-1)
        return make_timestep({"agents": obs}, {"agents": jnp.ones((self.num_agents, 0), bool)}, {"agents": reward},
                             {"agents": jnp.zeros(self.num_agents, bool)}, state.t >= self.episode_length,
                             obs.reshape(-1))

    def _reset(self, key, params):
        k_pos, k_goal = jax.random.split(key)
        uniform = lambda k: jax.random.uniform(k, (self.num_agents,), minval=-1.0, maxval=1.0)  # noqa: E731
        state = ReachState(uniform(k_pos), uniform(k_goal), jnp.int32(0))
        return state, self._timestep(state, jnp.zeros(self.num_agents))

    def _step(self, key, state, actions, params):
        pos = jnp.clip(state.pos + self.step_size * jnp.clip(actions["agents"][:, 0], -1.0, 1.0), -2.0, 2.0)
        state = ReachState(pos, state.goal, state.t + 1)
        return state, self._timestep(state, -jnp.abs(state.goal - pos))
