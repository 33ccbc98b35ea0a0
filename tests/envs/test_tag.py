"""Tag: spec checks, determinism, the bugs WarpDrive's kernels have, and NumPy parity."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import phalanx
from phalanx.envs import AutoReset, EpisodeStatistics, VecEnv
from phalanx.envs.tag import Tag, TagState
from phalanx.envs.tag.reference import TagReference
from phalanx.envs.testing import assert_trees_equal, check_env, rollout
from phalanx.errors import PhalanxError


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"num_taggers": 3, "num_runners": 12, "use_full_observation": False, "num_other_agents_observed": 4,
          "obs_chunk_size": 5}],
)
def test_check_env(kwargs):
    env = phalanx.make("tag", **kwargs)
    check_env(env, num_steps=130)


def test_determinism():
    env = phalanx.make("tag", num_runners=5)
    a = rollout(env, jax.random.PRNGKey(3), 20)
    b = rollout(env, jax.random.PRNGKey(3), 20)
    c = rollout(env, jax.random.PRNGKey(4), 20)
    assert_trees_equal(a, b)
    assert not np.allclose(a.obs["runners"], c.obs["runners"])


def test_every_env_in_a_batch_starts_differently():
    env = VecEnv(phalanx.make("tag", num_taggers=2, num_runners=8), 16)
    state, _ = env.reset(jax.random.PRNGKey(0))
    pos = np.asarray(state.pos)
    assert len({pos[i].tobytes() for i in range(16)}) == 16
    # Taggers are a random subset of the ids, not always the same ones.
    assert len({np.asarray(state.tagger_ids[i]).tobytes() for i in range(16)}) > 1


def _inject(env: Tag, x, y, direction, agent_type) -> TagState:
    agent_type = jnp.asarray(agent_type, jnp.int32)
    order = jnp.argsort(agent_type, stable=True).astype(jnp.int32)
    n = env.num_agents
    return TagState(
        pos=jnp.stack([jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)], -1),
        speed=jnp.zeros(n), direction=jnp.asarray(direction, jnp.float32), acceleration=jnp.zeros(n),
        alive=jnp.ones(n, bool), agent_type=agent_type,
        tagger_ids=order[env.num_runners:], runner_ids=order[: env.num_runners], t=jnp.int32(0),
    )


def test_one_tagger_tags_two_runners_in_one_step():
    env = Tag(num_taggers=1, num_runners=3)
    # Agent 0 is the tagger; runners 1 and 2 sit within tagging distance (0.1), runner 3 far away.
    state = _inject(env, [5.0, 5.05, 4.95, 1.0], [5.0, 5.0, 5.0, 1.0], [0, 0, 0, 0], [1, 0, 0, 0])
    noop = {"taggers": jnp.zeros((1, 2), jnp.int32), "runners": jnp.zeros((3, 2), jnp.int32)}
    state, ts = env.step(jax.random.PRNGKey(0), state, noop)
    np.testing.assert_allclose(ts.reward["taggers"], [2.0])
    np.testing.assert_allclose(ts.reward["runners"], [-1.0, -1.0, 0.0])
    np.testing.assert_array_equal(ts.terminated["runners"], [True, True, False])
    assert not bool(ts.done)
    np.testing.assert_array_equal(state.alive, [True, False, False, True])


def test_runner_tagged_on_last_step_gets_no_survival_bonus():
    env = Tag(num_taggers=1, num_runners=2, episode_length=1)
    state = _inject(env, [5.0, 5.05, 1.0], [5.0, 5.0, 1.0], [0, 0, 0], [1, 0, 0])
    noop = {"taggers": jnp.zeros((1, 2), jnp.int32), "runners": jnp.zeros((2, 2), jnp.int32)}
    _, ts = env.step(jax.random.PRNGKey(0), state, noop)
    np.testing.assert_allclose(ts.reward["runners"], [-1.0, 1.0])
    assert bool(ts.done) and not bool(ts.truncated)


def _parity_episode(env: Tag, seed: int) -> tuple[int, int]:
    """Run the JAX env and the NumPy reference side by side.

    Returns (steps compared, steps where one tagger tagged two or more runners at once).
    """
    key = jax.random.PRNGKey(seed)
    state, ts = jax.jit(env.reset)(key)
    types = np.asarray(state.agent_type)
    ref = TagReference(
        env.default_params, types, env.use_full_observation, env.num_other_agents_observed,
        env.acceleration_actions, env.turn_actions,
    )
    pos = np.asarray(state.pos)
    ref_obs = ref.reset(pos[:, 0], pos[:, 1], np.asarray(state.direction))
    tagger_ids, runner_ids = np.asarray(state.tagger_ids), np.asarray(state.runner_ids)

    def ours(ts):
        out = np.zeros((env.num_agents, env.obs_dim), np.float32)
        out[tagger_ids], out[runner_ids] = ts.obs["taggers"], ts.obs["runners"]
        return out

    np.testing.assert_allclose(ours(ts), ref_obs, atol=1e-5)
    step = jax.jit(env.step)
    rng = np.random.default_rng(seed)
    nvec = env.spec.groups["runners"].action.nvec
    compared, multi, done = 0, 0, False
    while not done:
        acts = np.stack([rng.integers(0, nvec[0], env.num_agents), rng.integers(0, nvec[1], env.num_agents)], -1)
        acts = acts.astype(np.int32)
        state, ts = step(key, state, {"taggers": acts[tagger_ids], "runners": acts[runner_ids]})
        ref_obs, ref_rew, done = ref.step(acts)
        np.testing.assert_allclose(ours(ts), ref_obs, atol=1e-4, err_msg=f"obs at t={ref.t}")
        rew = np.zeros(env.num_agents, np.float32)
        rew[tagger_ids], rew[runner_ids] = ts.reward["taggers"], ts.reward["runners"]
        np.testing.assert_allclose(rew, ref_rew, atol=1e-6, err_msg=f"reward at t={ref.t}")
        assert bool(ts.done) == done, f"done at t={ref.t}"
        np.testing.assert_array_equal(np.asarray(state.alive), ref.alive.astype(bool))
        compared += 1
        multi += int(np.max(ref_rew[tagger_ids]) >= 2 * env.default_params.tag_reward_for_tagger)
    return compared, multi


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_taggers": 1, "num_runners": 10},
        # A small crowded board with a wide tagging radius: many tags, several at once.
        {"num_taggers": 3, "num_runners": 20, "grid_length": 2.0, "tagging_distance": 0.08, "episode_length": 40},
        {"num_taggers": 4, "num_runners": 16, "grid_length": 3.0, "tagging_distance": 0.05,
         "use_full_observation": False, "num_other_agents_observed": 5, "obs_chunk_size": 7},
    ],
)
def test_parity_with_numpy_reference(seed, kwargs):
    env = Tag(observe_self=False, **kwargs)  # WarpDrive's observation layout, as the reference has
    steps, _ = _parity_episode(env, seed)
    assert 1 <= steps <= env.default_params.episode_length
    if kwargs["num_runners"] == 10:  # the default board: the episode runs to the time limit
        assert steps == env.default_params.episode_length


def test_parity_covers_simultaneous_tags():
    """On a crowded board one tagger tags several runners in one step, and both sides agree."""
    env = Tag(num_taggers=2, num_runners=40, grid_length=1.0, tagging_distance=0.15, episode_length=20,
              observe_self=False)
    multi = sum(_parity_episode(env, seed)[1] for seed in range(3))
    assert multi >= 1


def test_wrappers_auto_reset_and_stats():
    env = EpisodeStatistics(AutoReset(Tag(num_runners=3, episode_length=5)))
    traj = rollout(env, jax.random.PRNGKey(0), 12)
    completed = np.asarray(traj.episode.completed)
    assert completed.sum() >= 2
    lengths = np.asarray(traj.episode.length)[completed]
    assert np.all(lengths <= 5) and np.all(lengths >= 1)
    # After an auto-reset the new obs starts at t=0 while final_obs kept the last one.
    i = int(np.argmax(completed))
    assert np.asarray(traj.obs["runners"])[i, 0, -1] == 0.0
    assert np.asarray(traj.final_obs["runners"])[i].max() != 0.0
    # Returns reported at the end equal the sum of the episode's rewards.
    first_len = int(np.asarray(traj.episode.length)[i])
    np.testing.assert_allclose(
        np.asarray(traj.episode.returns["taggers"])[i],
        np.asarray(traj.reward["taggers"])[i - first_len + 1 : i + 1].sum(0), atol=1e-6,
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_runners": 0}, "num_runners=0"),
        ({"num_runner": 3}, "Did you mean 'num_runners'"),
        ({"num_runners": "ten"}, "must be an integer"),
        ({"use_full_observation": False, "num_other_agents_observed": 50}, "num_other_agents_observed=50"),
    ],
)
def test_make_errors(kwargs, match):
    with pytest.raises(PhalanxError, match=match):
        phalanx.make("tag", **kwargs)


def test_unknown_env_lists_choices():
    with pytest.raises(PhalanxError, match=r"Registered environments: .*tag"):
        phalanx.make("tga")


def test_bad_action_shape_and_dtype():
    env = Tag(num_runners=2)
    state, _ = env.reset(jax.random.PRNGKey(0))
    bad_shape = {"taggers": jnp.zeros((1, 2), jnp.int32), "runners": jnp.zeros((2,), jnp.int32)}
    with pytest.raises(PhalanxError, match=r"actions\['runners'\] has shape \(2,\), expected \(2, 2\)"):
        env.step(jax.random.PRNGKey(0), state, bad_shape)
    bad_dtype = {"taggers": jnp.zeros((1, 2)), "runners": jnp.zeros((2, 2))}
    with pytest.raises(PhalanxError, match="expected an integer dtype"):
        jax.jit(env.step)(jax.random.PRNGKey(0), state, bad_dtype)


@pytest.mark.parametrize("full", [True, False])
def test_observe_self_appends_own_heading_and_position(full):
    """With observe_self the 6 entries before t/T are the observer's own x/L, y/L, speed, acc, cos, sin of
    heading; the rest is exactly WarpDrive's relative observation."""
    kwargs = {"num_taggers": 2, "num_runners": 5, "use_full_observation": full, "num_other_agents_observed": 3}
    with_self, without = Tag(**kwargs), Tag(observe_self=False, **kwargs)
    assert with_self.obs_dim == without.obs_dim + 6
    key = jax.random.PRNGKey(4)
    state, ts = jax.jit(with_self.reset)(key)
    _, ts_plain = jax.jit(without.reset)(key)
    acts = {g: jnp.ones((s.num_agents, 2), jnp.int32) * 3 for g, s in with_self.spec.groups.items()}
    state, ts = jax.jit(with_self.step)(key, state, acts)
    _, ts_plain = jax.jit(without.step)(key, jax.jit(without.reset)(key)[0], acts)
    L = with_self.default_params.grid_length
    for group, ids in (("taggers", state.tagger_ids), ("runners", state.runner_ids)):
        obs = np.asarray(ts.obs[group])
        plain = np.asarray(ts_plain.obs[group])
        np.testing.assert_array_equal(obs[:, :-7], plain[:, :-1])
        np.testing.assert_array_equal(obs[:, -1], plain[:, -1])
        ids = np.asarray(ids)
        alive = np.asarray(state.alive)[ids][:, None]
        d = np.asarray(state.direction)[ids]
        expected = np.stack([np.asarray(state.pos)[ids, 0] / L, np.asarray(state.pos)[ids, 1] / L,
                             np.asarray(state.speed)[ids], np.asarray(state.acceleration)[ids],
                             np.cos(d), np.sin(d)], -1) * alive
        np.testing.assert_allclose(obs[:, -7:-1], expected, atol=1e-6)
