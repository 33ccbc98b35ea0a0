"""``phalanx league`` end to end: a tiny Tag (run directory, outputs, exact resume), Kuhn and simple_tag with
IQL, one-line errors before a run directory exists, and (slow) the main agent's Elo rising on simple_tag."""

from __future__ import annotations

import io
import json

import jax
import numpy as np
import pytest
from conftest import TINY_LEAGUE
from crashing_backend import CrashingBackend
from rich.console import Console

from phalanx.errors import PhalanxError, RunInterruptedError
from phalanx.runtime import league_run, league_tasks
from phalanx.runtime import run_dir as rd
from phalanx.runtime.backend import LocalBackend
from phalanx.runtime.league_config import LeagueConfig, resolve

TINY = TINY_LEAGUE


def quiet() -> Console:
    return Console(file=io.StringIO(), width=120)


@pytest.fixture
def full_run(tiny_league):
    return tiny_league  # conftest.TINY_LEAGUE, run once per session


def league_cli(args: list[str]) -> int:
    """``phalanx league ARGS`` as the CLI runs it (user errors raise :class:`PhalanxError`)."""
    from phalanx import cli

    return cli.cmd_league(args)




def metrics(path) -> list[dict]:
    return [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]


def test_run_dir_outputs(full_run):
    config = resolve(TINY)
    assert (config.learners, config.tasks_per_learner, config.steps_per_task, config.capacity) == (3, 2, 64, 10)
    for name in ("config.yaml", "metrics.jsonl", "elo.png", "payoffs.png", "league_table.md", "league_table.csv",
                 "win_rates.csv", "league_final.json"):
        assert (full_run / name).is_file(), name
    assert list((full_run / "checkpoints").iterdir())
    assert json.loads((full_run / "budget.json").read_text()) == {  # 300 asked, 3 learners x 2 tasks x 64 run
        "key": "league.total_steps", "requested": 300, "actual": 384,
        "why": "whole tasks: 3 learners x 64 env steps per task"}
    lines = metrics(full_run)
    assert [line["player"] for line in lines] == ["main_0", "main_exploiter_0", "league_exploiter_0"] * 2
    first = lines[0]
    assert first["role"] == "main" and first["cycle"] == 1 and first["env_steps"] == 3 * 64
    assert set(first) >= {"task", "opponents", "win_rates", "win_rate", "elo", "train", "snapshot", "reset",
                          "wall_time", "player_steps"}
    assert first["opponents"] == {"main_0": 0.5, "main_0@0": 0.5}  # fresh league: self-play or the initial snapshot
    assert first["snapshot"] == "main_0@1"  # the 64-step budget: a snapshot after every task
    assert lines[1]["reset"] is True  # the main exploiter always restarts after a snapshot
    final = json.loads((full_run / "league_final.json").read_text())
    n = len(final["names"])
    assert n == 3 + 1 + 6  # learners, the initial snapshot, one snapshot per learner and task
    assert final["names"][-1] == "league_exploiter_0@1" and final["players"][-1]["parent"] == 2
    win = np.asarray(final["win_rates"])
    np.testing.assert_allclose(win + win.T, 1.0)  # scores of A against B and B against A are complementary
    assert np.all(np.isin(win * 2 * final["games_per_pair"], np.arange(2 * final["games_per_pair"] + 1)))
    assert np.mean(final["elo_fit"]) == pytest.approx(1000.0)
    # The reset main exploiter's and its initial-parameter snapshot's scores: identical policies draw.
    names = final["names"]
    assert win[names.index("main_0@0"), names.index("main_exploiter_0")] == 0.5
    table = (full_run / "league_table.md").read_text().splitlines()
    assert table[0].startswith("| player | role | learner | env_steps | elo_online | elo_fit | mean_win_rate |")
    assert len(table) == 2 + n


def test_online_elo_follows_the_recorded_matches(full_run):
    lines = metrics(full_run)
    # The first line's Elo: 1000 for everyone, then one update per match with the match's mean score (k = 16).
    ratings = dict.fromkeys(lines[0]["elo"], 1000.0)
    me = lines[0]["player"]
    for other, score in lines[0]["win_rates"].items():
        e = 1.0 / (1.0 + 10 ** ((ratings[other] - ratings[me]) / 400.0))
        ratings[me] += 16 * (score - e)
        ratings[other] -= 16 * (score - e)
    ratings["main_0@1"] = ratings["main_0"]  # the snapshot taken after these matches starts at main_0's rating
    assert lines[0]["elo"] == pytest.approx(ratings, abs=1e-3)


