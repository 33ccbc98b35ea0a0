"""``phalanx psro`` / ``phalanx selfplay``: run directory, OpenSpiel-readable policies, resume, errors."""

from __future__ import annotations

import itertools
import json

import jax
import numpy as np
import pyspiel
import pytest
from crashing_backend import CrashingBackend
from open_spiel.python import policy as os_policy
from open_spiel.python.algorithms import exploitability as os_exploitability
from PIL import Image
from test_policy_members import assert_population_members_act

from phalanx.cli import main
from phalanx.errors import RunInterruptedError
from phalanx.runtime.checkpoint import Checkpoints
from phalanx.runtime.population_config import resolve
from phalanx.runtime.population_run import restore_final, run

KUHN = ["env=kuhn_poker", "population.oracle=exact", "population.meta_solver=nash"]
# The learned oracle (PPO) with its default Kuhn settings, compiled fast (as in tests/population/test_psro.py).
KUHN_PPO = ["env=kuhn_poker", "population.oracle=learned",
            "population.compiler_options.xla_backend_optimization_level=0"]
# A tiny two-group env game: tag_grid, 1 tagger vs the runner on a 4 x 4 grid, 8-step episodes.
TINY_TAG_GRID = ["env=tag_grid", "env.num_taggers=1", "env.grid_length=4", "env.episode_length=8",
                 "train.total_steps=256", "train.num_envs=4", "train.num_steps=8", "train.hidden=[8]",
                 "population.eval_episodes=4", "population.compiler_options.xla_backend_optimization_level=0"]
TINY_TRAIN = {"iql": ["train.recurrent_size=0", "train.buffer_size=256", "train.learning_starts=32",
                      "train.batch_size=8", "train.gradient_steps=1"],
              "mappo": ["train.num_minibatches=1", "train.update_epochs=1"]}


def lines_of(path) -> list[dict]:
    return [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]


def timeless(line: dict) -> dict:
    """A metrics line without its timings (they differ between runs)."""
    return {k: v for k, v in line.items() if not k.endswith("time")}


def assert_same_run(a, b) -> None:
    """Same metrics (bar timings), checkpointed populations, payoff table and meta-strategies."""
    assert [timeless(x) for x in lines_of(a)] == [timeless(x) for x in lines_of(b)]
    (sa, _), (sb, _) = restore_final(a), restore_final(b)
    assert sa.iteration == sb.iteration
    for p in (0, 1):
        for x, y in zip(jax.tree.leaves(sa.populations[p]), jax.tree.leaves(sb.populations[p]), strict=True):
            np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(sa.meta[p], sb.meta[p])
    np.testing.assert_array_equal(sa.table.payoffs, sb.table.payoffs)
    np.testing.assert_array_equal(sa.key, sb.key)
    assert json.loads((a / "meta_strategy.json").read_text()) == json.loads((b / "meta_strategy.json").read_text())


def test_kuhn_run_directory(tmp_path):
    out = tmp_path / "kuhn"
    assert main(["psro", *KUHN, "population.iterations=10", f"run_dir={out}"]) == 0
    for name in ("config.yaml", "metrics.jsonl", "payoffs.png", "exploitability.png", "meta_strategy.json",
                 "policy.json"):
        assert (out / name).is_file(), name
    assert list(out.glob("events.out.tfevents.*"))
    assert Checkpoints(out / "checkpoints").all_steps() == [9, 10]  # the last 2 kept
    for png in ("payoffs.png", "exploitability.png"):
        with Image.open(out / png) as image:
            assert image.size[0] > 500 and image.size[1] > 300
    lines = lines_of(out)
    assert [ln["iteration"] for ln in lines] == list(range(11))
    last = lines[-1]
    keys = {"iteration", "wall_time", "population", "meta_strategy", "meta_nash_conv", "meta_value", "exploitability",
            "nash_conv", "cells_evaluated", "eval_time", "solve_time", "oracle_time", "oracle", "iteration_time"}
    assert keys <= set(last)
    assert last["population"] == [11, 11] and last["exploitability"] <= 1e-3
    assert all(a["wall_time"] <= b["wall_time"] for a, b in itertools.pairwise(lines))
    summary = json.loads((out / "meta_strategy.json").read_text())
    assert summary["meta_strategy"] == last["meta_strategy"] and summary["iteration"] == 10
    assert summary["players"] == ["player_0", "player_1"]
    # policy.json is the meta-strategy's mixture, keyed by OpenSpiel info-state strings: OpenSpiel reads it
    # and measures the same NashConv.
    game = pyspiel.load_game("kuhn_poker")
    data = json.loads((out / "policy.json").read_text())
    tabular = os_policy.TabularPolicy(game)
    for key, probs in data.items():
        for action, prob in probs.items():
            tabular.action_probability_array[tabular.state_lookup[key], int(action)] = prob
    assert len(data) == 12
    assert os_exploitability.nash_conv(game, tabular) == pytest.approx(last["nash_conv"], abs=1e-5)


