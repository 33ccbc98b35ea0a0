"""``RunConfig``: what ``phalanx train`` runs, resolved from ``key=value`` overrides."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from phalanx.algos.ppo.config import PPOConfig
from phalanx.algos.registry import get_algorithm
from phalanx.config import build, check_ranges, merge, ranged, reject_renamed, split_args, unflatten
from phalanx.errors import ConfigError
from phalanx.runtime.backend import BackendName, RayConfig


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
        data: an offline dataset (a vault, ``DIR/NAME.vlt[/UID]``) for the offline learners (``algo=bc|iql_cql``;
            :mod:`phalanx.runtime.vault`).
        record: write every env step of the training rollout (every group, every seed) to a new offline
            dataset ``<record>/<record_quality>`` (a Flashbax Vault in OG-MARL's layout, written between chunks;
            :mod:`phalanx.runtime.train_record`); record_quality: its label and vault uid (default ``Replay``).
        log_every: updates per compiled chunk (one metrics line per chunk).
        checkpoint_every: chunks between checkpoints (the last chunk is always checkpointed).
        num_workers: worker processes stepping a PettingZoo env (``env=pettingzoo:<module>``;
            0 = in this process); unused by Phalanx's own envs.
        train: the learner's hyperparameters (its own dataclass; PPO's for ippo/mappo).
        backend: ``local`` (all seeds in one ``vmap``-ped program here) or ``ray`` (each seed a task on a
            worker, one task per seed per chunk; see :mod:`phalanx.runtime.train_run`). On a PettingZoo env,
            ``ray`` runs remote actors that step the env and feed the learner (:mod:`phalanx.runtime.actor_run`).
        ray: the ray backend's settings (``ray.address=auto|HOST:PORT``, ``ray.num_workers=N``, ...).
    """

    #: What ``resume=`` may change (keys or groups): results do not depend on the backend.
    RESUME_OVERRIDABLE: ClassVar[tuple[str, ...]] = ("resume", "run_dir", "backend", "ray")

    env: str = "simple_spread"
    algo: str = "ippo"
    seed: int = 0
    num_seeds: int = ranged(1, min=1)
    run_dir: str | None = None
    resume: str | None = None
    data: str | None = None
    record: str | None = None
    record_quality: str | None = None
    log_every: int = ranged(10, min=1)
    checkpoint_every: int = ranged(10, min=1)
    num_workers: int = ranged(2, min=0, note="0 = in this process")
    env_settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    train: Any = dataclasses.field(default_factory=PPOConfig)
    backend: BackendName = "local"
    ray: RayConfig = dataclasses.field(default_factory=RayConfig)

    def validate(self) -> RunConfig:
        """Raise :class:`ConfigError` naming the first invalid value or combination; return self."""
        check_ranges(self)
        if self.env.startswith("pettingzoo:"):
            if self.num_seeds != 1:
                raise ConfigError(f"num_seeds={self.num_seeds}: one seed per PettingZoo run; use num_seeds=1.")
            if self.backend == "ray":
                check_actor_settings(self)
            for key in ("num_actors", "envs_per_actor"):
                if self.backend != "ray" and getattr(self.ray, key) is not None:
                    raise ConfigError(f"ray.{key}={getattr(self.ray, key)}: remote actors need backend=ray; add "
                                      "backend=ray, or drop it to step the env in local worker processes "
                                      "(num_workers=).")
        else:
            for key in ("num_actors", "envs_per_actor"):
                if getattr(self.ray, key) is not None:
                    raise ConfigError(f"ray.{key}={getattr(self.ray, key)}: remote actors step host envs "
                                      f"(env=pettingzoo:<module>); env={self.env} trains in one compiled program "
                                      f"(backend=ray runs its seeds as tasks: ray.num_workers=); drop ray.{key}.")
        if self.record and (self.env.startswith("pettingzoo:") or self.backend != "local"):
            raise ConfigError(f"record={self.record}: recording runs inside the compiled program of Phalanx's own "
                              "(JAX) envs on backend=local; drop record= or use backend=local.")
        algorithm = get_algorithm(self.algo)
        if not isinstance(self.train, algorithm.config_cls):
            raise ConfigError(f"algo={self.algo!r} needs train settings of type {algorithm.config_cls.__name__}.")
        for key, value in algorithm.defaults.items():
            if getattr(self.train, key) != value:
                raise ConfigError(f"train.{key}={getattr(self.train, key)!r} conflicts with algo={self.algo!r}; "
                                  "set algo only.")
        self.train.validate()
        return self


