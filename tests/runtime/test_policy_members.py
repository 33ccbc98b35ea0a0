"""``phalanx.load_policy`` on a league run: a player (by name or index) acts for every group of the env."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import phalanx
from phalanx.errors import PhalanxError


def test_a_league_player_acts_greedily_like_its_learner(tiny_league):
    from phalanx.runtime.backend import LocalBackend
    from phalanx.runtime.league_run import KIND, LeagueRun
    from phalanx.runtime.run_dir import load_config

    policy = phalanx.load_policy(tiny_league)  # the first main agent
    names = list(LeagueRun.restore(load_config(tiny_league, KIND), tiny_league, LocalBackend()).league.names)
    assert policy.member == names[0] or policy.member.startswith("main")
    env = policy.env
    keys = jax.random.split(jax.random.PRNGKey(3), 4)
    _, ts = jax.vmap(env.reset)(keys)
    actions, _ = policy.act(ts.obs, greedy=True)
    for g in env.spec.groups:
        learner = policy.learners[g]
        want, _ = learner.act(policy.params[g], g, learner.initial_hidden(4)[g], ts.obs[g], np.ones(4, bool),
                              jax.random.PRNGKey(0), mask=ts.action_mask.get(g), greedy=True)
        np.testing.assert_array_equal(np.asarray(actions[g]), np.asarray(want))
    other = phalanx.load_policy(tiny_league, member=names[-1])
    assert other.member == names[-1]
    with pytest.raises(PhalanxError, match="no such player"):
        phalanx.load_policy(tiny_league, member="nobody")
