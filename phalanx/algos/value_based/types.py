"""The named containers of an IQL/VDN/QMIX run: stored step, train state and metrics."""

from __future__ import annotations

from typing import Any

import jax
from flax import struct

from phalanx.algos.common.episodes import BaseMetrics
from phalanx.algos.common.opponents import Opponents
from phalanx.algos.replay import ReplayState
from phalanx.envs.types import TimeStep


@struct.dataclass
class Step:
    """One env step of every env, as stored in the replay buffer; leaves ``(E, ...)``, groups the learning ones."""

    obs: dict  # {group: (E, A, d)} flattened observation acted on
    action: dict  # {group: (E, A)} int32
    reward: dict  # {group: (E, A)} reward of this transition
    terminated: dict  # {group: (E, A)} bool: the agent reached a terminal state on this step
    active: dict  # {group: (E, A)} bool: the agent was in the game and acted
    next_obs: dict  # {group: (E, A, d)} observation reached (pre-reset on an episode's last step)
    next_mask: dict  # {group: (E, A, n)} bool legal actions there (all legal on episode ends)
    episode_end: jax.Array  # (E,) bool: the episode ended on this step (terminal or truncated)
    resets: jax.Array  # (E,) bool: this step begins an episode
    hidden: dict  # {group: (E, A, H)} GRU state before this step (H = 0 feed-forward)
    state: jax.Array  # (E, S) global state (QMIX only; (E, 0) otherwise)
    next_state: jax.Array  # (E, S) global state reached (pre-reset), likewise


@struct.dataclass
class TrainState:
    """Everything a run needs to continue exactly: checkpoint this and resume bit for bit."""

    params: dict  # {"agents": {group: Q-network}, "mixers": {mixing set: QMixer}} (learning groups)
    target_params: dict  # same structure
    opt_state: Any
    buffer: ReplayState  # flashbax trajectory-buffer state; experience leaves (E, capacity, ...) of Step
    env_state: Any  # batched env state, (E, ...)
    timestep: TimeStep  # the last timestep, (E, ...)
    hidden: dict  # {group: (E, A, H)} acting GRU state of every group
    reward_stats: dict | None  # {group (IQL) or mixer: RunningStats(())} of the rewards targets use
    key: jax.Array
    update_step: jax.Array  # () int32 updates done
    grad_steps: jax.Array  # () int32 gradient steps done (target updates count these)
    env_steps: jax.Array  # () int32 env steps done
    # Fixed opponents for the groups that do not learn (None when every group learns):
    opponents: Opponents | None = None  # members' Q-network params (K, ...) and mixture weights (K,)
    opponent_index: jax.Array | None = None  # (E,) int32 member playing in each env this episode


@struct.dataclass
class UpdateMetrics(BaseMetrics):
    """Per-update numbers, after the four every learner reports."""

    loss: dict  # {group: ()} TD loss of the group (IQL) or of the mixer it belongs to; 0 before learning starts
    q_taken: dict  # {group: ()} mean Q of the actions taken in sampled steps
    target: dict  # {group: ()} mean TD target of the group's Q (IQL) or of its mixer's Q_tot
    epsilon: jax.Array  # () exploration rate of this update's rollout
    learning: jax.Array  # () 1 when this update took gradient steps