def check_actor_settings(config: RunConfig) -> None:
    """``backend=ray`` on a PettingZoo env (remote actors): the learner and the env/actor sizes fit, or one line."""
    from phalanx.algos.continuous.config import OffPolicyConfig
    from phalanx.algos.value_based.config import QLearningConfig

    c, ray = config.train, config.ray
    if not isinstance(c, PPOConfig | QLearningConfig | OffPolicyConfig):
        raise ConfigError(f"algo={config.algo} with backend=ray on a PettingZoo env: remote actors feed ippo, mappo, "
                          "iql, vdn, qmix, isac, masac and maddpg (online learners); use one of those, or "
                          "backend=local.")
    if ray.envs_per_actor is not None and c.num_envs % ray.envs_per_actor:
        raise ConfigError(f"ray.envs_per_actor={ray.envs_per_actor}: an update learns from train.num_envs="
                          f"{c.num_envs} envs, whole actor blocks only; choose a divisor of {c.num_envs}.")
    if ray.num_actors is not None and ray.envs_per_actor is None and c.num_envs % ray.num_actors:
        raise ConfigError(f"ray.num_actors={ray.num_actors}: train.num_envs={c.num_envs} does not split evenly "
                          "over the actors; set ray.envs_per_actor= (a divisor of train.num_envs) or change "
                          "train.num_envs.")


def learner_values(values: dict[str, Any], command: str) -> tuple[dict[str, Any], Any, dict[str, Any]]:
    """``(values without train, the algorithm, train values)`` with the env's defaults beneath the user's.

    Shared by every command: ``algo=`` names the learner (:func:`phalanx.algos.registry.get_algorithm`),
    ``train.*`` its settings; the env's registered ``<command>_defaults`` go beneath them (``train.*``
    keys the learner lacks are skipped), and the algorithm's own implied settings (``mappo``: the
    critic) beneath the user's. Non-``train`` defaults (``env.*``, ``population.*``, ``league.*``)
    are merged into the returned values.
    """
    from phalanx.envs.registry import command_defaults

    values = dict(values)
    env, algo = values.get("env"), values.get("algo", "ippo")
    for key, value, what in (("env", env, "an environment name"), ("algo", algo, "an algorithm name")):
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{key}={value!r}: expected {what}.")
    algorithm = get_algorithm(algo)
    train = values.pop("train", {})
    if not isinstance(train, dict):
        raise ConfigError(f"train={train!r}: expected a group of keys (train.KEY=VALUE).")
    defaults = unflatten(command_defaults(env, command, algo)) if isinstance(env, str) else {}
    names = {f.name for f in dataclasses.fields(algorithm.config_cls)}
    env_train = {k: v for k, v in defaults.pop("train", {}).items() if k in names}
    if "env" in defaults:
        values["env_settings"] = {**defaults.pop("env"), **values.get("env_settings", {})}
    values = merge(defaults, values)
    train = {**env_train, **{k: v for k, v in algorithm.defaults.items() if k not in train}, **train}
    return values, algorithm, train


def from_values(values: dict[str, Any], env_settings: dict[str, Any] | None = None) -> RunConfig:
    """Build and validate a :class:`RunConfig` from nested override values (env defaults beneath them)."""
    reject_renamed(values, "train")
    values = {"env": RunConfig.env, **values}
    if env_settings:
        values["env_settings"] = {**values.get("env_settings", {}), **env_settings}
    values, algorithm, train = learner_values(values, "train")
    config = build(RunConfig, values)
    return dataclasses.replace(config, train=build(algorithm.config_cls, train, prefix="train.")).validate()


def resolve(args: list[str]) -> RunConfig:
    """The validated :class:`RunConfig` of ``phalanx train ARGS`` (env name and settings checked too)."""
    from phalanx.envs import make

    values, env_settings = split_args(args)
    config = from_values(values, env_settings)
    if config.env.startswith("pettingzoo:"):
        # Imported only here: Phalanx's own envs train without the pettingzoo extra installed.
        from phalanx.algos.common.host import SpecEnv
        from phalanx.interop.pettingzoo_in import as_parallel, infer_layout, pettingzoo_factory

        factory = pettingzoo_factory(config.env, **config.env_settings)  # unknown module → one line
        try:
            probe = as_parallel(factory())
        except TypeError as err:  # most often a wrong setting name
            raise ConfigError(f"{config.env}: building the env failed: {err}") from None
        try:
            spec = infer_layout(probe).spec
        finally:
            probe.close()
        # The learner on the env's spec (no compilation): algo/env mismatches fail before a run dir exists.
        get_algorithm(config.algo).make_train(config.train, SpecEnv(spec, config.env))
    else:
        env = make(config.env, **config.env_settings)  # unknown env / setting / wrong type → one line
        # Building the learner (no compilation) catches algo/env mismatches before a run dir exists.
        from phalanx.runtime.vault import make_trainer

        make_trainer(config, env)  # offline learners: the dataset is read and checked against the env here
        if config.record and config.resume is None:
            from phalanx.runtime.train_record import record_path

            if record_path(config).exists():
                raise ConfigError(f"record={config.record}: a dataset exists at {record_path(config)} already; "
                                  "choose another record= (or record_quality=).")
    return config


def to_values(config: RunConfig) -> dict[str, Any]:
    """Nested plain values (lists for tuples) that :func:`from_values` turns back into ``config``."""
    return dataclasses.asdict(config)
