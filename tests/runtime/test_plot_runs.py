"""``phalanx plot``: band maths against hand-computed t-intervals, overlays, PSRO and league figures, error lines.

Most tests write run directories by hand with the real writers (``metrics.make_line``, ``PayoffTable``,
``Checkpoints``); others plot tiny real runs (the shared ``phalanx train`` one; psro and league ones, slow).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from phalanx.cli import main
from phalanx.errors import PhalanxError
from phalanx.population.payoff_table import PayoffTable
from phalanx.runtime import plot_runs, plots
from phalanx.runtime.checkpoint import Checkpoints
from phalanx.runtime.metrics import make_line

# Student t quantiles t(0.975, df) from published tables.
T975 = {1: 12.706205, 2: 4.302653, 3: 3.182446}


def write_train_run(path: Path, returns: list[list[float | None]], steps: list[int], seed: int = 0,
                    lr: float = 0.001, groups: tuple[str, ...] = ("agents",)) -> Path:
    """A ``phalanx train`` run dir: ``returns[t][s]`` is seed ``s``'s return at chunk ``t`` (every group alike)."""
    path.mkdir(parents=True)
    (path / "config.yaml").write_text(f"env: simple_spread\nalgo: ippo\nseed: {seed}\nnum_seeds: {len(returns[0])}\n"
                                      f"run_dir: {path}\ntrain:\n  lr: {lr}\n")
    with (path / "metrics.jsonl").open("w") as f:
        for t, (row, n) in enumerate(zip(returns, steps, strict=True)):
            seeds = [{"episodes": 0 if r is None else 4, "episode_return": dict.fromkeys(groups, r),
                      "episode_length": 25.0, "entropy": dict.fromkeys(groups, 1.0)} for r in row]
            f.write(json.dumps(make_line(t, t + 1, n, 1.0 + t, 100.0, seeds)) + "\n")
    return path


