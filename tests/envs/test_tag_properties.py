"""Tag invariants over random settings and seeds (property-based)."""

from __future__ import annotations

import jax
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from phalanx.envs.tag import Tag
from phalanx.envs.testing import rollout


@settings(max_examples=3, deadline=None)  # each example compiles a new env
@given(
    num_taggers=st.integers(1, 3),
    num_runners=st.integers(1, 6),
    full=st.booleans(),
    grid_length=st.floats(0.5, 10.0),
    seed=st.integers(0, 2**16),
)
def test_tag_invariants(num_taggers, num_runners, full, grid_length, seed):
    env = Tag(
        num_taggers=num_taggers, num_runners=num_runners, use_full_observation=full,
        num_other_agents_observed=min(2, num_taggers + num_runners - 1), grid_length=grid_length,
        tagging_distance=0.1, episode_length=30,
    )
    traj = rollout(env, jax.random.PRNGKey(seed), 30)
    dead = np.asarray(traj.terminated["runners"])  # (T, n_r)
    done = np.asarray([bool(d) for d in jax.vmap(lambda t: t.done)(traj)])
    first_done = int(np.argmax(done)) if done.any() else 30
    # Before the game ends: a runner stays out once tagged, and each tag costs exactly the penalty.
    live = dead[:first_done]
    assert np.all(live[1:] >= live[:-1]), "a tagged runner came back"
    rewards_r = np.asarray(traj.reward["runners"])[: first_done + 1]
    rewards_t = np.asarray(traj.reward["taggers"])[: first_done + 1]
    assert set(np.unique(rewards_r)) <= {-1.0, 0.0, 1.0}
    # Every tag pays the penalty to one runner and the reward to one tagger.
    np.testing.assert_allclose(rewards_t.sum(), (rewards_r == -1.0).sum())
    # The game ends exactly at t == T, or earlier when every runner has been tagged.
    assert done[29] or done.any()
    if first_done < 29:
        assert dead[first_done].all()
    # Observations stay finite and the time feature is t/T for agents in the game.
    obs = np.asarray(traj.obs["taggers"])
    assert np.all(np.isfinite(obs))
    expected_time = np.arange(1, first_done + 2)[:, None] / 30 * np.ones(num_taggers)
    np.testing.assert_allclose(obs[: first_done + 1, :, -1], expected_time, atol=1e-6)
