"""The multi-robot warehouse (RWARE) as Jumanji's ``RobotWarehouse`` defines it, in vectorised JAX.

Robots (agents) fetch requested shelves and bring them to one of two goal cells at the bottom of
the floor (layout: :mod:`phalanx.envs.rware.layout`). Agents face up/right/down/left and choose
one of five actions (``Discrete(5)``), Jumanji's numbering::

    0: no-op   1: forward   2: turn left   3: turn right   4: toggle load

**Rules** (Jumanji 1.1.2's, followed exactly, quirks included):

* Legal actions: everything, except ``forward`` for an agent carrying a shelf whose forward cell
  holds a shelf (a wall ahead is fine: the agent stays). An illegal (or out-of-range) action is
  played as a no-op.
* ``forward`` moves one cell in the facing direction (clipped at the walls), with the carried
  shelf; agents without a shelf walk under shelves. Turns change the direction.
* ``toggle load`` by an agent without a shelf picks up the shelf in its cell, if any. Putting a
  shelf down happens on ``toggle load`` while carrying **and on a no-op** (Jumanji's rule), and only
  off the highways (on a shelf cell).
* After moving, every requested shelf standing on a goal is delivered: the team gets +1 per
  delivery (every agent receives the team reward), the shelf stops being requested and a new one,
  uniform among the unrequested shelves, is requested. The shelf stays with the agent, which
  has to take it back to a shelf cell. Goals are checked in order, so a new request drawn onto
  the other goal is delivered in the same step.
* The request draws use a key carried in the state (seeded by ``reset``), exactly as Jumanji does,
  so the same start and actions give Jumanji's trajectory bit for bit; ``step``'s key is unused.
  ``reset(key)`` draws the start exactly as Jumanji's generator: agents on distinct uniform cells
  (possibly under shelves) facing uniform directions, ``request_queue_size`` distinct requested
  shelves.

**Collisions** (``collision=``):

* ``"terminate"`` (default, Jumanji's): agents move one after another in index order, each
  clearing its old cell and claiming its new one on the agent grid; if afterwards any agent's
  cell does not show that agent (two agents entered one cell, an agent entered an occupied cell
  before its occupant left, a head-on swap, any rotation), the episode ends: every agent is
  ``terminated``. The last observation is Jumanji's, read from its overwritten grid.
* ``"resolve"`` (the original RWARE's): conflicting moves fail instead, decided at once from the
  movement graph (:func:`~phalanx.envs.rware.moves.resolve_moves`): a queue into a free cell
  moves; of queues meeting at one cell the longest moves (ties: lowest agent index); agents
  blocked by a standing agent stay; rotations of 3+ agents turn; head-on swaps fail. A failed
  move leaves the agent as it was. The episode never terminates. All other rules are Jumanji's
  (its action masks and its no-op put-down); on every step where no collision happens in
  Jumanji's sense both settings give the same transition.

**Episode end.** ``time_limit`` (Jumanji's, default 500) cuts the episode: ``truncated`` (the
observation has no clock, so this is not part of the game); a collision (``"terminate"``) is
``terminated`` for every agent, and wins when both happen on one step.

**Observation** (``Box``, float32, Jumanji's ``agents_view`` layout, ``8 + 5 (K - 1) + 2 K``
features with ``K = (2 r + 1)²`` cells in the sensor square of range ``r``; 66 for ``r = 1``):
own ``row, col, carrying, one-hot direction (4), on highway``; then for each sensor cell in
row-major order except the agent's own, ``[agent there, its one-hot direction (4)]``; then for
every sensor cell, ``[shelf there, shelf requested]``. Cells outside the grid read as empty.

**Global state** (for centralised critics), as Mava's RWARE wrapper builds it: the observations
of all agents concatenated, ``(N * obs_dim,)``.

**State**: agent cells, directions and loads, the agent and shelf grids (``id + 1`` per cell),
which shelves are requested, the step count and the request key (see :class:`RwareState`).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from phalanx.envs.environment import Environment, check_settings
from phalanx.envs.rware import moves, observe, sampling, states
from phalanx.envs.rware.layout import (
    PRESET_COLUMN_HEIGHT,
    PRESET_SENSOR_RANGE,
    SCENARIOS,
    Layout,
    make_layout,
    num_obs_features,
)
from phalanx.envs.rware.types import RwareParams, RwareState
from phalanx.envs.spaces import Box, Discrete
from phalanx.envs.types import EnvSpec, GroupSpec, TimeStep, make_timestep
from phalanx.errors import PhalanxError, did_you_mean

NOOP, FORWARD, LEFT, RIGHT, TOGGLE_LOAD = range(5)
NUM_ACTIONS = 5
UP, RIGHT_DIR, DOWN, LEFT_DIR = range(4)
#: ``(d_row, d_col)`` of one step forward, per direction (up, right, down, left).
STEP = np.array([[-1, 0], [0, 1], [1, 0], [0, -1]], np.int32)
#: Direction change per action (left turns anticlockwise).
TURN = np.array([0, 0, -1, 1, 0], np.int32)
COLLISION_RULES = ("terminate", "resolve")


class Rware(Environment[RwareState, RwareParams]):
    """Jumanji's RobotWarehouse. One group, ``agents`` (``num_agents``), sharing the team reward.

    Args:
        scenario: a preset (Mava's RWARE task names, e.g. ``"tiny-2ag"``, ``"small-4ag"``; see
            :data:`~phalanx.envs.rware.layout.SCENARIOS`); the settings below override it.
        shelf_rows, shelf_columns, column_height: the floor (``shelf_columns`` odd).
        num_agents: robots.
        sensor_range: ``r``: agents see the ``(2r + 1)²`` cells around them (``r >= 1``).
        request_queue_size: shelves requested at any time (fewer than the shelves).
        time_limit: steps per episode (truncation).
        collision: ``"terminate"`` (Jumanji's) or ``"resolve"`` (the original RWARE's).
    """

    name = "rware"

    def __init__(
        self,
        scenario: str = "tiny-2ag",
        shelf_rows: int | None = None,
        shelf_columns: int | None = None,
        column_height: int | None = None,
        num_agents: int | None = None,
        sensor_range: int | None = None,
        request_queue_size: int | None = None,
        time_limit: int = 500,
        collision: str = "terminate",
    ):
        if scenario not in SCENARIOS:
            raise PhalanxError(
                f"rware: unknown scenario {scenario!r}.{did_you_mean(str(scenario), SCENARIOS)} "
                f"Valid scenarios: {', '.join(SCENARIOS)}."
            )
        if collision not in COLLISION_RULES:
            raise PhalanxError(
                f"rware: collision={collision!r} is invalid; expected one of {', '.join(map(repr, COLLISION_RULES))}."
            )
        rows, cols, agents, queue = SCENARIOS[scenario]
        given = {
            "shelf_rows": (shelf_rows, rows),
            "shelf_columns": (shelf_columns, cols),
            "column_height": (column_height, PRESET_COLUMN_HEIGHT),
            "num_agents": (num_agents, agents),
            "sensor_range": (sensor_range, PRESET_SENSOR_RANGE),
            "request_queue_size": (request_queue_size, queue),
        }
        for key, (value, _) in given.items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | np.integer)):
                raise PhalanxError(f"rware: setting {key}={value!r} must be an integer.")
        v = {key: int(default if value is None else value) for key, (value, default) in given.items()}
        check_settings(self.name, [
            (v["shelf_rows"] >= 1, "shelf_rows", v["shelf_rows"], "an integer >= 1"),
            (v["shelf_columns"] >= 1 and v["shelf_columns"] % 2 == 1, "shelf_columns", v["shelf_columns"],
             "an odd integer >= 1"),
            (v["column_height"] >= 1, "column_height", v["column_height"], "an integer >= 1"),
            (v["sensor_range"] >= 1, "sensor_range", v["sensor_range"], "an integer >= 1"),
            (int(time_limit) >= 1, "time_limit", time_limit, "an integer >= 1"),
        ])
        self.scenario = scenario
        self.collision = collision
        self.layout: Layout = make_layout(v["shelf_rows"], v["shelf_columns"], v["column_height"])
        cells, shelves = self.layout.height * self.layout.width, self.layout.num_shelves
        check_settings(self.name, [
            (1 <= v["num_agents"] <= cells, "num_agents", v["num_agents"], f"an integer in [1, {cells}] (grid cells)"),
            (1 <= v["request_queue_size"] < shelves, "request_queue_size", v["request_queue_size"],
             f"an integer in [1, {shelves - 1}] (fewer than the {shelves} shelves)"),
        ])
        self.shelf_rows = v["shelf_rows"]
        self.shelf_columns = v["shelf_columns"]
        self.column_height = v["column_height"]
        self.num_agents = v["num_agents"]
        self.sensor_range = v["sensor_range"]
        self.request_queue_size = v["request_queue_size"]
        self._params = RwareParams(time_limit=int(time_limit))
        self._sensor_offsets = observe.sensor_offsets(self.sensor_range)

    # ------------------------------------------------------------------ spec
    @property
    def default_params(self) -> RwareParams:
        return self._params

    @property
    def time_limit(self) -> int:
        """``time_limit``: the episode is truncated after this many steps."""
        return int(self._params.time_limit)

    @property
    def obs_dim(self) -> int:
        """Features per agent: ``8 + 5 (K - 1) + 2 K``, ``K = (2 r + 1)²``."""
        return num_obs_features(self.sensor_range)

    @functools.cached_property
    def spec(self) -> EnvSpec:
        high = float(max(self.layout.height, self.layout.width) - 1)  # coordinates; every other feature is 0/1
        return EnvSpec(
            groups={
                "agents": GroupSpec(self.num_agents, Box(0.0, high, (self.obs_dim,)), Discrete(NUM_ACTIONS), True),
            },
            global_state=Box(0.0, high, (self.num_agents * self.obs_dim,)),
        )

    def __repr__(self) -> str:
        return (
            f"Rware({self.scenario!r}: {self.layout.height}x{self.layout.width} floor, "
            f"{self.layout.num_shelves} shelves, {self.num_agents} agents, queue {self.request_queue_size}, "
            f"collision={self.collision!r})"
        )

    # ------------------------------------------------------------------ reset
    def _reset(self, key: jax.Array, params: RwareParams) -> tuple[RwareState, TimeStep]:
        del params
        H, W, S, N = self.layout.height, self.layout.width, self.layout.num_shelves, self.num_agents
        # Jumanji's generator, draw for draw: cells, directions, then the request queue (its
        # choice(replace=False) calls, computed without sorting: see sampling.py).
        key, k_pos = jax.random.split(key)
        cells = sampling.permutation_prefix(k_pos, H * W, N)
        key, k_dir = jax.random.split(key)
        dirs = jax.random.choice(k_dir, jnp.arange(4), shape=(N,))
        key, k_queue = jax.random.split(key)
        queue = sampling.permutation_prefix(k_queue, S, self.request_queue_size)
        agent_grid = jnp.zeros(H * W, jnp.int32).at[cells].set(jnp.arange(1, N + 1, dtype=jnp.int32))
        state = RwareState(
            agent_pos=jnp.stack([cells // W, cells % W], axis=-1).astype(jnp.int32),
            agent_dir=dirs.astype(jnp.int32),
            carrying=jnp.zeros(N, jnp.bool_),
            agent_grid=agent_grid.reshape(H, W),
            shelf_grid=jnp.asarray(states.initial_shelf_grid(self.layout)),
            requested=jnp.zeros(S, jnp.bool_).at[queue].set(True),
            t=jnp.int32(0),
            key=key,
        )
        return state, self.observe(state)

    def make_state(
        self,
        agent_pos,
        agent_dir,
        carrying=None,
        requested=None,
        shelf_grid=None,
        t: int = 0,
        key: jax.Array | None = None,
    ) -> RwareState:
        """A state from explicit values, for hand-built situations and tests; see :func:`states.make_state`."""
        return states.make_state(
            self.layout, self.num_agents, self.request_queue_size, agent_pos, agent_dir,
            carrying, requested, shelf_grid, t, key,
        )

    def observe(self, state: RwareState) -> TimeStep:
        """The timestep agents see in ``state`` (zero reward, not done); ``reset`` uses it, so do parity tests."""
        N = self.num_agents
        obs = self._observations(state)
        zeros = jnp.zeros(N, jnp.float32)
        return make_timestep(
            {"agents": obs}, {"agents": self._action_mask(state)}, {"agents": zeros},
            {"agents": jnp.zeros(N, jnp.bool_)}, False, obs.reshape(-1),
        )

    # ------------------------------------------------------------------ step
    def _forward_cells(self, pos: jax.Array, dirs: jax.Array) -> jax.Array:
        """``(N,)`` flat cell one step ahead of each agent, clipped to the floor."""
        H, W = self.layout.height, self.layout.width
        ahead = pos + jnp.asarray(STEP)[dirs]
        return jnp.clip(ahead[:, 0], 0, H - 1) * W + jnp.clip(ahead[:, 1], 0, W - 1)

    def _forward_legal(self, state: RwareState) -> jax.Array:
        """``(N,)`` bool: Jumanji forbids ``forward`` only when carrying into another shelf's cell."""
        W = self.layout.width
        here = state.agent_pos[:, 0] * W + state.agent_pos[:, 1]
        ahead = self._forward_cells(state.agent_pos, state.agent_dir)
        blocked = state.carrying & (ahead != here) & (state.shelf_grid.reshape(-1)[ahead] != 0)
        return ~blocked

    def _action_mask(self, state: RwareState) -> jax.Array:
        """``(N, 5)`` bool legal actions."""
        legal = jnp.ones((self.num_agents, NUM_ACTIONS), jnp.bool_)
        return legal.at[:, FORWARD].set(self._forward_legal(state))

    def _step(
        self, key: jax.Array, state: RwareState, actions: dict[str, jax.Array], params: RwareParams
    ) -> tuple[RwareState, TimeStep]:
        del key  # new requests draw from state.key, as in Jumanji
        H, W, N = self.layout.height, self.layout.width, self.num_agents
        ids = jnp.arange(N, dtype=jnp.int32)
        act = actions["agents"]
        legal = (act >= 0) & (act < NUM_ACTIONS) & ((act != FORWARD) | self._forward_legal(state))
        act = jnp.where(legal, act, NOOP)

        here = state.agent_pos[:, 0] * W + state.agent_pos[:, 1]  # (N,) flat cells
        ahead = self._forward_cells(state.agent_pos, state.agent_dir)
        agent_grid = state.agent_grid.reshape(-1)
        shelf_grid = state.shelf_grid.reshape(-1)
        forward = act == FORWARD
        carried = shelf_grid[here]  # id + 1 of the shelf under each agent (its load, if carrying)

        if self.collision == "terminate":
            # Jumanji's sequential writes: agent i clears its cell and claims the next, in index order.
            new = jnp.where(forward, ahead, here)
            a_cells, a_vals, a_on = moves.jumanji_writes(here, new, ids + 1, forward)
            s_cells, s_vals, s_on = moves.jumanji_writes(here, new, carried, forward & state.carrying)
            agent_grid = moves.apply_in_order(agent_grid, a_cells, a_vals, a_on)
            # A pick-up reads the shelf grid when the agent's turn comes (a shelf may just have been
            # carried in by a lower-index agent: a collision, but it shows in the last observation).
            shelf_here = moves.value_before(shelf_grid, s_cells, s_vals, s_on, here, 2 * ids) != 0
            shelf_grid = moves.apply_in_order(shelf_grid, s_cells, s_vals, s_on)
            collided = agent_grid[new] != ids + 1
        else:
            committed = moves.resolve_moves(agent_grid, here, ahead, forward & (ahead != here))
            moved = forward & committed
            new = jnp.where(moved, ahead, here)
            shelf_here = shelf_grid[here] != 0
            # Successful moves never conflict: clear all the old cells, then fill the new ones.
            off = H * W
            agent_grid = agent_grid.at[jnp.where(moved, here, off)].set(0, mode="drop")
            agent_grid = agent_grid.at[jnp.where(moved, new, off)].set(ids + 1, mode="drop")
            moved_shelf = moved & state.carrying
            shelf_grid = shelf_grid.at[jnp.where(moved_shelf, here, off)].set(0, mode="drop")
            shelf_grid = shelf_grid.at[jnp.where(moved_shelf, new, off)].set(carried, mode="drop")
            collided = jnp.zeros(N, jnp.bool_)

        agent_dir = (state.agent_dir + jnp.asarray(TURN)[act]) % 4
        highway = jnp.asarray(self.layout.highways.reshape(-1))[here]
        pick_up = (act == TOGGLE_LOAD) & ~state.carrying & shelf_here
        # Jumanji puts the shelf down on a no-op as well as on toggle-load, but never on a highway.
        put_down = ((act == NOOP) | ((act == TOGGLE_LOAD) & state.carrying)) & ~highway
        carrying = (state.carrying | pick_up) & ~put_down

        key, requested, deliveries = self._deliver(state.key, state.requested, shelf_grid)
        t = state.t + 1
        new_state = RwareState(
            agent_pos=jnp.stack([new // W, new % W], axis=-1).astype(jnp.int32),
            agent_dir=agent_dir.astype(jnp.int32),
            carrying=carrying,
            agent_grid=agent_grid.reshape(H, W),
            shelf_grid=shelf_grid.reshape(H, W),
            requested=requested,
            t=t,
            key=key,
        )
        collision = collided.any()
        obs = self._observations(new_state)
        ts = make_timestep(
            {"agents": obs},
            {"agents": self._action_mask(new_state)},
            {"agents": jnp.broadcast_to(deliveries.astype(jnp.float32), (N,))},
            {"agents": jnp.broadcast_to(collision, (N,))},
            (t >= params.time_limit) & ~collision,
            obs.reshape(-1),
        )
        return new_state, ts

    def _deliver(self, key: jax.Array, requested: jax.Array, shelf_grid: jax.Array):
        """Deliver requested shelves standing on the goals, in goal order; returns ``(key, requested, count)``."""
        W, S = self.layout.width, self.layout.num_shelves
        count = jnp.int32(0)
        for row, col in self.layout.goals:  # two goals: a static unrolled loop, not a per-agent one
            shelf = shelf_grid[row * W + col] - 1  # -1: no shelf
            hit = (shelf >= 0) & requested[jnp.maximum(shelf, 0)]
            next_key, draw_key = jax.random.split(key)
            # Jumanji's draw: uniform over the unrequested shelves, listed in increasing id.
            new_request = sampling.choose_unset(draw_key, requested, S - self.request_queue_size)
            swapped = requested.at[jnp.maximum(shelf, 0)].set(False).at[new_request].set(True)
            requested = jnp.where(hit, swapped, requested)
            key = jnp.where(hit, next_key, key)
            count = count + hit
        return key, requested, count

    # ------------------------------------------------------------------ observations
    def _observations(self, state: RwareState) -> jax.Array:
        """``(N, obs_dim)`` float32, Jumanji's ``agents_view`` (see the module docstring)."""
        return observe.agents_view(state, self.layout, self._sensor_offsets, self.collision == "terminate")

    # ------------------------------------------------------------------ viewer
    def draw_frame(self, fig: Any, state: RwareState) -> None:
        """Draw ``state`` (NumPy leaves) on the matplotlib ``fig``: see :mod:`phalanx.envs.rware.viewer`."""
        from phalanx.envs.rware.viewer import draw_warehouse

        draw_warehouse(fig, self.layout, self.scenario, state)
