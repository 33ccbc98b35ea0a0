"""Viewers: frames of every env family, a 1000-agent Tag frame, GIFs, and ``phalanx render``."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import phalanx
from phalanx.cli import main
from phalanx.envs.tag import TagState
from phalanx.envs.viewers import DPI, FIGSIZE, render_episode, render_frame
from phalanx.errors import PhalanxError
from phalanx.runtime.evaluate import random_episode_states

SHAPE = (int(FIGSIZE[1] * DPI), int(FIGSIZE[0] * DPI), 3)


def _states(env, steps: int):
    """The reset state and up to ``steps`` random steps (one small jitted rollout)."""
    return random_episode_states(env, seed=0, max_steps=steps)


@pytest.mark.parametrize("name, settings, steps", [
    ("tag", {"num_runners": 5}, 2),
    ("tag_grid", {"num_taggers": 3}, 2),
    ("simple_spread", {}, 2),
    ("simple_tag", {}, 2),
    ("simple_adversary", {}, 2),
    ("simple_speaker_listener", {}, 2),
    ("rock_paper_scissors", {}, 1),
])
def test_frames_have_the_shape_and_change_between_steps(name, settings, steps):
    import matplotlib.pyplot as plt

    figures = plt.get_fignums()
    env = phalanx.make(name, **settings)
    frames = [render_frame(env, s) for s in _states(env, steps)]
    for f in frames:
        assert f.shape == SHAPE and f.dtype == np.uint8
    assert (frames[0] != frames[-1]).any()
    assert plt.get_fignums() == figures  # no pyplot figures left behind


def test_1000_agent_tag_frame_shows_both_types():
    env = phalanx.make("tag", num_taggers=50, num_runners=950, use_full_observation=False)
    rng = np.random.default_rng(0)
    n = 1000
    agent_type = np.zeros(n, np.int32)
    agent_type[::20] = 1
    alive = rng.random(n) > 0.3  # some runners tagged out (drawn faded)
    alive[agent_type == 1] = True
    state = TagState(pos=rng.uniform(0, 10, (n, 2)).astype(np.float32), speed=np.zeros(n, np.float32),
                     direction=np.zeros(n, np.float32), acceleration=np.zeros(n, np.float32), alive=alive,
                     agent_type=agent_type, tagger_ids=np.flatnonzero(agent_type).astype(np.int32),
                     runner_ids=np.flatnonzero(agent_type == 0).astype(np.int32), t=np.int32(7))
    frame = render_frame(env, state).astype(int)
    assert frame.shape == SHAPE
    red = (frame[..., 0] > 150) & (frame[..., 2] < 120)
    blue = (frame[..., 2] > 150) & (frame[..., 0] < 120)
    assert red.sum() > 50 and blue.sum() > 500  # small markers, but every agent is drawn


def test_unknown_env_has_no_viewer():
    with pytest.raises(PhalanxError, match="no viewer"):
        render_frame(object(), None)


def test_render_episode_writes_an_animated_gif(tmp_path):
    env = phalanx.make("simple_spread")
    frames = [render_frame(env, s) for s in _states(env, 2)]
    path = render_episode(frames, tmp_path / "sub" / "ep.gif")
    with Image.open(path) as im:
        assert im.n_frames == 3 and im.size == (SHAPE[1], SHAPE[0])
    with pytest.raises(PhalanxError):
        render_episode([], tmp_path / "none.gif")


def test_cli_render(tmp_path, capsys):
    out = tmp_path / "tg.gif"
    assert main(["render", "env=tag_grid", "policy=random", f"out={out}", "steps=3", "env.num_taggers=2"]) == 0
    assert str(out) in capsys.readouterr().out
    with Image.open(out) as im:
        assert im.n_frames == 4  # the reset state and 3 steps
    for args, words in ((["env=nope"], "unknown environment"), (["policy=trained"], "policy=random"),
                        (["steps=0"], "steps=0"), (["env=tag", "env.bogus=1"], "unknown setting")):
        assert main(["render", *args]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and words in err
