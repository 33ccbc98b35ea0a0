"""``PopulationConfig``: what ``phalanx psro`` and ``phalanx selfplay`` run, resolved from ``key=value`` args."""

from __future__ import annotations

import dataclasses
from typing import Any

from phalanx.algos.ppo.config import PPOConfig
from phalanx.config import build, parse_overrides
from phalanx.errors import ConfigError, did_you_mean
from phalanx.runtime.backend import RayConfig, check_backend


@dataclasses.dataclass(frozen=True)
class PopulationConfig:
    """A PSRO / self-play run.

    Attributes:
        game: a two-player game: ``kuhn_poker``, ``leduc_poker``, a matrix game (``rock_paper_scissors``,
            ``matrix_game`` with ``env.payoffs=...``, ...) or a two-group env (``tag``, ``simple_tag``, ...).
        oracle: ``exact`` or ``ppo`` (default: exact where the game allows it, else ppo).
        meta_solver: ``uniform`` (fictitious self-play), ``last`` (self-play), ``nash``, ``prd``, ``alpharank``,
            ``general_sum`` (default: nash for zero-sum games, else prd).
        iterations: oracle steps (each adds a best response per player).
        seed: the run's seed (iteration ``i`` uses ``fold_in(PRNGKey(seed), i)``).
        run_dir: where outputs go (default ``runs/<game>-psro-<YYYYmmdd-HHMMSS>``).
        resume: a run directory to continue (``iterations=`` may raise its target).
        checkpoint_every: iterations between checkpoints (the last is always checkpointed).
        ppo_seeds: PPO oracle: best responses trained per player in one program; the best is kept.
        eval_episodes: env games: Monte-Carlo games per payoff cell.
        eval_steps: env games: steps per evaluation episode (default: the env's time limit).
        meta_solver_options: the meta-solver's options (``meta_solver_options.gamma=1e-3`` for prd).
        env_settings: the game's settings (``env.KEY=VALUE``).
        ppo: PPO oracle hyperparameters (``ppo.KEY=VALUE``; game-specific defaults in :data:`PPO_DEFAULTS`).
        ppo_compiler_options: XLA options of the PPO oracle's program, e.g.
            ``ppo_compiler_options.xla_backend_optimization_level=0`` (compiles ~2.5x faster on a CPU, runs slower).
        backend: where tasks run: ``local`` (this process) or ``ray`` (worker actors; same results).
        ray: the ray backend's settings (``ray.address=auto|HOST:PORT``, ``ray.num_workers=N``, ...;
            :class:`~phalanx.runtime.backend.RayConfig`).
    """

    game: str = "kuhn_poker"
    oracle: str | None = None
    meta_solver: str | None = None
    iterations: int = 20
    seed: int = 0
    run_dir: str | None = None
    resume: str | None = None
    checkpoint_every: int = 1
    ppo_seeds: int = 1
    eval_episodes: int = 64
    eval_steps: int | None = None
    meta_solver_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    env_settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    ppo: PPOConfig = dataclasses.field(default_factory=PPOConfig)
    ppo_compiler_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    backend: str = "local"
    ray: RayConfig = dataclasses.field(default_factory=RayConfig)

    def game_spec(self) -> Any:
        """The :class:`~phalanx.population.metagames.GameSpec` of this run (networks only with the PPO oracle)."""
        from phalanx.population.metagames import GameSpec

        return GameSpec.create(self.game, self.env_settings, policy=self.ppo if self.oracle == "ppo" else None,
                               eval_episodes=self.eval_episodes, eval_steps=self.eval_steps)

    def oracle_spec(self) -> Any:
        """The :class:`~phalanx.population.oracles.OracleSpec` of this run (``"exact"`` unless ``oracle`` is set)."""
        from phalanx.population.oracles import OracleSpec

        return OracleSpec(self.oracle or "exact", self.ppo_seeds, tuple(sorted(self.ppo_compiler_options.items())))


#: PPO oracle defaults per game (beneath the user's ``ppo.KEY=VALUE``): a best response is a short
#: single-agent run against a fixed mixture. Poker rewards come once, at the end: no discounting.
_POKER = {"num_minibatches": 4, "update_epochs": 4, "hidden": [64, 64], "ent_coef": 0.0, "gamma": 1.0,
          "gae_lambda": 1.0, "lr": 3e-3}
_MATRIX = {"total_steps": 32 * 4 * 40, "num_envs": 32, "num_steps": 4, "num_minibatches": 2, "hidden": [16],
           "ent_coef": 0.0, "lr": 3e-3}
