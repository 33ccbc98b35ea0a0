"""``simple_speaker_listener``: a speaker guides a listener (mpe2 ``simple_speaker_listener_v4``).

The speaker (immovable) sees the colour of the goal landmark and says one of 3 words;
the listener (movable, silent) hears it and must reach the goal. Both get
``−|p_listener − goal|²``. Agents (size 0.075) and the 3 landmarks (size 0.04) start
uniform in ``[-1, 1]²``; nothing collides. Landmark colours are fixed by index (red,
green, blue).

Observations: speaker ``[goal_colour (3)]``; listener ``[self_vel (2),
landmark_rel_pos (6), speaker_comm (3)]``. Actions: speaker ``Discrete(3)`` (one-hot
word) or ``Box(0, 1, (3,))`` (the message itself); listener ``Discrete(5)`` or
``Box(0, 1, (5,))``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from phalanx.envs.environment import check_settings
from phalanx.envs.mpe import physics
from phalanx.envs.mpe.base import MPEEnv
from phalanx.envs.mpe.physics import MPEParams, MPEState

NUM_LANDMARKS = 3
DIM_C = 3
LANDMARK_COLORS = np.array([[0.65, 0.15, 0.15], [0.15, 0.65, 0.15], [0.15, 0.15, 0.65]], np.float32)  # (3, 3)


class SimpleSpeakerListener(MPEEnv[MPEParams]):
    """mpe2's ``simple_speaker_listener_v4``. Groups ``speaker`` (1) then ``listener`` (1).

    ``state.goal`` is the index of the goal landmark; ``state.comm[0]`` the speaker's word.

    Args:
        max_cycles: steps per episode (then truncated).
        continuous_actions: Box actions instead of Discrete (see the module docstring).
    """

    name = "simple_speaker_listener"

    def __init__(self, max_cycles: int = 25, continuous_actions: bool = False):
        check_settings(self.name, [(max_cycles >= 1, "max_cycles", max_cycles, "an integer >= 1")])
        entities = physics.make_entities(
            agents=[{"size": 0.075, "collide": False, "movable": False}, {"size": 0.075, "collide": False}],
            landmarks=[{"size": 0.04, "collide": False}] * NUM_LANDMARKS,
        )
        groups = {"speaker": (1, "speak"), "listener": (1, "move")}
        self._setup(entities, DIM_C, groups, continuous_actions, MPEParams(max_cycles=max_cycles))

    def _initial_state(self, key: jax.Array, params: MPEParams) -> MPEState:
        k_goal, k_agents, k_landmarks = jax.random.split(key, 3)
        return self.make_state(
            self.uniform(k_agents, 2, 1.0),
            self.uniform(k_landmarks, NUM_LANDMARKS, 1.0),
            goal=jax.random.randint(k_goal, (), 0, NUM_LANDMARKS),
        )

    def _observations(self, state: MPEState, params: MPEParams) -> dict[str, jax.Array]:
        listener_pos = self.agent_pos(state, "listener")  # (1, 2)
        listener = jnp.concatenate([
            state.vel[1:2],
            physics.relative(self.landmark_pos(state)[None], listener_pos),
            state.comm[0:1],
        ], axis=-1)
        return {"speaker": physics.select_row(jnp.asarray(LANDMARK_COLORS), state.goal)[None], "listener": listener}

    def _rewards(self, state: MPEState, params: MPEParams) -> dict[str, jax.Array]:
        dist2 = jnp.sum(jnp.square(state.pos[1] - physics.select_row(self.landmark_pos(state), state.goal)))
        return {"speaker": -dist2[None], "listener": -dist2[None]}
