"""``phalanx train`` / ``phalanx config train``: resolved configs and one-line errors (exit 2)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from phalanx.cli import main


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["foo=1"], "unknown key 'foo'"),
        (["train.num_envz=8"], "unknown key 'train.num_envz'. Did you mean 'train.num_envs'?"),
        (["train.num_envs=abc"], "train.num_envs='abc': expected an integer"),
        (["train.total_steps=-5"], "train.total_steps=-5: expected an integer >= 1"),
        (["train.num_envs=3", "train.num_steps=5", "train.num_minibatches=4"], "does not divide into 4 minibatches"),
        (["algo=ppo"], "algo='ppo': unknown algorithm. Did you mean 'ippo'? Valid: "),
        (["algo=ippo", "train.critic=mappo"], "conflicts with algo='ippo'"),
        (["num_seeds=0"], "num_seeds=0: expected an integer >= 1"),
        (["log_every=-1"], "log_every=-1: expected an integer >= 1"),
        (["env=simple_sprad"], "unknown environment 'simple_sprad'"),
        (["env.bogus=1"], "unknown setting 'bogus'"),
        (["env.N=two"], "N='two' must be an integer"),
        (["seed=1.5"], "seed=1.5: expected an integer"),
        (["train.lrr=1e-3"], "unknown key 'train.lrr'. Did you mean 'train.lr'?"),
        (["train.lr="], "train.lr= has no value; write train.lr=VALUE"),
        (["seed=1", "seed=2"], "seed is given twice (seed=1 and seed=2); keep one."),
        (["env.N=3", "env.N=4"], "env.N is given twice"),
        (["num_workers=-1"], "num_workers=-1: expected an integer >= 0 (0 = in this process)."),
        (["backend=rey"], "backend='rey': expected one of local, ray. Did you mean 'ray'?"),
        (["ray.num_cpus=0"], "ray.num_cpus=0.0: expected a number > 0."),
        (["env.num_agents=0"], "simple_spread: num_agents=0 is invalid; expected an integer >= 1."),
        (["env.num_agents=-1"], "simple_spread: num_agents=-1 is invalid"),
        (["resume=runs/x", "run_dir=runs/y"], "run_dir= beside resume=: a resumed run stays in runs/x; drop run_dir=."),
        (["resume=/nonexistent/run"], "no such directory; give the run directory phalanx train printed"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, args, message):
    assert main(["train", *args]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("phalanx: error: ") and message in err


def test_config_train_prints_the_resolved_config(capsys):
    args = ["env=simple_spread", "algo=mappo", "train.total_steps=2e6", "train.num_envs=256", "seed=3", "env.N=3"]
    assert main(["config", "train", *args]) == 0
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["env"] == "simple_spread" and config["algo"] == "mappo" and config["seed"] == 3
    assert config["env_settings"] == {"N": 3}
    assert config["train"]["critic"] == "mappo"  # algo sets the critic
    assert config["train"]["total_steps"] == 2_000_000 and isinstance(config["train"]["total_steps"], int)
    assert config["train"]["num_envs"] == 256 and config["log_every"] >= 1


def test_train_help_prints_usage_and_points_at_config(capsys):
    assert main(["train", "--help", "seed=7"]) == 0
    out = capsys.readouterr().out
    assert "phalanx train" in out and "algo=NAME train.KEY=VALUE" in out
    assert out.rstrip().endswith("resolved: phalanx config train seed=7")


def test_help_and_grammar_errors_load_no_jax():
    """``--help``, syntax and old-spelling mistakes answer before JAX is imported (issue 14: < 0.5 s)."""
    code = ("import sys; from phalanx.cli import main; codes = [main(['train', '--help']), main(['psro', 'game=x']), "
            "main(['league', 'total_steps=5']), main(['train', 'seed=1', 'seed=2']), main(['bench', 'num_envs=0'])]; "
            "print(codes, 'jax' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip().splitlines()[-1] == "[0, 2, 2, 2, 2] False", proc.stdout + proc.stderr


def test_chunk_sizes_put_the_remainder_last():
    from phalanx.runtime.train_run import chunk_sizes

    assert chunk_sizes(5, 2) == [2, 2, 1] and chunk_sizes(4, 2) == [2, 2] and chunk_sizes(1, 10) == [1]


def test_env_specific_training_defaults_sit_under_user_overrides():
    from phalanx.runtime.run_config import resolve

    assert resolve(["env=tag"]).train.num_envs == 32
    assert resolve(["env=tag", "train.num_envs=8"]).train.num_envs == 8
    assert resolve(["env=simple_spread"]).train.num_envs == 16
    lbf = resolve(["env=lbf", "train.anneal_lr=true"]).train
    assert lbf.lr == 5e-4 and lbf.agent_id and lbf.anneal_lr  # registered with lbf, the user's on top
    assert resolve(["env=lbf", "algo=iql"]).train.lr == 5e-4  # every learner that has the key gets it