PPO_DEFAULTS: dict[str, dict[str, Any]] = {
    "kuhn_poker": {**_POKER, "total_steps": 64 * 8 * 30, "num_envs": 64, "num_steps": 8, "hidden": [32, 32]},
    "leduc_poker": {**_POKER, "total_steps": 128 * 32 * 50, "num_envs": 128, "num_steps": 32},
    "tag": {"num_envs": 32, "total_steps": 200_000},
    "tag_grid": {"num_envs": 32, "total_steps": 200_000},
    "simple_tag": {"total_steps": 200_000},
    "simple_adversary": {"total_steps": 200_000},
}
MATRIX_PPO_DEFAULTS = _MATRIX

#: ``phalanx selfplay mode=...`` → meta-solver.
SELFPLAY_MODES = {"sp": "last", "fsp": "uniform"}


def split_args(args: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``game=X env.N=3 a=1`` → ``({"game": "X", "a": 1}, {"N": 3})``."""
    name_args = [a for a in args if not a.startswith("env.")]
    env_args = [a[len("env.") :] for a in args if a.startswith("env.")]
    return parse_overrides(name_args), parse_overrides(env_args)


def selfplay_values(values: dict[str, Any]) -> dict[str, Any]:
    """``phalanx selfplay`` values → ``phalanx psro`` values: ``mode=sp|fsp`` picks the meta-solver."""
    values = dict(values)
    if "meta_solver" in values:
        raise ConfigError("phalanx selfplay takes mode=sp|fsp, not meta_solver= (use phalanx psro for other solvers).")
    mode = values.pop("mode", "sp")
    if mode not in SELFPLAY_MODES:
        raise ConfigError(f"mode={mode!r}: expected sp (self-play) or fsp (fictitious self-play)."
                          f"{did_you_mean(str(mode), SELFPLAY_MODES)}")
    values["meta_solver"] = SELFPLAY_MODES[mode]
    return values


def from_values(values: dict[str, Any], env_settings: dict[str, Any] | None = None) -> PopulationConfig:
    """Build, fill defaults into and validate a :class:`PopulationConfig` from nested override values."""
    from phalanx.population.meta_solvers import get_meta_solver
    from phalanx.population.metagames import game_kind, make_metagame
    from phalanx.population.oracles import check_oracle, check_ppo_config

    values = dict(values)
    if env_settings:
        values["env_settings"] = {**values.get("env_settings", {}), **env_settings}
    game = values.get("game", PopulationConfig.game)
    if not isinstance(game, str):
        raise ConfigError(f"game={game!r}: expected a game name.")
    kind = game_kind(game, values.get("env_settings"))  # unknown game → did-you-mean
    defaults = MATRIX_PPO_DEFAULTS if kind == "matrix" else PPO_DEFAULTS.get(game, {})
    user_ppo = values.get("ppo", {})
    if isinstance(user_ppo, dict):
        values["ppo"] = {**defaults, **user_ppo}
    config = build(PopulationConfig, values)
    for key in ("iterations", "checkpoint_every", "ppo_seeds", "eval_episodes"):
        if getattr(config, key) < 1:
            raise ConfigError(f"{key}={getattr(config, key)}: expected an integer >= 1.")
    if config.eval_steps is not None and config.eval_steps < 1:
        raise ConfigError(f"eval_steps={config.eval_steps}: expected an integer >= 1 (or null: the env's limit).")
    check_backend(config.backend)
    config.ray.validate()
    oracle = config.oracle or ("ppo" if kind == "env" else "exact")
    check_oracle(oracle, game, kind)
    config = dataclasses.replace(config, oracle=oracle)
    if oracle == "ppo":
        check_ppo_config(config.ppo)
    zero_sum = make_metagame(config.game_spec()).zero_sum
    solver = config.meta_solver or ("nash" if zero_sum else "prd")
    get_meta_solver(solver, **config.meta_solver_options)  # unknown name or option → did-you-mean
    if solver == "nash" and not zero_sum:
        raise ConfigError(f"meta_solver=nash needs a zero-sum game and {game!r} is not; use general_sum, prd or "
                          "alpharank.")
    return dataclasses.replace(config, meta_solver=solver)


def resolve(args: list[str], selfplay: bool = False) -> PopulationConfig:
    """The validated config of ``phalanx psro ARGS`` (or ``phalanx selfplay ARGS``)."""
    values, env_settings = split_args(args)
    if selfplay:
        values = selfplay_values(values)
    return from_values(values, env_settings)


def to_values(config: PopulationConfig) -> dict[str, Any]:
    """Nested plain values that :func:`from_values` turns back into ``config``."""
    return dataclasses.asdict(config)
