"""Level-based foraging (LBF) as Jumanji defines it (``jumanji.environments.routing.lbf``), in pure JAX.

``N`` agents and ``F`` food items, each with a level, on a ``G × G`` grid (cells are
``(row, col)``). Each agent picks one of six actions (``Discrete(6)``)::

    0: noop   1: up (row - 1)   2: down (row + 1)   3: left (col - 1)   4: right (col + 1)   5: load

One step, in Jumanji's order:

1. **Move.** A move whose target is off the grid, holds another agent or an uneaten food
   (positions before anyone moves) is cancelled. Then every agent whose target is shared
   with another agent stays where it was. Load and noop do not move.
2. **Eat.** A food is eaten when the levels of the agents that chose load and stand
   4-adjacent to it (after moving) sum to at least its level. One agent may load several
   food items at once.
3. **Reward**, per food eaten: each adjacent loading agent gets ``its level × food level``;
   when loading agents were adjacent but too weak, every agent pays ``penalty``. With
   ``normalize_reward`` (the default) each food's rewards and penalty are divided by
   ``(summed levels of its loaders) × (summed level of all food)``, so the rewards of a
   whole episode add up to at most 1. An agent's reward is the sum over food items.
   ``team_reward=True`` gives every agent the sum of all agents' rewards (Mava's default
   for LBF, ``use_individual_rewards: False``); the default is Jumanji's individual rewards.
4. **End.** All food eaten → every agent *terminated*. ``step_count == time_limit`` (and some
   food left) → *truncated* (Jumanji's ``truncation``: discount 1, bootstrap). When both
   happen on the same step, Jumanji reports termination, and so do we.

**Observations** (float32): Jumanji's ``VectorObserver`` (Mava's default) by default,
``(3 (F + N),)`` per agent: ``(row, col, level)`` of each food, of the agent itself, then of
the other agents by id, relative to the agent's view window; anything farther than ``fov``
(Chebyshev) and eaten food read ``(-1, -1, 0)``. ``grid_observation=True`` gives Jumanji's
``GridObserver`` instead: ``(3, 2 fov + 1, 2 fov + 1)`` layers of agent levels, food levels
and accessibility around the agent. The values are Jumanji's integers, cast to float32 as
Mava's wrapper does. Jumanji's ``step_count`` field is not part of the observation (Mava's
networks do not read it); it is ``state.step_count``.

**Action mask** ``(N, 6)``: a move is legal when its target is on the grid and free (no
agent, no uneaten food); noop always; load when an uneaten food is 4-adjacent. Illegal
actions are still accepted (they act as noop), as in Jumanji.

**Global state** (for centralised critics), ``global_state=``:

* ``"concat_obs"`` (default): all agents' observations concatenated, ``(N × obs size,)``,
  Mava's ``add_global_state`` for LBF (with a small sight it is *not* the full state);
* ``"full"``: the full state, ``(3 (N + F) + 1,)``: every agent's ``(row, col, level)`` and
  every food's (eaten ones ``(-1, -1, 0)``) in absolute coordinates, then ``step_count / time_limit``.

**Settings.** ``scenario`` names a task (:mod:`phalanx.envs.lbf.scenarios`, default Mava's
``2s-8x8-2p-2f-coop``); ``grid_size``, ``num_agents``, ``num_food``, ``fov`` and
``force_coop`` override what it says. Starts are drawn from Jumanji's distribution
(:mod:`phalanx.envs.lbf.generator`).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from phalanx.envs.environment import Environment, check_settings
from phalanx.envs.lbf import observe
from phalanx.envs.lbf.generator import sample_start
from phalanx.envs.lbf.scenarios import parse_scenario
from phalanx.envs.spaces import Box, Discrete
from phalanx.envs.types import EnvSpec, GroupSpec, TimeStep, make_timestep
from phalanx.errors import PhalanxError

GROUP = "agents"
GLOBAL_STATES = ("concat_obs", "full")


@struct.dataclass
class LBFParams:
    """Numeric settings of LBF; ``vmap``-able.

    Attributes:
        time_limit: steps after which the episode is truncated (Jumanji/Mava: 100).
        max_agent_level: agent levels are uniform in ``[1, max_agent_level]`` at reset.
        force_coop: every food at the summed level of the three lowest-level agents.
        normalize_reward: divide rewards so that an episode's total is at most 1.
        penalty: paid by every agent when loaders around a food are too weak.
        team_reward: every agent receives the sum of all agents' rewards.
    """

    time_limit: int = 100
    max_agent_level: int = 2
    force_coop: bool = True
    normalize_reward: bool = True
    penalty: float = 0.0
    team_reward: bool = False


@struct.dataclass
class LBFState:
    """Positions, levels, which food is eaten, and the clock (Jumanji's ``State`` without ``key``)."""

    agent_pos: jax.Array  # (N, 2) int32 (row, col)
    agent_level: jax.Array  # (N,) int32
    food_pos: jax.Array  # (F, 2) int32 (row, col)
    food_level: jax.Array  # (F,) int32
    food_eaten: jax.Array  # (F,) bool
    step_count: jax.Array  # () int32 steps taken in this episode


def _int_setting(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer) or int(value) != value:
        raise PhalanxError(f"lbf: setting {name}={value!r} must be an integer.")
    return int(value)


class LevelBasedForaging(Environment[LBFState, LBFParams]):
    """Jumanji's level-based foraging. One group, ``agents``.

    Args:
        scenario: ``[Ns-]WxH-Np-Nf[-coop]``, e.g. ``"2s-8x8-2p-2f-coop"`` (Mava's default task).
        grid_size, num_agents, num_food, fov, force_coop: override the scenario's values
            (``fov`` defaults to the sight in the name, else ``grid_size``).
        max_agent_level: highest agent level (Jumanji/Mava: 2).
        time_limit: steps before truncation (Jumanji/Mava: 100).
        grid_observation: Jumanji's grid observer instead of the vector one.
        normalize_reward, penalty: Jumanji's reward options.
        team_reward: every agent gets the team's summed reward (Mava's default).
        global_state: ``"concat_obs"`` (Mava's) or ``"full"`` (see the module docstring).

    Raises:
        PhalanxError: an unknown scenario, or settings Jumanji's generator rejects.
    """

    name = "lbf"

    def __init__(
        self,
        scenario: str = "2s-8x8-2p-2f-coop",
        grid_size: int | None = None,
        num_agents: int | None = None,
        num_food: int | None = None,
        fov: int | None = None,
        force_coop: bool | None = None,
        max_agent_level: int = 2,
        time_limit: int = 100,
        grid_observation: bool = False,
        normalize_reward: bool = True,
        penalty: float = 0.0,
        team_reward: bool = False,
        global_state: str = "concat_obs",
    ):
        base = parse_scenario(scenario)
        g = _int_setting("grid_size", base.grid_size if grid_size is None else grid_size)
        n = _int_setting("num_agents", base.num_agents if num_agents is None else num_agents)
        f = _int_setting("num_food", base.num_food if num_food is None else num_food)
        sight = base.fov if fov is None else fov
        v = g if sight is None else _int_setting("fov", sight)
        coop = base.force_coop if force_coop is None else force_coop
        if not isinstance(coop, bool):
            raise PhalanxError(f"lbf: setting force_coop={coop!r} must be true or false.")
        check_settings(self.name, [
            (g >= 5, "grid_size", g, "an integer >= 5 (Jumanji's generator)"),
            (1 <= v <= g, "fov", v, f"an integer in [1, grid_size={g}]"),
            (n >= 1, "num_agents", n, "an integer >= 1"),
            (f >= 1, "num_food", f, "an integer >= 1"),
            (max_agent_level >= 2, "max_agent_level", max_agent_level, "an integer >= 2 (Jumanji's generator)"),
            (time_limit >= 1, "time_limit", time_limit, "an integer >= 1"),
            (global_state in GLOBAL_STATES, "global_state", global_state, f"one of {', '.join(GLOBAL_STATES)}"),
        ])
        if (g - 2) ** 2 - n <= 5 * f:
            raise PhalanxError(
                f"lbf: {f} food items and {n} agents do not fit a {g}x{g} grid; Jumanji needs "
                f"(grid_size - 2)^2 - num_agents > 5 * num_food: use a larger grid_size or fewer items."
            )
        self.grid_size, self.num_agents, self.num_food, self.fov = g, n, f, v
        self.grid_observation = bool(grid_observation)
        self.global_state_kind = global_state
        self._order = observe.others_order(n)
        self._params = LBFParams(
            time_limit=int(time_limit),
            max_agent_level=int(max_agent_level),
            force_coop=coop,
            normalize_reward=bool(normalize_reward),
            penalty=float(penalty),
            team_reward=bool(team_reward),
        )

    @property
    def default_params(self) -> LBFParams:
        return self._params

    @property
    def time_limit(self) -> int:
        """``time_limit``: the episode is truncated after this many steps."""
        return int(self._params.time_limit)

    @property
    def obs_shape(self) -> tuple[int, ...]:
        """One agent's observation: ``(3 (F + N),)`` or ``(3, 2 fov + 1, 2 fov + 1)``."""
        if self.grid_observation:
            side = 2 * self.fov + 1
            return (3, side, side)
        return (3 * (self.num_food + self.num_agents),)

    @functools.cached_property
    def spec(self) -> EnvSpec:
        # Jumanji's bound: the largest of the grid side and the levels (food ≤ N × max agent level).
        high = float(max(self.grid_size, self.num_agents * self._params.max_agent_level))
        low = 0.0 if self.grid_observation else -1.0
        obs = Box(low, high, self.obs_shape)
        if self.global_state_kind == "full":
            state = Box(-1.0, high, (3 * (self.num_agents + self.num_food) + 1,))
        else:
            state = Box(low, high, (self.num_agents * int(np.prod(self.obs_shape)),))
        group = GroupSpec(self.num_agents, obs, Discrete(observe.NUM_ACTIONS), has_action_mask=True)
        return EnvSpec(groups={GROUP: group}, global_state=state)

    # ------------------------------------------------------------------ reset / step
    def _reset(self, key: jax.Array, params: LBFParams) -> tuple[LBFState, TimeStep]:
        agent_pos, agent_level, food_pos, food_level = sample_start(
            key, self.grid_size, self.num_agents, self.num_food, params.max_agent_level, params.force_coop
        )
        state = LBFState(
            agent_pos=agent_pos,
            agent_level=agent_level,
            food_pos=food_pos,
            food_level=food_level,
            food_eaten=jnp.zeros(self.num_food, jnp.bool_),
            step_count=jnp.int32(0),
        )
        return state, self.observe(state, params)

    def observe(self, state: LBFState, params: LBFParams | None = None) -> TimeStep:
        """The timestep agents see in ``state`` (zero rewards, not done); used by reset and parity tests."""
        params = self.default_params if params is None else params
        free = observe.free_moves(state.agent_pos, state.food_pos, state.food_eaten, self.grid_size)
        adjacent = observe.food_adjacent(state.agent_pos, state.food_pos, state.food_eaten)
        zeros = jnp.zeros(self.num_agents, jnp.float32)
        return self._timestep(state, params, free, adjacent, zeros, jnp.bool_(False), jnp.bool_(False))

    def _step(
        self, key: jax.Array, state: LBFState, actions: dict[str, jax.Array], params: LBFParams
    ) -> tuple[LBFState, TimeStep]:
        del key  # the dynamics are deterministic given the actions
        g, n = self.grid_size, self.num_agents
        act = actions[GROUP]  # (N,) int32
        pos = state.agent_pos

        # 1. Move: cancel blocked moves, then undo moves that land on a shared cell.
        free = observe.free_moves(pos, state.food_pos, state.food_eaten, g)  # (N, 5)
        can_move = jnp.take_along_axis(jnp.pad(free, ((0, 0), (0, 1)), constant_values=True), act[:, None], 1)
        target = jnp.where(can_move, pos + jnp.asarray(observe.MOVES)[act], pos)
        cell = target[:, 0] * g + target[:, 1]
        shared = jnp.any((cell[:, None] == cell[None, :]) & ~jnp.eye(n, dtype=bool), axis=1)
        new_pos = jnp.where(shared[:, None], pos, target)

        # 2. Eat: loaders adjacent to an uneaten food, their levels summed per food.
        adjacent = observe.food_adjacent(new_pos, state.food_pos, state.food_eaten)  # (F, N)
        loader_level = jnp.where(adjacent & (act == observe.LOAD)[None, :], state.agent_level[None, :], 0)
        level_sum = jnp.sum(loader_level, axis=1)  # (F,)
        eaten_now = level_sum >= state.food_level
        food_eaten = state.food_eaten | eaten_now

        # 3. Reward (Jumanji's arithmetic: int products, float penalty, normalise, sum over food).
        tried = (level_sum != 0) & (level_sum < state.food_level)
        penalty = jnp.where(tried, jnp.asarray(params.penalty, jnp.float32), 0.0)
        per_food = (loader_level * eaten_now[:, None] * state.food_level[:, None]).astype(jnp.float32)
        per_food = per_food - penalty[:, None]  # (F, N)
        normaliser = (level_sum * jnp.sum(state.food_level)).astype(jnp.float32)
        normalised = jnp.where(level_sum[:, None] > 0, per_food / jnp.maximum(normaliser, 1.0)[:, None], 0.0)
        reward = jnp.sum(jnp.where(params.normalize_reward, normalised, per_food), axis=0)
        reward = jnp.where(params.team_reward, jnp.broadcast_to(jnp.sum(reward), (n,)), reward)

        # 4. End: all food eaten terminates; the time limit truncates otherwise.
        new_state = LBFState(
            agent_pos=new_pos,
            agent_level=state.agent_level,
            food_pos=state.food_pos,
            food_level=state.food_level,
            food_eaten=food_eaten,
            step_count=state.step_count + 1,
        )
        terminated = jnp.all(food_eaten)
        truncated = (new_state.step_count >= params.time_limit) & ~terminated
        free = observe.free_moves(new_pos, state.food_pos, food_eaten, g)
        adjacent = observe.food_adjacent(new_pos, state.food_pos, food_eaten)
        return new_state, self._timestep(new_state, params, free, adjacent, reward, terminated, truncated)

    # ------------------------------------------------------------------ observations
    def _timestep(
        self,
        state: LBFState,
        params: LBFParams,
        free: jax.Array,
        adjacent: jax.Array,
        reward: jax.Array,
        terminated: jax.Array,
        truncated: jax.Array,
    ) -> TimeStep:
        obs = self._observations(state)
        if self.global_state_kind == "full":
            global_state = observe.full_state(
                state.agent_pos, state.agent_level, state.food_pos, state.food_level, state.food_eaten,
                state.step_count, params.time_limit,
            )
        else:
            global_state = obs.reshape(-1)
        return make_timestep(
            {GROUP: obs},
            {GROUP: observe.action_mask(free, adjacent)},
            {GROUP: reward.astype(jnp.float32)},
            {GROUP: jnp.broadcast_to(terminated, (self.num_agents,))},
            truncated,
            global_state,
        )

    def _observations(self, state: LBFState) -> jax.Array:
        """``(N, *obs_shape)`` float32."""
        args = (state.agent_pos, state.agent_level, state.food_pos, state.food_level, state.food_eaten, self.fov)
        if self.grid_observation:
            return observe.grid_obs(*args, self.grid_size)
        return observe.vector_obs(*args, self._order)

    # ------------------------------------------------------------------ viewer
    def draw_frame(self, fig: Any, state: LBFState) -> None:
        """Draw one (unbatched, NumPy) state on the matplotlib figure ``fig``."""
        from phalanx.envs.lbf.viewer import draw_lbf

        draw_lbf(fig, self, state)

    def __repr__(self) -> str:
        return (
            f"LevelBasedForaging(grid_size={self.grid_size}, num_agents={self.num_agents}, "
            f"num_food={self.num_food}, fov={self.fov})"
        )
