"""The named containers of a PPO run: train state, rollout step, minibatch and metrics."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Protocol

import jax
import optax
from flax import struct

from phalanx.algos.common.episodes import BaseMetrics
from phalanx.algos.common.normalize import RunningStats
from phalanx.algos.common.opponents import Opponents
from phalanx.algos.ppo.config import PPOConfig
from phalanx.algos.ppo.policy import MultiAgentPolicy
from phalanx.envs.types import TimeStep
from phalanx.envs.wrappers import VecEnv


@struct.dataclass
class TrainState:
    """Everything a run needs to continue exactly: checkpoint this and resume bit for bit."""

    params: dict  # {group: {"actor", "critic"}}
    opt_state: Any
    obs_stats: dict | None  # {group: RunningStats((d,))} when normalize_obs
    state_stats: RunningStats | None  # global-state stats (MAPPO with normalize_obs)
    value_stats: dict | None  # {group: RunningStats(())} when normalize_values
    env_state: Any  # batched env state, (E, ...)
    timestep: TimeStep  # the last timestep, (E, ...)
    actor_hidden: dict  # {group: (E, A, H)}
    critic_hidden: dict  # {group: (E, A, H)}
    key: jax.Array
    update_step: jax.Array  # () int32 updates done
    env_steps: jax.Array  # () int32 env steps done
    # Fixed opponents for the groups that do not learn (None when every group learns):
    opponents: Opponents | None = None  # members' policy params (K, ...) and mixture weights (K,)
    opponent_index: jax.Array | None = None  # (E,) int32 member playing in each env this episode


@struct.dataclass
class Transition:
    """One rollout step of the learning groups; leaves are ``(E, A, ...)`` per group, or ``(E,)``."""

    actor_in: dict
    critic_in: dict
    final_critic_in: dict  # critic inputs of the state reached (feed-forward critics only)
    mask: dict  # {group: (E, A, m)} for discrete groups
    raw_action: dict
    log_prob: dict
    value_out: dict  # critic output (normalised space when normalize_values)
    value: dict  # V(s_t), real scale
    next_value: dict  # V(s_{t+1}), real scale; the final observation's value on episode ends
    reward: dict
    terminated: dict  # the agent reached a terminal state on this step
    episode_end: jax.Array  # (E,) the episode ended on this step
    active: dict  # the agent was in the game and acted on this step
    resets: jax.Array  # (E,) this step begins an episode (recurrent state zeroed)
    episode_returns: dict  # {group: (E,)} mean return over the group's agents of an episode that ended
    episode_length: jax.Array  # (E,)
    episode_metrics: dict = struct.field(default_factory=dict)  # {name: (E,)} the env's, of an episode that ended


#: Minibatch fields that hold the recurrent state at each sequence's start (batch axis 0);
#: every other field is a sequence ``(T, B, ...)`` (batch axis 1).
START_FIELDS = ("actor_hidden", "critic_hidden")


@struct.dataclass
class Minibatch:
    """What the PPO loss reads: sequences ``(T, B, ...)`` per learning group, and their start states.

    Feed-forward learners fold time into the batch (``T = 1``, ``B = steps × envs``).
    """

    actor_in: dict  # {group: (T, B, A, d)}
    critic_in: dict  # {group: (T, B, A, c)} MAPPO only; IPPO's critic reads actor_in ({} then)
    mask: dict  # {group: (T, B, A, m)} discrete groups
    raw_action: dict  # {group: (T, B, A, ...)} the sampled action before any squashing
    log_prob: dict  # {group: (T, B, A)} under the acting policy
    value_out: dict  # {group: (T, B, A)} critic output when acting (for value clipping)
    active: dict  # {group: (T, B, A)} bool: the agent acted (loss weight)
    resets: jax.Array  # (T, B) bool: the step begins an episode
    advantages: dict  # {group: (T, B, A)} GAE
    targets: dict  # {group: (T, B, A)} value targets (normalised space when normalize_values)
    actor_hidden: dict  # {group: (B, A, H)} actor state at the sequence start
    critic_hidden: dict  # {group: (B, A, H)} critic state at the sequence start

    def map_batch(self, seq: Callable[[jax.Array], jax.Array], start: Callable[[jax.Array], jax.Array]) -> Minibatch:
        """Apply ``seq`` to every sequence leaf and ``start`` to every start-state leaf."""
        return Minibatch(**{f.name: jax.tree.map(start if f.name in START_FIELDS else seq, getattr(self, f.name))
                            for f in dataclasses.fields(self)})


@struct.dataclass
class UpdateMetrics(BaseMetrics):
    """Per-update numbers (means over epochs and minibatches), after the four every learner reports."""

    policy_loss: dict  # {group: ()}
    value_loss: dict
    entropy: dict
    approx_kl: dict
    clip_fraction: dict


class TrainerParts(Protocol):
    """What the rollout and learning functions read from a :class:`~phalanx.algos.ppo.train.Trainer`."""

    config: PPOConfig
    env: VecEnv
    policy: MultiAgentPolicy
    optimizer: optax.GradientTransformation
    learners: tuple[str, ...]  # groups trained; the others play fixed opponents

    def act(self, params: Any, group: str, hidden: jax.Array, obs: jax.Array, first: jax.Array, key: jax.Array,
            *, mask: jax.Array | None = None, greedy: bool = False) -> tuple[jax.Array, jax.Array]:
        """The learner protocol's single-step act (fixed opponents play through it)."""
        ...