def test_resume_after_a_kill_gives_the_same_league(full_run, tmp_path):
    path = tmp_path / "run"
    # Submissions: 3 first trains, 3 evaluations (a checkpoint after task 3), then main_0's second train (the
    # 7th) after its first line is logged: killed there, the run resumes from the checkpoint of task 3.
    with pytest.raises(RunInterruptedError, match="latest checkpoint 3"):
        league_run.run(resolve([*TINY, f"run_dir={path}"]), console=quiet(), backend=CrashingBackend(crash_at=7))
    assert len(metrics(path)) == 1 and league_run.LeagueRun.restore(
        resolve(TINY), path, LocalBackend()).progress["tasks_done"] == 3
    league_run.run(LeagueConfig(resume=str(path)), console=quiet())
    drop = lambda line: {k: v for k, v in line.items() if k != "wall_time"}  # noqa: E731
    assert [drop(x) for x in metrics(path)] == [drop(x) for x in metrics(full_run)]
    a, b = (json.loads((p / "league_final.json").read_text()) for p in (full_run, path))
    assert {k: v for k, v in a.items() if k != "wall_time"} == {k: v for k, v in b.items() if k != "wall_time"}
    config = rd.load_config(path, league_run.KIND)
    ra = league_run.LeagueRun.restore(config, full_run, LocalBackend())
    rb = league_run.LeagueRun.restore(config, path, LocalBackend())
    for i in ra.learners:
        for x, y in zip(jax.tree.leaves(ra.learners[i]), jax.tree.leaves(rb.learners[i]), strict=True):
            np.testing.assert_array_equal(x, y)
    assert ra.league.to_dict() == rb.league.to_dict()
    assert rb.progress["stage"] == "done"
    out = io.StringIO()
    league_run.run(LeagueConfig(resume=str(path)), console=Console(file=out))
    assert "already complete" in out.getvalue()


def test_final_scores_match_the_definition(full_run):
    # The table's cells are mean scores of paired games: recompute one cell from a fresh evaluation task.
    config = rd.load_config(full_run, league_run.KIND)
    run = league_run.LeagueRun.restore(config, full_run, LocalBackend())
    spec = league_tasks.TaskSpec.of(config)
    assert spec.scorer == "tags"  # Tag's league default
    a = league_tasks.stack([run.policy(0)])
    b = league_tasks.stack([run.policy(1)])
    key = np.asarray(jax.random.fold_in(jax.random.PRNGKey(config.seed), 2**30 + 0))
    scores = league_tasks.evaluate_matches_task(spec, a, b, key, repeats=2)
    assert scores.shape == (1, 4)
    final = json.loads((full_run / "league_final.json").read_text())
    assert final["win_rates"][0][1] == pytest.approx(scores.mean())


@pytest.mark.parametrize("args, message", [
    (["env=simple_spread"], "env=simple_spread: the env has one group (agents); phalanx league needs two or more"),
    (["env=kuhn_poker", "algo=isac"], "algo=isac needs continuous (Box) actions, but group 'player_0' has Discrete(2)"),
    (["env=tag", "algo=iql"], "algo=iql: group 'taggers' of tag has MultiDiscrete"),
    (["env=simple_tag", "league.scorer=tags"], "league.scorer=tags: the tag count is provided by env=tag"),
    (["league.scorer=elo"], "league.scorer='elo': unknown scorer."),
    (["train.total_steps=1e6"], "train.total_steps does not apply to a league"),
    (["league.final_games=10"], "league.final_games=10: expected a multiple of league.eval_games=16"),
    (["leauge.pfsp=0.5"], "unknown key 'leauge'. Did you mean 'league'?"),
    (["league.pfsp=0.6"], "must sum to 1"),
    (["train.anneal_lr=true"], "train.anneal_lr=true"),
    (["env.num_runers=3"], "num_runers"),
    (["league.main_agents=0"], "league.main_agents=0: expected an integer >= 1"),
])
def test_bad_input_one_line_errors(args, message):
    with pytest.raises(PhalanxError) as err:  # ConfigError, or the env's own PhalanxError
        league_cli(args)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_resume_errors(full_run, tmp_path):
    with pytest.raises(PhalanxError, match=r"no config\.yaml there"):
        league_cli([f"resume={tmp_path}"])
    with pytest.raises(PhalanxError, match="cannot change a resumed run's config"):
        league_cli([f"resume={full_run}", "seed=3"])
    with pytest.raises(PhalanxError, match="already holds a run"):
        league_cli([*TINY, f"run_dir={full_run}"])


