"""LBF against Jumanji's own ``LevelBasedForaging``: whole episodes, step by step.

For each setting and several seeds, Jumanji resets; its initial state is copied into ours
(:func:`from_jumanji`); both then take identical actions (mostly legal, load-heavy so food gets
eaten, some illegal on purpose) until the episode ends, and every step must agree on the
state, observations, action masks, rewards, termination and truncation. The observation
layouts are the same (Jumanji's integers cast to float32).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jumanji.environments.routing.lbf import LevelBasedForaging as JumanjiLBF
from jumanji.environments.routing.lbf.generator import RandomGenerator
from jumanji.types import StepType

import phalanx
import phalanx.envs.lbf  # registers "lbf"
from phalanx.envs.lbf import LBFState

NUM_SEEDS = 16


def from_jumanji(state, check_ids: bool = True) -> LBFState:
    """Our state from a (possibly batched) Jumanji ``State``; agent and food ids must be in order."""
    if check_ids:
        for ids in (np.asarray(state.agents.id), np.asarray(state.food_items.id)):
            np.testing.assert_array_equal(ids, np.broadcast_to(np.arange(ids.shape[-1]), ids.shape))
    return LBFState(
        agent_pos=jnp.asarray(state.agents.position, jnp.int32),
        agent_level=jnp.asarray(state.agents.level, jnp.int32),
        food_pos=jnp.asarray(state.food_items.position, jnp.int32),
        food_level=jnp.asarray(state.food_items.level, jnp.int32),
        food_eaten=jnp.asarray(state.food_items.eaten, jnp.bool_),
        step_count=jnp.asarray(state.step_count, jnp.int32),
    )


def _pick_action(key, mask):
    """Per agent: load when legal (p=0.5), else a legal action; 15% of agents act uniformly (maybe illegally)."""
    k1, k2, k3, k4 = jax.random.split(key, 4)
    n = mask.shape[0]
    legal = jax.random.categorical(k1, jnp.where(mask, 0.0, -jnp.inf)).astype(jnp.int32)
    load = mask[:, 5] & jax.random.bernoulli(k2, 0.5, (n,))
    action = jnp.where(load, 5, legal)
    wild = jax.random.bernoulli(k3, 0.15, (n,))
    return jnp.where(wild, jax.random.randint(k4, (n,), 0, 6), action).astype(jnp.int32)


def _jumanji_episode(jenv, num_steps):
    def run(key):
        k_reset, k_act = jax.random.split(key)
        state, ts = jenv.reset(k_reset)

        def body(state_mask, k):
            state, mask = state_mask
            action = _pick_action(k, mask)
            state, ts = jenv.step(state, action)
            out = dict(
                action=action, obs=ts.observation.agents_view, mask=ts.observation.action_mask, reward=ts.reward,
                last=ts.step_type == StepType.LAST, discount=ts.discount, state=from_jumanji(state, check_ids=False),
            )
            return (state, ts.observation.action_mask), out

        _, traj = jax.lax.scan(body, (state, ts.observation.action_mask), jax.random.split(k_act, num_steps))
        return state, ts.observation, traj

    return jax.jit(jax.vmap(run))


def _our_episode(env):
    def run(state, actions):
        def body(state, a):
            state, ts = env.step(jax.random.PRNGKey(0), state, {"agents": a})
            return state, (state, ts)

        return jax.lax.scan(body, state, actions)[1]

    return jax.jit(jax.vmap(run))


CASES = {
    # Mava's default task, Jumanji's defaults otherwise (time limit 100); vector observer.
    "2s-8x8-2p-2f-coop": (dict(grid_size=8, fov=2, num_agents=2, num_food=2, force_coop=True), {}),
    # A small grid where random loaders eat several items per episode and often all of them
    # (termination); penalty, normalised rewards, grid observer with sight 2.
    "2s-6x6-3p-2f-grid-penalty": (
        dict(grid_size=6, fov=2, num_agents=3, num_food=2),
        dict(time_limit=80, penalty=0.5, grid_observation=True),
    ),
}
SLOW_CASES = {
    "6x6-3p-2f-penalty": (dict(grid_size=6, fov=6, num_agents=3, num_food=2), dict(time_limit=80, penalty=0.5)),
    "3s-10x10-3p-3f-grid-raw": (
        dict(grid_size=10, fov=3, num_agents=3, num_food=3),
        dict(time_limit=60, grid_observation=True, normalize_reward=False, penalty=0.25),
    ),
    "2s-10x10-3p-3f": (dict(grid_size=10, fov=2, num_agents=3, num_food=3), {}),
    "15x15-4p-5f-grid-2s": (
        dict(grid_size=15, fov=2, num_agents=4, num_food=5, max_agent_level=4),
        dict(grid_observation=True, penalty=0.1),
    ),
}


def _compare(name, gen_kwargs, env_kwargs, seed=0):
    gen = dict(max_agent_level=2, force_coop=False) | gen_kwargs
    jenv = JumanjiLBF(generator=RandomGenerator(**gen), **env_kwargs)
    ours = phalanx.make(
        "lbf", scenario=f"{gen['grid_size']}x{gen['grid_size']}-{gen['num_agents']}p-{gen['num_food']}f",
        fov=gen["fov"], max_agent_level=gen["max_agent_level"], force_coop=gen["force_coop"], **env_kwargs,
    )
    steps = jenv.time_limit
    keys = jax.random.split(jax.random.PRNGKey(seed), NUM_SEEDS)
    j_state0, j_obs0, jt = jax.device_get(_jumanji_episode(jenv, steps)(keys))
    state0 = from_jumanji(j_state0)
    ts0 = jax.vmap(ours.observe)(state0)
    np.testing.assert_array_equal(ts0.obs["agents"], np.asarray(j_obs0.agents_view, np.float32))
    np.testing.assert_array_equal(ts0.action_mask["agents"], j_obs0.action_mask)

    states, ts = jax.device_get(_our_episode(ours)(state0, jnp.asarray(jt["action"])))
    # Compare each env up to and including the step its episode ends (Jumanji keeps stepping after).
    last = jt["last"]  # (B, T)
    ends = np.argmax(last, axis=1)
    assert last.any(axis=1).all(), f"{name}: every episode ends within the time limit"
    stats = dict(eaten=0, terminated=0, truncated=0, negative=0)
    for b in range(NUM_SEEDS):
        upto = ends[b] + 1
        for field in ("agent_pos", "food_eaten", "step_count"):
            ours_, theirs = getattr(states, field)[b, :upto], getattr(jt["state"], field)[b, :upto]
            np.testing.assert_array_equal(ours_, theirs, err_msg=f"{name} {field} env {b}")
        np.testing.assert_array_equal(
            ts.obs["agents"][b, :upto], np.asarray(jt["obs"][b, :upto], np.float32), err_msg=f"{name} obs env {b}"
        )
        np.testing.assert_array_equal(ts.action_mask["agents"][b, :upto], jt["mask"][b, :upto], err_msg=f"{name} mask")
        np.testing.assert_allclose(ts.reward["agents"][b, :upto], jt["reward"][b, :upto], rtol=1e-6, atol=1e-7,
                                   err_msg=f"{name} reward env {b}")
        j_term = jt["last"][b, :upto, None] & (jt["discount"][b, :upto] == 0.0)
        j_trunc = jt["last"][b, :upto] & (jt["discount"][b, :upto] == 1.0).all(axis=-1)
        np.testing.assert_array_equal(ts.terminated["agents"][b, :upto], j_term, err_msg=f"{name} terminated env {b}")
        np.testing.assert_array_equal(ts.truncated[b, :upto], j_trunc, err_msg=f"{name} truncated env {b}")
        stats["eaten"] += int(jt["state"].food_eaten[b, ends[b]].sum())
        stats["terminated"] += int(j_term[-1].all())
        stats["truncated"] += int(j_trunc[-1])
        stats["negative"] += int((jt["reward"][b, :upto] < 0).sum())
    return stats


@pytest.mark.filterwarnings("ignore:scatter inputs have incompatible types")  # inside Jumanji's grid observer
@pytest.mark.parametrize("name", list(CASES))
def test_matches_jumanji(name):
    stats = _compare(name, *CASES[name])
    # The episodes must exercise what they compare: food eaten, and each kind of ending somewhere.
    assert stats["eaten"] > 0, stats
    if name == "2s-6x6-3p-2f-grid-penalty":
        assert stats["terminated"] > 0 and stats["negative"] > 0, stats
    if name == "2s-8x8-2p-2f-coop":
        assert stats["truncated"] > 0, stats


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:scatter inputs have incompatible types")
@pytest.mark.parametrize("name", list(SLOW_CASES))
@pytest.mark.parametrize("seed", [1, 2])
def test_matches_jumanji_more(name, seed):
    stats = _compare(name, *SLOW_CASES[name], seed=seed)
    assert stats["eaten"] > 0, stats
