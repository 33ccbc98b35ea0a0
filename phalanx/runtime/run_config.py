"""``RunConfig``: what ``phalanx train`` runs, resolved from ``key=value`` overrides."""

from __future__ import annotations

import dataclasses
from typing import Any

from phalanx.algos.ppo.config import PPOConfig
from phalanx.algos.registry import get_algorithm
from phalanx.config import build, parse_overrides
from phalanx.errors import ConfigError
from phalanx.runtime.backend import RayConfig, check_backend


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """``phalanx train``: one run (several seeds in one program when ``num_seeds > 1``).

    Attributes:
        env: registered environment name; env_settings: its settings (``env.KEY=VALUE``).
        algo: a registered learner (:func:`phalanx.algos.registry.algorithms`): ``ippo`` or
            ``mappo`` (PPO; sets ``train.critic``), and the others registered there.
        seed: base seed; seed ``k`` of ``num_seeds`` uses ``split(PRNGKey(seed), num_seeds)[k]``
            (with ``num_seeds == 1``, ``PRNGKey(seed)`` itself).
        run_dir: where outputs go (default ``runs/<env>-<algo>-<YYYYmmdd-HHMMSS>``).
        resume: a run directory to continue from its last checkpoint.
        log_every: updates per compiled chunk (one metrics line per chunk).
        checkpoint_every: chunks between checkpoints (the last chunk is always checkpointed).
        num_workers: worker processes stepping a PettingZoo env (``env=pettingzoo:<module>``;
            0 = in this process); unused by Phalanx's own envs.
        train: the learner's hyperparameters (its own dataclass; PPO's for ippo/mappo).
        backend: ``local`` (all seeds in one ``vmap``-ped program here) or ``ray`` (each seed a task on a
            worker, one task per seed per chunk; see :mod:`phalanx.runtime.loop`).
        ray: the ray backend's settings (``ray.address=auto|HOST:PORT``, ``ray.num_workers=N``, ...).
    """

    env: str = "simple_spread"
    algo: str = "ippo"
    seed: int = 0
    num_seeds: int = 1
    run_dir: str | None = None
    resume: str | None = None
    log_every: int = 10
    checkpoint_every: int = 10
    num_workers: int = 2
    env_settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    train: Any = dataclasses.field(default_factory=PPOConfig)
    backend: str = "local"
    ray: RayConfig = dataclasses.field(default_factory=RayConfig)

    def validate(self) -> RunConfig:
        """Raise :class:`ConfigError` naming the first invalid key; return self."""
        for key in ("num_seeds", "log_every", "checkpoint_every"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key}={getattr(self, key)}: expected an integer >= 1.")
        if self.num_workers < 0:
            raise ConfigError(f"num_workers={self.num_workers}: expected an integer >= 0 (0 = in this process).")
        check_backend(self.backend)
        self.ray.validate()
        if self.env.startswith("pettingzoo:"):
            if self.backend != "local":
                raise ConfigError(f"backend={self.backend}: PettingZoo envs run their own worker processes "
                                  "(num_workers=); use backend=local.")
            if self.num_seeds != 1:
                raise ConfigError(f"num_seeds={self.num_seeds}: one seed per PettingZoo run; use num_seeds=1.")
            if not isinstance(self.train, PPOConfig):
                raise ConfigError(f"algo={self.algo!r}: PettingZoo envs train with ippo or mappo.")
        algorithm = get_algorithm(self.algo)
        if not isinstance(self.train, algorithm.config_cls):
            raise ConfigError(f"algo={self.algo!r} needs train settings of type {algorithm.config_cls.__name__}.")
        for key, value in algorithm.defaults.items():
            if getattr(self.train, key) != value:
                raise ConfigError(f"train.{key}={getattr(self.train, key)!r} conflicts with algo={self.algo!r}; "
                                  "set algo only.")
        self.train.validate()
        return self


def split_args(args: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``env=X env.N=3 a=1`` → ``({"env": "X", "a": 1}, {"N": 3})`` (env is both a name and a group)."""
    name_args = [a for a in args if not a.startswith("env.")]
    env_args = [a[len("env.") :] for a in args if a.startswith("env.")]
    return parse_overrides(name_args), parse_overrides(env_args)


#: Training defaults that differ by env (beneath the user's ``train.KEY=VALUE``). Tag's long
#: episodes and sparse tags want more parallel envs per update (RESULTS.md, learning targets).
#: LBF's and RWARE's sparse rewards want a constant, larger step and agent ids (a group's agents
#: share one network): IPPO's LBF team return reaches 0.9 in 2e5 steps, and RWARE's deliveries
#: leave zero within 1e6 (results_lbf_rware.md). Same lr and agent ids as value-based defaults.
ENV_TRAIN_DEFAULTS: dict[str, dict[str, Any]] = {
    "tag": {"num_envs": 32},
    "tag_grid": {"num_envs": 32},
    "lbf": {"lr": 5e-4, "anneal_lr": False, "agent_id": True},
    "rware": {"lr": 5e-4, "anneal_lr": False, "agent_id": True},
}


def from_values(values: dict[str, Any], env_settings: dict[str, Any] | None = None) -> RunConfig:
    """Build and validate a :class:`RunConfig` from nested override values."""
    values = dict(values)
    algo = values.get("algo", RunConfig.algo)
    if not isinstance(algo, str):
        raise ConfigError(f"algo={algo!r}: expected an algorithm name.")
    algorithm = get_algorithm(algo)
    train = values.pop("train", {})
    if not isinstance(train, dict):
        raise ConfigError(f"train={train!r}: expected a group of keys (train.KEY=VALUE).")
    names = {f.name for f in dataclasses.fields(algorithm.config_cls)}
    env_defaults = {k: v for k, v in ENV_TRAIN_DEFAULTS.get(values.get("env", RunConfig.env), {}).items() if k in names}
    train = {**env_defaults, **{k: v for k, v in algorithm.defaults.items() if k not in train}, **train}
    if env_settings:
        values["env_settings"] = {**values.get("env_settings", {}), **env_settings}
    config = build(RunConfig, values)
    return dataclasses.replace(config, train=build(algorithm.config_cls, train, prefix="train.")).validate()


def resolve(args: list[str]) -> RunConfig:
    """The validated :class:`RunConfig` of ``phalanx train ARGS`` (env name and settings checked too)."""
    from phalanx.envs import make

    values, env_settings = split_args(args)
    config = from_values(values, env_settings)
    if config.env.startswith("pettingzoo:"):
        # Imported only here: Phalanx's own envs train without the pettingzoo extra installed.
        from phalanx.interop.pettingzoo_in import pettingzoo_factory

        pettingzoo_factory(config.env, **config.env_settings)  # unknown module → one line (settings: at start)
    else:
        env = make(config.env, **config.env_settings)  # unknown env / setting / wrong type → one line
        # Building the learner (no compilation) catches algo/env mismatches before a run dir exists.
        get_algorithm(config.algo).make_train(config.train, env)
    return config


def to_values(config: RunConfig) -> dict[str, Any]:
    """Nested plain values (lists for tuples) that :func:`from_values` turns back into ``config``."""
    return dataclasses.asdict(config)