def hand_band(values: list[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, T975[n - 1] * sd / math.sqrt(n)


def test_confidence_band_is_the_student_t_interval():
    values = np.array([[1.0, 2.0, 3.0], [np.nan, 4.0, 6.0], [5.0, np.nan, np.nan], [np.nan] * 3])
    mean, half, n = plots.confidence_band(values)
    np.testing.assert_array_equal(n, [3, 2, 1, 0])
    np.testing.assert_allclose(mean[:3], [2.0, 5.0, 5.0])
    assert np.isnan(mean[3])
    # row 0: sd 1, n 3; row 1: sd √2, n 2
    np.testing.assert_allclose(half[:2], [T975[2] / math.sqrt(3), T975[1]], rtol=1e-5)
    assert np.isnan(half[2:]).all()  # no interval from one seed


def test_band_in_the_figure_is_mean_plus_minus_ci(tmp_path):
    returns = [[-30.0, -28.0, -26.0], [-20.0, None, -24.0], [-10.0, -12.0, -17.0]]
    run = write_train_run(tmp_path / "a", returns, [100, 200, 300])
    runs = plot_runs.load_runs([str(run)])
    curve = plots.return_curve("a", [r.lines for r in runs], "agents")
    for t, row in enumerate(returns):
        mean, half = hand_band([r for r in row if r is not None])
        assert curve.mean[t] == pytest.approx(mean)
        assert (curve.low[t], curve.high[t]) == pytest.approx((mean - half, mean + half), rel=1e-5, abs=1e-5)
    # The line is the seed mean logged by the trainer (metrics.make_line), as the figure draws it.
    logged = [json.loads(s)["episode_return"]["agents"] for s in (run / "metrics.jsonl").read_text().splitlines()]
    np.testing.assert_allclose(curve.mean, logged)
    fig = plot_runs.returns_figure(runs)
    (ax,) = fig.axes
    (line,) = ax.get_lines()
    np.testing.assert_allclose(line.get_ydata(), curve.mean)
    (band,) = ax.collections
    ys = band.get_paths()[0].vertices[:, 1]
    assert ys.min() == pytest.approx(curve.low.min()) and ys.max() == pytest.approx(curve.high.max())


def test_overlay_draws_one_line_per_run_and_group(tmp_path, capsys):
    a = write_train_run(tmp_path / "a", [[1.0, 2.0], [3.0, 4.0]], [10, 20], groups=("taggers", "runners"))
    b = write_train_run(tmp_path / "b", [[0.0], [1.0]], [10, 20], groups=("taggers", "runners"))
    c = write_train_run(tmp_path / "c", [[5.0, 1.0], [2.0, 2.0]], [10, 20], groups=("taggers", "runners"))
    out = tmp_path / "cmp.png"
    assert main(["plot", f"run_dir={a}", f"run_dir=[{b},{c}]", f"out={out}"]) == 0
    assert capsys.readouterr().out.split() == ["wrote", str(out)]
    with Image.open(out) as im:
        assert im.size[0] > im.size[1]  # two group panels side by side
    fig = plot_runs.returns_figure(plot_runs.load_runs([str(a), str(b), str(c)]))
    assert [ax.get_title() for ax in fig.axes] == ["taggers", "runners"]
    for ax in fig.axes:
        assert len(ax.get_lines()) == 3
        assert len(ax.collections) == 2  # the single-seed run has no band
        assert [t.get_text().split(":")[0] for t in ax.get_legend().get_texts()] == ["a", "b", "c"]


def test_pool_turns_single_seed_runs_into_one_band(tmp_path):
    steps = [10, 20]
    runs = [write_train_run(tmp_path / f"s{k}", [[r0], [r1]], steps, seed=k)
            for k, (r0, r1) in enumerate([(1.0, 4.0), (3.0, 8.0), (2.0, 9.0)])]
    other = write_train_run(tmp_path / "lr", [[0.0], [0.0]], steps, lr=0.1)  # another config: its own line
    loaded = plot_runs.load_runs([str(p) for p in [*runs, other]])
    fig = plot_runs.returns_figure(loaded, pool=True)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 2
    np.testing.assert_allclose(lines[0].get_ydata(), [2.0, 7.0])
    mean, half = hand_band([4.0, 8.0, 9.0])
    curve = plots.return_curve("pooled", [r.lines for r in loaded[:3]], "agents")
    assert (curve.low[1], curve.high[1]) == pytest.approx((mean - half, mean + half), rel=1e-5, abs=1e-5)
    assert len(plot_runs.returns_figure(loaded).axes[0].get_lines()) == 4  # without pool=true


def write_psro_run(path: Path, exploitability: list[float], table_size: int | None = 2) -> Path:
    path.mkdir(parents=True)
    (path / "config.yaml").write_text(f"game: kuhn_poker\noracle: exact\nmeta_solver: nash\nrun_dir: {path}\n")
    with (path / "metrics.jsonl").open("w") as f:
        for i, e in enumerate(exploitability):
            f.write(json.dumps({"iteration": i, "wall_time": 0.5 * i, "meta_strategy": [[1.0], [1.0]],
                                "exploitability": e}) + "\n")
    if table_size:
        table = PayoffTable()
        for p in (0, 1):
            for k in range(table_size):
                table.add_member(p, str(k))
        rows, cols = np.meshgrid(np.arange(table_size), np.arange(table_size), indexing="ij")
        a = (rows - cols).ravel().astype(float)
        table.fill(rows.ravel(), cols.ravel(), np.stack([a, -a]))
        ckpt = Checkpoints(path / "checkpoints")
        ckpt.save(len(exploitability), {"key": np.zeros(2, np.uint32)}, {"table": table.to_dict()})
        ckpt.close()
    return path


def test_psro_runs_give_exploitability_overlay_and_a_payoff_map_each(tmp_path, capsys):
    a = write_psro_run(tmp_path / "a", [0.5, 0.25, 0.1])
    b = write_psro_run(tmp_path / "b", [0.4, 0.0], table_size=None)  # no checkpoint yet: no heat map
    fig = plot_runs.exploitability_figure(plot_runs.load_runs([str(a), str(b)]))
    left = fig.axes[0]
    assert len(left.get_lines()) == 2 and left.get_yscale() == "log"
    np.testing.assert_allclose(left.get_lines()[0].get_ydata(), [0.5, 0.25, 0.1])
    assert left.get_lines()[1].get_ydata()[1] == 1e-12  # an exact zero, drawn on the log axis
    assert main(["plot", f"run_dir={a}", f"run_dir={b}"]) == 0
    written = capsys.readouterr().out.split()[1::2]
    assert written == [str(a / "plot_exploitability.png"), str(a / "plot_payoffs.png")]
    table = plot_runs.last_payoff_table(plot_runs.load_run(a))
    np.testing.assert_allclose(table.payoffs[0], [[0.0, -1.0], [1.0, 0.0]])
    with Image.open(a / "plot_payoffs.png") as im:
        assert im.size[0] > 300


def test_league_elo_one_panel_per_run(tmp_path):
    dirs = []
    for k in range(2):
        d = tmp_path / f"league{k}"
        d.mkdir()
        (d / "config.yaml").write_text("env: tag\nmain_agents: 1\nmain_exploiters: 1\n")
        lines = [{"task": 1, "player": "main_0", "env_steps": 100,
                  "elo": {"main_0": 1000.0, "main_exploiter_0": 1000.0}},
                 {"task": 2, "player": "main_0", "env_steps": 200,
                  "elo": {"main_0": 1010.0 + k, "main_exploiter_0": 990.0, "main_0@1": 1010.0}}]
        (d / "metrics.jsonl").write_text("".join(json.dumps(ln) + "\n" for ln in lines))
        dirs.append(str(d))
    fig = plot_runs.elo_figure(plot_runs.load_runs(dirs))
    assert len(fig.axes) == 2
    for k, ax in enumerate(fig.axes):
        main_line, exploiter, snapshot = ax.get_lines()
        np.testing.assert_allclose(main_line.get_ydata(), [1000.0, 1010.0 + k])
        assert np.isnan(snapshot.get_ydata()[0]) and snapshot.get_linewidth() < main_line.get_linewidth()
        assert snapshot.get_color() == main_line.get_color() != exploiter.get_color()
    out = tmp_path / "figs"
    assert plot_runs.plot(plot_runs.resolve([f"run_dir=[{dirs[0]},{dirs[1]}]", f"out={out}"])) == [
        out / "plot_elo.png"]


def test_resolve_accepts_repeated_and_list_run_dirs():
    config = plot_runs.resolve(["run_dir=runs/a-1", "run_dir=[runs/b, /tmp/c]", "out=x.png"])
    assert config.run_dir == ("runs/a-1", "runs/b", "/tmp/c") and config.out == "x.png" and not config.pool


def test_a_cut_short_last_line_is_ignored(tmp_path):
    run = write_train_run(tmp_path / "a", [[1.0], [2.0]], [10, 20])
    with (run / "metrics.jsonl").open("a") as f:
        f.write('{"chunk": 2, "env_')  # the trainer was writing when we read
    assert len(plot_runs.load_run(run).lines) == 2


@pytest.mark.parametrize("make, args, words", [
    (None, [], "needs run_dir="),
    (None, ["run_dir={tmp}/missing"], "no such directory"),
    ("empty_dir", ["run_dir={tmp}/d"], "no metrics.jsonl"),
    ("empty_metrics", ["run_dir={tmp}/d"], "metrics.jsonl is empty"),
    ("mixed", ["run_dir={tmp}/t", "run_dir={tmp}/p"], "different kinds"),
    ("mixed", ["run_dir={tmp}/p", "pool=true"], "only phalanx train runs"),
    ("no_episodes", ["run_dir={tmp}/t"], "no episode has finished"),
    ("mixed", ["run_dir={tmp}/t", "bogus=1"], "unknown key 'bogus'"),
])
def test_error_lines(tmp_path, capsys, make, args, words):
    if make == "empty_dir":
        (tmp_path / "d").mkdir()
    elif make == "empty_metrics":
        (tmp_path / "d").mkdir()
        (tmp_path / "d" / "metrics.jsonl").write_text("")
    elif make == "mixed":
        write_train_run(tmp_path / "t", [[1.0]], [10])
        write_psro_run(tmp_path / "p", [0.5], table_size=None)
    elif make == "no_episodes":
        write_train_run(tmp_path / "t", [[None, None]], [10])
    assert main(["plot", *(a.format(tmp=tmp_path) for a in args)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err, err


def test_unknown_run_kind(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"something": 1}\n')
    with pytest.raises(PhalanxError, match="cannot tell what made this run"):
        plot_runs.load_run(tmp_path)


# ---------------------------------------------------------------------------------------- real runs (slow)
def test_plot_of_a_real_train_run(tiny_run, tmp_path, capsys):
    run, _ = tiny_run  # the shared two-seed phalanx train run
    out = tmp_path / "figs"
    assert main(["plot", f"run_dir={run}", f"out={out}"]) == 0
    assert capsys.readouterr().out.split() == ["wrote", str(out / "plot_returns.png")]
    lines = [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines()]
    curve = plots.return_curve("run", [plot_runs.load_run(run).lines], "agents")
    for t, line in enumerate(lines):
        values = [s["episode_return"]["agents"] for s in line["seeds"] if s["episode_return"]["agents"] is not None]
        if len(values) >= 2:
            mean, half = hand_band(values)
            assert (curve.low[t], curve.high[t]) == pytest.approx((mean - half, mean + half), rel=1e-5, abs=1e-5)


@pytest.mark.slow
def test_plot_of_a_real_psro_run(tmp_path, capsys):
    run = tmp_path / "psro"
    assert main(["psro", "env=kuhn_poker", "population.iterations=2", f"run_dir={run}"]) == 0
    capsys.readouterr()
    assert main(["plot", f"run_dir={run}", f"out={tmp_path / 'figs'}"]) == 0
    assert capsys.readouterr().out.split()[1::2] == [str(tmp_path / "figs" / n)
                                                      for n in ("plot_exploitability.png", "plot_payoffs.png")]
    table = plot_runs.last_payoff_table(plot_runs.load_run(run))
    assert table.shape == (3, 3) and np.isfinite(table.payoffs).all()


def test_plot_of_a_real_league_run(tiny_league, tmp_path, capsys):
    run = tiny_league  # the shared tiny league
    assert main(["plot", f"run_dir={run}", f"out={tmp_path}"]) == 0
    assert capsys.readouterr().out.split() == ["wrote", str(tmp_path / "plot_elo.png")]
    lines = [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines()]
    (ax,) = plot_runs.elo_figure(plot_runs.load_runs([str(run)])).axes
    assert len(ax.get_lines()) == len(lines[-1]["elo"])  # every player, snapshots included
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [ln["elo"]["main_0"] for ln in lines])


def test_run_kind_of_every_command_config():
    from phalanx.config import to_dict
    from phalanx.runtime.league_config import LeagueConfig
    from phalanx.runtime.population_config import PopulationConfig
    from phalanx.runtime.run_config import RunConfig

    kinds = [plot_runs.run_kind(to_dict(c()), {}) for c in (RunConfig, PopulationConfig, LeagueConfig)]
    assert kinds == ["train", "psro", "league"]
