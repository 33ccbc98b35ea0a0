"""GAE, PPO losses, normalisation and action distributions against hand-computed numbers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from phalanx.algos.common.normalize import RunningStats
from phalanx.algos.ppo.losses import compute_gae, policy_loss, value_loss
from phalanx.envs.spaces import Box, Discrete, MultiDiscrete
from phalanx.networks import distributions as dist

col = lambda *x: jnp.asarray(x, jnp.float32)[:, None]  # noqa: E731  ([T] -> [T, 1])


def test_gae_termination_does_not_bootstrap():
    adv, ret = compute_gae(
        rewards=col(1, 2, 3), values=col(0.5, 1.0, 1.5), next_values=col(1.0, 1.5, 2.0),
        terminated=col(0, 0, 1), episode_ends=col(0, 0, 1), gamma=0.9, gae_lambda=0.8,
    )
    # δ2 = 3 − 1.5 = 1.5;  δ1 = 2 + .9·1.5 − 1 = 2.35, A1 = 2.35 + .72·1.5;  δ0 = 1 + .9 − .5 = 1.4
    expected = np.array([1.4 + 0.72 * (2.35 + 0.72 * 1.5), 2.35 + 0.72 * 1.5, 1.5])
    np.testing.assert_allclose(adv[:, 0], expected, rtol=1e-6)
    np.testing.assert_allclose(ret[:, 0], expected + np.array([0.5, 1.0, 1.5]), rtol=1e-6)


def test_gae_truncation_bootstraps_from_final_value_and_stops_there():
    adv, _ = compute_gae(
        rewards=col(1, 2, 3), values=col(0.5, 1.0, 1.5), next_values=col(1.0, 1.5, 2.0),
        terminated=col(0, 0, 0), episode_ends=col(0, 1, 0), gamma=0.9, gae_lambda=0.8,
    )
    # t=1 is truncated: δ1 bootstraps V(final)=1.5 but nothing flows back from t=2.
    np.testing.assert_allclose(adv[:, 0], [1.4 + 0.72 * 2.35, 2.35, 3 + 0.9 * 2.0 - 1.5], rtol=1e-6)


def test_policy_loss_clips_optimistic_side_only():
    mask = jnp.ones(2, bool)
    loss, kl, frac = policy_loss(jnp.log(col(1.0, 1.5)[:, 0]), jnp.zeros(2), jnp.asarray([1.0, 2.0]), 0.2, mask)
    np.testing.assert_allclose(loss, -(1.0 + 1.2 * 2.0) / 2, rtol=1e-6)
    np.testing.assert_allclose(kl, (0.5 - np.log(1.5)) / 2, rtol=1e-5)
    np.testing.assert_allclose(frac, 0.5)
    # With a negative advantage the unclipped (worse) term is kept: −1.5·(−2) = 3.
    loss, _, _ = policy_loss(jnp.log(jnp.asarray([1.5])), jnp.zeros(1), jnp.asarray([-2.0]), 0.2, jnp.ones(1, bool))
    np.testing.assert_allclose(loss, 3.0, rtol=1e-6)


def test_policy_loss_ignores_masked_agents():
    loss, _, _ = policy_loss(jnp.zeros(2), jnp.zeros(2), jnp.asarray([1.0, 100.0]), 0.2, jnp.asarray([True, False]))
    np.testing.assert_allclose(loss, -1.0)


def test_value_loss_clipped_and_unclipped():
    v, old, target = jnp.asarray([2.5]), jnp.asarray([1.0]), jnp.asarray([3.0])
    np.testing.assert_allclose(value_loss(v, old, target, 0.0, jnp.ones(1, bool)), 0.5 * 0.25)
    # Clipped prediction 1 + 0.5 = 1.5 is farther from 3: the pessimistic max is (1.5 − 3)².
    np.testing.assert_allclose(value_loss(v, old, target, 0.5, jnp.ones(1, bool)), 0.5 * 2.25)


def test_running_stats_match_numpy():
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(4, 50, 3)).astype(np.float32)
    stats = RunningStats.create((3,))
    for chunk in x:
        stats = stats.update(jnp.asarray(chunk))
    flat = x.reshape(-1, 3)
    np.testing.assert_allclose(stats.mean, flat.mean(0), rtol=1e-4)
    np.testing.assert_allclose(stats.var, flat.var(0), rtol=1e-3)
    np.testing.assert_allclose(stats.denormalize(stats.normalize(jnp.asarray(flat))), flat, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("space", [Discrete(4), MultiDiscrete((3, 5)), Box(-1.0, 1.0, (2,))])
def test_sample_log_prob_consistent_and_masks_respected(space):
    key = jax.random.PRNGKey(0)
    n = dist.num_outputs(space)
    if isinstance(space, Box):
        out, mask = (jnp.zeros((1000, n)), jnp.full((n,), -0.5)), None
    else:
        out = jax.random.normal(key, (1000, n))
        mask = jnp.ones((1000, n), bool).at[:, 1].set(False)  # action 1 (of the first head) illegal
    env_a, raw, logp = dist.sample(key, space, out, mask)
    logp2, ent = dist.log_prob_and_entropy(space, out, raw, mask)
    np.testing.assert_allclose(logp, logp2, rtol=1e-5, atol=1e-5)
    assert np.all(np.isfinite(np.asarray(ent)))
    if isinstance(space, Box):
        assert np.all(np.abs(np.asarray(env_a)) <= 1.0)
    else:
        first = np.asarray(env_a if env_a.ndim == 1 else env_a[:, 0])
        assert not np.any(first == 1)
        assert len(np.unique(first)) == (space.n if isinstance(space, Discrete) else space.nvec[0]) - 1
