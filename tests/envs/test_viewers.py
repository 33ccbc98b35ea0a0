"""Viewers: frames of every env family, pixels that follow the state, 1000-agent Tag, poker text, ``phalanx render``.

States are built by hand as NumPy arrays (what ``render_frame`` draws), so the fast tests compile no env; moving
one agent must move its colour in the picture the same way. Poker text is checked against OpenSpiel (pot in the
information-state string, returns). Rendering real random episodes of every env runs with the slow tests.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import phalanx
from phalanx.cli import main
from phalanx.envs.lbf.env import LBFState
from phalanx.envs.matrix.env import MatrixState
from phalanx.envs.mpe.physics import MPEState
from phalanx.envs.poker import KuhnState, LeducState
from phalanx.envs.rware.env import RwareState
from phalanx.envs.tag import TagState
from phalanx.envs.tag_grid.env import TagGridState
from phalanx.envs.viewers import DPI, FIGSIZE, render_episode, render_frame
from phalanx.errors import PhalanxError

SHAPE = (int(FIGSIZE[1] * DPI), int(FIGSIZE[0] * DPI), 3)


# ------------------------------------------------------------------------------------------ hand-built states
def tag_state(pos, agent_type, alive, t=0) -> TagState:
    n = len(agent_type)
    agent_type = np.asarray(agent_type, np.int32)
    return TagState(pos=np.asarray(pos, np.float32), speed=np.zeros(n, np.float32), direction=np.zeros(n, np.float32),
                    acceleration=np.zeros(n, np.float32), alive=np.asarray(alive, bool), agent_type=agent_type,
                    tagger_ids=np.flatnonzero(agent_type).astype(np.int32),
                    runner_ids=np.flatnonzero(agent_type == 0).astype(np.int32), t=np.int32(t))


def rware_state(env, agents, carrying, requested, dirs=None) -> RwareState:
    lay = env.layout
    shelf_grid = np.zeros((lay.height, lay.width), np.int32)
    shelf_grid[lay.shelf_cells[:, 0], lay.shelf_cells[:, 1]] = np.arange(lay.num_shelves) + 1
    agents = np.asarray(agents, np.int32)
    agent_grid = np.zeros_like(shelf_grid)
    agent_grid[agents[:, 0], agents[:, 1]] = np.arange(len(agents)) + 1
    req = np.zeros(lay.num_shelves, bool)
    req[list(requested)] = True
    return RwareState(agent_pos=agents, agent_dir=np.asarray(dirs or [0] * len(agents), np.int32),
                      carrying=np.asarray(carrying, bool), agent_grid=agent_grid, shelf_grid=shelf_grid, requested=req,
                      t=np.int32(0), key=np.zeros(2, np.uint32))


def mpe_state(env, moved: bool) -> MPEState:
    e, n = env.entities.num_entities, env.entities.num_agents
    pos = np.stack([np.linspace(-0.6, 0.6, e), np.full(e, -0.7)], 1).astype(np.float32)
    pos[n:, 1] = 0.7  # landmarks in the top row, agents in the bottom one
    if moved:
        pos[0] = (0.0, 0.0)
    return MPEState(pos=pos, vel=np.zeros((e, 2), np.float32), comm=np.zeros((n, env.dim_c), np.float32),
                    goal=np.int32(0), t=np.int32(0))


def kuhn_state(cards, bets) -> KuhnState:
    n = len(bets)
    done = n == 3 or (n == 2 and tuple(bets) != (0, 1))
    return KuhnState(cards=np.asarray(cards, np.int32), bets=np.asarray(list(bets) + [-1] * (3 - n), np.int32),
                     num_bets=np.int32(n), player=np.int32(n % 2), done=np.bool_(done))


def leduc_state(cards, round1, round2=None, done=False) -> LeducState:
    """The fields the viewer reads (cards, round, betting sequences); the rest are left at their reset values."""
    seq = np.full((2, 4), -1, np.int32)
    seq[0, : len(round1)] = round1
    seq[1, : len(round2 or [])] = round2 or []
    return LeducState(cards=np.asarray(cards, np.int32), round=np.int32(round2 is not None), seq=seq,
                      seq_len=np.array([len(round1), len(round2 or [])], np.int32), contrib=np.ones(2, np.int32),
                      stakes=np.int32(1), raises=np.int32(0), calls=np.int32(0), player=np.int32(0),
                      folded=np.int32(-1), done=np.bool_(done))


def colour_mask(frame: np.ndarray, rgb: tuple[float, float, float], tol: int = 30) -> np.ndarray:
    return (np.abs(frame.astype(int) - np.array(rgb) * 255).max(-1) <= tol)


def centroid(mask: np.ndarray) -> np.ndarray:
    """``(x, y)`` pixel centre of a mask (y grows downwards)."""
    ys, xs = np.nonzero(mask)
    assert len(xs), "colour not in the frame"
    return np.array([xs.mean(), ys.mean()])


TAGGER, RUNNER = (0.85, 0.2, 0.2), (0.2, 0.35, 0.85)
LBF_AGENT = (0.2, 0.35, 0.85)
RWARE_AGENT = (1.0, 140 / 255, 0.0)
MPE_AGENT = (0.35, 0.35, 0.85)  # simple_spread's agents (alpha 0.9 on white)


def _mpe_agent_colour():
    return tuple(0.9 * c + 0.1 for c in MPE_AGENT)


# (env name, settings, state before, state after: one agent moved right (and up) by a known amount, its colour)
def _cases():
    tag = phalanx.make("tag", num_taggers=1, num_runners=5)
    lbf = phalanx.make("lbf")
    rware = phalanx.make("rware")
    spread = phalanx.make("simple_spread")
    types = [1, 0, 0, 0, 0, 0]
    base = [(2, 2), (1, 8), (3, 8), (5, 8), (7, 8), (9, 8)]
    lbf_food = dict(food_pos=np.array([[2, 5], [4, 4]], np.int32), food_level=np.array([3, 1], np.int32),
                    food_eaten=np.array([False, False]), step_count=np.int32(0))
    # The agent starts in the highway's bottom-left corner, then moves up-right along the highway.
    r0 = (rware.layout.height - 1, 0)
    return {
        "tag": (tag, tag_state(base, types, [True] * 6), tag_state([(8, 6), *base[1:]], types, [True] * 6), TAGGER),
        "tag_grid": (phalanx.make("tag_grid", num_taggers=2),
                     TagGridState(pos=np.array([[0, 0], [1, 0], [2, 2]], np.int32), t=np.int32(0)),
                     TagGridState(pos=np.array([[0, 0], [1, 0], [4, 4]], np.int32), t=np.int32(0)),
                     (0.28, 0.415, 0.865)),  # the runner: blue at alpha 0.9
        "lbf": (lbf, LBFState(agent_pos=np.array([[7, 0], [0, 7]], np.int32), agent_level=np.array([1, 2], np.int32),
                              **lbf_food),
                LBFState(agent_pos=np.array([[3, 4], [0, 7]], np.int32), agent_level=np.array([1, 2], np.int32),
                         **lbf_food), LBF_AGENT),
        "rware": (rware, rware_state(rware, [r0], [False], [0]), rware_state(rware, [(r0[0] - 1, 3)], [False], [0]),
                  RWARE_AGENT),
        "simple_spread": (spread, mpe_state(spread, False), mpe_state(spread, True), _mpe_agent_colour()),
    }


CASES = _cases()


@pytest.mark.parametrize("name", list(CASES))
def test_a_moved_agent_moves_in_the_frame(name):
    import matplotlib.pyplot as plt

    figures = plt.get_fignums()
    env, before, after, colour = CASES[name]
    a, b = render_frame(env, before), render_frame(env, after)
    assert a.shape == b.shape == SHAPE and a.dtype == np.uint8
    # The moved agent's pixels: its colour in one frame and not in the other.
    gone, came = colour_mask(a, colour) & ~colour_mask(b, colour), colour_mask(b, colour) & ~colour_mask(a, colour)
    dx, dy = centroid(came) - centroid(gone)
    assert dx > 20 and dy < -20, (dx, dy)  # right, and up (pixel rows grow downwards)
    assert plt.get_fignums() == figures  # no pyplot figures left behind


@pytest.mark.parametrize("name", ["simple_tag", "simple_adversary", "simple_speaker_listener"])
def test_other_mpe_scenarios_draw_their_entities(name):
    env = phalanx.make(name)
    a, b = render_frame(env, mpe_state(env, False)), render_frame(env, mpe_state(env, True))
    assert a.shape == SHAPE and (a != b).any()


def test_matrix_frame_highlights_the_last_joint_action():
    env = phalanx.make("rock_paper_scissors")
    highlight = (1.0, 0.85, 0.3)
    before = render_frame(env, MatrixState(t=np.int32(0), last_actions=np.array([-1, -1], np.int32)))
    rows = []
    for a0 in (0, 2):
        frame = render_frame(env, MatrixState(t=np.int32(1), last_actions=np.array([a0, 1], np.int32)))
        rows.append(centroid(colour_mask(frame, highlight, 10))[1])
    assert not colour_mask(before, highlight, 10).any()
    assert rows[1] > rows[0] + 20  # scissors' row is below rock's


def test_rware_frame_shows_requested_and_carried_shelves():
    env = phalanx.make("rware")
    lay = env.layout
    teal, red, slate = (0.0, 128 / 255, 128 / 255), (1.0, 0.0, 0.0), (72 / 255, 61 / 255, 139 / 255)
    free = rware_state(env, [lay.shelf_cells[3]], [False], [])
    busy = rware_state(env, [lay.shelf_cells[3]], [True], [0, 5])
    a, b = render_frame(env, free), render_frame(env, busy)
    assert not colour_mask(a, teal).any() and colour_mask(b, teal).sum() > 2 * 100  # two requested shelves
    assert not colour_mask(a, red).any() and colour_mask(b, red).sum() > 50  # the loaded agent is red
    assert colour_mask(a, slate).sum() > colour_mask(b, slate).sum()


def test_1000_agent_tag_frame_is_legible():
    env = phalanx.make("tag", num_taggers=100, num_runners=900, use_full_observation=False)
    rng = np.random.default_rng(0)
    agent_type = np.zeros(1000, np.int32)
    agent_type[::10] = 1
    pos = rng.uniform(0, 10, (1000, 2))
    frames = []
    for tagged_share in (0.0, 0.5):
        alive = (rng.random(1000) >= tagged_share) | (agent_type == 1)
        frames.append(render_frame(env, tag_state(pos, agent_type, alive)).astype(int))
    for frame in frames:
        assert frame.shape == SHAPE
        red = colour_mask(frame, TAGGER).sum()
        assert red > 100 * 10  # every tagger a visible dot (> 10 px each on average)
    blue0, blue1 = (colour_mask(f, RUNNER).sum() for f in frames)
    pale0, pale1 = (colour_mask(f, (0.78, 0.83, 0.95), 12).sum() for f in frames)
    assert blue0 > 900 * 4  # runners: a few pixels each at 1000 agents
    # Tagged runners faded, not gone (with none tagged only anti-aliased rims come near the pale colour).
    assert pale0 < 100 and pale1 > 450 * 2 and blue1 < 0.7 * blue0


# ------------------------------------------------------------------------------------------ poker as text
@pytest.mark.parametrize("cards, bets, pot, result", [
    ((2, 1), (0, 1, 1), 4, "showdown: K beats Q, player_0 wins 2"),
    ((2, 1), (0, 1, 0), 3, "player_0 folds, player_1 wins 1"),
    ((0, 1), (0, 0), 2, "showdown: Q beats J, player_1 wins 1"),
    ((0, 2), (1, 0), 3, "player_1 folds, player_0 wins 1"),
    ((1, 0), (0,), 2, None),
])
def test_kuhn_text_against_openspiel(cards, bets, pot, result):
    import pyspiel

    env = phalanx.make("kuhn_poker")
    text = env.render_text(kuhn_state(cards, bets))
    names = "JQK"
    assert f"player_0 {names[cards[0]]}    player_1 {names[cards[1]]}" in text
    assert f"pot      {pot}  (player_0 {1 + sum(bets[0::2])}, player_1 {1 + sum(bets[1::2])})" in text
    state = pyspiel.load_game("kuhn_poker").new_initial_state()
    for a in (*cards, *bets):
        state.apply_action(a)
    assert state.is_terminal() == (result is not None)
    if result is None:
        assert "player_1 to act" in text and "check or bet" in text
    else:
        assert f"result   {result}" in text
        won = f"wins {abs(state.returns()[0]):g}"
        assert won in text and ("player_0 " + won if state.returns()[0] > 0 else "player_1 " + won) in text


@pytest.mark.parametrize("cards, round1, round2", [
    ((2, 5, 0), (2, 1), (1, 2, 1)),  # Q vs K, public J: raise, call; check, raise, call: K-J beats Q-J
    ((0, 3, 1), (1, 2, 2, 1), (2, 0)),  # J vs Q, public J (a pair): re-raise in round 1; player_1 folds
    ((4, 1, 5), (2, 0), None),  # a fold in round 1: the public card is never shown
    ((0, 2, 4), (1, 1), (2, 2, 1)),
])
def test_leduc_text_against_openspiel(cards, round1, round2):
    import pyspiel

    env = phalanx.make("leduc_poker")
    ranks = "JQK"
    # Every state of the game: the env deals the public card as soon as round 1 ends.
    states = [(list(round1[:k]), None) for k in range(len(round1) + (round2 is None))]
    states += [(list(round1), list(round2[:k])) for k in range(len(round2) + 1)] if round2 is not None else []
    for r1, r2 in states:
        state = pyspiel.load_game("leduc_poker").new_initial_state()
        for a in (*cards[:2], *r1, *((cards[2], *r2) if r2 is not None else ())):
            state.apply_action(a)
        text = env.render_text(leduc_state(cards, r1, r2, done=state.is_terminal()))
        assert f"player_0 {ranks[cards[0] // 2]}{'sh'[cards[0] % 2]}" in text
        if state.is_terminal():
            won = state.returns()[0]
            assert "game over" in text
            assert (f"wins {abs(won):g}" in text) if won else "split" in text
        else:
            info = state.information_state_string(0)
            pot = int(info.split("[Pot: ")[1].split("]")[0])
            assert f"pot      {pot}  " in text, (info, text)
            assert f"player_{state.current_player()} to act" in text
            public = f"{ranks[cards[2] // 2]}{'sh'[cards[2] % 2]}"
            assert (f"public   {public}" in text) == ("[Public:" in info)


def test_poker_frames_change_with_the_state():
    env = phalanx.make("kuhn_poker")
    a = render_frame(env, kuhn_state((2, 1), ()))
    b = render_frame(env, kuhn_state((2, 1), (1, 1)))
    assert a.shape == SHAPE and (a != b).any()
    assert env.max_game_length == 3 and phalanx.make("leduc_poker").max_game_length == 8
    leduc, face_down = phalanx.make("leduc_poker"), (0.55, 0.6, 0.7)
    hidden = render_frame(leduc, leduc_state((2, 5, 0), [2]))  # round 1: the public card lies face down
    shown = render_frame(leduc, leduc_state((2, 5, 0), [2, 1], []))
    assert colour_mask(hidden, face_down, 8).sum() > 2000 and colour_mask(shown, face_down, 8).sum() == 0


# ------------------------------------------------------------------------------------------ files and CLI
def test_unknown_env_has_no_viewer():
    with pytest.raises(PhalanxError, match="no viewer"):
        render_frame(object(), None)


def test_render_episode_writes_an_animated_gif(tmp_path):
    env, before, after, _ = CASES["tag_grid"]
    frames = [render_frame(env, s) for s in (before, after, before)]
    path = render_episode(frames, tmp_path / "sub" / "ep.gif")
    with Image.open(path) as im:
        assert im.n_frames == 3 and im.size == (SHAPE[1], SHAPE[0])
    with pytest.raises(PhalanxError):
        render_episode([], tmp_path / "none.gif")


def test_cli_render_poker_prints_text_and_writes_a_gif(tmp_path, capsys):
    out = tmp_path / "kuhn.gif"
    assert main(["render", "env=kuhn_poker", f"out={out}", "seed=3"]) == 0
    stdout = capsys.readouterr().out
    assert stdout.count("kuhn_poker  ") >= 3 and "result" in stdout and str(out) in stdout
    with Image.open(out) as im:
        assert im.n_frames == stdout.count("kuhn_poker  ")  # a frame per state printed
    for args, words in ((["env=nope"], "unknown environment"), (["policy=trained"], "policy=random"),
                        (["steps=0"], "steps=0"), (["env=tag", "env.bogus=1"], "unknown setting")):
        assert main(["render", *args]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and words in err


def test_cli_render_keeps_an_existing_episode_gif_and_writes_webp(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "episode.gif").write_bytes(b"mine")
    assert main(["render", "env=kuhn_poker", "seed=1"]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "episode.gif").read_bytes() == b"mine"  # the user's file is kept, and it says so
    assert "wrote episode-2.gif" in out and "./episode.gif exists and was kept" in out
    with Image.open(tmp_path / "episode-2.gif") as im:
        assert im.n_frames >= 2
    assert main(["render", "env=kuhn_poker", "seed=1", "out=ep.webp"]) == 0
    with Image.open(tmp_path / "ep.webp") as im:
        assert im.format == "WEBP" and im.n_frames >= 2


@pytest.mark.slow
@pytest.mark.parametrize("name, settings", [
    ("tag", ["env.num_runners=5"]), ("tag_grid", ["env.num_taggers=2"]), ("simple_spread", []), ("lbf", []),
    ("rware", []), ("leduc_poker", []), ("rock_paper_scissors", []),
])
def test_cli_render_random_episodes_of_every_family(tmp_path, capsys, name, settings):
    out = tmp_path / f"{name}.gif"
    steps = [] if name in ("leduc_poker", "rock_paper_scissors") else ["steps=3"]
    assert main(["render", f"env={name}", "policy=random", f"out={out}", *steps, *settings]) == 0
    assert str(out) in capsys.readouterr().out
    with Image.open(out) as im:
        assert im.n_frames >= 2 and im.size == (SHAPE[1], SHAPE[0])
        frames = []
        for k in range(im.n_frames):
            im.seek(k)
            frames.append(np.asarray(im.convert("RGB")))
    assert any((f != frames[0]).any() for f in frames[1:])  # the episode shows something happening