def test_stop_and_resume_equals_an_uninterrupted_run(tmp_path):
    full, split = tmp_path / "full", tmp_path / "split"
    assert main(["psro", *KUHN, "population.iterations=4", f"run_dir={full}"]) == 0
    assert main(["psro", *KUHN, "population.iterations=2", f"run_dir={split}"]) == 0
    assert len(lines_of(split)) == 3
    assert main(["psro", f"resume={split}", "population.iterations=4"]) == 0
    assert_same_run(full, split)
    assert "iterations: 4" in (split / "config.yaml").read_text()  # the new target is stored
    assert main(["psro", f"resume={split}"]) == 0  # already complete: nothing changes
    assert len(lines_of(split)) == 5




@pytest.mark.parametrize("oracle", [KUHN, pytest.param(KUHN_PPO, marks=pytest.mark.slow)], ids=["exact", "learned"])
def test_crash_mid_iteration_then_resume_equals_an_uninterrupted_run(tmp_path, oracle):
    """Killed in iteration 2's oracle step, resumed from iteration 1's checkpoint (learned: RNG and members too)."""
    full, crashed = tmp_path / "full", tmp_path / "crashed"
    assert main(["psro", *oracle, "population.iterations=2", f"run_dir={full}"]) == 0
    config = resolve([*oracle, "population.iterations=2", f"run_dir={crashed}"])
    # Tasks: evaluate (it. 0); 2 best responses + 3 evaluation blocks (it. 1); the 7th is iteration 2's first
    # best response.
    with pytest.raises(RunInterruptedError, match="continue with: phalanx psro resume="):
        run(config, backend=CrashingBackend(crash_at=7))
    assert len(lines_of(crashed)) == 2 and restore_final(crashed)[0].iteration == 1
    assert main(["psro", f"resume={crashed}"]) == 0
    assert_same_run(full, crashed)
    summary = json.loads((crashed / "meta_strategy.json").read_text())
    assert summary["exploitability"] < 0.3  # two iterations from 0.458 (uniform)
    assert (crashed / "policy.json").is_file()


@pytest.mark.slow
def test_psro_on_tag_with_monte_carlo_payoffs(tmp_path):
    out = tmp_path / "tag"
    args = ["psro", "env=tag", "env.num_taggers=2", "env.num_runners=2", "env.episode_length=12",
            "env.tagging_distance=0.25", "env.grid_length=2.0", "train.total_steps=3072", "train.num_envs=16",
            "train.num_steps=12", "train.num_minibatches=2", "train.hidden=[16]", "population.iterations=2",
            "population.eval_episodes=32", "population.meta_solver=general_sum", f"run_dir={out}"]
    assert main(args) == 0
    state, _ = restore_final(out)
    assert state.sizes == (3, 3) and set(state.populations[0]) == {"params"}
    assert np.all(state.table.counts == 32) and np.all(np.isfinite(state.table.stderr))
    low, high = state.table.confidence_interval()
    assert np.all(low <= state.table.payoffs) and np.all(state.table.payoffs <= high) and np.any(low < high)
    lines = lines_of(out)
    assert "exploitability" not in lines[-1] and lines[-1]["meta_nash_conv"] < 1e-6
    assert set(lines[-1]["oracle"]) == {"taggers", "runners"}
    assert (out / "payoffs.png").is_file() and not (out / "policy.json").exists()
    assert not (out / "exploitability.png").exists()


def test_selfplay_commands(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["selfplay", "env=rock_paper_scissors", "population.mode=sp", "population.iterations=3"]) == 0
    assert main(["selfplay", "env=rock_paper_scissors", "population.mode=fsp", "population.iterations=3"]) == 0
    sp, fsp = sorted((tmp_path / "runs").glob("rock_paper_scissors-sp-*")), sorted(
        (tmp_path / "runs").glob("rock_paper_scissors-fsp-*"))
    assert len(sp) == len(fsp) == 1
    assert "meta_solver: last" in (sp[0] / "config.yaml").read_text()
    assert "meta_solver: uniform" in (fsp[0] / "config.yaml").read_text()
    # Both start from the uniform policy; the first best response to it is rock (ties: the first action).
    meta_sp = json.loads((sp[0] / "meta_strategy.json").read_text())
    assert meta_sp["meta_strategy"][0] == [0.0, 0.0, 0.0, 1.0]  # self-play: the newest member only
    np.testing.assert_allclose(json.loads((fsp[0] / "meta_strategy.json").read_text())["meta_strategy"][0], 0.25)
    assert len(meta_sp["mixed_strategy"][0]) == 3  # a matrix game's meta-strategy as a mixed strategy


