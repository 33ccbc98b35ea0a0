"""``LeagueConfig``: what ``phalanx league`` runs, resolved from ``key=value`` overrides.

The grammar is every command's (``env=``/``env.*``, ``algo=``/``train.*``, ``backend=``/``ray.*``,
``seed=``/``num_seeds=``) plus ``league.*``: the league's size, budget and evaluation
(:class:`LeagueSettings`) and its matchmaking, snapshot and Elo rules
(:class:`~phalanx.population.league.LeagueRules`). The env's registered ``league_defaults`` go
beneath the user's arguments: on Tag, a small board (1 tagger vs 2 runners, 5 × 5, 50 steps) on which
taggers learn to tag in minutes on 2 CPU cores, scored by the tag count (``league.scorer=tags``).

Any registered learner (``algo=``) on any env with two or more groups: :func:`resolve` builds the
env and the learners of both sides, so a combination that cannot work (a one-group env, a
continuous learner on discrete actions, a scorer another env provides) is one line before a run
directory exists.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

from phalanx.algos.ppo.config import PPOConfig
from phalanx.algos.registry import get_algorithm
from phalanx.config import build, check_ranges, ranged, reject_renamed, split_args
from phalanx.errors import ConfigError, PhalanxError
from phalanx.population.league import LeagueRules
from phalanx.runtime.backend import BackendName, RayConfig
from phalanx.runtime.run_config import learner_values

__all__ = ["LeagueConfig", "LeagueSettings", "from_values", "resolve", "split_args", "to_values"]

#: ``train.*`` beneath the env's and the user's (where the learner has the key): players train for as long
#: as the league runs.
TRAIN_DEFAULTS: dict[str, Any] = {"anneal_lr": False}


@dataclasses.dataclass(frozen=True)
class LeagueSettings(LeagueRules):
    """``league.KEY=VALUE``: the matchmaking, snapshot and Elo rules, and the league's size and budget.

    Attributes:
        main_agents, main_exploiters, league_exploiters: learners per role.
        total_steps: env steps for the whole league (all learners, both groups); every learner gets
            the same number of train tasks.
        updates_per_task: learner updates per side in one train task (side 0's groups against the
            opponents' side 1, then side 1's against the opponents' side 0; on Tag the taggers, then the runners).
        eval_games: paired games per match when a learner is evaluated after each train task.
        final_games: paired games per pair in the final round robin (a multiple of ``eval_games``).
        eval_chunk: matches per compiled evaluation call.
        greedy_eval: evaluate with the learners' deterministic policies instead of their evaluation behaviour.
        scorer: how a paired game is scored (:mod:`phalanx.population.scorers`): ``returns`` (the groups'
            returns; any env) or ``tags`` (Tag's tag count, Tag's default).
    """

    main_agents: int = ranged(1, min=1)
    main_exploiters: int = ranged(1, min=0)
    league_exploiters: int = ranged(1, min=0)
    total_steps: int = ranged(2_000_000, min=1)
    updates_per_task: int = ranged(5, min=1)
    eval_games: int = ranged(16, min=1)
    final_games: int = ranged(64, min=1)
    eval_chunk: int = ranged(8, min=1)
    greedy_eval: bool = False
    scorer: str = "returns"


@dataclasses.dataclass(frozen=True)
class LeagueConfig:
    """``phalanx league``: an AlphaStar-style league on any env with two or more groups, with any learner.

    Attributes:
        env: the environment (two or more groups); env_settings: its settings (``env.KEY=VALUE``).
        algo: the players' learner (any registered one whose spaces fit the env); train: its settings
            (``total_steps`` and ``anneal_lr`` do not apply: the budget is ``league.total_steps``).
        seed: seeds the initial parameters, every task's PRNG key and the league's own RNG.
        num_seeds: leagues per run (1: run more leagues with other ``seed=``).
        run_dir: where outputs go (default ``runs/<env>-league-<YYYYmmdd-HHMMSS>``).
        resume: a league run directory to continue from its last checkpoint.
        checkpoint_every: tasks between checkpoints (the end of training is always checkpointed).
        league: the league's size, budget and rules (:class:`LeagueSettings`).
        backend: where tasks run (``local``: in this process, one after another; ``ray``: on worker actors,
            every learner's task in flight at once; same results).
        ray: the ray backend's settings (``ray.address=auto|HOST:PORT``, ``ray.num_workers=N``, ...).
    """

    #: What ``resume=`` may change (keys or groups): results do not depend on the backend.
    RESUME_OVERRIDABLE: ClassVar[tuple[str, ...]] = ("resume", "run_dir", "backend", "ray")

    env: str = "tag"
    algo: str = "ippo"
    seed: int = 0
    num_seeds: int = ranged(1, min=1)
    run_dir: str | None = None
    resume: str | None = None
    checkpoint_every: int = ranged(10, min=1)
    env_settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    train: Any = dataclasses.field(default_factory=PPOConfig)
    league: LeagueSettings = dataclasses.field(default_factory=LeagueSettings)
    backend: BackendName = "local"
    ray: RayConfig = dataclasses.field(default_factory=RayConfig)

    def validate(self) -> LeagueConfig:
        """Raise :class:`ConfigError` naming the first invalid value or combination; return self."""
        check_ranges(self)
        from phalanx.population.scorers import get_scorer

        get_scorer(self.league.scorer, self.env)
        if self.num_seeds != 1:
            raise ConfigError(f"num_seeds={self.num_seeds}: a league run is one league; run others with seed=.")
        if self.league.scorer == "tags" and self.env_settings.get("runner_exits_game_after_tagged", True) is not True:
            raise ConfigError("env.runner_exits_game_after_tagged=false: league matches count tagged runners "
                              "leaving the game; keep it true.")
        if self.league.final_games % self.league.eval_games:
            raise ConfigError(f"league.final_games={self.league.final_games}: expected a multiple of "
                              f"league.eval_games={self.league.eval_games} (the final round robin repeats the "
                              "compiled evaluation).")
        if getattr(self.train, "anneal_lr", False):
            raise ConfigError("train.anneal_lr=true: league players train for as long as the league runs; "
                              "use a constant learning rate (train.anneal_lr=false).")
        self.train.validate()
        self.league.validate()
        return self

    @property
    def learners(self) -> int:
        """Number of learning players."""
        return self.league.main_agents + self.league.main_exploiters + self.league.league_exploiters

    @property
    def steps_per_task(self) -> int:
        """Env steps of one train task: ``updates_per_task`` updates of each of the two sides."""
        return 2 * self.league.updates_per_task * self.train.steps_per_update

    @property
    def tasks_per_learner(self) -> int:
        """Train tasks (each followed by an evaluation) of every learner."""
        return max(1, math.ceil(self.league.total_steps / (self.learners * self.steps_per_task)))

    @property
    def capacity(self) -> int:
        """The most players the league can reach: learners, initial snapshots, and at most one snapshot
        per ``max(1, ceil(min_snapshot_steps / steps_per_task))`` tasks of each learner. Opponent
        mixtures are padded to this size so the train task compiles once."""
        every = max(1, math.ceil(self.league.min_snapshot_steps / self.steps_per_task))
        return self.learners + self.league.main_agents + self.learners * (self.tasks_per_learner // every)


def from_values(values: dict[str, Any], env_settings: dict[str, Any] | None = None) -> LeagueConfig:
    """Build and validate a :class:`LeagueConfig` from nested override values (defaults merged beneath)."""
    reject_renamed(values, "league")
    values = {"env": LeagueConfig.env, **values}
    if env_settings:
        values["env_settings"] = {**values.get("env_settings", {}), **env_settings}
    user_train = values.get("train") if isinstance(values.get("train"), dict) else {}
    values, algorithm, train = learner_values(values, "league")
    names = {f.name for f in dataclasses.fields(algorithm.config_cls)}
    # Over the env's registered settings (SMAX's MAPPO anneals for a train run), beneath the user's own.
    train = {**train, **{k: v for k, v in TRAIN_DEFAULTS.items() if k in names and k not in user_train}}
    config = build(LeagueConfig, values)
    return dataclasses.replace(config, train=build(algorithm.config_cls, train, prefix="train.")).validate()


def resolve(args: list[str]) -> LeagueConfig:
    """The validated :class:`LeagueConfig` of ``phalanx league ARGS`` (env name and settings checked too)."""
    from phalanx.envs import make

    values, env_settings = split_args(args)
    reject_renamed(values, "league")
    train = values.get("train")
    if isinstance(train, dict) and "total_steps" in train:
        raise ConfigError("train.total_steps does not apply to a league; set the league's budget with "
                          "league.total_steps=N (env steps over all learners).")
    config = from_values(values, env_settings)
    check_env(config, make(config.env, **config.env_settings))  # unknown env / setting / wrong type → one line
    return config


def check_env(config: LeagueConfig, env: Any) -> None:
    """One-line :class:`ConfigError` unless ``env`` has two or more groups and ``algo=`` can learn each side.

    Builds (without running) the learner of each side, ``make_train(train, env, learners=side)``, so a
    learner whose action spaces do not fit the env fails here with its own message.
    """
    from phalanx.population.league_matches import sides

    try:
        split = sides(tuple(env.spec.groups))
    except ConfigError as err:
        raise ConfigError(f"env={config.env}: {err}") from None
    make_train = get_algorithm(config.algo).make_train
    for side in split:
        try:
            make_train(config.train, env, learners=side)
        except PhalanxError as err:
            line = str(err).splitlines()[0]
            prefix = "" if line.startswith(f"algo={config.algo}") else f"algo={config.algo} on env={config.env}: "
            raise ConfigError(prefix + line) from None


def to_values(config: LeagueConfig) -> dict[str, Any]:
    """Nested plain values that :func:`from_values` turns back into ``config``."""
    return dataclasses.asdict(config)
