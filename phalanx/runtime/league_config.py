"""``LeagueConfig``: what ``phalanx league`` runs, resolved from ``key=value`` overrides.

Defaults are a small Tag (1 tagger vs 2 runners on a 5 × 5 board, 50 steps, 4 acceleration and 4
turn levels) and a league of one main agent, one main exploiter and one league exploiter that
finishes in a few minutes on 2 CPU cores. Settings come in three groups besides the top-level
keys: ``env.KEY`` (the env's own settings), ``train.KEY`` (PPO, per player and group) and
``league.KEY`` (:class:`~phalanx.population.league.LeagueRules`: matchmaking, snapshots, Elo).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from phalanx.algos.ppo.config import PPOConfig
from phalanx.config import build, parse_overrides
from phalanx.errors import ConfigError
from phalanx.population.league import LeagueRules
from phalanx.runtime.backend import RayConfig, check_backend

#: The league's Tag beneath the user's ``env.KEY=VALUE``: small enough that taggers learn to tag in minutes.
TAG_DEFAULTS: dict[str, Any] = {"num_taggers": 1, "num_runners": 2, "grid_length": 5.0, "episode_length": 50,
                                "tagging_distance": 0.05, "num_acceleration_levels": 4, "num_turn_levels": 4}
#: PPO beneath ``train.KEY``: a constant learning rate (players train for as long as the league runs).
#: ``total_steps`` is unused (the budget is the top-level ``total_steps``); it only has to pass validation.
TRAIN_DEFAULTS: dict[str, Any] = {"num_envs": 32, "num_steps": 64, "lr": 1e-3, "anneal_lr": False,
                                  "total_steps": 32 * 64}
#: League rules beneath ``league.KEY``: snapshot budgets scaled to this small Tag.
LEAGUE_DEFAULTS: dict[str, Any] = {"min_snapshot_steps": 100_000, "snapshot_budget_steps": 200_000}


@dataclasses.dataclass(frozen=True)
class LeagueConfig:
    """``phalanx league``: an AlphaStar-style league on Tag.

    Attributes:
        env: the environment (``tag``: taggers vs runners); env_settings: its settings (``env.KEY=VALUE``).
        seed: seeds the initial parameters, every task's PRNG key and the league's own RNG.
        run_dir: where outputs go (default ``runs/<env>-league-<YYYYmmdd-HHMMSS>``).
        resume: a league run directory to continue from its last checkpoint.
        main_agents, main_exploiters, league_exploiters: learners per role.
        total_steps: env steps for the whole league (all learners, both groups); every learner gets
            the same number of train tasks.
        updates_per_task: PPO updates per group in one train task (the taggers against the opponents'
            runners, then the runners against the opponents' taggers).
        eval_games: paired games per match when a learner is evaluated after each train task.
        final_games: paired games per pair in the final round robin (a multiple of ``eval_games``).
        eval_chunk: matches per compiled evaluation call.
        greedy_eval: evaluate with the most likely actions instead of sampling.
        checkpoint_every: tasks between checkpoints (the end of training is always checkpointed).
        backend: where tasks run (``local``: in this process, one after another; ``ray``: on worker actors,
            every learner's task in flight at once; same results).
        ray: the ray backend's settings (``ray.address=auto|HOST:PORT``, ``ray.num_workers=N``, ...).
        train: PPO hyperparameters (``total_steps`` and ``anneal_lr`` do not apply).
        league: matchmaking, snapshot and Elo rules.
    """

    env: str = "tag"
    seed: int = 0
    run_dir: str | None = None
    resume: str | None = None
    main_agents: int = 1
    main_exploiters: int = 1
    league_exploiters: int = 1
    total_steps: int = 2_000_000
    updates_per_task: int = 5
    eval_games: int = 16
    final_games: int = 64
    eval_chunk: int = 8
    greedy_eval: bool = False
    checkpoint_every: int = 10
    backend: str = "local"
    ray: RayConfig = dataclasses.field(default_factory=RayConfig)
    env_settings: dict[str, Any] = dataclasses.field(default_factory=lambda: dict(TAG_DEFAULTS))
    train: PPOConfig = dataclasses.field(default_factory=lambda: PPOConfig(**TRAIN_DEFAULTS))
    league: LeagueRules = dataclasses.field(default_factory=lambda: LeagueRules(**LEAGUE_DEFAULTS))

    def validate(self) -> LeagueConfig:
        """Raise :class:`ConfigError` naming the first invalid key; return self."""
        if self.env != "tag":
            raise ConfigError(f"env={self.env!r}: phalanx league plays Tag matches (taggers vs runners); "
                              "use env=tag.")
        if self.env_settings.get("runner_exits_game_after_tagged", True) is not True:
            raise ConfigError("env.runner_exits_game_after_tagged=false: league matches count tagged runners "
                              "leaving the game; keep it true.")
        for key in ("main_agents", "total_steps", "updates_per_task", "eval_games", "final_games", "eval_chunk",
                    "checkpoint_every"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key}={getattr(self, key)}: expected an integer >= 1.")
        for key in ("main_exploiters", "league_exploiters"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{key}={getattr(self, key)}: expected an integer >= 0.")
        if self.final_games % self.eval_games:
            raise ConfigError(f"final_games={self.final_games}: expected a multiple of eval_games={self.eval_games} "
                              "(the final round robin repeats the compiled evaluation).")
        if self.train.anneal_lr:
            raise ConfigError("train.anneal_lr=true: league players train for as long as the league runs; "
                              "use a constant learning rate (train.anneal_lr=false).")
        for key in ("normalize_obs", "normalize_values"):
            if getattr(self.train, key):
                raise ConfigError(f"train.{key}=true is not supported by the league (an opponent's actor would "
                                  "see the learner's statistics); set it to false.")
        check_backend(self.backend)
        self.ray.validate()
        self.train.validate()
        self.league.validate()
        return self

    @property
    def learners(self) -> int:
        """Number of learning players."""
        return self.main_agents + self.main_exploiters + self.league_exploiters

    @property
    def steps_per_task(self) -> int:
        """Env steps of one train task: ``updates_per_task`` updates of each of the two groups."""
        return 2 * self.updates_per_task * self.train.steps_per_update

    @property
    def tasks_per_learner(self) -> int:
        """Train tasks (each followed by an evaluation) of every learner."""
        return max(1, math.ceil(self.total_steps / (self.learners * self.steps_per_task)))

    @property
    def capacity(self) -> int:
        """The most players the league can reach: learners, initial snapshots, and at most one snapshot
        per ``max(1, ceil(min_snapshot_steps / steps_per_task))`` tasks of each learner. Opponent
        mixtures are padded to this size so the train task compiles once."""
        every = max(1, math.ceil(self.league.min_snapshot_steps / self.steps_per_task))
        return self.learners + self.main_agents + self.learners * (self.tasks_per_learner // every)


def split_args(args: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``env=X env.N=3 a=1`` → ``({"env": "X", "a": 1}, {"N": 3})`` (env is both a name and a group)."""
    name_args = [a for a in args if not a.startswith("env.")]
    env_args = [a[len("env.") :] for a in args if a.startswith("env.")]
    return parse_overrides(name_args), parse_overrides(env_args)


def from_values(values: dict[str, Any], env_settings: dict[str, Any] | None = None) -> LeagueConfig:
    """Build and validate a :class:`LeagueConfig` from nested override values (defaults merged beneath)."""
    values = dict(values)
    for key, defaults in (("train", TRAIN_DEFAULTS), ("league", LEAGUE_DEFAULTS)):
        given = values.get(key, {})
        values[key] = {**defaults, **given} if isinstance(given, dict) else given
    values["env_settings"] = {**TAG_DEFAULTS, **values.get("env_settings", {}), **(env_settings or {})}
    return build(LeagueConfig, values).validate()


def resolve(args: list[str]) -> LeagueConfig:
    """The validated :class:`LeagueConfig` of ``phalanx league ARGS`` (env name and settings checked too)."""
    from phalanx.envs import make

    values, env_settings = split_args(args)
    train = values.get("train")
    if isinstance(train, dict) and "total_steps" in train:
        raise ConfigError("train.total_steps does not apply to a league; set the league's budget with "
                          "total_steps=N (env steps over all learners).")
    config = from_values(values, env_settings)
    make(config.env, **config.env_settings)  # unknown env / setting / wrong type → one line
    return config


def to_values(config: LeagueConfig) -> dict[str, Any]:
    """Nested plain values that :func:`from_values` turns back into ``config``."""
    return dataclasses.asdict(config)
