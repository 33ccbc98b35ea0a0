"""``simple_adversary``: good agents guard a secret goal (mpe2 ``simple_adversary_v3``).

One adversary and ``N`` good agents (size 0.15, nothing collides) and ``N`` landmarks
start uniform in ``[-1, 1]²``; one landmark, uniform at random, is the goal. The good
agents know which; the adversary does not.

Rewards (shaped, as mpe2): the adversary gets ``−|p_adv − goal|``; every good agent gets
``−min_good |p_good − goal| + |p_adv − goal|``.

Observations: adversary ``[landmark_rel_pos (2N), other_agent_rel_pos (2N)]`` (8 for
N=2); good agent ``[goal_rel_pos (2), landmark_rel_pos (2N), other_agent_rel_pos (2N)]``
(10 for N=2). Neither sees its own velocity or position.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from phalanx.envs.environment import check_settings
from phalanx.envs.mpe import physics
from phalanx.envs.mpe.base import MPEEnv
from phalanx.envs.mpe.physics import MPEParams, MPEState


class SimpleAdversary(MPEEnv[MPEParams]):
    """mpe2's ``simple_adversary_v3``. Groups ``adversaries`` (1) then ``agents`` (N).

    ``state.goal`` is the index of the goal landmark.

    Args:
        N: number of good agents and of landmarks.
        max_cycles: steps per episode (then truncated).
        continuous_actions: ``Box(0, 1, (5,))`` actions instead of ``Discrete(5)``.
    """

    name = "simple_adversary"

    def __init__(self, N: int = 2, max_cycles: int = 25, continuous_actions: bool = False):
        check_settings(self.name, [
            (N >= 1, "N", N, "an integer >= 1"),
            (max_cycles >= 1, "max_cycles", max_cycles, "an integer >= 1"),
        ])
        self.N = N
        entities = physics.make_entities(
            agents=[{"size": 0.15, "collide": False}] * (N + 1),
            landmarks=[{"size": 0.08, "collide": False}] * N,
        )
        groups = {"adversaries": (1, "move"), "agents": (N, "move")}
        self._setup(entities, 2, groups, continuous_actions, MPEParams(max_cycles=max_cycles))

    def _initial_state(self, key: jax.Array, params: MPEParams) -> MPEState:
        k_goal, k_agents, k_landmarks = jax.random.split(key, 3)
        return self.make_state(
            self.uniform(k_agents, self.N + 1, 1.0),
            self.uniform(k_landmarks, self.N, 1.0),
            goal=jax.random.randint(k_goal, (), 0, self.N),
        )

    def _observations(self, state: MPEState, params: MPEParams) -> dict[str, jax.Array]:
        pos = self.agent_pos(state)  # (N+1, 2)
        landmarks = self.landmark_pos(state)  # (N, 2)
        n = self.N + 1
        seen = jnp.concatenate([
            (landmarks[None] - pos[:, None]).reshape(n, -1),
            physics.drop_diagonal(pos[None] - pos[:, None]).reshape(n, -1),
        ], axis=-1)  # (N+1, 4N), agent 0 is the adversary
        goal_rel = physics.select_row(landmarks, state.goal) - pos[1:]  # (N, 2)
        return {"adversaries": seen[:1], "agents": jnp.concatenate([goal_rel, seen[1:]], axis=-1)}

    def _rewards(self, state: MPEState, params: MPEParams) -> dict[str, jax.Array]:
        goal = physics.select_row(self.landmark_pos(state), state.goal)  # (2,)
        to_goal = jnp.sqrt(jnp.sum(jnp.square(self.agent_pos(state) - goal), axis=-1))  # (N+1,)
        adversary_dist = to_goal[:1]  # (1,)
        good = -jnp.min(to_goal[1:]) + jnp.sum(adversary_dist)
        return {"adversaries": -adversary_dist, "agents": jnp.full((self.N,), good)}
