"""to_pettingzoo: every registered env passes PettingZoo's own API test; names, spaces and
bookkeeping against mpe2 and the Phalanx env stepped directly."""

from __future__ import annotations

import functools
import importlib
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct
from pettingzoo.test import parallel_api_test

import phalanx
from phalanx.envs import Box, Discrete, Environment, EnvSpec, GroupSpec, MultiDiscrete, make_timestep
from phalanx.envs.viewers import render_frame
from phalanx.errors import PhalanxError
from phalanx.interop.pettingzoo_out import agent_names, singular, to_pettingzoo

# Small settings for envs whose defaults are slow to compile or step. A newly registered env
# runs with its defaults and must finish within API_TEST_BUDGET_S seconds of CPU time (not wall
# time, so a busy machine does not fail it), or the test fails and asks for an entry here.
SMALL_SETTINGS = {
    "tag": {"num_taggers": 1, "num_runners": 3, "episode_length": 20},
    "tag_grid": {"num_taggers": 2, "grid_length": 5, "episode_length": 20},
}
API_TEST_BUDGET_S = 20.0
NUM_CYCLES = 30


@functools.cache  # one env object per name: its PettingZoo views share compiled reset/step
def _small(name: str) -> Environment:
    return phalanx.make(name, **SMALL_SETTINGS.get(name, {}))


@pytest.mark.parametrize("name", phalanx.registered())
def test_parallel_api_test_passes_for_every_registered_env(name):
    t0 = time.process_time()
    env = to_pettingzoo(_small(name))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parallel_api_test(env, num_cycles=NUM_CYCLES)
    # The API test reports some violations only as warnings (an agent given data after it left...).
    from_api_test = [str(w.message) for w in caught if "pettingzoo" in w.filename]
    assert not from_api_test, from_api_test
    elapsed = time.process_time() - t0
    assert elapsed < API_TEST_BUDGET_S, (
        f"{name}: the PettingZoo API test took {elapsed:.1f}s of CPU with these settings; add small settings for it "
        "to SMALL_SETTINGS in tests/interop/test_pettingzoo_out.py"
    )


def test_singular_names():
    cases = {"taggers": "tagger", "runners": "runner", "agents": "agent", "adversaries": "adversary",
             "boxes": "box", "speaker": "speaker", "glass": "glass", "s": "s"}
    assert {k: singular(k) for k in cases} == cases


def test_agent_names_rules():
    obs, act = Box(0.0, 1.0, (1,)), Discrete(2)
    spec = EnvSpec({"player_0": GroupSpec(1, obs, act), "taggers": GroupSpec(2, obs, act),
                    "team_1": GroupSpec(2, obs, act)}, Box(0.0, 1.0, (1,)))
    assert agent_names(spec) == {"player_0": ["player_0"], "taggers": ["tagger_0", "tagger_1"],
                                 "team_1": ["team_1_0", "team_1_1"]}
    # Two groups that would singularise alike keep their full names.
    clash = EnvSpec({"agent": GroupSpec(1, obs, act), "agents": GroupSpec(2, obs, act)}, Box(0.0, 1.0, (1,)))
    assert agent_names(clash) == {"agent": ["agent_0"], "agents": ["agents_0", "agents_1"]}
    assert to_pettingzoo(phalanx.make("tag", num_taggers=2, num_runners=3)).possible_agents == [
        "tagger_0", "tagger_1", "runner_0", "runner_1", "runner_2"]


MPE2_MODULES = {"simple_spread": "simple_spread_v3", "simple_adversary": "simple_adversary_v3",
                "simple_tag": "simple_tag_v3", "simple_speaker_listener": "simple_speaker_listener_v4"}


