"""CQL's penalty does what it is for: unseen actions end up valued below the dataset's, and QMIX+CQL's
one batched mixer call equals mixing each joint action on its own."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from phalanx.algos.offline.losses import iql_cql_loss, qmix_cql_loss
from phalanx.algos.value_based.networks import QMixer, fan_in_uniform_init


def _fit_q_table(cql_weight: float, steps: int = 300) -> np.ndarray:
    """A Q-table ``(4 states, 4 actions)`` fitted by IQL+CQL to a dataset that only ever took action 0 or 1.

    Every row ends its episode (no bootstrap) with reward 1 for action 0 and 0 for action 1; actions 2
    and 3 never appear, and the table starts with all of them valued above the data's (2.0).
    """
    states = jnp.arange(8) % 4
    actions = (jnp.arange(8) // 4)[:, None]  # (B=8, A=1): action 0 in the first half, 1 in the second
    rewards = jnp.where(actions == 0, 1.0, 0.0)
    legal = jnp.ones((8, 1, 4), bool)
    ones = jnp.ones((8, 1))

    def loss(table):
        q = table[states][:, None]  # (B, 1, 4)
        return iql_cql_loss(q, q, q, actions, legal, legal, rewards, ones, jnp.ones(8, bool), 0.99,
                            cql_weight, True)[0]

    opt = optax.adam(0.05)

    def step(carry, _):
        table, state = carry
        updates, state = opt.update(jax.grad(loss)(table), state)
        return (optax.apply_updates(table, updates), state), None

    table = jnp.full((4, 4), 2.0)
    (table, _), _ = jax.lax.scan(step, (table, opt.init(table)), None, length=steps)
    return np.asarray(table)


def test_cql_lowers_unseen_actions_below_the_datasets():
    plain, penalised = _fit_q_table(0.0), _fit_q_table(1.0)
    # Without the penalty the unseen actions keep their (too high) initial value and win the argmax.
    assert np.allclose(plain[:, 2:], 2.0) and (plain.argmax(-1) >= 2).all()
    # With it they fall below both seen actions, so the greedy action is the dataset's best one (0).
    assert (penalised[:, 2:].max(-1) < penalised[:, :2].min(-1)).all()
    assert (penalised.argmax(-1) == 0).all()


def test_qmix_cql_batched_mixer_equals_one_call_per_joint_action():
    k_q, k_mix, k_s, k_ood = jax.random.split(jax.random.PRNGKey(0), 4)
    b, n, actions_n, s, k = 5, 3, 4, 7, 3
    q = jax.random.normal(k_q, (b, n, actions_n))
    state = jax.random.normal(k_s, (b, s))
    mixer = QMixer(n, 8, 16)
    params = jax.jit(lambda k: fan_in_uniform_init(k, mixer.init(k, jnp.zeros((1, n)), jnp.zeros((1, s)))))(k_mix)
    ood = jax.random.randint(k_ood, (k, b, n), 0, actions_n)
    taken = jnp.zeros((b, n), jnp.int32)
    legal = jnp.ones((b, n, actions_n), bool)
    args = (taken, legal, ood)
    tail = (jnp.zeros(b), jnp.zeros(b, bool), jnp.ones(b, bool), 0.9, 1.0, True)
    batched = lambda qs: mixer.apply(params, qs, state)  # noqa: E731  state (B, S) for qs (K + 1, B, N)

    def one_by_one(qs):
        flat = qs.reshape(-1, b, n)
        return jnp.stack([mixer.apply(params, x, state) for x in flat]).reshape(qs.shape[:-1])

    got = jax.jit(lambda q: qmix_cql_loss(q, q, q, *args, batched, batched, *tail))(q)
    want = jax.jit(lambda q: qmix_cql_loss(q, q, q, *args, one_by_one, one_by_one, *tail))(q)
    assert np.allclose(jax.tree.leaves(got), jax.tree.leaves(want), atol=1e-5)
    assert float(got[1][1]) > 0  # the OOD actions take part: logsumexp over K + 1 values exceeds Q(a_data)


def test_time_limit_cut_bootstraps_and_terminal_does_not():
    """Rows of two episodes, one cut by the time limit, one terminal: the cut row's target bootstraps from its
    own observation (the next row is the other episode's start), the terminal row's does not bootstrap at all."""
    from phalanx.algos.offline.data import OfflineData

    obs = np.arange(6, dtype=np.float32).reshape(6, 1, 1)
    zeros = np.zeros((6, 1), np.float32)
    trunc, term = zeros.copy(), zeros.copy()
    trunc[2] = 1  # episode 1 (rows 0-2) cut by the time limit
    term[5] = 1  # episode 2 (rows 3-5) ends in a terminal state
    data = OfflineData.build(obs, zeros.astype(np.int32), zeros, term, trunc, None, np.zeros((6, 1)), {"a": (0, 1)})
    assert data.next_index.tolist() == [1, 2, 2, 4, 5, 5]
    assert data.terminals[:, 0].tolist() == [0, 0, 0, 0, 0, 1] and bool(data.td_valid.all())
    batch = data.sample(jax.random.PRNGKey(0), 64)
    row = batch.obs[:, 0, 0]
    want = jnp.where(row == 2, 2, jnp.minimum(row + 1, 5))
    np.testing.assert_array_equal(batch.next_obs[:, 0, 0], want)
    # An unfinished last row (a recording stopped mid-episode) has no target.
    term[5] = 0
    assert not bool(OfflineData.build(obs, zeros, zeros, term, trunc, None, np.zeros((6, 1)),
                                      {"a": (0, 1)}).td_valid[-1])
