"""The command line: listing envs, benchmarking, and one-line errors with exit status 2."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from rich.console import Console

from phalanx.cli import main


def test_envs_lists_every_registered_env(capsys):
    import json

    import phalanx

    assert main(["envs", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert [e["env"] for e in entries] == phalanx.registered()
    tag = next(e for e in entries if e["env"] == "tag")
    assert tag["groups"]["taggers"]["action"].startswith("MultiDiscrete") and tag["groups"]["runners"]["agents"] >= 1
    assert main(["envs", "--jsn"]) == 2 and "takes only --json" in capsys.readouterr().err


def test_envs_on_an_80_column_terminal_keeps_every_name_whole(capsys, monkeypatch):
    import phalanx
    from phalanx import cli

    monkeypatch.setattr(cli, "console", Console(width=80, force_terminal=True, color_system=None))
    assert main(["envs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 80
    firsts = {line.split("│")[1].strip() for line in lines if line.startswith("│")}
    assert set(phalanx.registered()) <= firsts  # whole names, each in the env column


def test_envs_piped_without_jaxmarl_lists_every_env_whole():
    # `phalanx envs | cat` in a process where jaxmarl cannot be imported (sys.modules entry None).
    code = "import sys; sys.modules['jaxmarl'] = None; from phalanx.cli import main; sys.exit(main(['envs']))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "80"})
    assert proc.returncode == 0, proc.stderr
    rows = [line.split("\t") for line in proc.stdout.splitlines()]
    assert rows[0] == ["env", "group", "agents", "observation", "action"] and all(len(r) == 5 for r in rows)
    import phalanx

    assert {r[0] for r in rows[1:]} == set(phalanx.registered())
    smax = [r for r in rows if r[0] == "smax"]
    assert len(smax) == 1 and smax[0][4].startswith("unavailable: JaxMARL envs need jaxmarl"), smax
    assert rows[[r[0] for r in rows].index("simple_speaker_listener")][:2] == ["simple_speaker_listener", "speaker"]


def test_bench_runs_and_reports_throughput(capsys):
    assert main(["bench", "env=tag", "num_envs=4", "num_steps=5", "repeats=1", "env.num_runners=3"]) == 0
    out = capsys.readouterr().out
    assert "tag random-action throughput" in out
    row = next(line for line in out.splitlines() if line.strip().startswith("│") and " 4 " in line)
    numbers = [c.strip().replace(",", "") for c in row.strip("│ ").split("│")]
    assert numbers[:3] == ["4", "4", "5"]  # envs, agents per env, steps
    assert float(numbers[5]) > 0  # env steps/s


def test_env_throughput_counts_steps():
    import phalanx
    from phalanx.bench import env_throughput

    r = env_throughput(phalanx.make("tag", num_runners=3), num_envs=3, num_steps=4, repeats=1)
    assert r["num_agents"] == 4
    assert r["agent_steps_per_s"] == pytest.approx(4 * r["env_steps_per_s"])
    assert r["env_steps_per_s"] == pytest.approx(12 / r["seconds"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bench", "env=tga"], "unknown environment 'tga'. Did you mean 'tag'?"),
        (["bench", "num_envs=-1"], "num_envs=-1: expected an integer >= 1"),
        (["bench", "num_envs=many"], "num_envs='many': expected an integer"),
        (["bench", "num_env=3"], "unknown key 'num_env'. Did you mean 'num_envs'?"),
        (["bench", "env.num_runers=3"], "unknown setting 'num_runers'. Did you mean 'num_runners'?"),
        (["bench", "oops"], "not of the form key=value"),
        (["trian"], "unknown command 'trian'"),
    ],
)
def test_user_errors_are_one_line_exit_2(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_console_script_exit_status():
    proc = subprocess.run(
        [sys.executable, "-m", "phalanx", "bench", "env=nope"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("phalanx: error: unknown environment 'nope'")


def test_config_prints_resolved_yaml(capsys):
    assert main(["config", "bench", "num_envs=7"]) == 0
    out = capsys.readouterr().out
    assert "num_envs: 7" in out and "env: tag" in out


# ------------------------------------------------------------------ one grammar on every command
RUN_COMMANDS = {"train": "simple_spread", "psro": "kuhn_poker", "selfplay": "rock_paper_scissors", "league": "tag"}


def resolved(capsys, command: str, *args: str) -> dict:
    import yaml

    assert main(["config", command, *args]) == 0
    return yaml.safe_load(capsys.readouterr().out)


def test_config_of_every_run_command_looks_alike(capsys):
    shared = ["env", "algo", "seed", "num_seeds", "run_dir", "resume"]
    groups = {"train": None, "psro": "population", "selfplay": "population", "league": "league"}
    for command, env in RUN_COMMANDS.items():
        config = resolved(capsys, command, f"env={env}", "seed=3")
        assert list(config)[: len(shared)] == shared, (command, list(config))
        assert list(config)[-2:] == ["backend", "ray"], command
        assert {"env_settings", "train"} <= set(config), command
        assert config["env"] == env and config["algo"] == "ippo" and config["seed"] == 3
        own = groups[command]
        assert own is None or isinstance(config[own], dict), command
        assert not ({"population", "league"} - {own}) & set(config), command  # no other command's group


@pytest.mark.parametrize(
    ("command", "arg", "message"),
    [
        ("psro", "game=kuhn_poker", "game= is now env="),
        ("selfplay", "game=rock_paper_scissors", "game= is now env="),
        ("train", "game=tag", "game= is now env="),
        ("psro", "ppo.lr=1e-3", "ppo.lr= is now train.lr="),
        ("league", "ppo.lr=1e-3", "ppo.lr= is now train.lr="),
        ("psro", "ppo_seeds=2", "ppo_seeds= is now num_seeds="),
        ("psro", "iterations=5", "iterations= is now population.iterations="),
        ("psro", "oracle=ppo", "oracle= is now population.oracle="),
        ("psro", "meta_solver=prd", "meta_solver= is now population.meta_solver="),
        ("psro", "eval_episodes=8", "eval_episodes= is now population.eval_episodes="),
        ("psro", "meta_solver_options.gamma=0.1",
         "meta_solver_options.gamma= is now population.meta_solver_options.gamma="),
        ("psro", "ppo_compiler_options.xla_backend_optimization_level=0",
         "ppo_compiler_options.xla_backend_optimization_level= is now population.compiler_options."),
        ("selfplay", "mode=fsp", "mode= is now population.mode="),
        ("league", "total_steps=1e5", "total_steps= is now league.total_steps="),
        ("league", "main_exploiters=0", "main_exploiters= is now league.main_exploiters="),
        ("league", "eval_games=8", "eval_games= is now league.eval_games="),
        ("psro", "resume=runs/x", None),  # a missing run dir: the old spelling check comes first below
    ],
)
def test_old_spellings_name_the_new_one(capsys, command, arg, message):
    args = [arg, "game=kuhn_poker"] if message is None else [arg]
    assert main([command, *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert (message or "game= is now env=") in err and f"phalanx config {command} shows every key" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bench", "num_envs=0"], "num_envs=0: expected an integer >= 1."),
        (["bench", "repeats=0"], "repeats=0: expected an integer >= 1."),
        (["render", "fps=0"], "fps=0.0: expected a number > 0."),
        (["render", "steps=0"], "steps=0: expected an integer >= 1."),
        (["eval", "run_dir=x", "episodes=0"], "episodes=0: expected an integer >= 1."),
        (["psro", "population.iterations=0"], "population.iterations=0: expected an integer >= 1."),
        (["psro", "population.eval_steps=0"], "population.eval_steps=0: expected an integer >= 1 (or null"),
        (["psro", "num_seeds=0"], "num_seeds=0: expected an integer >= 1."),
        (["league", "league.eval_games=0"], "league.eval_games=0: expected an integer >= 1."),
        (["league", "league.main_exploiters=-1"], "league.main_exploiters=-1: expected an integer >= 0."),
        (["league", "checkpoint_every=0"], "checkpoint_every=0: expected an integer >= 1."),
        (["train", "ray.max_task_failures=0"], "ray.max_task_failures=0: expected an integer >= 1."),
        (["selfplay", "ray.num_workers=-1"], "ray.num_workers=-1: expected an integer >= 0 (or null"),
        (["psro", "backend=rya"], "backend='rya': expected one of local, ray. Did you mean 'ray'?"),
        (["league", "league.typo=1"], "unknown key 'league.typo'"),
        (["psro", "population.iteration=3"], "Did you mean 'population.iterations'?"),
        (["league", "train.lrr=1e-3"], "Did you mean 'train.lr'?"),
        (["psro", "env=tag", "algo=maddpg", "population.oracle=learned"], "algo=maddpg needs continuous (Box) actions"),
        (["league", "algo=vdn"], "algo=vdn: group 'taggers' of tag has MultiDiscrete([5, 5]) actions, but value-based "
                                 "learners (iql/vdn/qmix) need Discrete ones; use algo=ippo or mappo."),
        (["league", "num_seeds=2"], "num_seeds=2: a league run is one league"),
        (["selfplay", "population.mode=fps"], "population.mode='fps': expected sp (self-play) or fsp"),
        (["selfplay", "population.meta_solver=nash"], "phalanx selfplay takes population.mode=sp|fsp"),
        (["psro", "resume=runs/x", "run_dir=runs/y"], "run_dir= beside resume="),
        (["league", "resume=runs/x", "run_dir=runs/y"], "run_dir= beside resume="),
        (["league", "train.total_steps=10"], "set the league's budget with league.total_steps=N"),
        (["render", "env=tag", "out=tag.txt"], "out='tag.txt': expected an animation file ending in .gif or .webp"),
        (["eval", "run_dir=x", "render=true", "out=ep.mp4"], "out='ep.mp4': expected an animation file ending in"),
        (["plot", "run_dir=x", "out=x.jpgg"], "out='x.jpgg': expected a .png file or a directory for the figures"),
        (["bench", "env=tag", "env.num_runners=1000000"], "bench env=tag (1000 envs x 100 steps) needs at least"),
        (["bench", "env=tag", "num_envs=100000000"], "; reduce num_envs."),
        (["train", "env=tag", "env.num_runners=10000"], "train env=tag algo=ippo needs at least"),
        (["league", "env=tag", "env.num_runners=10000"], "league env=tag algo=ippo needs at least"),
        (["psro", "env=tag", "env.num_runners=10000", "population.oracle=learned"], "psro env=tag algo=ippo needs"),
        (["train", "env=simple_spread", "env.N=2000"], "of available RAM here; reduce env.N, train.num_envs,"),
        (["train", "env=lbf", "algo=iql", "train.buffer_size=100000000000"], "reduce train.num_envs, train.num_steps, "
                                                                            "train.buffer_size."),
    ],
)
def test_ranges_and_combinations_are_one_line(capsys, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)  # relative paths in the rows land here: nothing may be written
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert message in err, err
    assert not any(tmp_path.iterdir())


def test_ranges_are_declared_once_as_field_metadata():
    import dataclasses

    from phalanx.config import build, check_ranges, ranged
    from phalanx.errors import ConfigError

    @dataclasses.dataclass(frozen=True)
    class Toy:
        n: int = ranged(4, min=1)
        rate: float = ranged(1.0, gt=0, note="per second")
        limit: int | None = ranged(None, min=1)

    assert build(Toy, {"n": 1, "rate": 0.5, "limit": None}) == Toy(1, 0.5, None)
    with pytest.raises(ConfigError, match=r"^n=0: expected an integer >= 1\.$"):
        check_ranges(Toy(n=0))  # a config constructed in Python, checked by the same metadata
    for values, message in (({"n": 0}, "n=0: expected an integer >= 1."),
                            ({"rate": 0}, "rate=0.0: expected a number > 0 (per second)."),
                            ({"limit": -3}, "limit=-3: expected an integer >= 1.")):
        with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
            build(Toy, values)


def test_env_defaults_apply_on_every_command(capsys):
    assert resolved(capsys, "train", "env=tag")["train"]["num_envs"] == 32
    psro = resolved(capsys, "psro", "env=tag")
    assert psro["train"]["num_envs"] == 32 and psro["train"]["total_steps"] == 200_000
    assert resolved(capsys, "psro", "env=kuhn_poker", "population.oracle=learned")["train"]["num_steps"] == 8
    assert resolved(capsys, "selfplay", "env=matching_pennies")["train"]["hidden"] == [16]
    league = resolved(capsys, "league", "env=tag", "env.num_runners=3")
    assert league["env_settings"]["num_taggers"] == 1 and league["env_settings"]["num_runners"] == 3
    assert league["train"]["lr"] == 1e-3 and league["league"]["min_snapshot_steps"] == 100_000
    assert resolved(capsys, "psro", "env=kuhn_poker", "train.num_steps=4")["train"]["num_steps"] == 4  # user's on top


def test_register_refuses_a_default_outside_the_commands_groups():
    from phalanx.envs.registry import register
    from phalanx.errors import PhalanxError

    with pytest.raises(PhalanxError, match=r"train_defaults key 'lr' must start with one of train\."):
        register("toy_defaults_env", dict, train_defaults={"lr": 1e-3})


def test_psro_takes_algo_and_a_learner_it_does_not_use(capsys):
    config = resolved(capsys, "psro", "env=kuhn_poker", "algo=mappo", "population.oracle=learned")
    assert config["algo"] == "mappo" and config["train"]["critic"] == "mappo"
    exact = resolved(capsys, "psro", "env=kuhn_poker", "algo=iql")  # the exact oracle trains no learner
    assert exact["algo"] == "iql" and exact["population"]["oracle"] == "exact"


def test_the_usage_text_names_every_registered_learner():
    """The help is static (it answers before JAX loads), so a learner registered without it fails here."""
    import re

    from phalanx.algos.registry import algorithms
    from phalanx.usage import USAGE

    listed = USAGE.split("algo=NAME train.KEY=VALUE", 1)[1].split("seed=N", 1)[0]
    assert set(re.findall(r"[a-z_]+", listed)) >= set(algorithms())
