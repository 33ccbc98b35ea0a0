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


def assert_population_members_act(run_dir) -> None:
    """``load_policy`` on a finished 2-iteration psro/selfplay run with learned members (3 per player): each
    member acts exactly as the learner does with the checkpointed params (called from
    test_population_run's selfplay test, which trains the run)."""
    from phalanx.runtime.population_run import restore_final

    state, _ = restore_final(run_dir)
    newest, first = phalanx.load_policy(run_dir), phalanx.load_policy(run_dir, member=0)
    assert newest.member == (2, 2) and first.member == (0, 0)
    assert phalanx.load_policy(run_dir, member=(0, -1)).member == (0, 2)
    env = newest.env
    _, ts = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(5), 8))
    for policy, k in ((newest, 2), (first, 0)):
        actions, _ = policy.act(ts.obs, greedy=True)
        for p, g in enumerate(env.spec.groups):
            params = jax.tree.map(lambda x, k=k, p=p: x[k], state.populations[p]["params"])
            learner = policy.learners[g]
            want, _ = learner.act(params, g, learner.initial_hidden(8)[g], ts.obs[g], np.ones(8, bool),
                                  jax.random.PRNGKey(0), mask=ts.action_mask.get(g), greedy=True)
            np.testing.assert_array_equal(np.asarray(actions[g]), np.asarray(want))
    differs = [not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(newest.params),
                                                         jax.tree.leaves(first.params), strict=True)]
    assert any(differs)  # the best responses trained: member 2 is not member 0
    with pytest.raises(PhalanxError, match=r"member=5: the populations have 3 and 3 members"):
        phalanx.load_policy(run_dir, member=5)


def test_an_exact_oracle_run_is_refused_in_one_line(tmp_path):
    from phalanx.cli import main

    run_dir = tmp_path / "exact"
    assert main(["psro", "env=kuhn_poker", "population.oracle=exact", "population.iterations=1",
                 f"run_dir={run_dir}"]) == 0
    with pytest.raises(PhalanxError, match=r"members are tables.*population.oracle=learned"):
        phalanx.load_policy(run_dir)