@pytest.mark.parametrize("name", sorted(MPE2_MODULES))
def test_names_and_spaces_match_mpe2(name):
    ref = importlib.import_module(f"mpe2.{MPE2_MODULES[name]}")
    ref_env = ref.parallel_env()
    ours = to_pettingzoo(phalanx.make(name))
    assert ours.possible_agents == ref_env.possible_agents
    for a in ours.possible_agents:
        assert ours.observation_space(a).shape == ref_env.observation_space(a).shape, a
        assert ours.action_space(a) == ref_env.action_space(a), a
    assert ours.state_space.shape == ref_env.state_space.shape


def _direct_reset(env, seed):
    # The documented key stream: reset(seed=s) uses split(PRNGKey(s))[1]; each call then splits again.
    stream, key = jax.random.split(jax.random.PRNGKey(seed))
    state, ts = jax.jit(env.reset)(key)
    return stream, state, ts


@pytest.fixture(scope="module")
def tag_env():
    # A small arena and a wide tagging radius, so runners get tagged within a few steps.
    return phalanx.make("tag", num_taggers=2, num_runners=4, grid_length=2.0, tagging_distance=0.25,
                        episode_length=30)


def test_tag_episode_matches_the_jax_env_and_runners_leave(tag_env):
    env, pz = tag_env, to_pettingzoo(tag_env)
    step = jax.jit(env.step)
    names = agent_names(env.spec)
    left_mid_episode = 0
    for seed in (0, 1):
        obs, _ = pz.reset(seed=seed)
        stream, state, ts = _direct_reset(env, seed)
        assert pz.agents == pz.possible_agents
        for g, group_names in names.items():
            for i, a in enumerate(group_names):
                np.testing.assert_array_equal(obs[a], np.asarray(ts.obs[g][i]))
        np.testing.assert_array_equal(pz.state(), np.asarray(ts.global_state))
        gone: set[str] = set()
        while pz.agents:
            alive_before = list(pz.agents)
            actions = {a: pz.action_space(a).sample() for a in pz.agents}
            batch = {g: np.stack([actions.get(a, np.zeros(2, np.int64)) for a in group_names]).astype(np.int32)
                     for g, group_names in names.items()}
            stream, key = jax.random.split(stream)
            state, ts = step(key, state, batch)
            obs, rew, term, trunc, _ = pz.step(actions)
            assert set(obs) == set(rew) == set(term) == set(trunc) == set(alive_before)
            for g, group_names in names.items():
                for i, a in enumerate(group_names):
                    if a in alive_before:
                        np.testing.assert_array_equal(obs[a], np.asarray(ts.obs[g][i]))
                        assert rew[a] == pytest.approx(float(ts.reward[g][i]))
                        assert term[a] == bool(ts.terminated[g][i])
                        if g == "runners" and term[a] and not bool(ts.done):
                            assert rew[a] == pytest.approx(-1.0)  # tagged: Tag's runner penalty
            for a in alive_before:
                if term[a]:
                    gone.add(a)
            assert not gone & set(pz.agents), "a terminated agent came back"
            if pz.agents:
                assert set(pz.agents) == set(alive_before) - gone
                left_mid_episode += len(set(pz.possible_agents) - set(pz.agents))
                assert all(a in pz.agents for a in names["taggers"])  # taggers stay until the end
        assert bool(ts.done)
    assert left_mid_episode > 0, "no runner was tagged mid-episode; the test did not exercise leaving"


def test_truncation_empties_agents():
    pz = to_pettingzoo(phalanx.make("simple_spread", max_cycles=5))
    pz.reset(seed=0)
    for t in range(5):
        assert pz.agents == ["agent_0", "agent_1", "agent_2"]
        _, _, term, trunc, _ = pz.step({a: pz.action_space(a).sample() for a in pz.agents})
        assert not any(term.values())
        assert all(trunc.values()) == (t == 4)
    assert pz.agents == []
    with pytest.raises(PhalanxError, match="call reset"):
        pz.step({})


