"""``simple_spread``: N cooperating agents cover N landmarks (mpe2 ``simple_spread_v3``).

Agents (size 0.15, colliding, silent) and landmarks (not colliding) start uniform in
``[-1, 1]²``. Every agent gets ``(1 − local_ratio) × global + local_ratio × local`` where
``global = −Σ_landmarks min_agents distance`` and ``local = −(number of other agents it
overlaps)``.

Observation ``(4N + 2·2(N−1),)`` (18 for N=3):
``[self_vel (2), self_pos (2), landmark_rel_pos (2N), other_agent_rel_pos (2(N−1)),
other_agent_comm (2(N−1), always zero: agents are silent)]``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from phalanx.envs.environment import check_settings
from phalanx.envs.mpe import physics
from phalanx.envs.mpe.base import MPEEnv
from phalanx.envs.mpe.physics import MPEParams, MPEState
from phalanx.errors import PhalanxError


@struct.dataclass
class SpreadParams(MPEParams):
    """:class:`MPEParams` plus the weight of the local (collision) reward."""

    local_ratio: float = 0.5


class SimpleSpread(MPEEnv[SpreadParams]):
    """mpe2's ``simple_spread_v3``. Group ``agents`` of ``N``.

    Args:
        N: number of agents and of landmarks.
        local_ratio: weight of the local reward, in ``[0, 1]``.
        max_cycles: steps per episode (then truncated).
        continuous_actions: ``Box(0, 1, (5,))`` actions instead of ``Discrete(5)``.
    """

    name = "simple_spread"

    def __init__(
        self, N: int = 3, local_ratio: float = 0.5, max_cycles: int = 25, continuous_actions: bool = False,
        num_agents: int | None = None,
    ):
        # ``num_agents`` is Phalanx's name for mpe2's ``N`` (agents = landmarks); None = use ``N``.
        if num_agents is not None:
            check_settings(self.name, [(isinstance(num_agents, int) and not isinstance(num_agents, bool)
                                        and num_agents >= 1, "num_agents", num_agents, "an integer >= 1")])
            if N not in (3, num_agents):
                raise PhalanxError(f"{self.name}: N={N} and num_agents={num_agents} disagree; give one of them.")
            N = num_agents
        check_settings(self.name, [
            (N >= 1, "N", N, "an integer >= 1"),
            (0.0 <= local_ratio <= 1.0, "local_ratio", local_ratio, "a number in [0, 1]"),
            (max_cycles >= 1, "max_cycles", max_cycles, "an integer >= 1"),
        ])
        self.N = N
        entities = physics.make_entities(
            agents=[{"size": 0.15}] * N, landmarks=[{"collide": False}] * N
        )
        self._setup(entities, 2, {"agents": (N, "move")}, continuous_actions,
                    SpreadParams(max_cycles=max_cycles, local_ratio=local_ratio))

    def _initial_state(self, key: jax.Array, params: SpreadParams) -> MPEState:
        # Agents then landmarks, all uniform in [-1, 1)²: one draw for the whole world.
        return self.start_state(self.uniform(key, 2 * self.N, 1.0))

    def _observations(self, state: MPEState, params: SpreadParams) -> dict[str, jax.Array]:
        n = self.N
        pos, vel = self.agent_pos(state), state.vel[:n]  # (N, 2) each
        obs = jnp.concatenate([
            vel,
            pos,
            (self.landmark_pos(state)[None] - pos[:, None]).reshape(n, 2 * n),
            physics.drop_diagonal(pos[None] - pos[:, None]).reshape(n, -1),
            physics.drop_diagonal(jnp.broadcast_to(state.comm[None], (n, n, self.dim_c))).reshape(n, -1),
        ], axis=-1)
        return {"agents": obs}

    def _rewards(self, state: MPEState, params: SpreadParams) -> dict[str, jax.Array]:
        pos = self.agent_pos(state)
        size = self.entities.size[: self.N]
        dist = physics.pair_distances(pos, pos)  # (N, N)
        overlap = (dist < size[:, None] + size[None, :]) & ~np.eye(self.N, dtype=bool)
        local = -jnp.sum(overlap.astype(jnp.float32), axis=1)  # (N,)
        global_ = -jnp.sum(jnp.min(physics.pair_distances(pos, self.landmark_pos(state)), axis=0))
        return {"agents": global_ * (1.0 - params.local_ratio) + local * params.local_ratio}
