"""PPO compiles for every kind of env and learns a small task far better than random."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import phalanx
from phalanx.algos.common import Opponents
from phalanx.algos.ppo import PPOConfig, make_train


def _returns(metrics, group: str) -> np.ndarray:
    return np.asarray(metrics.episode_return_sum[group]) / np.maximum(np.asarray(metrics.episode_count), 1)


@pytest.mark.parametrize("critic", ["ippo", "mappo"])
def test_learns_a_coordination_game(critic):
    # Matching actions pays 1, 0.5 or 0.2; random play earns (1 + .5 + .2) / 9 ≈ 0.19 per player.
    payoffs = np.diag([1.0, 0.5, 0.2])
    env = phalanx.make("matrix_game", row_payoffs=payoffs.tolist(), column_payoffs=payoffs.tolist())
    config = PPOConfig(critic=critic, total_steps=16 * 8 * 60, num_envs=16, num_steps=8, num_minibatches=2,
                       lr=3e-3, hidden=(16,), ent_coef=0.0)
    _, metrics = jax.jit(make_train(config, env).train)(jax.random.PRNGKey(0))
    final = _returns(metrics, "player_0")[-5:].mean()
    assert final > 0.4 + 0.19, f"mean return {final:.3f} does not beat random (0.19) by 0.4"


def test_seeds_vmap_and_differ():
    env = phalanx.make("simple_spread")
    trainer = make_train(PPOConfig(total_steps=4 * 32 * 2, num_envs=4, num_steps=32, hidden=(8,)), env)
    state, metrics = jax.jit(jax.vmap(trainer.train))(jax.random.split(jax.random.PRNGKey(0), 3))
    assert np.asarray(metrics.policy_loss["agents"]).shape == (3, 2)
    leaves = jax.tree.leaves(state.params)
    assert not np.allclose(leaves[0][0], leaves[0][1])


@pytest.mark.parametrize(
    ("env_name", "settings", "config"),
    [
        pytest.param("tag", {"num_runners": 3, "episode_length": 20}, {},  # multi-discrete, two groups
                     marks=pytest.mark.slow),
        ("simple_spread", {"continuous_actions": True}, {"squash": "tanh"}),  # continuous
        ("simple_speaker_listener", {}, {"recurrent_size": 8, "critic": "mappo", "normalize_obs": True,
                                         "normalize_values": True, "agent_id": True}),
    ],
)
def test_variants_compile_and_update(env_name, settings, config):
    env = phalanx.make(env_name, **settings)
    trainer = make_train(PPOConfig(total_steps=4 * 16 * 2, num_envs=4, num_steps=16, num_minibatches=2,
                                   hidden=(8,), **config), env)
    state = trainer.init(jax.random.PRNGKey(0))
    before = jax.tree.leaves(state.params)
    state, metrics = jax.jit(trainer.update)(state)
    assert int(state.env_steps) == 64
    for name in env.groups:
        assert np.isfinite(float(metrics.policy_loss[name])) and np.isfinite(float(metrics.value_loss[name]))
    assert any(not np.array_equal(a, b) for a, b in zip(before, jax.tree.leaves(state.params), strict=True))


def test_non_divisible_minibatches_is_a_clear_error():
    from phalanx.errors import ConfigError

    with pytest.raises(ConfigError, match=r"train.num_minibatches=3: num_envs × num_steps = 64"):
        PPOConfig(num_envs=4, num_steps=16, num_minibatches=3).validate()


def test_bootstrap_truncation_switch_changes_only_truncated_targets():
    """With the switch off, time-limit cuts are treated as terminal (the baselines' behaviour)."""
    env = phalanx.make("simple_spread", max_cycles=4)
    base = {"total_steps": 2 * 8 * 1, "num_envs": 2, "num_steps": 8, "num_minibatches": 1, "hidden": (8,)}
    on = make_train(PPOConfig(**base), env)
    off = make_train(PPOConfig(**base, bootstrap_truncation=False), env)
    state = on.init(jax.random.PRNGKey(0))
    _, m_on = jax.jit(on.update)(state)
    _, m_off = jax.jit(off.update)(state)
    # Same rollout, different value targets at the truncated steps ⇒ different value losses.
    assert float(m_on.value_loss["agents"]) != float(m_off.value_loss["agents"])


@pytest.mark.parametrize(
    ("env_name", "settings", "extra"),
    [
        ("simple_spread", {}, {}),  # feed-forward, IPPO
        pytest.param("tag", {"num_taggers": 2, "num_runners": 6}, {"critic": "mappo", "recurrent_size": 8},
                     marks=pytest.mark.slow),  # runners drop out; recurrent MAPPO
    ],
)
def test_chunked_gradient_equals_whole_minibatch_gradient(env_name, settings, extra):
    """grad_chunk cuts a minibatch into slices and sums their gradients: same update (to float rounding)."""
    env = phalanx.make(env_name, **settings)
    base = dict(num_envs=4, num_steps=8, num_minibatches=2, update_epochs=2, total_steps=64, **extra)
    whole = make_train(PPOConfig(grad_chunk=0, **base), env)
    chunked = make_train(PPOConfig(grad_chunk=1, **base), env)  # one sequence per chunk
    rows = 2 if extra.get("recurrent_size") else 16
    assert chunked._num_chunks(rows, 8 if extra.get("recurrent_size") else 1) == rows
    state = jax.jit(whole.init)(jax.random.PRNGKey(3))
    s_whole, m_whole = jax.jit(whole.update)(state)
    s_chunk, m_chunk = jax.jit(chunked.update)(state)
    def max_diff(a, b):
        return max(float(np.abs(np.asarray(x) - np.asarray(y)).max()) for x, y in zip(a, b, strict=True))

    flat_w = jax.tree.leaves(s_whole.params)
    moved = max_diff(flat_w, jax.tree.leaves(state.params))
    diff = max_diff(flat_w, jax.tree.leaves(s_chunk.params))
    assert moved > 1e-4  # the update did something
    assert diff < 1e-3 * moved
    for k in ("policy_loss", "value_loss", "entropy"):
        for g, value in getattr(m_whole, k).items():
            np.testing.assert_allclose(getattr(m_chunk, k)[g], value, rtol=1e-4, atol=1e-6)


def _pure_actor(actor: dict, action: int, num_actions: int) -> dict:
    """Actor params that play ``action`` (almost) surely: zero output weights, a large bias."""
    out = dict(actor["params"]["Dense_0"])
    out = {"kernel": out["kernel"] * 0.0, "bias": 20.0 * jax.nn.one_hot(action, num_actions)}
    return {"params": {**actor["params"], "Dense_0": out}}


@pytest.mark.parametrize(("weights", "best"), [((1.0, 0.0), 1), ((0.0, 1.0), 0), ((0.2, 0.8), 0)])
def test_best_response_against_a_fixed_opponent_mixture(weights, best):
    """player_0 learns; player_1 is drawn per episode from {rock, scissors} with the given weights."""

    env = phalanx.make("rock_paper_scissors")  # actions: 0 rock, 1 paper, 2 scissors
    config = PPOConfig(num_envs=32, num_steps=4, num_minibatches=2, total_steps=32 * 4 * 40, lr=3e-3, ent_coef=0.0)
    trainer = make_train(config, env, learners=("player_0",))
    base = trainer.policy.init(jax.random.PRNGKey(0))["player_1"]["actor"]
    members = [_pure_actor(base, a, 3) for a in (0, 2)]
    opponents = Opponents.stack([{"player_1": {"actor": m, "obs_stats": None}} for m in members], weights)
    state = trainer.init(jax.random.PRNGKey(1), opponents)
    state, metrics = jax.jit(lambda s: jax.lax.scan(lambda s, _: trainer.update(s), s, None, length=40))(state)
    assert set(metrics.policy_loss) == {"player_0"}  # only the learner has losses
    # The opponent's own parameters never move; the learner's policy ends on the best response.
    np.testing.assert_array_equal(jax.tree.leaves(state.opponents)[0], jax.tree.leaves(opponents)[0])
    returns = _returns(metrics, "player_0")
    expected = {1: weights[0] * 1 + weights[1] * -1, 0: weights[0] * 0 + weights[1] * 1}[best]
    random_play = 0.0  # a uniform player_0 wins, draws and loses equally often against anything
    assert returns[-5:].mean() > random_play + 0.5 * expected  # far above random, close to the best response


def test_learners_must_be_groups_of_the_env():
    from phalanx.errors import PhalanxError

    env = phalanx.make("rock_paper_scissors")
    with pytest.raises(PhalanxError, match=r"learners=\['player_2'\]: expected a non-empty subset"):
        make_train(PPOConfig(num_envs=4, num_steps=4, total_steps=16, num_minibatches=2), env, learners=("player_2",))
    trainer = make_train(PPOConfig(num_envs=4, num_steps=4, total_steps=16, num_minibatches=2), env,
                         learners=("player_0",))
    with pytest.raises(PhalanxError, match="needs opponents"):
        trainer.init(jax.random.PRNGKey(0))
