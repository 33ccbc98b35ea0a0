"""Every registered learner in every paradigm: the composition matrix of issue 13.

Rows are the registered learners (read from the registry, so a new learner joins the matrix by
registering), columns the four commands that train (``train``, ``selfplay``, ``psro``, ``league``).
Each cell names a small env the learner supports for that command, or is expected to be refused:

* fast: every supported cell resolves (config + learner built against the env, nothing compiled);
  every refused cell, and every learner on an env whose actions it cannot take, exits 2 with one line
  before a run directory exists;
* slow: every supported cell runs one or two tiny iterations, leaves a complete run directory, and
  resumes after its newest checkpoint is lost, ending with the same metrics as the uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from phalanx import cli
from phalanx.algos.registry import algorithms

COMMANDS = ("train", "selfplay", "psro", "league")

# Small envs of each kind: one group of cooperating agents, and two competing groups; discrete or continuous.
COOP = ["env=simple_spread", "env.N=2", "env.max_cycles=8"]
VERSUS = ["env=simple_tag", "env.num_good=1", "env.num_adversaries=1", "env.num_obstacles=0", "env.max_cycles=8"]
CONTINUOUS = ["env.continuous_actions=true"]

# The smallest sensible value of every train.* key a learner may have (each learner takes the ones it has).
TINY_TRAIN = {
    "total_steps": 64, "num_envs": 2, "num_steps": 4, "update_epochs": 1, "num_minibatches": 1, "hidden": "[8]",
    "recurrent_size": 0, "buffer_size": 64, "learning_starts": 8, "warmup_steps": 8, "batch_size": 4,
    "gradient_steps": 1, "grad_steps": 4, "grad_steps_per_update": 2, "eval_steps": 8, "mixer_embed": 4,
    "hypernet_embed": 4, "eps_decay_steps": 32,
}
TINY_COMMAND = {
    "train": ["log_every=1", "checkpoint_every=1"],
    "selfplay": ["population.mode=fsp", "population.iterations=2", "population.eval_episodes=2"],
    "psro": ["population.oracle=learned", "population.iterations=2", "population.eval_episodes=2"],
    "league": ["league.updates_per_task=1", "league.total_steps=96", "league.eval_games=2", "league.final_games=2",
               "league.eval_chunk=2", "league.min_snapshot_steps=0", "league.snapshot_budget_steps=32",
               "checkpoint_every=1"],
}


def family(algo: str) -> str:
    """``"offline"``, ``"continuous"`` or ``"discrete"``: what data and actions a learner takes."""
    if algorithms()[algo].offline:
        return "offline"
    fields = {f.name for f in dataclasses.fields(algorithms()[algo].config_cls)}
    if "actor_lr" in fields:
        return "continuous"
    return "discrete"


def tiny_train(algo: str, command: str) -> list[str]:
    """``train.KEY=VALUE`` for every :data:`TINY_TRAIN` key the learner's config has (a league's budget is
    ``league.total_steps``, not the learner's)."""
    fields = {f.name for f in dataclasses.fields(algorithms()[algo].config_cls)}
    if command == "league":
        fields.discard("total_steps")
    return [f"train.{k}={v}" for k, v in TINY_TRAIN.items() if k in fields]


def cell(algo: str, command: str) -> list[str] | None:
    """The arguments of a supported cell, or None where the combination is expected to be refused."""
    kind = family(algo)
    if kind == "offline":
        return None  # offline learners learn from a dataset: train only (tests/offline covers data=)
    env = COOP if command == "train" else VERSUS
    if kind == "continuous":
        env = [*env, *CONTINUOUS]
    if command == "train" and algo == "qmix":
        env = [*COOP]  # QMIX mixes on the global state, which simple_spread has
    return [command, *env, f"algo={algo}", *tiny_train(algo, command), *TINY_COMMAND[command]]


def mismatched(algo: str, command: str) -> list[str]:
    """A cell that cannot work: the learner on actions it cannot take (or, offline, in a population)."""
    kind = family(algo)
    env = COOP if command == "train" else VERSUS
    if kind == "discrete":
        env = [*env, *CONTINUOUS]
    return [command, *env, f"algo={algo}", *TINY_COMMAND[command]]


CELLS = [(a, c) for a in algorithms() for c in COMMANDS]


def resolve(args: list[str]):
    command, rest = args[0], args[1:]
    from phalanx.runtime import league_config, population_config, run_config

    if command == "train":
        return run_config.resolve(rest)
    if command == "league":
        return league_config.resolve(rest)
    return population_config.resolve(rest, selfplay=command == "selfplay")


def run_cli(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    """``phalanx ARGS``: the exit code and everything it printed (console and stderr)."""
    out = io.StringIO()
    old = cli.console
    cli.console = Console(file=out, width=200)
    try:
        code = cli.main(args)
    finally:
        cli.console = old
    captured = capsys.readouterr()
    return code, out.getvalue() + captured.out + captured.err


@pytest.mark.parametrize(("algo", "command"), CELLS)
def test_every_cell_resolves_or_is_refused_in_one_line(algo, command, tmp_path, capsys):
    args = cell(algo, command)
    if args is not None:
        config = resolve(args)
        assert config.algo == algo
        return
    args = mismatched(algo, command)
    code, text = run_cli([*args, f"run_dir={tmp_path / 'run'}"], capsys)
    assert code == 2, text
    assert len(text.strip().splitlines()) == 1, text
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("algo", [a for a in algorithms() if family(a) != "offline"])
@pytest.mark.parametrize("command", ["train", "league"])
def test_a_learner_on_actions_it_cannot_take_is_one_line(algo, command, tmp_path, capsys):
    if algo in ("ippo", "mappo"):
        pytest.skip("PPO takes discrete and continuous actions")
    code, text = run_cli([*mismatched(algo, command), f"run_dir={tmp_path / 'run'}"], capsys)
    assert code == 2, text
    assert len(text.strip().splitlines()) == 1, text
    assert not (tmp_path / "run").exists()


def newest_checkpoint(run_dir: Path) -> Path:
    steps = [p for p in (run_dir / "checkpoints").iterdir() if p.name.isdigit()]
    return max(steps, key=lambda p: int(p.name))


def metric_lines(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]


def comparable(line: dict) -> dict:
    """A metrics line without what differs between runs (time and speed)."""
    return {k: v for k, v in line.items() if "time" not in k and "per_s" not in k and k != "workers"}


@pytest.mark.slow
@pytest.mark.parametrize(("algo", "command"), [c for c in CELLS if cell(*c) is not None])
def test_every_cell_runs_leaves_a_run_directory_and_resumes(algo, command, tmp_path, capsys):
    run_dir = tmp_path / "run"
    code, text = run_cli([*cell(algo, command), f"run_dir={run_dir}"], capsys)
    assert code == 0, text
    assert (run_dir / "config.yaml").exists() and (run_dir / "run.lock").exists() is False
    lines = metric_lines(run_dir)
    assert lines, "metrics.jsonl is empty"
    # Lose the newest checkpoint (as if killed before it was written), resume, end where the full run ended.
    checkpoints = sorted(p for p in (run_dir / "checkpoints").iterdir() if p.name.isdigit())
    assert checkpoints, "no checkpoint written"
    if len(checkpoints) > 1:
        shutil.rmtree(newest_checkpoint(run_dir))
    code, text = run_cli([command, f"resume={run_dir}"], capsys)
    assert code == 0, text
    resumed = metric_lines(run_dir)
    assert [comparable(x) for x in resumed] == [comparable(x) for x in lines]
