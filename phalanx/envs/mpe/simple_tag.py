"""``simple_tag``: slower predators chase faster prey among obstacles (mpe2 ``simple_tag_v3``).

Adversaries (size 0.075, sensitivity 3, max speed 1.0) and good agents (size 0.05,
sensitivity 4, max speed 1.3) start uniform in ``[-1, 1]²``; obstacles (size 0.2,
immovable, colliding) uniform in ``[-0.9, 0.9]²``. Every agent and obstacle collides.

Rewards: each adversary gets ``+10`` for every (prey, adversary) pair that overlaps (the
whole team's catches, shared); each prey gets ``−10`` per adversary overlapping it, minus
a boundary penalty ``Σ_{x,y} bound(|p|)`` with ``bound(x) = 0`` below 0.9,
``10(x − 0.9)`` below 1, and ``min(exp(2x − 2), 10)`` beyond.

Observation: ``[self_vel (2), self_pos (2), obstacle_rel_pos (2·O),
other_agent_rel_pos (2(N−1)), other_prey_vel (2 × prey other than self)]`` — 16 for an
adversary and 14 for the prey with the defaults.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from phalanx.envs.environment import check_settings
from phalanx.envs.mpe import physics
from phalanx.envs.mpe.base import MPEEnv
from phalanx.envs.mpe.physics import MPEParams, MPEState


def boundary_penalty(pos: jax.Array) -> jax.Array:
    """``(A,)`` mpe2's penalty for prey leaving the screen, from positions ``(A, 2)``."""
    x = jnp.abs(pos)
    beyond = jnp.minimum(jnp.exp(2.0 * x - 2.0), 10.0)
    penalty = jnp.where(x < 0.9, 0.0, jnp.where(x < 1.0, (x - 0.9) * 10.0, beyond))
    return jnp.sum(penalty, axis=-1)


class SimpleTag(MPEEnv[MPEParams]):
    """mpe2's ``simple_tag_v3``. Groups ``adversaries`` (predators) then ``agents`` (prey).

    Args:
        num_good: number of prey.
        num_adversaries: number of predators.
        num_obstacles: number of obstacle landmarks.
        max_cycles: steps per episode (then truncated).
        continuous_actions: ``Box(0, 1, (5,))`` actions instead of ``Discrete(5)``.
    """

    name = "simple_tag"

    def __init__(
        self,
        num_good: int = 1,
        num_adversaries: int = 3,
        num_obstacles: int = 2,
        max_cycles: int = 25,
        continuous_actions: bool = False,
    ):
        check_settings(self.name, [
            (num_good >= 1, "num_good", num_good, "an integer >= 1"),
            (num_adversaries >= 1, "num_adversaries", num_adversaries, "an integer >= 1"),
            (num_obstacles >= 0, "num_obstacles", num_obstacles, "an integer >= 0"),
            (max_cycles >= 1, "max_cycles", max_cycles, "an integer >= 1"),
        ])
        self.num_good, self.num_adversaries, self.num_obstacles = num_good, num_adversaries, num_obstacles
        adversary = {"size": 0.075, "accel": 3.0, "max_speed": 1.0}
        prey = {"size": 0.05, "accel": 4.0, "max_speed": 1.3}
        entities = physics.make_entities(
            agents=[adversary] * num_adversaries + [prey] * num_good,
            landmarks=[{"size": 0.2}] * num_obstacles,
        )
        groups = {"adversaries": (num_adversaries, "move"), "agents": (num_good, "move")}
        self._setup(entities, 2, groups, continuous_actions, MPEParams(max_cycles=max_cycles))

    def _initial_state(self, key: jax.Array, params: MPEParams) -> MPEState:
        # Agents uniform in [-1, 1)², obstacles in [-0.9, 0.9)²: one draw, scaled per row.
        bound = np.repeat(np.float32([1.0, 0.9]), [self.entities.num_agents, self.num_obstacles])
        return self.start_state(self.uniform(key, self.entities.num_entities, 1.0) * bound[:, None])

    def _observations(self, state: MPEState, params: MPEParams) -> dict[str, jax.Array]:
        n = self.entities.num_agents
        pos, vel = self.agent_pos(state), state.vel  # (N, 2), (E, 2)
        obstacles = (self.landmark_pos(state)[None] - pos[:, None]).reshape(n, -1)  # (N, 2·O)
        others = physics.drop_diagonal(pos[None] - pos[:, None]).reshape(n, -1)  # (N, 2(N−1))
        prey_vel = vel[self.agent_rows["agents"]]  # (G, 2)
        g = self.num_good
        other_prey = {
            "adversaries": jnp.broadcast_to(prey_vel.reshape(1, 2 * g), (self.num_adversaries, 2 * g)),
            "agents": physics.drop_diagonal(jnp.broadcast_to(prey_vel[None], (g, g, 2))).reshape(g, -1),
        }
        obs = {}
        for group, rows in self.agent_rows.items():  # static loop over the two groups
            obs[group] = jnp.concatenate(
                [vel[rows], pos[rows], obstacles[rows], others[rows], other_prey[group]], axis=-1
            )
        return obs

    def _rewards(self, state: MPEState, params: MPEParams) -> dict[str, jax.Array]:
        size = self.entities.size
        prey, adv = self.agent_ids["agents"], self.agent_ids["adversaries"]
        prey_pos = self.agent_pos(state, "agents")
        dist = physics.pair_distances(prey_pos, self.agent_pos(state, "adversaries"))  # (G, A)
        caught = (dist < jnp.asarray(size[prey][:, None] + size[adv][None, :])).astype(jnp.float32)
        adversary_reward = jnp.full((self.num_adversaries,), 10.0 * jnp.sum(caught))
        prey_reward = -10.0 * jnp.sum(caught, axis=1) - boundary_penalty(prey_pos)
        return {"adversaries": adversary_reward, "agents": prey_reward}
