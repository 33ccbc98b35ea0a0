"""Offline learners learn from recorded data: BC imitates a scripted policy, IQL+CQL improves on random data."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import phalanx
from phalanx.algos.offline import OfflineConfig, make_train
from phalanx.algos.offline.losses import bc_discrete_loss, cql_regulariser, qmix_cql_loss
from phalanx.evaluation import Actor, random_actor
from phalanx.runtime.data_cmd import episodes_of, rollout
from phalanx.runtime.vault import VaultWriter, load_dataset


def scripted_spread_actor(num_envs: int, num_agents: int = 3) -> Actor:
    """simple_spread: agent i walks to landmark i along its larger offset (a good policy, no learning)."""

    def act(params, group, hidden, obs, first, key, *, mask=None, greedy=False):
        i = jnp.arange(num_agents)
        dx = jnp.take_along_axis(obs, (4 + 2 * i)[None, :, None], -1)[..., 0]
        dy = jnp.take_along_axis(obs, (5 + 2 * i)[None, :, None], -1)[..., 0]
        horizontal = jnp.where(dx > 0, 2, 1)  # mpe2 moves: 0 no-op, 1 −x, 2 +x, 3 −y, 4 +y
        vertical = jnp.where(dy > 0, 4, 3)
        return jnp.where(jnp.abs(dx) > jnp.abs(dy), horizontal, vertical).astype(jnp.int32), hidden

    return Actor(act, None, jnp.zeros((num_envs, num_agents, 0)), True)


def _write(path, env, actors, episodes, epsilon=0.0, seed=0):
    writer = VaultWriter(path, env, {"env": env.name})
    rows, live = jax.device_get(jax.jit(lambda a, k: rollout(env, a, k, epsilon))(actors, jax.random.PRNGKey(seed)))
    rows, returns = episodes_of(rows, live)
    writer.write(rows, returns)
    return np.mean(returns)


def _final_return(trainer, updates=2):
    _, metrics = jax.jit(trainer.train)(jax.random.PRNGKey(0))
    m = jax.device_get(metrics)
    group = next(iter(m.episode_return_sum))
    return float(m.episode_return_sum[group][-updates:].sum() / m.episode_count[-updates:].sum())


def test_bc_imitates_a_scripted_policy_and_beats_random(tmp_path):
    env = phalanx.make("simple_spread")
    n = 64
    scripted = _write(tmp_path / "s.vlt" / "Good", env, {"agents": scripted_spread_actor(n)}, n, epsilon=0.1)
    random = _write(tmp_path / "r.vlt" / "Random", env, {"agents": random_actor(env, "agents", n)}, n, seed=1)
    assert scripted > random + 5  # the data is good: the scripted policy clearly beats random play
    data = load_dataset(tmp_path / "s.vlt", env, "simple_spread")
    config = OfflineConfig(method="bc", grad_steps=1500, grad_steps_per_update=300, num_envs=16, eval_steps=50)
    learned = _final_return(make_train(config, env, dataset=data))
    assert learned > random + 0.6 * (scripted - random), (learned, scripted, random)


def test_continuous_bc_imitates_a_scripted_policy_and_beats_random(tmp_path):
    env = phalanx.make("simple_spread", continuous_actions=True)  # Box(0, 1, (5,)): mpe2's move magnitudes
    n = 64
    discrete = scripted_spread_actor(n)
    one_hot = lambda *a, **k: (jax.nn.one_hot(discrete.act(*a, **k)[0], 5), a[2])  # noqa: E731
    scripted = _write(tmp_path / "s.vlt" / "Good", env, {"agents": Actor(one_hot, None, discrete.hidden, True)}, n)
    random = _write(tmp_path / "r.vlt" / "Random", env, {"agents": random_actor(env, "agents", n)}, n, seed=1)
    assert scripted > random + 5
    data = load_dataset(tmp_path / "s.vlt", env, "simple_spread")
    assert data.actions.shape[1:] == (3, 5) and data.legals is None
    config = OfflineConfig(method="bc", grad_steps=1500, grad_steps_per_update=300, num_envs=16, eval_steps=50)
    learned = _final_return(make_train(config, env, dataset=data))
    assert learned > random + 0.6 * (scripted - random), (learned, scripted, random)


@pytest.mark.parametrize("method", ["iql_cql", pytest.param("qmix_cql", marks=pytest.mark.slow)])  # loss: by hand
def test_q_learners_learn_the_best_joint_action_from_random_data(tmp_path, method):
    payoffs = [[1.0, 0.0, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, 0.2]]  # matching pays; random play earns 0.19
    env = phalanx.make("matrix_game", row_payoffs=payoffs, column_payoffs=payoffs)
    n = 400
    random = _write(tmp_path / "m.vlt" / "Random", env, {g: random_actor(env, g, n) for g in env.spec.groups}, n)
    assert abs(random - 0.19) < 0.06
    data = load_dataset(tmp_path / "m.vlt", env, "matrix_game")
    # CQL favours the data's frequent actions by ~cql_weight·(π − p)/p; with payoffs this small the
    # default weight 2 outweighs the gaps between the actions' values, so a lighter one here.
    config = OfflineConfig(method=method, grad_steps=1000, grad_steps_per_update=250, num_envs=16, eval_steps=4,
                           cql_weight=0.2)
    assert _final_return(make_train(config, env, dataset=data)) > 0.9


def test_cql_regulariser_and_bc_loss_by_hand():
    q = jnp.array([[[1.0, 0.0, 5.0]]])
    mask = jnp.array([[[True, True, False]]])  # the illegal action's 5.0 does not count
    assert np.isclose(float(cql_regulariser(q, jnp.array([[1]]), mask)[0, 0]), np.log(np.e + 1.0) - 0.0, atol=1e-5)
    assert np.isclose(float(bc_discrete_loss(q, jnp.array([[0]]), mask)), np.log(1 + np.exp(-1.0)), atol=1e-5)


def test_qmix_cql_loss_by_hand():
    q = jnp.array([[[1.0, 0.0], [0.0, 2.0]]])  # (B=1, A=2, n=2)
    q_next = jnp.array([[[0.0, 1.0], [3.0, 0.0]]])
    mix = lambda qs: qs.sum(-1)  # noqa: E731  (VDN as the mixer: Q_tot = sum)
    legal_all = jnp.ones((1, 2, 2), bool)
    loss, (td, cql, q_tot) = qmix_cql_loss(q, q_next, q_next, jnp.array([[0, 1]]), legal_all, jnp.array([[[1, 0]]]),
                                           mix, mix, jnp.array([1.0]), jnp.array([False]), jnp.array([True]),
                                           gamma=0.5, cql_weight=2.0, double_q=True)
    # y = 1 + 0.5 * (1 + 3) = 3 = Q_tot(s, a_data): no TD error; the OOD joint action (1, 0) mixes to 0.
    assert float(td) == 0.0 and float(q_tot) == 3.0
    assert np.isclose(float(cql), np.log(1 + np.exp(3.0)) - 3.0, atol=1e-5)
    assert np.isclose(float(loss), 2.0 * float(cql), atol=1e-6)
