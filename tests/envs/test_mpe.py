"""MPE envs: step-by-step parity with PettingZoo's ``mpe2``, and the env contract checks."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from mpe2 import simple_adversary_v3, simple_speaker_listener_v4, simple_spread_v3, simple_tag_v3

import phalanx
from phalanx.envs.mpe import MPEEnv, MPEState
from phalanx.envs.spaces import Box
from phalanx.envs.testing import assert_trees_equal, check_env, rollout
from phalanx.errors import PhalanxError

MAX_CYCLES = 25
REFERENCE = {
    "simple_spread": simple_spread_v3,
    "simple_tag": simple_tag_v3,
    "simple_adversary": simple_adversary_v3,
    "simple_speaker_listener": simple_speaker_listener_v4,
}
# The mpe2 agent-name prefix of each Phalanx group.
PREFIX = {"agents": "agent_", "adversaries": "adversary_", "speaker": "speaker_", "listener": "listener_"}
ATOL = 1e-4  # mpe2 computes in float64, we in float32


@functools.cache
def jitted(name: str, **settings) -> tuple[MPEEnv, object]:
    """One env and one jitted ``step`` per configuration, shared by all seeds."""
    env = phalanx.make(name, **settings)
    return env, jax.jit(env.step)


def reference_goal(name: str, world) -> int:
    """The goal landmark index of an mpe2 world (0 where the scenario has none)."""
    if name == "simple_adversary":
        return world.landmarks.index(world.agents[0].goal_a)
    if name == "simple_speaker_listener":
        return world.landmarks.index(world.agents[0].goal_b)
    return 0


def copy_world(env: MPEEnv, name: str, world) -> MPEState:
    """Our state holding exactly the mpe2 world's positions, velocities, comm and goal."""
    assert all(np.all(lm.state.p_vel == 0) for lm in world.landmarks)
    return env.make_state(
        agent_pos=np.array([a.state.p_pos for a in world.agents]),
        landmark_pos=np.array([lm.state.p_pos for lm in world.landmarks]).reshape(-1, 2),
        agent_vel=np.array([a.state.p_vel for a in world.agents]),
        comm=np.array([a.state.c for a in world.agents]),
        goal=reference_goal(name, world),
    )


def agent_names(env: MPEEnv, ref) -> dict[str, list[str]]:
    """mpe2 agent names of each group, checking that mpe2's order is our group order."""
    names, i = {}, 0
    for g, n in env.groups.items():
        names[g] = ref.possible_agents[i : i + n]
        assert all(a.startswith(PREFIX[g]) for a in names[g]), (g, names[g])
        i += n
    assert i == len(ref.possible_agents)
    return names


def random_actions(env: MPEEnv, rng: np.random.Generator) -> dict[str, np.ndarray]:
    out = {}
    for g, spec in env.spec.groups.items():
        if isinstance(spec.action, Box):
            out[g] = rng.uniform(0.0, 1.0, (spec.num_agents, *spec.action.shape)).astype(np.float32)
        else:
            out[g] = rng.integers(0, spec.action.n, spec.num_agents).astype(np.int32)
    return out


def crowd(world) -> None:
    """Pull every entity towards the origin so that agents and obstacles overlap."""
    for e in world.entities:
        e.state.p_pos = e.state.p_pos * 0.15


def to_edge(world) -> None:
    """Put the good agents of simple_tag near and beyond the boundary."""
    prey = [a for a in world.agents if not a.adversary]
    for k, agent in enumerate(prey):
        agent.state.p_pos = np.array([0.93 + 0.1 * k, -1.08])


def run_parity(name: str, seed: int, continuous: bool, settings: dict, perturb=None) -> dict[str, float]:
    """Play one mpe2 episode and ours side by side; return the largest differences seen."""
    env, step = jitted(name, continuous_actions=continuous, **settings)
    ref = REFERENCE[name].parallel_env(continuous_actions=continuous, max_cycles=MAX_CYCLES, **settings)
    ref_obs, _ = ref.reset(seed=seed)
    world = ref.unwrapped.world
    if perturb is not None:
        perturb(world)
        ref_obs = {a: ref.unwrapped.observe(a) for a in ref.possible_agents}
    names = agent_names(env, ref)
    state = copy_world(env, name, world)
    ts = env.observe(state)
    rng = np.random.default_rng(seed)
    worst = {"obs": 0.0, "reward": 0.0, "state": 0.0}

    def compare(ts, ref_obs, ref_rew=None):
        for g, agents in names.items():
            want = np.stack([ref_obs[a] for a in agents])
            np.testing.assert_allclose(ts.obs[g], want, atol=ATOL, rtol=0)
            worst["obs"] = max(worst["obs"], float(np.abs(ts.obs[g] - want).max()))
            if ref_rew is not None:
                want_r = np.array([ref_rew[a] for a in agents])
                np.testing.assert_allclose(ts.reward[g], want_r, atol=ATOL, rtol=1e-5)
                worst["reward"] = max(worst["reward"], float(np.abs(ts.reward[g] - want_r).max()))
        np.testing.assert_allclose(ts.global_state, ref.unwrapped.state(), atol=ATOL, rtol=0)
        worst["state"] = max(worst["state"], float(np.abs(ts.global_state - ref.unwrapped.state()).max()))

    compare(ts, ref_obs)
    compared = 0
    for t in range(1, MAX_CYCLES + 1):
        actions = random_actions(env, rng)
        ref_actions = {a: actions[g][i] for g, agents in names.items() for i, a in enumerate(agents)}
        ref_obs, ref_rew, ref_term, ref_trunc, _ = ref.step(ref_actions)
        state, ts = step(jax.random.PRNGKey(t), state, {g: jnp.asarray(a) for g, a in actions.items()})
        compare(ts, ref_obs, ref_rew)
        assert bool(ts.truncated) == all(ref_trunc.values()) == (t == MAX_CYCLES), t
        assert not any(ref_term.values())
        assert not any(bool(x.any()) for x in ts.terminated.values())
        compared += 1
    assert compared == MAX_CYCLES and bool(ts.done) and int(state.t) == MAX_CYCLES
    return worst


