"""The ``phalanx`` command line: ``phalanx <command> [key=value ...]``.

Every command speaks one grammar (:mod:`phalanx.config`): ``env=``/``env.*``, ``algo=``/``train.*``,
``backend=``/``ray.*``, ``seed=``/``num_seeds=``, plus ``population.*`` (psro, selfplay) or ``league.*``.
User mistakes (unknown command, key or env, a value of the wrong type) print one line
``phalanx: error: ...`` and exit with status 2; no traceback. Heavy modules (JAX, the envs) load
inside the commands, after the arguments parse.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

from phalanx.config import build, parse_overrides, ranged, reject_renamed, resume_request, split_args, to_yaml
from phalanx.errors import PhalanxError, did_you_mean
from phalanx.out_paths import check_animation_path, free_name
from phalanx.usage import USAGE

console = Console()


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    """``phalanx bench``: random-action throughput of one env, compiled end to end."""

    env: str = "tag"
    num_envs: int = ranged(1000, min=1)
    num_steps: int = ranged(100, min=1)
    repeats: int = ranged(3, min=1)
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """``phalanx eval``: a run's last checkpoint against a uniform random policy.

    Attributes:
        run_dir: the run directory (``phalanx train``'s output).
        episodes: episodes of each policy (run in parallel).
        seed: evaluation seed (reset states and action sampling).
        greedy: most likely actions instead of sampling.
        member: which seed of a ``num_seeds > 1`` run.
        render: also write one trained episode as a GIF to ``out`` (default ``<run_dir>/episode.gif``).
        max_steps: steps per episode (default: the env's time limit).
        record: also write the trained policy's evaluated episodes to a new offline dataset,
            ``<record>/Policy`` (a Flashbax Vault in OG-MARL's layout; see docs/offline.md).
    """

    run_dir: str | None = None
    episodes: int = ranged(100, min=1)
    seed: int = 0
    greedy: bool = False
    member: int = ranged(0, min=0)
    render: bool = False
    out: str | None = None
    max_steps: int | None = ranged(None, min=1)
    record: str | None = None


@dataclasses.dataclass(frozen=True)
class RenderConfig:
    """``phalanx render``: one episode of any env as an animated GIF (no run directory needed)."""

    env: str = "tag"
    policy: str = "random"
    out: str | None = None  # default: ./episode.gif, or episode-2.gif, ... when that exists (never overwritten)
    steps: int | None = ranged(None, min=1)  # default: the env's time limit
    seed: int = 0
    fps: float = ranged(10.0, gt=0)


def cmd_envs(args: list[str]) -> int:
    """List registered environments with their groups and specs (``--json``: as JSON)."""
    from phalanx.runtime.envs_cmd import main as envs_main

    return envs_main(args, console)


def cmd_bench(args: list[str]) -> int:
    """Measure env steps/s of a jitted random rollout."""
    values, env_settings = split_args(args)
    config = build(BenchConfig, values)
    from phalanx.bench import env_throughput
    from phalanx.envs import make

    env = make(config.env, **env_settings)
    from phalanx.runtime.memory import check_bench

    check_bench(env, config.num_envs, config.num_steps, f"bench env={config.env} ({config.num_envs} envs x "
                f"{config.num_steps} steps)", ["num_envs", *(f"env.{k}" for k in env_settings)])  # before compiling
    console.print(f"[bold]phalanx bench[/bold] {config.env} {env.groups} × {config.num_envs} envs × "
                  f"{config.num_steps} steps (compiling...)")
    r = env_throughput(env, config.num_envs, config.num_steps, config.repeats, config.seed)
    table = Table(title=f"{config.env} random-action throughput on {r['device']}")
    for col in ("envs", "agents/env", "steps", "median s", "compile s", "env steps/s", "agent steps/s"):
        table.add_column(col, justify="right")
    table.add_row(
        str(r["num_envs"]), str(r["num_agents"]), str(r["num_steps"]), f"{r['seconds']:.3f}",
        f"{r['compile_seconds']:.1f}", f"{r['env_steps_per_s']:,.0f}", f"{r['agent_steps_per_s']:,.0f}",
    )
    console.print(table)
    return 0


def _command_parts(command: str) -> tuple[Any, Any, type, Callable[[list[str]], Any]]:
    """``(run function, run kind, config class, resolve)`` of a command that trains (imported on use)."""
    if command == "train":
        from phalanx.runtime import run_config, train_run

        return train_run.run, train_run.KIND, run_config.RunConfig, run_config.resolve
    if command == "league":
        from phalanx.runtime import league_config, league_run

        return league_run.run, league_run.KIND, league_config.LeagueConfig, league_config.resolve
    from phalanx.runtime import population_config, population_run

    def resolve(args: list[str]) -> Any:
        return population_config.resolve(args, selfplay=command == "selfplay")

    return population_run.run, population_run.KIND, population_config.PopulationConfig, resolve


def _run_command(command: str, args: list[str]) -> int:
    """``phalanx train|psro|selfplay|league ARGS``: resolve a new run, or reopen the one ``resume=`` names, and
    run it here or in a coordinator actor (:func:`phalanx.runtime.launch.launch`)."""
    values, env_settings = split_args(args)
    reject_renamed(values, command)
    request = resume_request(values, env_settings)
    from phalanx.runtime.launch import launch

    run, kind, config_cls, resolve = _command_parts(command)
    if request is not None:
        # A resumed run uses its stored config; overrides may change only its RESUME_OVERRIDABLE keys.
        resume, overrides = request
        if command == "selfplay" and "mode" in overrides.get("population", {}):
            from phalanx.runtime.population_config import selfplay_values

            overrides = selfplay_values(overrides)  # population.mode → the meta-solver it stands for
        launch(run, kind, config_cls(resume=resume), overrides, console)
        return 0
    config = resolve(args)
    from phalanx.runtime.memory import check_run

    check_run(config, command)  # sizes that cannot fit: one line before a run directory or a compiled program
    label = None
    if command == "psro":
        label = "psro"
    elif command == "selfplay":
        label = {"last": "sp", "uniform": "fsp"}[config.population.meta_solver]
    launch(run, kind, config, console=console, label=label)
    return 0


def cmd_train(args: list[str]) -> int:
    """Train any learner: ``phalanx train env=simple_spread algo=ippo train.total_steps=2e6``."""
    return _run_command("train", args)


def cmd_psro(args: list[str]) -> int:
    """PSRO: ``phalanx psro env=kuhn_poker population.oracle=exact population.iterations=20``."""
    return _run_command("psro", args)


def cmd_selfplay(args: list[str]) -> int:
    """Self-play / fictitious self-play: ``phalanx selfplay env=rock_paper_scissors population.mode=sp|fsp``."""
    return _run_command("selfplay", args)


def cmd_league(args: list[str]) -> int:
    """AlphaStar-style league on any env with two or more groups: ``phalanx league env=tag league.total_steps=2e6``."""
    return _run_command("league", args)


def _fmt(mean: float, ci: float) -> str:
    import numpy as np

    return f"{mean:.3f}" if not np.isfinite(ci) else f"{mean:.3f} ± {ci:.3f}"


def cmd_eval(args: list[str]) -> int:
    """Evaluate a run: ``phalanx eval run_dir=runs/x episodes=100 [greedy=true] [render=true]``."""
    from pathlib import Path

    config = _resolve_eval(args)
    from phalanx.runtime.evaluate import evaluate_loaded, load_policy, policy_episode_states

    if config.record:
        from phalanx.runtime.data_cmd import eval_record_path

        eval_record_path(config.record)  # an existing dataset: one line before anything runs
    loaded = load_policy(config.run_dir, config.member)
    console.print(f"[bold]phalanx eval[/bold] {config.run_dir}: {config.episodes} episodes "
                  f"({'greedy' if config.greedy else 'sampled'} actions) vs uniform random (compiling...)")
    r = evaluate_loaded(loaded, config.episodes, config.seed, config.greedy, config.member, config.max_steps)
    table = Table(title=f"{r.env}: checkpoint {r.step}, seed member {r.member}, {r.episodes} episodes each "
                        f"({'greedy' if r.greedy else 'sampled'})",
                  caption=f"mean episode return (averaged over the group's agents) ± half-width of the {r.ci_method}")
    for col in ("group", "trained", "random", "trained − random"):
        table.add_column(col, justify="right" if col != "group" else "left")
    for g, res in r.groups.items():
        table.add_row(g, _fmt(res.trained.mean, res.trained.ci95), _fmt(res.random.mean, res.random.ci95),
                      _fmt(res.diff, res.diff_ci95))
    console.print(table)
    for name, m in r.metrics.items():  # the env's episode metrics, e.g. SMAX's win_rate
        console.print(f"{name}: trained {m.trained:.3f} (95% CI {m.trained_interval[0]:.3f}-"
                      f"{m.trained_interval[1]:.3f}), random {m.random:.3f} (95% CI {m.random_interval[0]:.3f}-"
                      f"{m.random_interval[1]:.3f}) over {r.episodes} episodes")
    if config.record:
        from phalanx.runtime.data_cmd import record_eval

        record_eval(loaded, config.run_dir, config.record, config.episodes, config.seed, config.greedy,
                    config.max_steps, console)
    if config.render:
        from phalanx.envs.viewers import render_episode, render_states

        _, trainer, env, state, _ = loaded
        states = policy_episode_states(env, trainer, state, config.seed, config.greedy, config.max_steps)
        out = Path(config.out) if config.out else Path(config.run_dir) / "episode.gif"
        render_episode(render_states(env, states), out)
        console.print(f"wrote {out} ({len(states)} frames)", soft_wrap=True)  # paths stay whole
    return 0


def cmd_render(args: list[str]) -> int:
    """Render a random-policy episode: ``phalanx render env=tag policy=random out=tag.gif``."""
    config, env_settings = _resolve_render(args)
    from phalanx.envs import make
    from phalanx.envs.viewers import render_episode, render_states
    from phalanx.runtime.evaluate import random_episode_states

    env = make(config.env, **env_settings)
    states = random_episode_states(env, config.seed, config.steps or env.time_limit)
    if hasattr(env, "render_text"):  # text games (poker): the episode on stdout as well
        for s in states:
            print(env.render_text(s) + "\n")
    frames = render_states(env, states)
    out = render_episode(frames, config.out or free_name("episode.gif"), config.fps)
    kept = "" if config.out or out.name == "episode.gif" else "; ./episode.gif exists and was kept"
    console.print(f"wrote {out} ({len(frames)} frames of {config.env}, {config.policy} policy{kept})",
                  soft_wrap=True)  # a long path is not broken across lines
    return 0


def cmd_plot(args: list[str]) -> int:
    """Figures from run directories: ``phalanx plot run_dir=A [run_dir=B ...] [out=PATH] [pool=true]``."""
    from phalanx.runtime.plot_runs import main as plot_main

    return plot_main(args, console)


def cmd_data(args: list[str]) -> int:
    """Offline datasets: ``phalanx data record env=E policy=RUN_DIR out=D.vlt`` / ``phalanx data info PATH``."""
    from phalanx.runtime.data_cmd import main as data_main

    return data_main(args, console)


def _resolve_eval(args: list[str]) -> EvalConfig:
    config = build(EvalConfig, parse_overrides(args))
    if config.run_dir is None:
        raise PhalanxError("phalanx eval needs run_dir=DIR (a phalanx train run directory).")
    if config.render and config.out is not None:
        check_animation_path(config.out)  # before evaluating: a path render cannot write is one line now
    return config


def _resolve_render(args: list[str]) -> tuple[RenderConfig, dict[str, Any]]:
    values, env_settings = split_args(args)
    config = build(RenderConfig, values)
    if config.policy != "random":
        raise PhalanxError(f"policy={config.policy!r}: only policy=random is supported "
                           "(render a trained policy with phalanx eval run_dir=DIR render=true).")
    if config.out is not None:
        check_animation_path(config.out)  # before rendering (which can take long)
    return config, env_settings


def _resolve_bench(args: list[str]) -> Any:
    from phalanx.envs import make

    values, env_settings = split_args(args)
    config = build(BenchConfig, values)
    make(config.env, **env_settings)  # unknown env or setting: one line, for `phalanx config bench` too
    return config


def _render_schema(args: list[str]) -> RenderConfig:
    from phalanx.envs import make

    config, env_settings = _resolve_render(args)
    make(config.env, **env_settings)  # as _resolve_bench
    return config


def _resolve_train(args: list[str]) -> Any:
    from phalanx.runtime.run_config import resolve

    return resolve(args)


def _resolve_population(args: list[str], selfplay: bool) -> Any:
    from phalanx.runtime.population_config import resolve

    return resolve(args, selfplay=selfplay)


def _resolve_league(args: list[str]) -> Any:
    from phalanx.runtime.league_config import resolve

    return resolve(args)


def _resolve_data(args: list[str]) -> Any:
    from phalanx.runtime.data_cmd import resolve

    return resolve(args)


def _resolve_plot(args: list[str]) -> Any:
    from phalanx.runtime.plot_runs import resolve

    return resolve(args)


def cmd_config(args: list[str]) -> int:
    """Print the resolved config of a command: ``phalanx config bench num_envs=10``."""
    if not args or args[0] not in SCHEMAS:
        raise PhalanxError(f"usage: phalanx config <{'|'.join(SCHEMAS)}> [key=value ...]")
    console.print(to_yaml(SCHEMAS[args[0]](args[1:])), end="")
    return 0


COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "envs": cmd_envs, "bench": cmd_bench, "train": cmd_train, "eval": cmd_eval, "render": cmd_render,
    "config": cmd_config, "psro": cmd_psro, "selfplay": cmd_selfplay, "league": cmd_league, "plot": cmd_plot,
    "data": cmd_data,
}
# Command → function resolving its key=value args to the typed config it runs.
SCHEMAS: dict[str, Callable[[list[str]], Any]] = {
    "bench": _resolve_bench, "train": _resolve_train, "eval": _resolve_eval,
    "render": _render_schema,
    "psro": lambda args: _resolve_population(args, False), "selfplay": lambda args: _resolve_population(args, True),
    "league": _resolve_league, "plot": _resolve_plot, "data": _resolve_data,
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``phalanx`` console script."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0
    command, args = argv[0], argv[1:]
    try:
        if any(a in ("-h", "--help") for a in args):
            print(USAGE, end="")  # no JAX loaded: the resolved config is `phalanx config`'s job
            if command in SCHEMAS:
                rest = " ".join(a for a in args if a not in ("-h", "--help"))
                print(f"\nevery key of phalanx {command}, resolved: phalanx config {command} {rest}".rstrip())
            return 0
        if command not in COMMANDS:
            raise PhalanxError(
                f"unknown command {command!r}.{did_you_mean(command, COMMANDS)} Commands: {', '.join(COMMANDS)}."
            )
        return COMMANDS[command](args)
    except PhalanxError as e:
        print(f"phalanx: {'interrupted' if e.exit_code == 130 else 'error'}: "
              f"{str(e).removeprefix('interrupted; ')}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:  # outside a run (eval, bench, render): nothing to save
        print("phalanx: interrupted.", file=sys.stderr)
        return 130
    except (OSError, OverflowError, RuntimeError, ValueError) as e:  # the machine's faults, as one line
        from phalanx.runtime.faults import describe, silence_echoes

        why = describe(e)
        if why is None:
            raise
        silence_echoes()
        print(f"phalanx: error: {why}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
