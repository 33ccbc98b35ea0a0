"""``phalanx data record`` / ``data info`` on a tiny env, and bad data refused in one line before a run."""

from __future__ import annotations

import pytest

from phalanx.cli import main

COORD = ["env.row_payoffs=[[1,0],[0,0.5]]", "env.column_payoffs=[[1,0],[0,0.5]]"]


@pytest.fixture()
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_record_then_info(here, capsys):
    assert main(["data", "record", "env=matrix_game", *COORD, "policy=random", "episodes=40", "num_envs=16",
                 "out=d/mg.vlt"]) == 0
    assert (here / "d/mg.vlt/Random/metadata.json").is_file()
    capsys.readouterr()
    assert main(["data", "info", "d/mg.vlt"]) == 0
    out = capsys.readouterr().out
    assert "episodes: 40" in out and "rows (time steps): 40" in out
    for field in ("observations", "actions", "rewards", "terminals", "truncations", "infos.legals", "infos.state"):
        assert field in out
    assert "return (player_0)" in out and "return (player_1)" in out
    assert (here / "d/mg.vlt/Random_returns.png").stat().st_size > 1000


def _one_line_error(capsys, argv, match):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("phalanx: error:") and match in err, err
    return err


def test_bad_data_is_one_line_before_any_run(here, capsys):
    assert main(["data", "record", "env=matrix_game", *COORD, "episodes=4", "out=d/mg.vlt"]) == 0
    capsys.readouterr()
    train = ["train", "algo=bc", "train.grad_steps=10", "train.grad_steps_per_update=10", "run_dir=r"]
    _one_line_error(capsys, [*train, "env=rock_paper_scissors", "data=d/mg.vlt"], "recorded on env 'matrix_game'")
    _one_line_error(capsys, [*train, "env=matrix_game", "data=nowhere.vlt"], "no such dataset")
    _one_line_error(capsys, [*train, "env=matrix_game"], "give data=PATH")
    _one_line_error(capsys, ["train", "algo=iql", "env=matrix_game", "data=d/mg.vlt"], "learns online")
    (here / "d/empty.vlt").mkdir(parents=True)
    _one_line_error(capsys, [*train, "env=matrix_game", "data=d/empty.vlt"], "not a vault")
    assert not (here / "r").exists()


def test_wrong_shapes_and_empty_vault(here, capsys):
    import phalanx
    from phalanx.runtime.vault import VaultWriter

    VaultWriter(here / "e.vlt" / "Good", phalanx.make("matrix_game"), {"env": "matrix_game"})
    train = ["train", "algo=bc", "env=matrix_game", "run_dir=r"]
    _one_line_error(capsys, [*train, "data=e.vlt"], "the dataset is empty")
    # Same env name, other settings: 3 actions instead of 2.
    assert main(["data", "record", "env=matrix_game", "episodes=2", "out=d3.vlt",
                 "env.row_payoffs=[[1,0,0],[0,1,0],[0,0,1]]", "env.column_payoffs=[[1,0,0],[0,1,0],[0,0,1]]"]) == 0
    capsys.readouterr()
    _one_line_error(capsys, [*train, "data=d3.vlt"], "fit env matrix_game (expects (2, 2): 2 actions)")
    assert not (here / "r").exists()