TAG_2V2 = {"num_good": 2, "num_adversaries": 2, "num_obstacles": 3}
PARITY_CASES = [
    # (name, settings, seeds)
    ("simple_spread", {}, (0, 1, 2)),
    ("simple_spread", {"N": 4, "local_ratio": 0.3}, (3,)),
    ("simple_tag", {}, (0, 1, 2)),
    ("simple_tag", TAG_2V2, (3,)),
    ("simple_adversary", {}, (0, 1, 2)),
    ("simple_adversary", {"N": 3}, (3,)),
    ("simple_speaker_listener", {}, (0, 1, 2)),
]


@pytest.mark.parametrize("continuous", [False, True], ids=["discrete", "continuous"])
@pytest.mark.parametrize(("name", "settings", "seeds"), PARITY_CASES, ids=lambda x: str(x))
def test_parity_with_mpe2(name, settings, seeds, continuous):
    for seed in seeds:
        run_parity(name, seed, continuous, settings)


def test_parity_contacts_and_boundary():
    """Overlapping starts (contact forces, collision rewards) and prey beyond the boundary."""
    for continuous in (False, True):
        run_parity("simple_spread", 5, continuous, {}, perturb=crowd)
        run_parity("simple_tag", 5, continuous, {}, perturb=crowd)
        run_parity("simple_tag", 6, continuous, TAG_2V2, perturb=to_edge)
    # The crowded episodes really exercise collisions: rewards include catches / overlaps.
    ref = simple_tag_v3.parallel_env()
    ref.reset(seed=5)
    crowd(ref.unwrapped.world)
    _, rew, *_ = ref.step({a: 0 for a in ref.agents})
    assert rew["adversary_0"] >= 10 and rew["agent_0"] <= -10
    ref = simple_tag_v3.parallel_env(**TAG_2V2)
    ref.reset(seed=6)
    to_edge(ref.unwrapped.world)
    _, rew, *_ = ref.step({a: 0 for a in ref.agents})
    assert rew["agent_1"] < -1.0  # past the boundary: exp penalty


ALL = list(REFERENCE)


@pytest.mark.parametrize("name", ALL)
def test_check_env(name):
    assert check_env(phalanx.make(name), num_steps=2 * MAX_CYCLES) == 2


@pytest.mark.parametrize("name", ["simple_spread", "simple_speaker_listener"])
def test_check_env_continuous(name):
    env = phalanx.make(name, continuous_actions=True)
    assert check_env(env, num_steps=MAX_CYCLES) == 1
    _, ts = env.reset(jax.random.PRNGKey(0))
    assert ts.action_mask == {}


@pytest.mark.parametrize("name", ALL)
def test_determinism(name):
    env = phalanx.make(name)
    a = rollout(env, jax.random.PRNGKey(1), 10)
    b = rollout(env, jax.random.PRNGKey(1), 10)
    c = rollout(env, jax.random.PRNGKey(2), 10)
    assert_trees_equal(a, b)
    assert not np.allclose(a.global_state, c.global_state)


def test_reset_distribution():
    """Our random starts follow mpe2's ranges (obstacles in ±0.9, goals cover every landmark)."""
    env = phalanx.make("simple_tag")
    states, _ = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(0), 64))
    agents, obstacles = states.pos[:, :4], states.pos[:, 4:]
    assert np.abs(agents).max() <= 1.0 and np.abs(agents).max() > 0.9
    assert np.abs(obstacles).max() <= 0.9 and np.all(states.vel == 0)
    env = phalanx.make("simple_speaker_listener")
    states, ts = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(0), 64))
    assert set(np.asarray(states.goal).tolist()) == {0, 1, 2}
    assert np.all(np.asarray(ts.obs["listener"])[:, :, -3:] == 0)  # nothing said yet


def test_make_errors():
    with pytest.raises(PhalanxError, match="unknown setting 'num_prey'"):
        phalanx.make("simple_tag", num_prey=2)
    with pytest.raises(PhalanxError, match="num_good=0"):
        phalanx.make("simple_tag", num_good=0)
    with pytest.raises(PhalanxError, match="must be an integer"):
        phalanx.make("simple_tag", num_obstacles=1.5)
    with pytest.raises(PhalanxError, match=r"local_ratio=1\.5"):
        phalanx.make("simple_spread", local_ratio=1.5)
    with pytest.raises(PhalanxError, match="true or false"):
        phalanx.make("simple_adversary", continuous_actions=1)
    env = phalanx.make("simple_tag", num_good=2, num_adversaries=4, num_obstacles=0)
    assert env.groups == {"adversaries": 4, "agents": 2}


def test_simple_spread_num_agents_is_n():
    assert phalanx.make("simple_spread", num_agents=5).groups == {"agents": 5}
    with pytest.raises(PhalanxError, match="N=4 and num_agents=5 disagree"):
        phalanx.make("simple_spread", N=4, num_agents=5)
