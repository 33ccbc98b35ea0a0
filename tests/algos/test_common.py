"""The pieces every learner shares, on hand-computed numbers."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from phalanx.algos.common import (
    EpisodeSums,
    Opponents,
    RunningStats,
    active_agents,
    agent_inputs,
    check_learners,
    check_opponents,
    draw_members,
    episode_starts,
    masked_mean,
)
from phalanx.envs.types import EpisodeStats, TimeStep
from phalanx.errors import PhalanxError


def _timestep(done, returns, length) -> TimeStep:
    e = len(done)
    zeros = {"g": jnp.zeros((e, 2))}
    return TimeStep(obs=zeros, action_mask={}, reward=zeros, terminated={"g": jnp.zeros((e, 2), bool)},
                    truncated=jnp.asarray(done), global_state=jnp.zeros((e, 1)), final_obs=zeros,
                    final_global_state=jnp.zeros((e, 1)),
                    episode=EpisodeStats({"g": jnp.asarray(returns, jnp.float32)}, jnp.asarray(length, jnp.int32),
                                         jnp.asarray(done)))


def test_agent_inputs_flatten_normalise_and_append_ids():
    obs = jnp.arange(12.0).reshape(1, 2, 2, 3)  # (E=1, A=2, 2, 3)
    x = agent_inputs(obs, 2, agent_id=True)
    assert x.shape == (1, 2, 6 + 2) and x.dtype == jnp.float32
    np.testing.assert_array_equal(x[0, 1], [6, 7, 8, 9, 10, 11, 0, 1])
    stats = RunningStats(jnp.full(6, 1.0), jnp.full(6, 4.0), jnp.float32(1.0))
    np.testing.assert_allclose(agent_inputs(obs, 2, stats)[0, 0], (np.arange(6.0) - 1) / 2, rtol=1e-6)


def test_episode_starts_active_agents_and_sums():
    ts = _timestep([True, False, True], [[1.0, 3.0], [5.0, 5.0], [0.0, -1.0]], [4, 2, 6])
    np.testing.assert_array_equal(episode_starts(ts, jnp.int32(8)), [True, False, True])
    np.testing.assert_array_equal(episode_starts(ts.replace(truncated=jnp.zeros(3, bool)), jnp.int32(0)), [1, 1, 1])
    terminated = jnp.array([[True, False], [True, False]])
    np.testing.assert_array_equal(active_agents(terminated, jnp.array([True, False])), [[1, 1], [0, 1]])
    sums = EpisodeSums.of(ts)  # the second env's episode has not ended: it does not count
    assert float(sums.return_sum["g"]) == (1 + 3) / 2 + (0 - 1) / 2
    assert float(sums.length_sum) == 10 and float(sums.count) == 2


def test_masked_mean_with_a_whole_batch_count():
    x, mask = jnp.float32([1.0, 2.0, 3.0, 4.0]), jnp.array([True, False, True, True])
    assert float(masked_mean(x, mask)) == pytest.approx(8 / 3)
    assert float(masked_mean(x, mask, jnp.float32(8.0))) == 1.0  # a chunk's share of a larger batch
    assert float(masked_mean(x, jnp.zeros(4, bool))) == 0.0


def test_opponents_are_checked_and_drawn_only_at_episode_starts():
    with pytest.raises(PhalanxError, match=r"learners=\['c'\]: expected a non-empty subset"):
        check_learners(("a", "b"), ("c",))
    assert check_learners(("a", "b"), None) == ("a", "b")
    opponents = Opponents.create({"b": {"w": jnp.zeros((3, 2))}})
    np.testing.assert_allclose(opponents.weights, [1 / 3] * 3)
    with pytest.raises(PhalanxError, match=r"shape \(2,\); expected \(3,\)"):
        Opponents.create({"b": {"w": jnp.zeros((3, 2))}}, [0.5, 0.5])
    with pytest.raises(PhalanxError, match="needs opponents"):
        check_opponents(("a", "b"), ("a",), None, 4)
    assert check_opponents(("a", "b"), ("a", "b"), None, 4) == (None, None)
    _, index = check_opponents(("a", "b"), ("a",), opponents, 4)
    only_last = opponents.replace(weights=jnp.float32([0.0, 0.0, 1.0]))
    starts = jnp.array([True, False, True, False])
    np.testing.assert_array_equal(draw_members(jnp.zeros(2, jnp.uint32), only_last, index, starts), [2, 0, 2, 0])
