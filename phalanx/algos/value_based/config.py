"""IQL/VDN/QMIX hyperparameters: one frozen dataclass, validated once, derived values as functions."""

from __future__ import annotations

import dataclasses
from typing import Literal

from phalanx.errors import ConfigError

#: The learner each mixer is registered as.
ALGO_OF_MIXER = {"none": "iql", "vdn": "vdn", "qmix": "qmix"}


@dataclasses.dataclass(frozen=True)
class QLearningConfig:
    """Settings of the value-based learners (defaults close to EPyMARL's: a GRU agent of width 64,
    batches of 32 windows, double Q, hard target copies, ε annealed over 50k steps). These defaults
    learn ``lbf`` ``2s-8x8-2p-2f-coop`` (benchmarks/value_based/README.md); ``recurrent_size=0``
    gives the faster feed-forward agent for fully observed tasks.

    Attributes:
        mixer: ``"none"`` (IQL: each agent learns its own Q on its own reward), ``"vdn"``
            (``Q_tot = Σ Q_i``) or ``"qmix"`` (a monotonic mixing network conditioned on the
            global state); set by ``algo=iql|vdn|qmix``.
        mixing: which agents one mixer joins: ``"group"`` (one mixer per group, over that
            group's agents; safe in competitive envs) or ``"all"`` (one mixer over every agent of
            every group; for envs whose groups share one team reward).
        team_reward: a mixer's reward from its agents' rewards: ``"mean"`` (equals the shared
            reward when all agents get the same) or ``"sum"`` (EPyMARL's scalarisation).
        total_steps: env steps to train for (summed over the parallel envs).
        num_envs, num_steps: each update collects ``num_steps`` steps of ``num_envs`` envs.
        gradient_steps: gradient steps per update, each on ``batch_size`` sampled windows.
        buffer_size: env steps kept in the replay buffer (``buffer_size // num_envs`` per env).
        learning_starts: env steps collected before the first gradient step.
        lr, max_grad_norm: Adam learning rate and global gradient-norm clip.
        gamma: discount; n_step: steps of real reward before bootstrapping (1 = one-step Q-learning).
        standardize_rewards: learn on ``(r − mean) / std`` of the rewards seen so far (each
            group's for IQL, each mixer's team reward otherwise), as EPyMARL does by default.
            Besides the scale, it centres targets near 0: with large negative returns QMIX's
            ELU saturates and passes almost no gradient to the agents' Qs.
        double_q: choose the bootstrap action with the online network, evaluate it with the target one.
        target_update_every, tau: every ``target_update_every`` gradient steps the target
            network becomes ``tau · online + (1 − tau) · target`` (``tau=1``: a periodic hard
            copy; ``tau=0.005, target_update_every=1``: Polyak averaging).
        eps_start, eps_finish, eps_decay_steps: ε-greedy exploration, linear in env steps.
        eval_epsilon: ε of sampled (non-greedy) actions in evaluation.
        hidden, activation: MLP widths and nonlinearity of the agent Q-networks.
        recurrent_size: GRU width (0 = feed-forward). Recurrent learners train on windows of
            ``burn_in + seq_len`` consecutive steps (R2D2's stored state and burn-in).
        seq_len, burn_in: trained steps per window and steps that only warm up the GRU state.
        agent_id: append a one-hot agent index (within its group) to the Q-network inputs.
        mixer_embed, hypernet_embed: QMIX mixing width and hypernetwork hidden width.
    """

    mixer: Literal["none", "vdn", "qmix"] = "none"
    mixing: Literal["group", "all"] = "group"
    team_reward: Literal["mean", "sum"] = "mean"
    total_steps: int = 1_000_000
    num_envs: int = 16
    num_steps: int = 8
    gradient_steps: int = 2
    batch_size: int = 32
    buffer_size: int = 100_000
    learning_starts: int = 5_000
    lr: float = 5e-4
    max_grad_norm: float = 10.0
    gamma: float = 0.99
    n_step: int = 1
    standardize_rewards: bool = True
    double_q: bool = True
    target_update_every: int = 200
    tau: float = 1.0
    eps_start: float = 1.0
    eps_finish: float = 0.05
    eps_decay_steps: int = 50_000
    eval_epsilon: float = 0.0
    hidden: tuple[int, ...] = (64,)
    activation: Literal["relu", "tanh", "gelu"] = "relu"
    recurrent_size: int = 64
    seq_len: int = 20
    burn_in: int = 10
    agent_id: bool = True
    mixer_embed: int = 32
    hypernet_embed: int = 64

    @property
    def steps_per_update(self) -> int:
        """Env steps collected by one update (``num_envs × num_steps``)."""
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        """Updates in the whole run."""
        return max(1, self.total_steps // self.steps_per_update)

    @property
    def window(self) -> int:
        """Consecutive steps in one sampled window: burn-in, trained steps, and n-step look-ahead."""
        trained = self.burn_in + self.seq_len if self.recurrent_size else 1
        return trained + self.n_step - 1

    @property
    def capacity(self) -> int:
        """Replay slots per env (time steps kept of each env's stream)."""
        return self.buffer_size // self.num_envs

    def validate(self, prefix: str = "train.") -> QLearningConfig:
        """Raise :class:`ConfigError` naming the first invalid key; return self."""
        for key in ("total_steps", "num_envs", "num_steps", "gradient_steps", "batch_size", "buffer_size",
                    "n_step", "target_update_every", "seq_len", "mixer_embed", "hypernet_embed"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{prefix}{key}={getattr(self, key)}: expected an integer >= 1.")
        for key in ("learning_starts", "eps_decay_steps", "recurrent_size", "burn_in"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{prefix}{key}={getattr(self, key)}: expected an integer >= 0.")
        for key in ("lr", "max_grad_norm"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"{prefix}{key}={getattr(self, key)}: expected a number > 0.")
        for key in ("gamma", "eps_start", "eps_finish", "eval_epsilon"):
            if not 0 <= getattr(self, key) <= 1:
                raise ConfigError(f"{prefix}{key}={getattr(self, key)}: expected a number in [0, 1].")
        if not 0 < self.tau <= 1:
            raise ConfigError(f"{prefix}tau={self.tau}: expected a number in (0, 1] (1 = hard target copies).")
        if any(h < 1 for h in self.hidden):
            raise ConfigError(f"{prefix}hidden={list(self.hidden)}: expected positive layer widths.")
        if self.capacity < max(self.num_steps, self.window):
            need = max(self.num_steps, self.window) * self.num_envs
            raise ConfigError(
                f"{prefix}buffer_size={self.buffer_size}: holds {self.capacity} steps per env, fewer than one "
                f"rollout or one sampled window; use at least {need} (num_envs × max(num_steps, window))."
            )
        if self.total_steps < self.steps_per_update:
            raise ConfigError(
                f"{prefix}total_steps={self.total_steps}: less than one update "
                f"(num_envs × num_steps = {self.steps_per_update})."
            )
        return self