@pytest.mark.parametrize("algo", ["iql", pytest.param("mappo", marks=pytest.mark.slow)])
def test_selfplay_with_any_learner_on_a_two_group_env_resumes_exactly(tmp_path, capsys, algo):
    """``phalanx selfplay env=tag_grid algo=A``: 2 iterations leave a complete run directory; 1 iteration resumed
    to 2 gives the same run (members, payoffs, meta-strategies, metrics)."""
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    args = ["selfplay", *TINY_TAG_GRID, f"algo={algo}", *TINY_TRAIN[algo], "population.mode=fsp"]
    assert main([*args, "population.iterations=2", f"run_dir={full}"]) == 0
    out = capsys.readouterr().out  # not a terminal: the best responses' progress is a line each
    for it, player in itertools.product((1, 2), ("taggers", "runners")):
        reports = [ln for ln in out.splitlines() if ln.startswith(f"iteration {it}: best response {player} ")]
        assert len(reports) >= 2 and reports[-1].endswith(" updates"), out  # a quarter of the updates each
        done, total = reports[-1].split()[-2].split("/")
        assert done == total, reports  # the last report: all its updates
    for name in ("config.yaml", "metrics.jsonl", "payoffs.png", "meta_strategy.json"):
        assert (full / name).is_file(), name
    assert f"algo: {algo}" in (full / "config.yaml").read_text()
    state, _ = restore_final(full)
    assert state.sizes == (3, 3) and set(state.populations[0]) == {"params"}
    assert np.all(state.table.counts == 4) and np.all(np.isfinite(state.table.payoffs))
    assert [ln["iteration"] for ln in lines_of(full)] == [0, 1, 2]
    assert_population_members_act(full)  # phalanx.load_policy(run_dir, member=k) on its members
    assert main([*args, "population.iterations=1", f"run_dir={resumed}"]) == 0
    assert main(["selfplay", f"resume={resumed}", "population.iterations=2"]) == 0
    assert_same_run(full, resumed)


def test_config_command_prints_the_resolved_psro_config(capsys):
    assert main(["config", "psro", "env=leduc_poker", "population.oracle=learned"]) == 0
    out = capsys.readouterr().out
    assert "env: leduc_poker" in out and "meta_solver: nash" in out and "gamma: 1.0" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["psro", "env=kuhn_pokr"], "env='kuhn_pokr': unknown env. Did you mean 'kuhn_poker'?"),
        (["psro", "env=kuhn_poker", "population.oracle=exac"],
         "population.oracle='exac': unknown oracle. Did you mean 'exact'?"),
        (["psro", "env=kuhn_poker", "population.meta_solver=nsh"], "unknown meta-solver 'nsh'. Did you mean 'nash'?"),
        (["psro", "env=kuhn_poker", "population.iterations=0"], "population.iterations=0: expected an integer >= 1."),
        (["psro", "env=tag", "population.oracle=exact"],
         "population.oracle=exact needs a game with exact best responses"),
        (["psro", "env=prisoners_dilemma", "population.meta_solver=nash"],
         "population.meta_solver=nash needs a zero-sum game"),
        (["psro", "env=simple_spread"], "env='simple_spread' has 1 group(s)"),
        (["psro", "env=kuhn_poker", "population.oracle=ppo"],
         "population.oracle=ppo was renamed: use population.oracle=learned"),
        (["psro", "env=kuhn_poker", "algo=iql", "population.oracle=learned", "train.recurrent_size=8"],
         "train.recurrent_size=8: kuhn_poker members must be memoryless"),
        (["psro", "env=kuhn_poker", "algo=maddpg", "population.oracle=learned"], "algo=maddpg needs continuous"),
        (["selfplay", "env=simple_tag", "algo=isac"], "algo=isac needs continuous"),
        (["psro", "env=kuhn_poker", "population.iteration=3"],
         "unknown key 'population.iteration'. Did you mean 'population.iterations'?"),
        (["psro", "env=tag", "env.num_runnerz=3"], "unknown setting 'num_runnerz'"),
        (["selfplay", "env=rock_paper_scissors", "population.mode=fps"], "population.mode='fps': expected sp"),
        (["selfplay", "env=rock_paper_scissors", "population.meta_solver=nash"],
         "takes population.mode=sp|fsp, not population.meta_solver="),
        (["psro", "resume=/nonexistent/run"], "no such directory; give the run directory phalanx psro/selfplay"),
    ],
)
def test_user_errors_are_one_line_exit_2(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("phalanx: error: ") and message in err and err.count("\n") == 1, err


def test_resume_rejects_config_changes(tmp_path, capsys):
    out = tmp_path / "rps"
    assert main(["selfplay", "env=rock_paper_scissors", "population.iterations=1", f"run_dir={out}"]) == 0
    capsys.readouterr()
    assert main(["psro", f"resume={out}", "seed=3"]) == 2
    assert "cannot change a resumed run's config (stored: seed=0)" in capsys.readouterr().err
    assert main(["psro", *KUHN, "population.iterations=1", f"run_dir={out}"]) == 2
    assert "already holds a run" in capsys.readouterr().err
