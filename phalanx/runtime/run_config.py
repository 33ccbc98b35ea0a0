"""``RunConfig``: what ``phalanx train`` runs, resolved from ``key=value`` overrides."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from phalanx.algos.ppo.config import PPOConfig
from phalanx.config import build, parse_overrides
from phalanx.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """``phalanx train``: one PPO run (several seeds in one program when ``num_seeds > 1``).

    Attributes:
        env: registered environment name; env_settings: its settings (``env.KEY=VALUE``).
        algo: ``ippo`` or ``mappo`` (sets ``train.critic``).
        seed: base seed; seed ``k`` of ``num_seeds`` uses ``split(PRNGKey(seed), num_seeds)[k]``
            (with ``num_seeds == 1``, ``PRNGKey(seed)`` itself).
        run_dir: where outputs go (default ``runs/<env>-<algo>-<YYYYmmdd-HHMMSS>``).
        resume: a run directory to continue from its last checkpoint.
        log_every: updates per compiled chunk (one metrics line per chunk).
        checkpoint_every: chunks between checkpoints (the last chunk is always checkpointed).
        train: PPO hyperparameters.
    """

    env: str = "simple_spread"
    algo: Literal["ippo", "mappo"] = "ippo"
    seed: int = 0
    num_seeds: int = 1
    run_dir: str | None = None
    resume: str | None = None
    log_every: int = 10
    checkpoint_every: int = 10
    env_settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    train: PPOConfig = dataclasses.field(default_factory=PPOConfig)

    def validate(self) -> RunConfig:
        """Raise :class:`ConfigError` naming the first invalid key; return self."""
        for key in ("num_seeds", "log_every", "checkpoint_every"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key}={getattr(self, key)}: expected an integer >= 1.")
        if self.train.critic != self.algo:
            raise ConfigError(f"train.critic={self.train.critic!r} conflicts with algo={self.algo!r}; set algo only.")
        self.train.validate()
        return self


def split_args(args: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``env=X env.N=3 a=1`` → ``({"env": "X", "a": 1}, {"N": 3})`` (env is both a name and a group)."""
    name_args = [a for a in args if not a.startswith("env.")]
    env_args = [a[len("env.") :] for a in args if a.startswith("env.")]
    return parse_overrides(name_args), parse_overrides(env_args)


#: Training defaults that differ by env (beneath the user's ``train.KEY=VALUE``). Tag's long
#: episodes and sparse tags want more parallel envs per update (RESULTS.md, learning targets).
ENV_TRAIN_DEFAULTS: dict[str, dict[str, Any]] = {"tag": {"num_envs": 32}, "tag_grid": {"num_envs": 32}}


def from_values(values: dict[str, Any], env_settings: dict[str, Any] | None = None) -> RunConfig:
    """Build and validate a :class:`RunConfig` from nested override values."""
    values = dict(values)
    algo = values.get("algo", RunConfig.algo)
    env_defaults = ENV_TRAIN_DEFAULTS.get(values.get("env", RunConfig.env), {})
    if env_defaults:
        user_train = values.get("train", {})
        values["train"] = {**env_defaults, **user_train} if isinstance(user_train, dict) else user_train
    train = values.get("train", {})
    if isinstance(train, dict) and "critic" not in train and algo in ("ippo", "mappo"):
        values["train"] = {**train, "critic": algo}
    if env_settings:
        values["env_settings"] = {**values.get("env_settings", {}), **env_settings}
    return build(RunConfig, values).validate()


def resolve(args: list[str]) -> RunConfig:
    """The validated :class:`RunConfig` of ``phalanx train ARGS`` (env name and settings checked too)."""
    from phalanx.envs import make

    values, env_settings = split_args(args)
    config = from_values(values, env_settings)
    make(config.env, **config.env_settings)  # unknown env / setting / wrong type → one line
    return config


def to_values(config: RunConfig) -> dict[str, Any]:
    """Nested plain values (lists for tuples) that :func:`from_values` turns back into ``config``."""
    return dataclasses.asdict(config)
