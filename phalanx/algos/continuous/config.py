"""Hyperparameters of the continuous-action off-policy learners (MADDPG, ISAC, MASAC).

One frozen dataclass per algorithm family, validated once; derived values are properties.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from phalanx.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class OffPolicyConfig:
    """Settings every replay-based continuous learner shares.

    One update is a rollout of ``num_steps`` steps in each of ``num_envs`` envs (every env
    step of every agent goes into the replay buffer), then ``gradient_steps`` gradient steps
    on minibatches of ``batch_size`` env steps drawn uniformly from the buffer.

    Attributes:
        total_steps: env steps to train for (summed over the parallel envs).
        num_envs, num_steps: parallel envs and rollout length of one update.
        gradient_steps: gradient steps per update (critic, actor and targets each step).
        batch_size: env steps per minibatch (each carries every agent's transition).
        buffer_size: replay capacity in env steps; the oldest are overwritten.
        warmup_steps: env steps of uniformly random actions before the policy acts;
            learning starts once the buffer holds ``max(warmup_steps, batch_size)`` steps.
        gamma: discount; tau: Polyak rate of the target networks (``θ' ← (1−τ)θ' + τθ``).
        actor_lr, critic_lr: Adam learning rates.
        max_grad_norm: global-norm gradient clipping of each network (per group).
        hidden, activation: MLP widths and nonlinearity of actors and critics.
        agent_id: append a one-hot agent index (within its group) to actor inputs (and to
            independent critics). Centralised critics always get it when a group has more
            than one agent: one critic serves the whole group and rewards are per agent.
        critic_input: what a centralised critic sees besides the joint action: the env's
            ``"state"`` (``TimeStep.global_state``) or every agent's observation (``"obs"``).
    """

    total_steps: int = 300_000
    num_envs: int = 16
    num_steps: int = 8
    gradient_steps: int = 8
    batch_size: int = 256
    buffer_size: int = 100_000
    warmup_steps: int = 5_000
    gamma: float = 0.95
    tau: float = 0.01
    actor_lr: float = 1e-3
    critic_lr: float = 1e-3
    max_grad_norm: float = 0.5
    hidden: tuple[int, ...] = (64, 64)
    activation: Literal["relu", "tanh", "gelu"] = "relu"
    agent_id: bool = False
    critic_input: Literal["state", "obs"] = "state"

    @property
    def steps_per_update(self) -> int:
        """Env steps consumed by one update (``num_envs × num_steps``)."""
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        """Updates in the whole run."""
        return max(1, self.total_steps // self.steps_per_update)

    @property
    def learning_starts(self) -> int:
        """Buffer size (env steps) from which gradient steps run."""
        return max(self.warmup_steps, self.batch_size)

    def validate(self, prefix: str = "train.") -> OffPolicyConfig:
        """Raise :class:`ConfigError` naming the first invalid key; return self."""
        for key in ("total_steps", "num_envs", "num_steps", "gradient_steps", "batch_size", "buffer_size"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{prefix}{key}={getattr(self, key)}: expected an integer >= 1.")
        if self.warmup_steps < 0:
            raise ConfigError(f"{prefix}warmup_steps={self.warmup_steps}: expected an integer >= 0.")
        for key in ("actor_lr", "critic_lr", "max_grad_norm"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"{prefix}{key}={getattr(self, key)}: expected a number > 0.")
        for key in ("gamma", "tau"):
            if not 0 <= getattr(self, key) <= 1:
                raise ConfigError(f"{prefix}{key}={getattr(self, key)}: expected a number in [0, 1].")
        if not self.hidden or any(h < 1 for h in self.hidden):
            raise ConfigError(f"{prefix}hidden={list(self.hidden)}: expected one or more positive layer widths.")
        if self.buffer_size < self.steps_per_update:
            raise ConfigError(
                f"{prefix}buffer_size={self.buffer_size}: smaller than one update's rollout "
                f"(num_envs × num_steps = {self.steps_per_update}); raise it."
            )
        if self.buffer_size < self.learning_starts:
            raise ConfigError(
                f"{prefix}buffer_size={self.buffer_size}: learning waits for {self.learning_starts} env steps "
                "in the buffer (max(warmup_steps, batch_size)); raise buffer_size or lower those."
            )
        if self.total_steps < self.steps_per_update:
            raise ConfigError(
                f"{prefix}total_steps={self.total_steps}: less than one update "
                f"(num_envs × num_steps = {self.steps_per_update})."
            )
        if self.num_updates * self.steps_per_update <= self.learning_starts:
            raise ConfigError(
                f"{prefix}total_steps={self.total_steps}: the run ends before learning starts (after "
                f"{self.learning_starts} env steps = max(warmup_steps, batch_size)); lower warmup_steps or "
                "train longer."
            )
        return self


@dataclasses.dataclass(frozen=True)
class MADDPGConfig(OffPolicyConfig):
    """MADDPG (Lowe et al. 2017): deterministic actors, centralised critics ``Q(x, a_1..a_N)``.

    Attributes:
        exploration_noise: std of the Gaussian noise added to actions while training, as a
            fraction of the half-width of the action box (actions are then clipped to it).
    """

    exploration_noise: float = 0.1

    def validate(self, prefix: str = "train.") -> MADDPGConfig:
        super().validate(prefix)
        if self.exploration_noise < 0:
            raise ConfigError(f"{prefix}exploration_noise={self.exploration_noise}: expected a number >= 0.")
        return self


@dataclasses.dataclass(frozen=True)
class SACConfig(OffPolicyConfig):
    """SAC (Haarnoja et al. 2018) for every agent: ISAC or MASAC by the critic's input.

    Attributes:
        critic: ``"isac"`` (twin critics on the agent's own observation and action) or
            ``"masac"`` (twin critics on the centralised input and the joint action).
        alpha_lr: Adam learning rate of the entropy temperature (per group).
        init_alpha: the temperature at the start.
        autotune: tune the temperature towards ``target_entropy``; else keep ``init_alpha``.
        target_entropy_scale: target entropy is ``−target_entropy_scale × |A|`` (SAC: 1),
            measured on actions rescaled to ``[−1, 1]``.
    """

    critic: Literal["isac", "masac"] = "isac"
    gamma: float = 0.99
    tau: float = 0.005
    actor_lr: float = 3e-4
    critic_lr: float = 1e-3
    max_grad_norm: float = 10.0
    alpha_lr: float = 3e-4
    init_alpha: float = 0.1
    autotune: bool = True
    target_entropy_scale: float = 1.0

    def validate(self, prefix: str = "train.") -> SACConfig:
        super().validate(prefix)
        for key in ("alpha_lr", "init_alpha"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"{prefix}{key}={getattr(self, key)}: expected a number > 0.")
        if self.target_entropy_scale < 0:
            raise ConfigError(f"{prefix}target_entropy_scale={self.target_entropy_scale}: expected a number >= 0.")
        return self
