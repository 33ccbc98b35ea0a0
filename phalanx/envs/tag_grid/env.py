"""Gridworld Tag, as WarpDrive's ``TagGridWorld`` (``example_envs/tag_gridworld``) defines it, in pure JAX.

``N - 1`` taggers (type 0) chase one runner (type 1) on the integer grid
``{0, …, L} × {0, …, L}`` (note: ``L + 1`` cells per side, since WarpDrive clips positions to
``[0, L]`` inclusive). Every agent picks one of five moves (``Discrete(5)``)::

    0: stay   1: x + 1   2: x - 1   3: y + 1   4: y - 1

One step, in WarpDrive's order:

1. ``t += 1``; every agent moves, is clipped back into ``[0, L]²`` and, if it was clipped,
   pays ``wall_hit_penalty``.
2. The runner is tagged if any tagger stands on its cell (after the moves).
3. Rewards: if tagged, taggers get ``+tag_reward_for_tagger`` and the runner
   ``-tag_penalty_for_runner``; otherwise taggers pay ``step_cost_for_tagger`` and the runner
   gains it. The wall penalty is added on top.
4. Observations of the new positions and the new ``t``.
5. The episode ends on a tag or at ``t == episode_length``.

**Episode end.** Both ends are reported as *termination* (``terminated`` True for every
agent, ``truncated`` always False): the observation carries ``t / episode_length``, so the
time limit is part of the game (a Markov state), as in the reference, where it is simply
``done``. Stepping an ended episode is outside the game (WarpDrive asserts ``t <= T``); reset
it, e.g. with :class:`~phalanx.envs.AutoReset`.

**Observations** (float32), per agent ``i``:

* full (``use_full_observation=True``, ``4N + 1`` features):
  ``[x_0..x_{N-1} / L, y_0..y_{N-1} / L, type_0..type_{N-1}, onehot(i) (N), t / T]``.
* partial (6 features): ``[x_i / L, y_i / L, x_j / L, y_j / L, type_i, t / T]`` where ``j`` is
  the runner for a tagger and, for the runner, the tagger nearest to it (squared Euclidean
  distance, ties to the lowest tagger id).

**Start.** WarpDrive's default: every tagger at ``(⌊L/2⌋, ⌊L/2⌋)``, the runner at ``(0, 0)``,
or the given ``starting_location_x/_y``. These starts are deterministic (as in the
reference), so by default the env ignores its keys. ``random_start=True`` (a Phalanx
extension, off by default) instead draws every agent's cell uniformly from the grid, from
the reset key, so every env of a ``vmap``-ped batch starts from its own random state.

**Global state** ``(2N + 1,)``: ``[x / L (N), y / L (N), t / T]``.

Agents are numbered as in WarpDrive: ids ``0..N-2`` are taggers, id ``N-1`` the runner;
group ``"taggers"`` holds ids ``0..N-2`` in order and ``"runners"`` the runner.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from phalanx.envs.environment import Environment, check_settings
from phalanx.envs.spaces import Box, Discrete
from phalanx.envs.types import EnvSpec, GroupSpec, TimeStep, full_mask, make_timestep
from phalanx.errors import PhalanxError

#: Move of each action as ``(dx, dy)``, WarpDrive's order.
MOVES = np.array([[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1]], dtype=np.int32)

#: Features of one agent's partial observation.
PARTIAL_OBS_DIM = 6


@struct.dataclass
class TagGridParams:
    """Numeric settings of gridworld Tag (WarpDrive's defaults); ``vmap``-able.

    Attributes:
        start_x, start_y: ``(N,)`` int32 starting cells (used unless ``random_start``).
        grid_length: ``()`` int, ``L``: positions lie in ``[0, L]``.
        episode_length: ``()`` int, ``T``: the game ends at ``t == T``.
        wall_hit_penalty: paid by an agent whose move is clipped by the wall.
        tag_reward_for_tagger: every tagger's reward on the step the runner is tagged.
        tag_penalty_for_runner: the runner pays this on the step it is tagged.
        step_cost_for_tagger: taggers pay (and the runner gains) this on every other step.
    """

    start_x: jax.Array  # (N,) int32
    start_y: jax.Array  # (N,) int32
    grid_length: int = 10
    episode_length: int = 100
    wall_hit_penalty: float = 0.1
    tag_reward_for_tagger: float = 10.0
    tag_penalty_for_runner: float = 2.0
    step_cost_for_tagger: float = 0.01


@struct.dataclass
class TagGridState:
    """Positions of every agent (taggers first, the runner last) and the clock."""

    pos: jax.Array  # (N, 2) int32 x, y in [0, L]
    t: jax.Array  # () int32 steps taken


class TagGrid(Environment[TagGridState, TagGridParams]):
    """WarpDrive's gridworld Tag. Groups: ``taggers`` (``num_taggers``) and ``runners`` (1).

    Args:
        num_taggers: number of taggers (WarpDrive's default 10); there is one runner.
        grid_length: ``L``; the grid is ``{0..L}²``.
        episode_length: ``T``, the time limit (a game rule: reported as termination).
        starting_location_x, starting_location_y: ``N`` integer starting cells each (taggers
            first, the runner last); default: taggers at the centre ``⌊L/2⌋``, runner at 0.
        wall_hit_penalty, tag_reward_for_tagger, tag_penalty_for_runner, step_cost_for_tagger:
            rewards (positive magnitudes, as in WarpDrive).
        use_full_observation: ``4N + 1`` features of everyone, or the 6-feature partial view.
        random_start: draw every agent's starting cell uniformly from the reset key instead
            of the fixed starts (not in WarpDrive; off by default).
    """

    name = "tag_grid"

    def __init__(
        self,
        num_taggers: int = 10,
        grid_length: int = 10,
        episode_length: int = 100,
        starting_location_x: Sequence[int] | None = None,
        starting_location_y: Sequence[int] | None = None,
        wall_hit_penalty: float = 0.1,
        tag_reward_for_tagger: float = 10.0,
        tag_penalty_for_runner: float = 2.0,
        step_cost_for_tagger: float = 0.01,
        use_full_observation: bool = True,
        random_start: bool = False,
    ):
        check_settings(self.name, [
            (num_taggers >= 1, "num_taggers", num_taggers, "an integer >= 1"),
            (grid_length >= 1, "grid_length", grid_length, "an integer >= 1"),
            (episode_length >= 1, "episode_length", episode_length, "an integer >= 1"),
        ])
        self.num_taggers = int(num_taggers)
        self.num_agents = self.num_taggers + 1
        self.use_full_observation = bool(use_full_observation)
        self.random_start = bool(random_start)
        start_x, start_y = self._starting_locations(starting_location_x, starting_location_y, grid_length)
        self._params = TagGridParams(
            start_x=start_x,
            start_y=start_y,
            grid_length=int(grid_length),
            episode_length=int(episode_length),
            wall_hit_penalty=float(wall_hit_penalty),
            tag_reward_for_tagger=float(tag_reward_for_tagger),
            tag_penalty_for_runner=float(tag_penalty_for_runner),
            step_cost_for_tagger=float(step_cost_for_tagger),
        )

    def _starting_locations(self, xs, ys, grid_length: int) -> tuple[np.ndarray, np.ndarray]:
        n = self.num_agents
        if xs is None and ys is None:
            if self.random_start:
                return np.zeros(n, np.int32), np.zeros(n, np.int32)  # unused
            centre = grid_length // 2  # WarpDrive: int(0.5 * grid_length)
            start = np.full(n, centre, np.int32)
            start[-1] = 0
            return start, start.copy()
        if self.random_start:
            raise PhalanxError(
                "tag_grid: random_start=True draws the starting cells; do not also give "
                "starting_location_x/starting_location_y."
            )
        out = []
        for key, value in (("starting_location_x", xs), ("starting_location_y", ys)):
            if value is None:
                raise PhalanxError(
                    f"tag_grid: {key} is missing; give both starting_location_x and "
                    "starting_location_y, or neither."
                )
            arr = np.asarray(value)
            if arr.shape != (n,) or arr.dtype.kind not in "iuf" or np.any(arr != np.round(arr)):
                raise PhalanxError(
                    f"tag_grid: {key}={value!r} is invalid; expected {n} integers "
                    f"(num_taggers + 1: taggers first, the runner last)."
                )
            if np.any((arr < 0) | (arr > grid_length)):
                raise PhalanxError(
                    f"tag_grid: {key}={value!r} is invalid; every cell must lie in "
                    f"[0, grid_length={grid_length}]."
                )
            out.append(arr.astype(np.int32))
        return out[0], out[1]

    @property
    def default_params(self) -> TagGridParams:
        return self._params

    @property
    def time_limit(self) -> int:
        """``episode_length``: the game ends at ``t == episode_length`` at the latest."""
        return int(self._params.episode_length)

    def draw_frame(self, fig: Any, state: TagGridState) -> None:
        """Draw one (unbatched, NumPy) state on the matplotlib ``fig``: see :mod:`phalanx.envs.tag_grid.viewer`."""
        from phalanx.envs.tag_grid.viewer import draw_tag_grid

        draw_tag_grid(fig, self._params.grid_length, state)

    @property
    def obs_dim(self) -> int:
        """Features per agent: ``4N + 1`` (full) or 6 (partial)."""
        return 4 * self.num_agents + 1 if self.use_full_observation else PARTIAL_OBS_DIM

    @functools.cached_property
    def spec(self) -> EnvSpec:
        obs = Box(0.0, 1.0, (self.obs_dim,))
        act = Discrete(len(MOVES))
        return EnvSpec(
            groups={
                "taggers": GroupSpec(self.num_taggers, obs, act),
                "runners": GroupSpec(1, obs, act),
            },
            global_state=Box(0.0, 1.0, (2 * self.num_agents + 1,)),
        )

    # ------------------------------------------------------------------ reset / step
    def _reset(self, key: jax.Array, params: TagGridParams) -> tuple[TagGridState, TimeStep]:
        if self.random_start:
            high = jnp.asarray(params.grid_length, jnp.int32) + 1
            pos = jax.random.randint(key, (self.num_agents, 2), 0, high, dtype=jnp.int32)
        else:
            pos = jnp.stack(
                [jnp.asarray(params.start_x, jnp.int32), jnp.asarray(params.start_y, jnp.int32)], axis=-1
            )
        state = TagGridState(pos=pos, t=jnp.int32(0))
        return state, self.observe(state, params)

    def observe(self, state: TagGridState, params: TagGridParams) -> TimeStep:
        """The timestep agents see in ``state`` (zero rewards, not done); used by reset and parity tests."""
        zeros = {g: jnp.zeros(n, jnp.float32) for g, n in self.groups.items()}
        not_done = {g: jnp.zeros(n, jnp.bool_) for g, n in self.groups.items()}
        return make_timestep(
            self._group(self._observations(state, params)), self._masks(), zeros, not_done, False,
            self._global_state(state, params),
        )

    def _step(
        self, key: jax.Array, state: TagGridState, actions: dict[str, jax.Array], params: TagGridParams
    ) -> tuple[TagGridState, TimeStep]:
        del key  # the dynamics are deterministic given the actions
        f32 = jnp.float32
        L = jnp.asarray(params.grid_length, jnp.int32)
        act = jnp.concatenate([actions["taggers"], actions["runners"]])  # (N,) global order
        t = state.t + 1

        # 1. Move, clip to the grid, wall penalty.
        moved = state.pos + jnp.asarray(MOVES)[act]  # (N, 2)
        pos = jnp.clip(moved, 0, L)
        hit_wall = jnp.any(moved != pos, axis=-1)  # (N,)

        # 2. Tag: any tagger on the runner's cell.
        tagged = jnp.any(jnp.all(pos[:-1] == pos[-1], axis=-1))

        # 3. Rewards (tag part, then the wall penalty on top).
        is_tagger = jnp.arange(self.num_agents) < self.num_taggers
        tagger_r = jnp.where(tagged, f32(params.tag_reward_for_tagger), -f32(params.step_cost_for_tagger))
        runner_r = jnp.where(tagged, -f32(params.tag_penalty_for_runner), f32(params.step_cost_for_tagger))
        reward = jnp.where(is_tagger, tagger_r, runner_r) + -(f32(params.wall_hit_penalty) * hit_wall)

        # 4./5. Observe the new state; the game ends on a tag or at the time limit.
        new_state = TagGridState(pos=pos, t=t)
        done = tagged | (t >= params.episode_length)
        terminated = {g: jnp.broadcast_to(done, (n,)) for g, n in self.groups.items()}
        ts = make_timestep(
            self._group(self._observations(new_state, params)), self._masks(), self._group(reward),
            terminated, False, self._global_state(new_state, params),
        )
        return new_state, ts

    # ------------------------------------------------------------------ observations
    def _masks(self) -> dict[str, jax.Array]:
        act = self.spec.groups["taggers"].action
        return {g: full_mask(n, act) for g, n in self.groups.items()}

    def _group(self, per_agent: jax.Array) -> dict[str, jax.Array]:
        """Split ``(N, ...)`` global-order data into the two groups."""
        return {"taggers": per_agent[: self.num_taggers], "runners": per_agent[self.num_taggers :]}

    @staticmethod
    def _normalised(state: TagGridState, params: TagGridParams) -> tuple[jax.Array, jax.Array]:
        """``(N, 2)`` positions ``/ L`` and ``()`` ``t / T``, float32."""
        pos = state.pos.astype(jnp.float32) / jnp.asarray(params.grid_length, jnp.float32)
        time = state.t.astype(jnp.float32) / jnp.asarray(params.episode_length, jnp.float32)
        return pos, time

    def _global_state(self, state: TagGridState, params: TagGridParams) -> jax.Array:
        pos, time = self._normalised(state, params)
        return jnp.concatenate([pos[:, 0], pos[:, 1], time[None]])

    def _observations(self, state: TagGridState, params: TagGridParams) -> jax.Array:
        """``(N, obs_dim)`` float32, global agent order (see the module docstring)."""
        n = self.num_agents
        pos, time = self._normalised(state, params)
        types = (jnp.arange(n) >= self.num_taggers).astype(jnp.float32)  # 0 tagger, 1 runner
        time_col = jnp.broadcast_to(time, (n, 1))
        if self.use_full_observation:
            common = jnp.concatenate([pos[:, 0], pos[:, 1], types])  # (3N,)
            return jnp.concatenate(
                [jnp.broadcast_to(common, (n, 3 * n)), jnp.eye(n, dtype=jnp.float32), time_col], axis=1
            )
        # Partial: taggers see the runner; the runner sees its nearest tagger.
        d2 = jnp.sum((state.pos[:-1] - state.pos[-1]) ** 2, axis=-1)  # (N-1,) int32
        nearest = jnp.argmin(d2)  # first minimum: ties go to the lowest id
        target = jnp.concatenate([jnp.broadcast_to(pos[-1], (n - 1, 2)), pos[nearest][None]], axis=0)
        return jnp.concatenate([pos, target, types[:, None], time_col], axis=1)
