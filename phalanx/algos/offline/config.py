"""Offline learners' hyperparameters: gradient steps on a dataset, plus the evaluation envs."""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Literal

from phalanx.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class OfflineConfig:
    """Settings shared by every offline learner (``algo=bc|iql_cql``; defaults close to OG-MARL's).

    An update is ``grad_steps_per_update`` gradient steps on batches drawn from the dataset, then
    ``eval_steps`` steps of ``num_envs`` auto-resetting envs played by the learner's greedy policy, so a
    run's episode returns (``metrics.jsonl``) are measured in the env exactly as for online runs.

    Attributes:
        method: ``"bc"``, ``"iql_cql"`` or ``"qmix_cql"`` (set by ``algo=``).
        grad_steps: gradient steps in the whole run.
        grad_steps_per_update: gradient steps per update.
        batch_size: dataset rows per gradient step (every agent of a row counts).
        lr, max_grad_norm: Adam learning rate and global gradient-norm clip.
        hidden, activation: MLP widths and nonlinearity (feed-forward networks).
        agent_id: append a one-hot agent index (within its group) to the inputs.
        num_envs, eval_steps: evaluation envs and steps of each per update.
        gamma: discount (Q-learners).
        cql_weight: weight of the CQL regulariser ``E[logsumexp_a Q(s, a) − Q(s, a_data)]`` (Q-learners).
        double_q: double Q-learning targets (Q-learners).
        target_update_every: gradient steps between hard target-network copies (Q-learners).
        mixer_embed, hypernet_embed: QMIX mixing width and hypernetwork width (QMIX+CQL).
        num_ood_actions: random legal joint actions whose mixed Q enter QMIX+CQL's logsumexp.
    """

    #: The runtime gives offline learners ``dataset=`` (``phalanx train ... data=PATH``).
    OFFLINE: ClassVar[bool] = True

    method: Literal["bc", "iql_cql", "qmix_cql"] = "bc"
    grad_steps: int = 20_000
    grad_steps_per_update: int = 500
    batch_size: int = 256
    lr: float = 3e-4
    max_grad_norm: float = 10.0
    hidden: tuple[int, ...] = (64, 64)
    activation: Literal["relu", "tanh", "gelu"] = "relu"
    agent_id: bool = True
    num_envs: int = 16
    eval_steps: int = 25
    gamma: float = 0.99
    cql_weight: float = 2.0
    double_q: bool = True
    target_update_every: int = 200
    mixer_embed: int = 32
    hypernet_embed: int = 64
    num_ood_actions: int = 10

    @property
    def num_updates(self) -> int:
        """Updates in the whole run."""
        return max(1, self.grad_steps // self.grad_steps_per_update)

    @property
    def steps_per_update(self) -> int:
        """Evaluation env steps per update (``num_envs × eval_steps``): what the run's progress counts."""
        return self.num_envs * self.eval_steps

    @property
    def total_steps(self) -> int:
        """Evaluation env steps in the whole run."""
        return self.num_updates * self.steps_per_update

    def validate(self, prefix: str = "train.") -> OfflineConfig:
        """Raise :class:`ConfigError` naming the first invalid key; return self."""
        for key in ("grad_steps", "grad_steps_per_update", "batch_size", "num_envs", "eval_steps",
                    "target_update_every", "mixer_embed", "hypernet_embed", "num_ood_actions"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{prefix}{key}={getattr(self, key)}: expected an integer >= 1.")
        for key in ("lr", "max_grad_norm"):
            if not getattr(self, key) > 0:
                raise ConfigError(f"{prefix}{key}={getattr(self, key)}: expected a number > 0.")
        if not 0 <= self.gamma <= 1:
            raise ConfigError(f"{prefix}gamma={self.gamma}: expected a number in [0, 1].")
        if self.cql_weight < 0:
            raise ConfigError(f"{prefix}cql_weight={self.cql_weight}: expected a number >= 0.")
        if not self.hidden or min(self.hidden) < 1:
            raise ConfigError(f"{prefix}hidden={list(self.hidden)}: expected widths >= 1.")
        return self
