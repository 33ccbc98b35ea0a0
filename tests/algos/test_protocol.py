"""Every registered learner implements the one learner protocol, fixed opponents included."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import phalanx
from phalanx.algos.common import BaseMetrics, Learner, Opponents, opponent_actions
from phalanx.algos.registry import algorithms, get_algorithm
from phalanx.errors import PhalanxError

CONTINUOUS = ("maddpg", "isac", "masac")
#: Tiny settings per learner family (field names differ between config classes).
TINY = {
    "ppo": dict(num_envs=4, num_steps=4, total_steps=32, num_minibatches=2, update_epochs=1, hidden=(8,)),
    "value_based": dict(num_envs=4, num_steps=4, total_steps=32, batch_size=4, buffer_size=64, hidden=(8,),
                        recurrent_size=0, learning_starts=0),
    "continuous": dict(num_envs=4, num_steps=4, total_steps=32, batch_size=4, buffer_size=64, warmup_steps=0,
                       hidden=(8,)),
}


def _family(algo: str) -> str:
    return "continuous" if algo in CONTINUOUS else "ppo" if algo in ("ippo", "mappo") else "value_based"


def _make(algo: str, env, learners=None, **extra) -> Learner:
    spec = get_algorithm(algo)
    fields = {f.name for f in dataclasses.fields(spec.config_cls)}
    settings = {k: v for k, v in {**TINY[_family(algo)], **extra}.items() if k in fields}
    return spec.make_train(spec.config_cls(**spec.defaults, **settings), env, learners=learners)


def _env(algo: str, **settings):
    if algo in CONTINUOUS:
        return phalanx.make("simple_adversary", continuous_actions=True, max_cycles=3, **settings)
    return phalanx.make("kuhn_poker", **settings)


ONLINE = sorted(name for name, a in algorithms().items() if not a.offline)


def test_every_learner_package_is_discovered():
    assert set(ONLINE) == {"ippo", "mappo", "iql", "vdn", "qmix", "maddpg", "isac", "masac"}
    assert {name for name, a in algorithms().items() if a.offline} == {"bc", "iql_cql", "qmix_cql", "iddpg_bc"}


@pytest.mark.parametrize("algo", sorted(a for a in algorithms() if algorithms()[a].offline))
def test_offline_learners_are_learners_that_train_every_group(algo):
    """Offline learners implement the protocol but learn from data: a ``learners=`` subset is one line."""
    # IDDPG+BC takes continuous actions only; the others take Kuhn poker's discrete ones.
    env = phalanx.make("simple_spread", continuous_actions=True) if algo == "iddpg_bc" else phalanx.make("kuhn_poker")
    spec = get_algorithm(algo)
    config = spec.config_cls(**spec.defaults)
    assert isinstance(spec.make_train(config, env), Learner)
    with pytest.raises(PhalanxError, match="train every group from the dataset"):
        spec.make_train(config, env, learners=tuple(env.spec.groups)[1:])  # all groups but the first


@pytest.mark.parametrize("algo", ONLINE)
def test_every_learner_satisfies_the_protocol(algo):
    env = _env(algo)
    groups = tuple(env.spec.groups)
    trainer = _make(algo, env)
    assert isinstance(trainer, Learner) and trainer.num_updates == 2
    state = trainer.init(jax.random.PRNGKey(0))
    state, metrics = jax.jit(trainer.update)(state)
    assert isinstance(metrics, BaseMetrics) and int(metrics.env_steps) == 16
    assert set(metrics.episode_return_sum) == set(groups)

    # Single-step act of one group: obs (E, A, ...) in, actions (E, A, ...) and hidden (E, A, H) out.
    hidden = trainer.initial_hidden(4)
    ts, first = state.timestep, jnp.ones(4, bool)
    for g in groups:
        params = trainer.policy_params(state, g)
        mask = ts.action_mask.get(g)
        act = jax.jit(lambda p, h, o, f, k, m, g=g: trainer.act(p, g, h, o, f, k, mask=m, greedy=True))
        a1, h1 = act(params, hidden[g], ts.obs[g], first, jax.random.PRNGKey(1), mask)
        a2, _ = act(params, hidden[g], ts.obs[g], first, jax.random.PRNGKey(2), mask)
        spec = env.spec.groups[g]
        assert a1.shape[:2] == (4, spec.num_agents) and h1.shape == hidden[g].shape
        np.testing.assert_array_equal(a1, a2)  # greedy: the key does not matter
        if algo in CONTINUOUS:
            assert np.all((np.asarray(a1) >= spec.action.low) & (np.asarray(a1) <= spec.action.high))
        else:
            legal = np.take_along_axis(np.asarray(mask), np.asarray(a1)[..., None], -1)
            assert legal.all()

    # One group learns; the other plays a population built from policy_params.
    learner, fixed = groups
    one = _make(algo, env, learners=(learner,))
    with pytest.raises(PhalanxError, match="needs opponents"):
        one.init(jax.random.PRNGKey(0))
    members = [{fixed: trainer.policy_params(trainer.init(jax.random.PRNGKey(k)), fixed)} for k in (5, 6)]
    opponents = Opponents.stack(members, [0.5, 0.5])
    state = one.init(jax.random.PRNGKey(1), opponents)
    state, metrics = jax.jit(one.update)(state)
    leaves = jax.tree.leaves(state.opponents.params)
    for a, b in zip(leaves, jax.tree.leaves(opponents.params), strict=True):
        np.testing.assert_array_equal(a, b)  # opponents never learn
    base = {f.name for f in dataclasses.fields(BaseMetrics)}
    per_group = [v for f, v in vars(metrics).items() if isinstance(v, dict) and f not in base]
    assert per_group and all(set(v) == {learner} for v in per_group)  # losses of the learner only
    for a, b in zip(jax.tree.leaves(one.policy_params(state, fixed)), jax.tree.leaves(members[0][fixed]), strict=True):
        np.testing.assert_array_equal(a, b)  # a fixed group's policy: member 0


@pytest.mark.parametrize("algo", ["ippo", "iql", "maddpg"])
def test_fixed_opponents_are_drawn_per_episode_from_the_mixture(algo):
    env = _env(algo)
    learner, fixed = tuple(env.spec.groups)
    full = _make(algo, env)
    members = [{fixed: full.policy_params(full.init(jax.random.PRNGKey(k)), fixed)} for k in (5, 6)]
    one = _make(algo, env, learners=(learner,), num_envs=64, num_steps=1, total_steps=64 * 12)
    state = one.init(jax.random.PRNGKey(1), Opponents.stack(members, [0.25, 0.75]))
    update = jax.jit(one.update)
    drawn, kept = [], []
    for _ in range(12):
        starts = np.asarray(state.timestep.done) | (int(state.env_steps) == 0)
        before = np.asarray(state.opponent_index)
        state, _ = update(state)
        after = np.asarray(state.opponent_index)
        drawn.append(after[starts])
        kept.append(np.array_equal(after[~starts], before[~starts]))
    assert all(kept)  # an episode keeps its member
    drawn = np.concatenate(drawn)
    assert len(drawn) > 200 and abs(drawn.mean() - 0.75) < 0.1  # drawn from the (0.25, 0.75) mixture


def _pure(params, action: int, num_actions: int):
    """Policy params whose output layer prefers ``action`` whatever the input (zero kernel, one-hot bias)."""
    def leaf(path, x):
        name = jax.tree_util.keystr(path)
        if x.shape and x.shape[-1] == num_actions and "kernel" in name:
            return jnp.zeros_like(x)
        if x.shape == (num_actions,) and "bias" in name:
            return 20.0 * jax.nn.one_hot(action, num_actions)
        return x

    return jax.tree_util.tree_map_with_path(leaf, params)


@pytest.mark.parametrize("algo", ["ippo", "iql", "qmix"])
def test_opponents_act_with_their_members_policy(algo):
    env = phalanx.make("rock_paper_scissors")
    trainer = _make(algo, env, learners=("player_0",))
    base = _make(algo, env)
    params = base.policy_params(base.init(jax.random.PRNGKey(0)), "player_1")
    opponents = Opponents.stack([{"player_1": _pure(params, a, 3)} for a in (0, 2)])  # rock, scissors
    state = trainer.init(jax.random.PRNGKey(1), opponents)
    index = jnp.array([0, 1, 1, 0])
    ts = state.timestep
    actions, _ = opponent_actions(trainer.act, opponents, index, "player_1", trainer.initial_hidden(4)["player_1"],
                                  ts.obs["player_1"], jnp.ones(4, bool), jax.random.PRNGKey(2),
                                  ts.action_mask["player_1"], greedy=True)
    np.testing.assert_array_equal(np.asarray(actions)[:, 0], [0, 2, 2, 0])
