"""``Environment.time_limit``: one name for every env's episode bound, whatever its own setting is called."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import phalanx
from phalanx.envs import Environment, registered, wrap_for_training
from phalanx.envs.matrix.env import MatrixGame
from phalanx.envs.testing import rollout
from phalanx.errors import PhalanxError

# Each family's own setting, set to 12: time_limit reads it.
SETTINGS = {"tag": {"episode_length": 12, "num_taggers": 2, "num_runners": 3},
            "tag_grid": {"episode_length": 12},
            "simple_spread": {"max_cycles": 12}, "simple_tag": {"max_cycles": 12},
            "simple_adversary": {"max_cycles": 12}, "simple_speaker_listener": {"max_cycles": 12},
            "lbf": {"time_limit": 12}, "rware": {"time_limit": 12}}


def test_every_registered_env_declares_a_positive_int_time_limit():
    for name in registered():
        limit = phalanx.make(name).time_limit
        assert isinstance(limit, int) and limit >= 1, (name, limit)


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_time_limit_is_the_family_setting_and_bounds_every_episode(name):
    env = phalanx.make(name, **SETTINGS[name])
    assert env.time_limit == 12
    traj = rollout(env, jax.random.PRNGKey(0), 12)
    done = np.asarray(traj.done)
    # Random play: some episodes may end early (a tag, all food eaten), none runs past the limit.
    assert done[-1] or done[:-1].any(), name
    if name.startswith("simple_"):  # nothing ends an MPE episode but the clock
        assert not done[:-1].any() and bool(np.asarray(traj.truncated)[-1])


def test_matrix_games_last_one_move():
    games = [name for name in registered() if isinstance(phalanx.make(name), MatrixGame)]
    assert len(games) >= 4
    for name in games:
        assert phalanx.make(name).time_limit == 1


@pytest.mark.parametrize("game", ["kuhn_poker", "leduc_poker"])
def test_poker_time_limit_is_openspiels_longest_game(game):
    pyspiel = pytest.importorskip("pyspiel")
    env = phalanx.make(game)
    assert env.time_limit == env.max_game_length == pyspiel.load_game(game).max_game_length()


def test_wrappers_report_the_inner_time_limit():
    env = wrap_for_training(phalanx.make("lbf", time_limit=7), num_envs=2)
    assert env.time_limit == 7


def test_an_env_that_declares_none_says_which_property_to_override():
    class NoLimit(Environment):
        name = "no_limit"
        spec = default_params = None

        def _reset(self, key, params): ...

        def _step(self, key, state, actions, params): ...

    with pytest.raises(PhalanxError, match=r"NoLimit\.time_limit"):
        _ = NoLimit().time_limit
