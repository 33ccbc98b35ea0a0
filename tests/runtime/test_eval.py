"""``phalanx eval``: a trained policy vs uniform random, as numbers and as a CLI table."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
from PIL import Image

from phalanx.cli import main
from phalanx.errors import PhalanxError
from phalanx.runtime.evaluate import compare, evaluate, summarize

# A coordination game: both players get 1 only when both play action 0 (random play: 0.25).
# Feed-forward with observation normalisation, two seeds (recurrent policies: see below).
MATRIX_RUN = ["env=matrix_game", "env.row_payoffs=[[1,0],[0,0]]", "env.column_payoffs=[[1,0],[0,0]]",
              "train.num_envs=16", "train.num_steps=8", "train.update_epochs=2", "train.num_minibatches=1",
              "train.lr=0.05", "train.hidden=[8]", "train.normalize_obs=true",
              "train.total_steps=1280", "num_seeds=2", "log_every=5", "seed=1"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("eval") / "run"
    assert main(["train", *MATRIX_RUN, f"run_dir={path}"]) == 0
    return path


def test_summaries_use_student_t():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    s = summarize(x)
    assert s.n == 4 and s.mean == 2.5
    assert s.ci95 == pytest.approx(3.182446 * np.std(x, ddof=1) / 2, rel=1e-5)  # t_{0.975, 3}
    assert math.isnan(summarize(np.array([1.0])).ci95)
    diff, ci = compare(x, x - 1.0)
    assert diff == 1.0 and ci > s.ci95  # Welch: both samples' variance counts
    assert compare(np.ones(5), np.zeros(5)) == (1.0, 0.0)


def test_eval_returns_finite_summaries_for_every_group(run_dir):
    r = evaluate(run_dir, episodes=12, seed=3, member=0)
    assert r.env == "matrix_game" and r.step == 2 and r.episodes == 12 and not r.greedy
    assert set(r.groups) == {"player_0", "player_1"}
    for g, res in r.groups.items():
        assert r.trained_returns[g].shape == (12,) and r.random_returns[g].shape == (12,)
        for s in (res.trained, res.random):
            assert s.n == 12 and np.isfinite(s.mean) and np.isfinite(s.ci95)
        assert set(np.unique(r.random_returns[g])) <= {0.0, 1.0}  # one-step episodes, payoffs 0 or 1
        assert res.diff == pytest.approx(res.trained.mean - res.random.mean)


@pytest.mark.parametrize("member", [0, 1])
def test_trained_greedy_policy_beats_random(run_dir, member):
    r = evaluate(run_dir, episodes=32, greedy=True, member=member)
    for res in r.groups.values():
        assert res.trained.mean == 1.0  # both players learned to meet on action 0
        assert res.diff - res.diff_ci95 > 0  # the whole 95% interval is above zero


def test_cli_eval_prints_table_and_writes_gif(run_dir, tmp_path, capsys):
    out = tmp_path / "ep.gif"
    assert main(["eval", f"run_dir={run_dir}", "episodes=8", "greedy=true", "render=true", f"out={out}"]) == 0
    text = capsys.readouterr().out
    assert "player_0" in text and "player_1" in text and "Student" in text and "1.000 ± 0.000" in text
    with Image.open(out) as im:
        assert im.n_frames == 2  # the reset state and the state after the game's one move


def _one_line_error(capsys, args) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("phalanx: error:")
    return err


def test_cli_eval_errors(run_dir, tmp_path, capsys):
    assert "no such directory" in _one_line_error(capsys, ["eval", f"run_dir={tmp_path / 'missing'}"])
    assert "needs run_dir" in _one_line_error(capsys, ["eval", "episodes=3"])
    assert "episodes=0" in _one_line_error(capsys, ["eval", f"run_dir={run_dir}", "episodes=0"])
    assert "member=2" in _one_line_error(capsys, ["eval", f"run_dir={run_dir}", "member=2"])
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "config.yaml" in _one_line_error(capsys, ["eval", f"run_dir={empty}"])
    shutil.copy(run_dir / "config.yaml", empty / "config.yaml")
    assert "no checkpoint" in _one_line_error(capsys, ["eval", f"run_dir={empty}"])
    (empty / "checkpoints").mkdir()
    assert "no finalised checkpoint" in _one_line_error(capsys, ["eval", f"run_dir={empty}"])
    with pytest.raises(PhalanxError, match="episodes"):
        evaluate(run_dir, episodes=0)


def test_recurrent_policy_evaluates_from_a_fresh_state():
    import jax

    import phalanx
    from phalanx.algos.ppo.config import PPOConfig
    from phalanx.algos.ppo.train import make_train
    from phalanx.runtime.evaluate import episode_returns, policy_episode_states

    env = phalanx.make("stag_hunt")
    trainer = make_train(PPOConfig(num_envs=2, num_steps=2, num_minibatches=1, hidden=(4,), recurrent_size=3,
                                   normalize_obs=True), env)
    state = trainer.init(jax.random.PRNGKey(0))
    for greedy in (False, True):
        trained, rand = episode_returns(env, trainer, state, 5, greedy=greedy)
        assert all(v.shape == (5,) and np.isfinite(v).all() for v in (*trained.values(), *rand.values()))
    assert len(policy_episode_states(env, trainer, state)) == 2


@pytest.mark.parametrize("name", ["lbf", "rware"])
def test_rollouts_of_time_limit_steps_end_every_episode(name):
    """Eval rolls out ``env.time_limit`` steps: every random episode is over within it, and some last that long."""
    import jax

    import phalanx
    from phalanx.evaluation import play, random_actor

    env = phalanx.make(name, time_limit=12)
    assert env.time_limit == 12
    outcome = play(env, {g: random_actor(env, g, 32) for g in env.spec.groups}, jax.random.PRNGKey(0))
    assert bool(np.all(outcome.done)) and int(np.max(outcome.length)) == 12


def test_metric_intervals_are_wilson_for_flags_and_student_t_otherwise():
    from phalanx.runtime.evaluate import interval

    low, high = interval(np.zeros(10))
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)  # Wilson, 0 of 10 (a t interval: 0-0)
    low, high = interval(np.r_[np.ones(95), np.zeros(5)])
    assert (low, high) == (pytest.approx(0.8882, abs=1e-4), pytest.approx(0.9785, abs=1e-4))
    x = np.array([0.5, 1.5, 2.0])
    s = summarize(x)
    assert interval(x) == (pytest.approx(s.mean - s.ci95), pytest.approx(s.mean + s.ci95))
