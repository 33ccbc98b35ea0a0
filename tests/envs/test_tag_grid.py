"""Gridworld Tag: spec checks, WarpDrive's rules by hand, determinism, and NumPy parity."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import phalanx
from phalanx.envs import Discrete, VecEnv
from phalanx.envs.tag_grid import TagGrid, TagGridState
from phalanx.envs.tag_grid.reference import TagGridReference
from phalanx.envs.testing import assert_trees_equal, check_env, rollout
from phalanx.errors import PhalanxError

STAY, RIGHT, LEFT, UP, DOWN = range(5)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"use_full_observation": False}, {"num_taggers": 2, "grid_length": 3, "random_start": True}],
)
def test_check_env(kwargs):
    env = phalanx.make("tag_grid", **kwargs)
    episodes = check_env(env, num_steps=120)
    assert episodes >= 1  # the default episode length is 100


def test_spec_and_warpdrive_defaults():
    env = phalanx.make("tag_grid")
    assert env.groups == {"taggers": 10, "runners": 1}
    assert env.spec.groups["taggers"].action == Discrete(5)
    assert env.spec.groups["runners"].observation.shape == (4 * 11 + 1,)
    assert env.spec.global_state.shape == (2 * 11 + 1,)
    assert phalanx.make("tag_grid", use_full_observation=False).spec.groups["taggers"].observation.shape == (6,)
    p = env.default_params
    assert (p.grid_length, p.episode_length) == (10, 100)
    assert (p.wall_hit_penalty, p.tag_reward_for_tagger, p.tag_penalty_for_runner, p.step_cost_for_tagger) == (
        0.1, 10.0, 2.0, 0.01,
    )
    state, _ = env.reset(jax.random.PRNGKey(0))
    np.testing.assert_array_equal(state.pos[:10], np.full((10, 2), 5))  # taggers at the centre
    np.testing.assert_array_equal(state.pos[10], [0, 0])  # the runner in the corner


def test_full_observation_layout():
    env = TagGrid(num_taggers=2, grid_length=4, episode_length=8, starting_location_x=[1, 2, 3],
                  starting_location_y=[4, 0, 2])
    reset, step = jax.jit(env.reset), jax.jit(env.step)
    state, ts = reset(jax.random.PRNGKey(0))
    xs, ys, types = [0.25, 0.5, 0.75], [1.0, 0.0, 0.5], [0, 0, 1]
    np.testing.assert_allclose(ts.obs["taggers"][1], xs + ys + types + [0, 1, 0] + [0.0])
    np.testing.assert_allclose(ts.obs["runners"][0], xs + ys + types + [0, 0, 1] + [0.0])
    np.testing.assert_allclose(ts.global_state, xs + ys + [0.0])
    _, ts = step(jax.random.PRNGKey(0), state, {"taggers": jnp.array([STAY, STAY]), "runners": jnp.array([STAY])})
    assert float(ts.obs["taggers"][0, -1]) == pytest.approx(1 / 8)


def test_partial_observation_runner_sees_nearest_tagger():
    env = TagGrid(num_taggers=3, grid_length=10, use_full_observation=False,
                  starting_location_x=[9, 2, 8, 0], starting_location_y=[9, 3, 0, 0])
    _, ts = env.reset(jax.random.PRNGKey(0))
    # Tagger 1 at (2, 3) is nearest (13) to the runner at (0, 0); tagger 2 at (8, 0) is 64 away.
    np.testing.assert_allclose(ts.obs["runners"][0], [0.0, 0.0, 0.2, 0.3, 1.0, 0.0])
    np.testing.assert_allclose(ts.obs["taggers"][2], [0.8, 0.0, 0.0, 0.0, 0.0, 0.0])


def test_wall_penalty_tag_and_rewards():
    env = TagGrid(num_taggers=2, grid_length=3, starting_location_x=[3, 1, 0], starting_location_y=[3, 0, 0])
    state, _ = env.reset(jax.random.PRNGKey(0))
    key, step = jax.random.PRNGKey(0), jax.jit(env.step)
    # Tagger 0 walks into the wall at x = 3, the runner into the wall at y = 0; no tag.
    state, ts = step(key, state, {"taggers": jnp.array([RIGHT, UP]), "runners": jnp.array([DOWN])})
    np.testing.assert_array_equal(state.pos, [[3, 3], [1, 1], [0, 0]])
    np.testing.assert_allclose(ts.reward["taggers"], [-0.01 - 0.1, -0.01], rtol=1e-6)
    np.testing.assert_allclose(ts.reward["runners"], [0.01 - 0.1], rtol=1e-6)
    assert not bool(ts.done)
    # Tagger 1 steps onto the runner: every tagger gets the tag reward, the episode ends.
    state, ts = step(key, state, {"taggers": jnp.array([STAY, DOWN]), "runners": jnp.array([RIGHT])})
    np.testing.assert_array_equal(state.pos, [[3, 3], [1, 0], [1, 0]])
    np.testing.assert_allclose(ts.reward["taggers"], [10.0, 10.0])
    np.testing.assert_allclose(ts.reward["runners"], [-2.0])
    assert bool(ts.done) and not bool(ts.truncated)
    assert bool(ts.terminated["taggers"].all()) and bool(ts.terminated["runners"].all())


def test_time_limit_is_termination():
    env = phalanx.make("tag_grid", num_taggers=1, episode_length=3)
    state, _ = env.reset(jax.random.PRNGKey(0))
    still = {"taggers": jnp.array([STAY]), "runners": jnp.array([STAY])}
    step = jax.jit(env.step)
    dones = []
    for _ in range(3):
        state, ts = step(jax.random.PRNGKey(0), state, still)
        dones.append(bool(ts.done))
    assert dones == [False, False, True]
    assert not bool(ts.truncated) and bool(ts.terminated["runners"][0])
    assert float(ts.obs["runners"][0, -1]) == 1.0


def test_determinism():
    env = phalanx.make("tag_grid", num_taggers=3, grid_length=5, random_start=True)
    # ``rollout`` builds a new jit per call; one jitted closure compiles once for all three keys.
    run = jax.jit(lambda key: rollout(env, key, 30))
    a, b, c = run(jax.random.PRNGKey(3)), run(jax.random.PRNGKey(3)), run(jax.random.PRNGKey(4))
    assert_trees_equal(a, b)
    assert not np.array_equal(a.obs["runners"], c.obs["runners"])  # other start and actions


def test_random_start_batch():
    env = VecEnv(phalanx.make("tag_grid", num_taggers=3, random_start=True), 16)
    reset = jax.jit(env.reset)
    state, _ = reset(jax.random.PRNGKey(0))
    pos = np.asarray(state.pos)
    assert pos.shape == (16, 4, 2) and pos.min() >= 0 and pos.max() <= 10
    assert len({pos[i].tobytes() for i in range(16)}) == 16  # every env its own start
    again, _ = reset(jax.random.PRNGKey(0))
    np.testing.assert_array_equal(again.pos, pos)
    # WarpDrive's fixed start: every env of the batch starts the same (the reference has no randomness).
    fixed, _ = jax.jit(VecEnv(phalanx.make("tag_grid", num_taggers=3), 4).reset)(jax.random.PRNGKey(0))
    assert len({np.asarray(fixed.pos[i]).tobytes() for i in range(4)}) == 1


def test_invalid_settings():
    with pytest.raises(PhalanxError, match="num_taggers=0"):
        phalanx.make("tag_grid", num_taggers=0)
    with pytest.raises(PhalanxError, match="grid_length"):
        phalanx.make("tag_grid", grid_length=0)
    with pytest.raises(PhalanxError, match="starting_location_y is missing"):
        phalanx.make("tag_grid", num_taggers=1, starting_location_x=[0, 1])
    with pytest.raises(PhalanxError, match="expected 2 integers"):
        phalanx.make("tag_grid", num_taggers=1, starting_location_x=[0, 1, 2], starting_location_y=[0, 1, 2])
    with pytest.raises(PhalanxError, match=r"\[0, grid_length=10\]"):
        phalanx.make("tag_grid", num_taggers=1, starting_location_x=[0, 11], starting_location_y=[0, 1])
    with pytest.raises(PhalanxError, match="random_start"):
        phalanx.make("tag_grid", num_taggers=1, random_start=True, starting_location_x=[0, 1],
                     starting_location_y=[0, 1])


# ---------------------------------------------------------------------- NumPy parity
_PARITY_CONFIGS = [
    # (settings, random start cells?, probability a tagger chases the runner). Small grids and
    # chasing make tags frequent; the last config (one tagger, WarpDrive's start)
    # mostly runs to the time limit.
    ({"num_taggers": 3, "grid_length": 4, "episode_length": 25}, True, 0.1),
    ({"num_taggers": 2, "grid_length": 3, "episode_length": 20, "use_full_observation": False}, True, 0.1),
    ({"num_taggers": 4, "grid_length": 6, "episode_length": 30, "use_full_observation": False}, True, 0.1),
    ({"num_taggers": 3, "grid_length": 2, "episode_length": 12, "wall_hit_penalty": 0.3}, False, 0.05),
    ({"num_taggers": 1, "episode_length": 30}, False, 0.0),
]
_SEEDS = 5


def _assert_obs_equal(actual, desired, msg: str) -> None:
    """Equal up to a few float32 ulps: XLA's division is not always correctly rounded
    (e.g. 5/6 comes out one ulp high), while NumPy's is. Grid cells, rewards and dones are
    compared exactly."""
    np.testing.assert_allclose(actual, desired, rtol=1e-6, atol=0, err_msg=msg)


def _parity_episode(env: TagGrid, ref: TagGridReference, step, observe, rng: np.random.Generator,
                    random_start: bool, chase_prob: float) -> tuple[int, bool]:
    """Play one episode in both implementations, comparing every step.

    Returns ``(steps compared, ended by a tag)``.
    """
    n, L = env.num_agents, int(env.default_params.grid_length)
    params = env.default_params
    if random_start:
        x, y = rng.integers(0, L + 1, n), rng.integers(0, L + 1, n)
        ref_obs = ref.reset(x, y)
        state = TagGridState(pos=jnp.asarray(np.stack([x, y], -1), jnp.int32), t=jnp.int32(0))
        ts = observe(state, params)
    else:
        ref_obs = ref.reset()
        state, ts = jax.jit(env.reset)(jax.random.PRNGKey(0), params)
    _assert_obs_equal(np.concatenate([ts.obs["taggers"], ts.obs["runners"]]), ref_obs, "obs at reset")
    np.testing.assert_array_equal(np.asarray(state.pos), np.stack([ref.x, ref.y], -1))
    key = jax.random.PRNGKey(0)
    compared = 0
    while True:
        acts = rng.integers(0, 5, n)
        dx, dy = ref.x[-1] - np.asarray(ref.x[:-1]), ref.y[-1] - np.asarray(ref.y[:-1])
        chase = np.where(dx > 0, RIGHT, np.where(dx < 0, LEFT, np.where(dy > 0, UP, np.where(dy < 0, DOWN, STAY))))
        acts[:-1] = np.where(rng.random(n - 1) < chase_prob, chase, acts[:-1])
        ref_obs, ref_rew, ref_done = ref.step(acts)
        actions = {"taggers": jnp.asarray(acts[:-1], jnp.int32), "runners": jnp.asarray(acts[-1:], jnp.int32)}
        state, ts = step(key, state, actions, params)
        t = ref.t
        _assert_obs_equal(np.concatenate([ts.obs["taggers"], ts.obs["runners"]]), ref_obs, f"obs at t={t}")
        np.testing.assert_array_equal(
            np.concatenate([ts.reward["taggers"], ts.reward["runners"]]), ref_rew, err_msg=f"rewards at t={t}"
        )
        np.testing.assert_array_equal(np.asarray(state.pos), np.stack([ref.x, ref.y], -1))
        _assert_obs_equal(np.asarray(ts.global_state[-1]), np.float32(t) / np.float32(ref.episode_length), "t/T")
        assert bool(ts.done) == ref_done, f"done at t={t}"
        assert bool(ts.terminated["taggers"].all()) == ref_done and not bool(ts.truncated)
        compared += 1
        if ref_done:
            assert compared == t <= ref.episode_length
            return compared, bool(ref_rew[0] > 0)  # taggers gain only when the runner is tagged


@pytest.mark.parametrize("config", range(len(_PARITY_CONFIGS)))
def test_numpy_parity(config):
    settings, random_start, chase_prob = _PARITY_CONFIGS[config]
    env = TagGrid(**settings)
    ref = TagGridReference(**settings)
    # Params go in as traced arguments (the path a vmapped params batch takes).
    step, observe = jax.jit(env.step), jax.jit(env.observe)
    lengths, tags = [], 0
    for seed in range(_SEEDS):
        rng = np.random.default_rng(1000 * config + seed)
        n, tagged = _parity_episode(env, ref, step, observe, rng, random_start, chase_prob)
        lengths.append(n)
        tags += tagged
    assert len(lengths) == _SEEDS and min(lengths) >= 1
    # Every step of every episode was compared: a tag ends an episode early, otherwise it lasts T.
    T = env.default_params.episode_length
    assert all(n == T for n in lengths) or tags > 0
    assert sum(lengths) >= _SEEDS
    if chase_prob > 0:
        assert tags > 0, "the tag rule was never exercised"
    else:
        assert tags < _SEEDS, "the time limit was never exercised"
    print(f"config {config}: episode lengths {lengths}, {tags} ended by a tag")