def test_cli_exit_status_2_with_one_line(capsys):
    from phalanx import cli

    assert cli.main(["league", "env=tag", "league.selfplay=0.2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("phalanx: error: league.selfplay + pfsp + verification = 0.85") and err.count("\n") == 1


@pytest.mark.slow
def test_league_target_main_agent_improves(tmp_path):
    """The default league on Tag (about 5 minutes on 2 cores): the main agent's fitted Elo rises along its
    lineage and its final parameters beat every past snapshot of itself (benchmarks/league/README.md)."""
    import json

    from phalanx.population.lineage import lineage_report

    league_run.run(resolve([f"run_dir={tmp_path / 'run'}"]), console=quiet())
    result = lineage_report(json.loads((tmp_path / "run" / "league_final.json").read_text()))
    assert result["elo_rise"] > 100 and result["elo_spearman"] > 0.8 and result["elo_final_is_highest"]
    assert result["beats_every_own_snapshot"] and result["mean_win_rate_vs_past_players"] > 0.55


# ------------------------------------------------------------------ any env with two or more groups, any learner
# IQL with a small replay buffer (its state, buffer included, is the player), 2 learners × 2 tasks of 32 env steps.
TINY_IQL = ["algo=iql", "train.num_envs=4", "train.num_steps=4", "train.buffer_size=64", "train.learning_starts=16",
            "train.batch_size=8", "train.hidden=[8]", "train.recurrent_size=0", "league.main_exploiters=0",
            "league.updates_per_task=1", "league.total_steps=128", "league.eval_games=4", "league.final_games=8",
            "league.eval_chunk=4", "checkpoint_every=3", "league.min_snapshot_steps=0",
            "league.snapshot_budget_steps=32"]


@pytest.mark.parametrize("env", [pytest.param("kuhn_poker", marks=pytest.mark.slow), "simple_tag"])
def test_iql_league_leaves_a_complete_run_dir_and_resumes_exactly(env, tmp_path):
    args = [f"env={env}", *TINY_IQL]
    config = resolve(args)
    assert (config.learners, config.tasks_per_learner, config.steps_per_task, config.league.scorer) == \
        (2, 2, 32, "returns")
    path = tmp_path / "run"
    # Submissions: 2 trains, 2 evaluations (a checkpoint after task 3), main_0's second train (the 5th),
    # league_exploiter_0's second train (the 6th): killed there, the run resumes from the checkpoint of task 3.
    with pytest.raises(RunInterruptedError, match="latest checkpoint 3"):
        league_run.run(resolve([*args, f"run_dir={path}"]), console=quiet(), backend=CrashingBackend(crash_at=6))
    assert league_run.LeagueRun.restore(config, path, LocalBackend()).progress["tasks_done"] == 3
    league_run.run(LeagueConfig(resume=str(path)), console=quiet())
    for name in ("config.yaml", "metrics.jsonl", "elo.png", "payoffs.png", "league_table.md", "win_rates.csv",
                 "league_final.json"):
        assert (path / name).is_file(), name
    lines = metrics(path)
    assert [line["player"] for line in lines] == ["main_0", "league_exploiter_0"] * 2
    groups = ["player_0", "player_1"] if env == "kuhn_poker" else ["adversaries", "agents"]
    assert sorted(lines[0]["train"]) == groups and {"return", "episodes", "loss"} <= set(lines[0]["train"][groups[0]])
    final = json.loads((path / "league_final.json").read_text())
    assert len(final["names"]) == 2 + 1 + 4  # learners, the initial snapshot, one snapshot per learner and task
    win = np.asarray(final["win_rates"])
    np.testing.assert_allclose(win + win.T, 1.0)
    if env == "kuhn_poker":  # the same league without the kill: identical lines, table and learner states
        whole = tmp_path / "whole"
        league_run.run(resolve([*args, f"run_dir={whole}"]), console=quiet())
        drop = lambda line: {k: v for k, v in line.items() if k != "wall_time"}  # noqa: E731
        assert [drop(x) for x in metrics(whole)] == [drop(x) for x in lines]
        assert json.loads((whole / "league_final.json").read_text())["win_rates"] == final["win_rates"]
        ra, rb = (league_run.LeagueRun.restore(config, p, LocalBackend()) for p in (whole, path))
        for i in ra.learners:
            for x, y in zip(jax.tree.leaves(ra.learners[i]), jax.tree.leaves(rb.learners[i]), strict=True):
                np.testing.assert_array_equal(x, y)


@pytest.mark.slow
def test_simple_tag_league_main_agent_improves(tmp_path):
    """IPPO on simple_tag, scored by returns (about 2 minutes on 2 cores): the main agent's fitted Elo rises
    along its lineage, its final parameters are its strongest and beat the league's past players on average."""
    from phalanx.population.lineage import lineage_report

    args = ["env=simple_tag", "algo=ippo", "train.num_envs=32", "train.num_steps=50", "train.lr=1e-3",
            "league.total_steps=600000", "league.updates_per_task=4", "league.min_snapshot_steps=50000",
            "league.snapshot_budget_steps=100000", "league.eval_games=16", "league.final_games=64",
            f"run_dir={tmp_path / 'run'}"]
    league_run.run(resolve(args), console=quiet())
    result = lineage_report(json.loads((tmp_path / "run" / "league_final.json").read_text()))
    assert len(result["lineage"]) >= 3
    assert result["elo_rise"] > 100 and result["elo_spearman"] > 0.8 and result["elo_final_is_highest"]
    assert result["mean_win_rate_vs_past_players"] > 0.55
