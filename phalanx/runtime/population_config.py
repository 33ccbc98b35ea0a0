"""``PopulationConfig``: what ``phalanx psro`` and ``phalanx selfplay`` run, resolved from ``key=value`` args.

The grammar is every command's (``env=``/``env.*``, ``algo=``/``train.*``, ``backend=``/``ray.*``,
``seed=``/``num_seeds=``) plus ``population.*``, the meta-game's own settings
(:class:`PopulationSettings`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from phalanx.algos.ppo.config import PPOConfig
from phalanx.config import build, ranged, reject_renamed, split_args
from phalanx.errors import ConfigError, did_you_mean
from phalanx.runtime.backend import BackendName, RayConfig
from phalanx.runtime.run_config import learner_values

#: ``phalanx selfplay population.mode=...`` → meta-solver.
SELFPLAY_MODES = {"sp": "last", "fsp": "uniform"}


@dataclasses.dataclass(frozen=True)
class PopulationSettings:
    """``population.KEY=VALUE``: the meta-game's own settings.

    Attributes:
        oracle: ``exact`` or ``learned`` (trains best responses with ``algo=``; default: exact where the game
            allows it, else learned).
        meta_solver: ``uniform`` (fictitious self-play), ``last`` (self-play), ``nash``, ``prd``, ``alpharank``,
            ``general_sum`` (default: nash for zero-sum games, else prd). ``phalanx selfplay`` sets it
            from ``population.mode=sp|fsp`` instead.
        iterations: oracle steps (each adds a best response per player).
        eval_episodes: env games: Monte-Carlo games per payoff cell.
        eval_steps: env games: steps per evaluation episode (default: the env's time limit).
        meta_solver_options: the meta-solver's options (``population.meta_solver_options.gamma=1e-3`` for prd).
        compiler_options: XLA options of the learned oracle's program, e.g.
            ``population.compiler_options.xla_backend_optimization_level=0`` (compiles ~2.5x faster on a CPU,
            runs slower).
    """

    oracle: str | None = None
    meta_solver: str | None = None
    iterations: int = ranged(20, min=1)
    eval_episodes: int = ranged(64, min=1)
    eval_steps: int | None = ranged(None, min=1, note="or null: the env's time limit")
    meta_solver_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    compiler_options: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class PopulationConfig:
    """A PSRO / self-play run.

    Attributes:
        env: a two-player game: ``kuhn_poker``, ``leduc_poker``, a matrix game (``rock_paper_scissors``,
            ``matrix_game`` with ``env.payoffs=...``, ...) or a two-group env (``tag``, ``simple_tag``, ...);
            env_settings: its settings (``env.KEY=VALUE``).
        algo: the learner of learned best responses, any registered one (``ippo``, ``iql``, ...; ``train.*``
            its settings, with per-env defaults registered with the env); members are its policies.
        seed: the run's seed (iteration ``i`` uses ``fold_in(PRNGKey(seed), i)``).
        num_seeds: learned oracle: best responses trained per player in one program; the best is kept.
        run_dir: where outputs go (default ``runs/<env>-psro-<YYYYmmdd-HHMMSS>``).
        resume: a run directory to continue (``population.iterations=`` may raise its target).
        checkpoint_every: iterations between checkpoints (the last is always checkpointed).
        population: the meta-game's settings (:class:`PopulationSettings`).
        backend: where tasks run: ``local`` (this process) or ``ray`` (worker actors; same results).
        ray: the ray backend's settings (``ray.address=auto|HOST:PORT``, ``ray.num_workers=N``, ...;
            :class:`~phalanx.runtime.backend.RayConfig`).
    """

    #: What ``resume=`` may change (keys or groups): the target iterations, and where tasks run.
    RESUME_OVERRIDABLE: ClassVar[tuple[str, ...]] = ("population.iterations", "run_dir", "resume", "backend", "ray")

    env: str = "kuhn_poker"
    algo: str = "ippo"
    seed: int = 0
    num_seeds: int = ranged(1, min=1)
    run_dir: str | None = None
    resume: str | None = None
    checkpoint_every: int = ranged(1, min=1)
    env_settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    train: Any = dataclasses.field(default_factory=PPOConfig)
    population: PopulationSettings = dataclasses.field(default_factory=PopulationSettings)
    backend: BackendName = "local"
    ray: RayConfig = dataclasses.field(default_factory=RayConfig)

    def game_spec(self) -> Any:
        """The :class:`~phalanx.population.metagames.GameSpec` of this run (learned members only with the learned
        oracle)."""
        from phalanx.population.metagames import GameSpec

        learned = self.population.oracle == "learned"
        return GameSpec.create(self.env, self.env_settings, algo=self.algo if learned else None,
                               train=self.train if learned else None, eval_episodes=self.population.eval_episodes,
                               eval_steps=self.population.eval_steps)

    def oracle_spec(self) -> Any:
        """The :class:`~phalanx.population.oracles.OracleSpec` of this run (``"exact"`` unless ``oracle`` is set)."""
        from phalanx.population.oracles import OracleSpec

        return OracleSpec(self.population.oracle or "exact", self.num_seeds,
                          tuple(sorted(self.population.compiler_options.items())))


def selfplay_values(values: dict[str, Any]) -> dict[str, Any]:
    """``phalanx selfplay`` values → ``phalanx psro`` values: ``population.mode=sp|fsp`` picks the meta-solver."""
    values = dict(values)
    population = values.get("population", {})
    if not isinstance(population, dict):
        return values  # build() names the mistake
    population = dict(population)
    if "meta_solver" in population:
        raise ConfigError("phalanx selfplay takes population.mode=sp|fsp, not population.meta_solver= "
                          "(use phalanx psro for other solvers).")
    mode = population.pop("mode", "sp")
    if mode not in SELFPLAY_MODES:
        raise ConfigError(f"population.mode={mode!r}: expected sp (self-play) or fsp (fictitious self-play)."
                          f"{did_you_mean(str(mode), SELFPLAY_MODES, 'population.mode=')}")
    values["population"] = {**population, "meta_solver": SELFPLAY_MODES[mode]}
    return values


def from_values(values: dict[str, Any], env_settings: dict[str, Any] | None = None,
                command: str = "psro") -> PopulationConfig:
    """Build, fill defaults into and validate a :class:`PopulationConfig` from nested override values."""
    from phalanx.population.meta_solvers import get_meta_solver
    from phalanx.population.metagames import check_game_learner, game_kind, make_metagame
    from phalanx.population.oracles import check_oracle

    reject_renamed(values, command)
    values = {"env": PopulationConfig.env, **values}
    if env_settings:
        values["env_settings"] = {**values.get("env_settings", {}), **env_settings}
    values, algorithm, train = learner_values(values, "population")
    config = build(PopulationConfig, values)
    config = dataclasses.replace(config, train=build(algorithm.config_cls, train, prefix="train."))
    kind = game_kind(config.env, config.env_settings)  # unknown game → did-you-mean
    oracle = config.population.oracle or ("learned" if kind == "env" else "exact")
    check_oracle(oracle, config.env, kind)
    config = dataclasses.replace(config, population=dataclasses.replace(config.population, oracle=oracle))
    check_game_learner(config.game_spec())  # the learner fits the game, before any run directory exists
    zero_sum = make_metagame(config.game_spec()).zero_sum
    solver = config.population.meta_solver or ("nash" if zero_sum else "prd")
    get_meta_solver(solver, **config.population.meta_solver_options)  # unknown name or option → did-you-mean
    if solver == "nash" and not zero_sum:
        raise ConfigError(f"population.meta_solver=nash needs a zero-sum game and {config.env!r} is not; use "
                          "general_sum, prd or alpharank.")
    return dataclasses.replace(config, population=dataclasses.replace(config.population, meta_solver=solver))


def resolve(args: list[str], selfplay: bool = False) -> PopulationConfig:
    """The validated config of ``phalanx psro ARGS`` (or ``phalanx selfplay ARGS``)."""
    values, env_settings = split_args(args)
    command = "selfplay" if selfplay else "psro"
    reject_renamed(values, command)
    if selfplay:
        values = selfplay_values(values)
    return from_values(values, env_settings, command)


def to_values(config: PopulationConfig) -> dict[str, Any]:
    """Nested plain values that :func:`from_values` turns back into ``config``."""
    return dataclasses.asdict(config)
