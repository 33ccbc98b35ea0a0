"""PPO hyperparameters: one frozen dataclass, validated once, derived values as functions."""

from __future__ import annotations

import dataclasses
from typing import Literal

from phalanx.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """IPPO/MAPPO settings (defaults: JaxMARL's IPPO-FF on MPE).

    Attributes:
        critic: ``"ippo"`` (each agent's critic sees its own observation) or ``"mappo"``
            (a centralised critic on the env's global state).
        total_steps: env steps to train for (summed over the parallel envs).
        num_envs: parallel envs in one rollout; num_steps: rollout length per update.
        update_epochs, num_minibatches: passes over a rollout and splits per pass.
        lr, anneal_lr: Adam learning rate, linearly annealed to 0 when set.
        gamma, gae_lambda: discount and GAE(λ).
        clip_eps: PPO ratio clipping; value_clip_eps: value clipping (0 disables it).
        ent_coef, vf_coef: loss weights; max_grad_norm: global gradient-norm clip.
        normalize_advantages / normalize_obs / normalize_values: running normalisation.
        hidden, activation: MLP widths and nonlinearity for actors and critics.
        recurrent_size: GRU width (0 = feed-forward).
        agent_id: append a one-hot agent index (within its group) to actor/critic inputs.
        squash: continuous actions as ``"clip"`` (clipped Gaussian) or ``"tanh"``.
        bootstrap_truncation: on a time-limit cut, bootstrap from the final observation's
            value (correct); ``False`` treats the cut as terminal, as many baselines do
            (kept for ablations and comparisons).
        grad_chunk: most agent-samples per forward/backward pass. A larger minibatch is cut
            into chunks whose gradients are summed (the same gradient up to float rounding):
            activations then stay in cache, which on a CPU makes large batches faster.
            ``-1`` (default) = 2048 on CPU for feed-forward nets, no chunking for recurrent
            ones or on accelerators; ``0`` = never.
    """

    critic: Literal["ippo", "mappo"] = "ippo"
    total_steps: int = 1_000_000
    num_envs: int = 16
    num_steps: int = 128
    update_epochs: int = 4
    num_minibatches: int = 4
    lr: float = 2.5e-4
    anneal_lr: bool = True
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    value_clip_eps: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    normalize_advantages: bool = True
    normalize_obs: bool = False
    normalize_values: bool = False
    hidden: tuple[int, ...] = (64, 64)
    activation: Literal["tanh", "relu", "gelu"] = "tanh"
    recurrent_size: int = 0
    agent_id: bool = False
    squash: Literal["clip", "tanh"] = "clip"
    bootstrap_truncation: bool = True
    grad_chunk: int = -1

    @property
    def steps_per_update(self) -> int:
        """Env steps consumed by one update (``num_envs × num_steps``)."""
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        """Updates in the whole run."""
        return max(1, self.total_steps // self.steps_per_update)

    def validate(self, prefix: str = "train.") -> PPOConfig:
        """Raise :class:`ConfigError` naming the first invalid key; return self."""
        positive_ints = ("total_steps", "num_envs", "num_steps", "update_epochs", "num_minibatches")
        for key in positive_ints:
            value = getattr(self, key)
            if value < 1:
                raise ConfigError(f"{prefix}{key}={value}: expected an integer >= 1.")
        for key in ("lr", "max_grad_norm"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"{prefix}{key}={getattr(self, key)}: expected a number > 0.")
        for key in ("gamma", "gae_lambda"):
            if not 0 <= getattr(self, key) <= 1:
                raise ConfigError(f"{prefix}{key}={getattr(self, key)}: expected a number in [0, 1].")
        for key in ("clip_eps", "value_clip_eps", "ent_coef", "vf_coef"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{prefix}{key}={getattr(self, key)}: expected a number >= 0.")
        if self.recurrent_size < 0:
            raise ConfigError(f"{prefix}recurrent_size={self.recurrent_size}: expected >= 0 (0 = feed-forward).")
        if self.grad_chunk < -1:
            raise ConfigError(f"{prefix}grad_chunk={self.grad_chunk}: expected -1 (auto), 0 (off) or a size >= 1.")
        if any(h < 1 for h in self.hidden):
            raise ConfigError(f"{prefix}hidden={list(self.hidden)}: expected positive layer widths.")
        # Recurrent minibatches split envs (whole sequences); feed-forward ones split samples.
        units = self.num_envs if self.recurrent_size else self.num_envs * self.num_steps
        what = "num_envs" if self.recurrent_size else "num_envs × num_steps"
        if units % self.num_minibatches:
            raise ConfigError(
                f"{prefix}num_minibatches={self.num_minibatches}: {what} = {units} does not divide into "
                f"{self.num_minibatches} minibatches; choose a divisor of {units}."
            )
        if self.total_steps < self.steps_per_update:
            raise ConfigError(
                f"{prefix}total_steps={self.total_steps}: less than one update "
                f"(num_envs × num_steps = {self.steps_per_update})."
            )
        return self