def test_bad_actions_are_clear_errors():
    pz = to_pettingzoo(_small("simple_spread"))
    pz.reset(seed=0)
    with pytest.raises(PhalanxError, match=r"no action for live agents \['agent_2'\]"):
        pz.step({"agent_0": 0, "agent_1": 0})
    with pytest.raises(PhalanxError, match="unknown agents"):
        pz.step({"agent_0": 0, "agent_1": 0, "agent_2": 0, "agent_9": 0})
    with pytest.raises(PhalanxError, match="render_mode"):
        to_pettingzoo(phalanx.make("simple_spread"), render_mode="human")
    with pytest.raises(PhalanxError, match="Phalanx Environment"):
        to_pettingzoo("simple_spread")


def test_render_rgb_array_is_the_viewer_frame():
    env = _small("simple_spread")
    pz = to_pettingzoo(env, render_mode="rgb_array")
    pz.reset(seed=3)
    frame = pz.render()
    _, state, _ = _direct_reset(env, 3)
    assert frame.dtype == np.uint8 and frame.shape[2] == 3
    np.testing.assert_array_equal(frame, render_frame(env, state))
    assert to_pettingzoo(env).render() is None  # no render_mode: nothing drawn (a warning)


@struct.dataclass
class _MaskState:
    t: jax.Array


class _Masked(Environment):
    """A tiny env with varying legal actions: at step t, action t % 3 is illegal (both groups)."""

    name = "masked_test"

    @property
    def spec(self):
        obs = Box(0.0, 10.0, (1,))
        return EnvSpec({"pickers": GroupSpec(2, obs, Discrete(3), True),
                        "pairs": GroupSpec(1, obs, MultiDiscrete((3, 2)), True)}, Box(0.0, 10.0, (1,)))

    @property
    def default_params(self):
        return None

    def _ts(self, t):
        illegal = jax.nn.one_hot(t % 3, 3) > 0
        m3 = jnp.broadcast_to(~illegal, (2, 3))
        m_pair = jnp.concatenate([~illegal, jnp.array([True, False])])[None]
        obs = {"pickers": jnp.full((2, 1), t, jnp.float32), "pairs": jnp.full((1, 1), t, jnp.float32)}
        zeros = {"pickers": jnp.zeros(2), "pairs": jnp.zeros(1)}
        term = {"pickers": jnp.zeros(2, bool), "pairs": jnp.zeros(1, bool)}
        return make_timestep(obs, {"pickers": m3, "pairs": m_pair}, zeros, term, t >= 6, t[None].astype(jnp.float32))

    def _reset(self, key, params):
        return _MaskState(jnp.int32(0)), self._ts(jnp.int32(0))

    def _step(self, key, state, actions, params):
        t = state.t + 1
        return _MaskState(t), self._ts(t)


def test_action_masks_in_infos_the_gymnasium_way():
    pz = to_pettingzoo(_Masked())
    assert pz.possible_agents == ["picker_0", "picker_1", "pair_0"]
    _, infos = pz.reset(seed=0)
    for t in range(6):
        np.testing.assert_array_equal(infos["picker_1"]["action_mask"], np.array([t % 3 != k for k in range(3)]))
        assert infos["picker_0"]["action_mask"].dtype == np.int8
        first, second = infos["pair_0"]["action_mask"]
        np.testing.assert_array_equal(first, np.array([t % 3 != k for k in range(3)]))
        np.testing.assert_array_equal(second, [1, 0])
        for _ in range(20):  # Gymnasium samples only legal actions with the mask as given
            assert pz.action_space("picker_0").sample(mask=infos["picker_0"]["action_mask"]) != t % 3
            a = pz.action_space("pair_0").sample(mask=infos["pair_0"]["action_mask"])
            assert a[0] != t % 3 and a[1] == 0
        _, _, _, _, infos = pz.step({a: pz.action_space(a).sample() for a in pz.agents})
    assert pz.agents == []


def test_env_without_masks_puts_none_in_infos():
    pz = to_pettingzoo(_small("simple_spread"))
    _, infos = pz.reset(seed=0)
    assert infos == {a: {} for a in pz.possible_agents}
