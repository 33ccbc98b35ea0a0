"""A tiny end-to-end ``phalanx train`` (the shared ``tiny_run``): every file of the run directory, several seeds,
resume rules."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from conftest import TINY_RUN
from marl_eval_format import check_marl_eval

from phalanx.cli import main
from phalanx.runtime.metrics import marl_eval


def test_train_writes_the_whole_run_dir(tiny_run, capsys):
    run_dir, out = tiny_run  # conftest.TINY_RUN: 6 updates in chunks of 2, checkpoints after chunks 2 and 3
    assert out.count(str(run_dir)) >= 2  # printed at start and end

    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["seed"] == 3 and config["num_seeds"] == 2 and config["env_settings"] == {"N": 2}
    assert config["run_dir"] == str(run_dir) and config["train"]["hidden"] == [16]

    lines = [json.loads(s) for s in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [line["chunk"] for line in lines] == [0, 1, 2]
    assert [line["update"] for line in lines] == [2, 4, 6]
    assert [line["env_steps"] for line in lines] == [256, 512, 768]
    for line in lines:
        assert line["wall_time"] > 0 and line["steps_per_s"] > 0
        assert set(line["episode_return"]) == {"agents"} and len(line["seeds"]) == 2
        for key in ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction"):
            assert np.isfinite(line[key]["agents"])
            assert line[key]["agents"] == np.mean([s[key]["agents"] for s in line["seeds"]])
    # simple_spread episodes last 25 steps, so every 64-step chunk per env completes some.
    assert all(line["episode_length"] == 25.0 and line["episode_return"]["agents"] < 0 for line in lines)
    seeds = lines[0]["seeds"]
    assert seeds[0]["episode_return"] != seeds[1]["episode_return"]  # different seeds, different runs

    assert list(run_dir.glob("events.out.tfevents.*"))
    assert (run_dir / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    data = json.loads((run_dir / "marl_eval.json").read_text())
    check_marl_eval(data, num_seeds=2)
    run = data["simple_spread"]["n=2"]["IPPO"]["seed_1"]
    assert [run[f"step_{i}"]["step_count"] for i in range(3)] == [256, 512, 768]
    assert run["step_0"]["return"] == [lines[0]["seeds"][1]["episode_return"]["agents"]]
    # absolute_metrics: seed 1's final policy played greedily (32 episodes), as phalanx eval plays it.
    from phalanx.runtime.evaluate import episode_returns, load_policy

    _, trainer, env, state, _ = load_policy(run_dir, 1)
    want, _ = episode_returns(env, trainer, state, 32, seed=3, greedy=True)
    np.testing.assert_allclose(run["absolute_metrics"]["return"], want["agents"], rtol=1e-5)
    assert "final policy, greedy, 32 episodes per seed: mean return" in out
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["2", "3"]
    assert "runs as" not in out and not (run_dir / "budget.json").exists()  # 768 = 6 whole updates: no rounding

    # Resuming a finished run changes nothing; changing its config is refused in one line.
    assert main(["train", f"resume={run_dir}"]) == 0
    assert "already complete" in capsys.readouterr().out
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 3
    capsys.readouterr()
    assert main(["train", f"resume={run_dir}", "train.lr=0.1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot change a resumed run's config" in err and "train.lr" in err
    assert main(["train", f"resume={run_dir}", "seed=3", "env.N=2"]) == 0  # agreeing overrides are fine
    # A new run may not reuse a run directory.
    assert main(["train", *TINY_RUN, f"run_dir={run_dir}"]) == 2
    assert "already holds a run" in capsys.readouterr().err


def test_train_ends_with_a_summary_of_final_best_and_random_returns(tiny_run, capsys):
    """summary.json and the lines printed at the end: the final evaluation's mean return (marl_eval.json's
    absolute_metrics, not a second evaluation), the best chunk of metrics.jsonl, random play on the same starts."""
    run_dir, out = tiny_run
    summary = json.loads((run_dir / "summary.json").read_text())
    lines = [json.loads(s) for s in (run_dir / "metrics.jsonl").read_text().splitlines()]
    best = max(lines, key=lambda line: line["episode_return"]["agents"])
    assert (summary["best_return"], summary["best_env_steps"], summary["best_chunk"]) == \
        (best["episode_return"]["agents"], best["env_steps"], best["chunk"])
    runs = json.loads((run_dir / "marl_eval.json").read_text())["simple_spread"]["n=2"]["IPPO"]
    absolute = [runs[f"seed_{k}"]["absolute_metrics"]["return"] for k in (0, 1)]
    assert summary["final_return"] == pytest.approx(np.mean(absolute), rel=1e-12)
    from phalanx.runtime.evaluate import episode_returns, load_policy

    _, trainer, env, state, _ = load_policy(run_dir, 0)
    _, rand = episode_returns(env, trainer, state, 32, seed=3, greedy=True)  # phalanx eval's random baseline
    assert summary["random_return"] == pytest.approx(float(np.mean(rand["agents"])), rel=1e-6)
    printed = out[out.index("summary (summary.json):"):].splitlines()
    assert printed[1].split()[:3] == ["final", "return", f"{summary['final_return']:.4g}"], printed
    assert printed[2].split()[:3] == ["best", "return", f"{summary['best_return']:.4g}"], printed
    assert f"at {best['env_steps']:,} env steps" in printed[2]
    assert printed[3].split()[:3] == ["random", "play", f"{summary['random_return']:.4g}"], printed
    assert all(len(line) <= 80 for line in printed[:4])
    # A finished run resumed says it is complete and shows the same summary.
    assert main(["train", f"resume={run_dir}"]) == 0
    assert "\n".join(printed[:4]) in capsys.readouterr().out


def _line(env_steps, returns_per_seed):
    seeds = [{"episode_return": r} for r in returns_per_seed]
    return {"env_steps": env_steps, "episode_return": returns_per_seed[0], "seeds": seeds}


def test_a_rounded_budget_is_said_once(tiny, tmp_path, capsys):
    run_dir = tmp_path / "r"  # 300 requested; an update is 4 envs x 32 steps = 128, so 2 updates = 256 run
    assert main(["train", *tiny, "train.total_steps=300", f"run_dir={run_dir}"]) == 0
    out = capsys.readouterr().out
    assert out.count("train.total_steps=300 runs as 256 env steps (whole updates of train.num_envs x "
                     "train.num_steps = 128 env steps)") == 1
    assert json.loads((run_dir / "budget.json").read_text()) == {
        "key": "train.total_steps", "requested": 300, "actual": 256,
        "why": "whole updates of train.num_envs x train.num_steps = 128 env steps"}
    assert json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])["env_steps"] == 256


def test_marl_eval_structure_with_groups_seeds_and_chunks_without_episodes():
    lines = [
        _line(100, [{"a": None, "b": None}, {"a": 1.0, "b": 2.0}]),  # seed 0 has no episode yet: dropped
        _line(200, [{"a": 1.0, "b": 3.0}, {"a": None, "b": None}]),  # seed 1 repeats its last value
        _line(300, [{"a": 2.0, "b": 4.0}, {"a": 5.0, "b": 6.0}]),
    ]
    evaluated = [{"return": [1.0, 2.0], "return_a": [0.0, 1.0], "return_b": [1.5, 2.5]},
                 {"return": [3.0, 4.0], "return_a": [2.0, 3.0], "return_b": [3.5, 4.5]}]
    data = marl_eval(lines, "Simple_Tag", "Default", "mappo", {"a": 1, "b": 3}, absolute=evaluated)
    check_marl_eval(data, num_seeds=2)
    runs = data["simple_tag"]["default"]["MAPPO"]
    assert runs["seed_0"]["step_0"] == {"step_count": 200, "return": [2.5], "return_a": [1.0], "return_b": [3.0]}
    assert runs["seed_1"]["step_0"] == {"step_count": 200, "return": [1.75], "return_a": [1.0], "return_b": [2.0]}
    assert runs["seed_1"]["absolute_metrics"] == evaluated[1]  # the evaluation's episodes, not a training mean
    assert list(runs["seed_0"]) == ["step_0", "step_1", "absolute_metrics"]
    unfinished = marl_eval(lines, "Simple_Tag", "Default", "mappo", {"a": 1, "b": 3})  # no evaluation yet
    assert list(unfinished["simple_tag"]["default"]["MAPPO"]["seed_0"]) == ["step_0", "step_1"]


@pytest.mark.slow
def test_a_pettingzoo_run_has_the_same_run_dir(tmp_path, capsys):
    """``env=pettingzoo:...`` trains on the host (Sebulba) through the same run skeleton: the same files."""
    pytest.importorskip("mpe2")
    run_dir = tmp_path / "pz"
    args = ["env=pettingzoo:mpe2.simple_spread_v3", "env.N=2", "env.max_cycles=5", "train.num_envs=2",
            "train.num_steps=8", "train.total_steps=64", "train.num_minibatches=1", "train.update_epochs=1",
            "train.hidden=[8]", "num_workers=0", "log_every=2", f"run_dir={run_dir}"]
    assert main(["train", *args]) == 0
    for name in ("config.yaml", "metrics.jsonl", "learning_curve.png", "marl_eval.json"):
        assert (run_dir / name).is_file(), name
    assert list(run_dir.glob("events.out.tfevents.*"))
    assert [p.name for p in (run_dir / "checkpoints").iterdir()] == ["2"]  # the learner after the last chunk
    assert [json.loads(s)["env_steps"] for s in (run_dir / "metrics.jsonl").read_text().splitlines()] == [32, 64]
    capsys.readouterr()
    assert main(["train", f"resume={run_dir}"]) == 2
    assert "PettingZoo runs cannot resume" in capsys.readouterr().err
