"""``phalanx train algo=bc|iql_cql data=PATH`` is an ordinary run: metrics, checkpoints, resume, eval, and
its checkpoint records a new dataset (``phalanx data record policy=RUN_DIR``)."""

from __future__ import annotations

import json

from phalanx.cli import main

COORD = ["env=matrix_game", "env.row_payoffs=[[1,0],[0,0.5]]", "env.column_payoffs=[[1,0],[0,0.5]]"]


def test_offline_run_dir_resume_eval_and_record_from_it(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["data", "record", *COORD, "episodes=200", "out=d/mg.vlt"]) == 0
    train = ["train", *COORD, "algo=iql_cql", "data=d/mg.vlt", "train.grad_steps=400", "train.cql_weight=0.2",
             "train.grad_steps_per_update=100", "train.num_envs=8", "train.eval_steps=2", "log_every=2",
             "checkpoint_every=1", "run_dir=run"]
    assert main(train) == 0
    lines = [json.loads(x) for x in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
    assert [x["update"] for x in lines] == [2, 4]
    assert lines[-1]["episode_return"]["player_0"] == 1.0  # greedy evaluation in the env: the best joint action
    assert (tmp_path / "run/checkpoints").is_dir()
    capsys.readouterr()
    assert main(["train", "resume=run"]) == 0  # complete: nothing more to do, and no data re-read error
    assert "run already complete" in capsys.readouterr().out
    assert main(["eval", "run_dir=run", "episodes=20", "greedy=true"]) == 0
    assert main(["eval", "run_dir=run", "episodes=20", "record=d/eval.vlt"]) == 0  # iql_cql acts greedily anyway
    assert main(["eval", "run_dir=run", "episodes=20", "record=d/eval.vlt"]) == 2  # never overwrites
    assert main(["data", "record", "policy=run", "episodes=10", "out=d/mg.vlt", "quality=Good"]) == 0
    capsys.readouterr()
    assert main(["data", "info", "d/mg.vlt/Good"]) == 0
    out = capsys.readouterr().out
    assert "return (player_0): mean 1.000" in out and "episodes: 10" in out


def test_eval_record_writes_the_episodes_it_scored(tmp_path, monkeypatch):
    import numpy as np

    from phalanx.runtime.evaluate import episode_returns, load_policy
    from phalanx.runtime.vault import read_vault

    monkeypatch.chdir(tmp_path)
    assert main(["train", "env=simple_spread", "algo=ippo", "train.total_steps=512", "train.num_envs=4",
                 "log_every=1", "run_dir=run"]) == 0
    assert main(["eval", "run_dir=run", "episodes=6", "seed=3", "record=d/spread.vlt"]) == 0
    _, trainer, env, state, _ = load_policy("run")
    trained, _ = episode_returns(env, trainer, state, 6, seed=3)
    exp, meta = read_vault("d/spread.vlt/Policy")
    assert meta["phalanx"]["policy"] == str((tmp_path / "run").resolve())
    # Sampled PPO actions, same seed: the recorded episodes are the evaluated ones, step for step.
    np.testing.assert_allclose(meta["phalanx"]["episode_returns"], trained["agents"], rtol=1e-5)
    assert exp["observations"].shape == (6 * 25, 3, 18)
