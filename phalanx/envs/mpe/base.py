"""What every MPE scenario shares: groups and spaces, action decoding, step and timestep.

A scenario subclass sets up its :class:`~phalanx.envs.mpe.physics.Entities` and groups in
``__init__`` (via :meth:`MPEEnv._setup`) and implements three pure functions of the
state: ``_initial_state`` (random start), ``_observations`` and ``_rewards``.
"""

from __future__ import annotations

import functools
from typing import Any, Literal, TypeVar

import jax
import jax.numpy as jnp
import numpy as np

from phalanx.envs.environment import Environment
from phalanx.envs.mpe import physics
from phalanx.envs.mpe.physics import Entities, MPEParams, MPEState
from phalanx.envs.spaces import Box, Discrete
from phalanx.envs.types import EnvSpec, GroupSpec, TimeStep, full_mask, make_timestep

ParamsT = TypeVar("ParamsT", bound=MPEParams)
Role = Literal["move", "speak"]  # movable silent agents, or immovable speakers


class MPEEnv(Environment[MPEState, ParamsT]):
    """Base of the MPE scenarios. Agents of a group are contiguous in the entity arrays.

    Every group is either ``"move"`` (movable, silent agents: 5 discrete moves, or a
    ``Box(0, 1, (5,))`` whose force is ``(a2 − a1, a4 − a3)``) or ``"speak"`` (immovable
    agents that only talk: ``dim_c`` discrete words, or a ``Box(0, 1, (dim_c,))``).
    """

    entities: Entities
    dim_c: int
    continuous_actions: bool
    roles: dict[str, Role]
    sizes: dict[str, int]

    def _setup(
        self,
        entities: Entities,
        dim_c: int,
        groups: dict[str, tuple[int, Role]],
        continuous_actions: bool,
        params: ParamsT,
    ) -> None:
        """Store the static world: entities, comm size, ``{group: (size, role)}`` in order, params."""
        self.entities = entities
        self.dim_c = dim_c
        self.continuous_actions = continuous_actions
        self.sizes = {g: n for g, (n, _) in groups.items()}
        self.roles = {g: r for g, (_, r) in groups.items()}
        #: ``{group: (A,) int32}`` static agent ids (rows of the entity arrays) of each group
        self.agent_ids: dict[str, np.ndarray] = {}
        #: ``{group: slice}`` the same rows as a slice (static slicing, no gather)
        self.agent_rows: dict[str, slice] = {}
        start = 0
        for g, n in self.sizes.items():
            self.agent_ids[g] = np.arange(start, start + n, dtype=np.int32)
            self.agent_rows[g] = slice(start, start + n)
            start += n
        self._params = params

    # ------------------------------------------------------------------ scenario hooks
    def _initial_state(self, key: jax.Array, params: ParamsT) -> MPEState:
        raise NotImplementedError

    def _observations(self, state: MPEState, params: ParamsT) -> dict[str, jax.Array]:
        raise NotImplementedError

    def _rewards(self, state: MPEState, params: ParamsT) -> dict[str, jax.Array]:
        raise NotImplementedError

    # ------------------------------------------------------------------ contract
    @property
    def default_params(self) -> ParamsT:
        return self._params

    @property
    def time_limit(self) -> int:
        """``max_cycles``: the episode is truncated after this many steps."""
        return int(self._params.max_cycles)

    def draw_frame(self, fig: Any, state: MPEState) -> None:
        """Draw one (unbatched, NumPy) state on the matplotlib ``fig``: see :mod:`phalanx.envs.mpe.viewer`."""
        from phalanx.envs.mpe.viewer import draw_mpe

        draw_mpe(fig, self, state)

    def _action_space(self, role: Role) -> Discrete | Box:
        n = physics.NUM_MOVES if role == "move" else self.dim_c
        return Box(0.0, 1.0, (n,)) if self.continuous_actions else Discrete(n)

    @functools.cached_property
    def spec(self) -> EnvSpec:
        shapes = jax.eval_shape(self._observations, self.make_state(), self.default_params)
        groups = {
            g: GroupSpec(n, Box(-np.inf, np.inf, shapes[g].shape[1:]), self._action_space(self.roles[g]))
            for g, n in self.sizes.items()
        }
        state_dim = sum(int(np.prod(s.shape)) for s in shapes.values())
        return EnvSpec(groups=groups, global_state=Box(-np.inf, np.inf, (state_dim,)))

    def make_state(
        self,
        agent_pos: jax.Array | np.ndarray | None = None,
        landmark_pos: jax.Array | np.ndarray | None = None,
        agent_vel: jax.Array | np.ndarray | None = None,
        comm: jax.Array | np.ndarray | None = None,
        goal: int | jax.Array = 0,
        t: int | jax.Array = 0,
    ) -> MPEState:
        """Build a state from explicit arrays (zeros where omitted), e.g. to copy an mpe2 world.

        Args:
            agent_pos: ``(N, 2)`` agent positions, in group order.
            landmark_pos: ``(L, 2)`` landmark positions.
            agent_vel: ``(N, 2)`` agent velocities.
            comm: ``(N, dim_c)`` communication state.
            goal: goal landmark index (simple_adversary, simple_speaker_listener).
            t: steps already taken.
        """
        n, l = self.entities.num_agents, self.entities.num_landmarks
        f32 = lambda x, shape: jnp.zeros(shape, jnp.float32) if x is None else jnp.asarray(x, jnp.float32)  # noqa: E731
        pos = jnp.concatenate([f32(agent_pos, (n, 2)).reshape(n, 2), f32(landmark_pos, (l, 2)).reshape(l, 2)])
        vel = jnp.concatenate([f32(agent_vel, (n, 2)).reshape(n, 2), jnp.zeros((l, 2), jnp.float32)])
        return MPEState(
            pos=pos, vel=vel, comm=f32(comm, (n, self.dim_c)).reshape(n, self.dim_c),
            goal=jnp.asarray(goal, jnp.int32), t=jnp.asarray(t, jnp.int32),
        )

    def start_state(self, pos: jax.Array, goal: int | jax.Array = 0) -> MPEState:
        """A fresh episode's state: entity positions ``(E, 2)``, everything else zero."""
        n, e = self.entities.num_agents, self.entities.num_entities
        return MPEState(
            pos=pos, vel=jnp.zeros((e, 2), jnp.float32), comm=jnp.zeros((n, self.dim_c), jnp.float32),
            goal=jnp.asarray(goal, jnp.int32), t=jnp.zeros((), jnp.int32),
        )

    def _reset(self, key: jax.Array, params: ParamsT) -> tuple[MPEState, TimeStep]:
        state = self._initial_state(key, params)
        return state, self.observe(state, params)

    def observe(self, state: MPEState, params: ParamsT | None = None) -> TimeStep:
        """The timestep agents see in ``state``, with zero rewards (used by reset and parity tests)."""
        params = self.default_params if params is None else params
        return self._timestep(state, params, {g: jnp.zeros(n, jnp.float32) for g, n in self.sizes.items()})

    def _step(
        self, key: jax.Array, state: MPEState, actions: dict[str, jax.Array], params: ParamsT
    ) -> tuple[MPEState, TimeStep]:
        del key  # MPE's dynamics are deterministic (mpe2 sets no motor or comm noise).
        forces, comms = [], []
        for g, n in self.sizes.items():  # static loop over groups, not agents
            if self.roles[g] == "move":
                accel = self.entities.accel[self.agent_ids[g]]
                forces.append(physics.move_force(actions[g], self.continuous_actions, accel))
                comms.append(jnp.zeros((n, self.dim_c), jnp.float32))
            else:
                forces.append(jnp.zeros((n, 2), jnp.float32))
                comms.append(physics.comm_message(actions[g], self.continuous_actions, self.dim_c))
        pos, vel = physics.integrate(self.entities, params, state.pos, state.vel, jnp.concatenate(forces))
        state = state.replace(pos=pos, vel=vel, comm=jnp.concatenate(comms), t=state.t + 1)
        return state, self._timestep(state, params, self._rewards(state, params))

    def _timestep(self, state: MPEState, params: ParamsT, rewards: dict[str, jax.Array]) -> TimeStep:
        obs = self._observations(state, params)
        masks = {
            g: full_mask(n, self.spec.groups[g].action)
            for g, n in self.sizes.items()
            if not self.continuous_actions
        }
        terminated = {g: jnp.zeros(n, jnp.bool_) for g, n in self.sizes.items()}
        global_state = jnp.concatenate([obs[g].reshape(-1) for g in self.sizes])
        rewards = {g: r.astype(jnp.float32) for g, r in rewards.items()}
        return make_timestep(obs, masks, rewards, terminated, state.t >= params.max_cycles, global_state)

    # ------------------------------------------------------------------ helpers
    def agent_pos(self, state: MPEState, group: str | None = None) -> jax.Array:
        """``(A, 2)`` positions of a group's agents (all ``N`` agents when ``group`` is None)."""
        return state.pos[: self.entities.num_agents] if group is None else state.pos[self.agent_rows[group]]

    def landmark_pos(self, state: MPEState) -> jax.Array:
        """``(L, 2)`` landmark positions."""
        return state.pos[self.entities.num_agents :]

    @staticmethod
    def uniform(key: jax.Array, n: int, bound: float) -> jax.Array:
        """``(n, 2)`` float32 positions uniform in ``[-bound, bound)²``."""
        return jax.random.uniform(key, (n, 2), jnp.float32, -bound, bound)
