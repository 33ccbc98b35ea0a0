"""LBF: scenarios and settings, Jumanji's rules on hand-built states, the start distribution, viewer."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jumanji.environments.routing.lbf.generator import RandomGenerator

import phalanx
import phalanx.envs.lbf  # registers "lbf"
from phalanx.envs.lbf import MAVA_SCENARIOS, LBFState, LevelBasedForaging, parse_scenario
from phalanx.envs.lbf.generator import sample_start
from phalanx.envs.testing import check_env
from phalanx.envs.viewers import render_frame
from phalanx.errors import PhalanxError

NOOP, UP, DOWN, LEFT, RIGHT, LOAD = range(6)


def state_of(agents, levels, food, food_levels, eaten=None, t=0) -> LBFState:
    return LBFState(
        agent_pos=jnp.asarray(agents, jnp.int32),
        agent_level=jnp.asarray(levels, jnp.int32),
        food_pos=jnp.asarray(food, jnp.int32),
        food_level=jnp.asarray(food_levels, jnp.int32),
        food_eaten=jnp.asarray([False] * len(food) if eaten is None else eaten),
        step_count=jnp.int32(t),
    )


_STEPS: dict[int, object] = {}


def act(env, state, actions, params=None):
    """One jitted step (compiled once per env object and reused across params)."""
    step = _STEPS.setdefault(id(env), jax.jit(env.step))
    return step(jax.random.PRNGKey(0), state, {"agents": jnp.asarray(actions, jnp.int32)}, params or env.default_params)


# ---------------------------------------------------------------------------- settings
@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("2s-8x8-2p-2f-coop", (8, 2, 2, 2, True)),
        ("8x8-2p-2f-coop", (8, 2, 2, None, True)),
        ("2s-10x10-3p-3f", (10, 3, 3, 2, False)),
        ("15x15-4p-5f", (15, 4, 5, None, False)),
    ],
)
def test_parse_scenario(name, want):
    s = parse_scenario(name)
    assert (s.grid_size, s.num_agents, s.num_food, s.fov, s.force_coop) == want


def test_mava_scenarios_build_with_mava_settings():
    # Mava's scenario files: fov = sight or the grid side, max_agent_level 2, time_limit 100.
    for name in MAVA_SCENARIOS:
        env = phalanx.make("lbf", scenario=name)
        s = parse_scenario(name)
        assert env.fov == (s.fov or s.grid_size)
        assert env.groups == {"agents": s.num_agents}
        assert env.spec.groups["agents"].observation.shape == (3 * (s.num_agents + s.num_food),)
        p = env.default_params
        assert (p.time_limit, p.max_agent_level, p.force_coop) == (100, 2, s.force_coop)


def test_settings_override_the_scenario():
    env = phalanx.make("lbf", scenario="2s-8x8-2p-2f-coop", grid_size=10, num_agents=3, fov=4, force_coop=False,
                       time_limit=50, grid_observation=True, global_state="full")
    assert (env.grid_size, env.num_agents, env.num_food, env.fov) == (10, 3, 2, 4)
    assert env.default_params.force_coop is False and env.default_params.time_limit == 50
    assert env.spec.groups["agents"].observation.shape == (3, 9, 9)
    assert env.spec.global_state.shape == (3 * 5 + 1,)
    assert phalanx.make("lbf", scenario="8x8-2p-2f-coop", grid_size=12).fov == 12  # no sight: sees everything


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scenario": "foo"}, "expected the pattern [<sight>s-]<W>x<H>-<players>p-<food>f[-coop]"),
        ({"scenario": "8x10-2p-2f"}, "square"),
        ({"scenario": "8x8-2p-9f"}, "do not fit"),
        ({"fov": 9}, "fov=9 is invalid"),
        ({"max_agent_level": 1}, "max_agent_level=1 is invalid"),
        ({"global_state": "world"}, "global_state='world' is invalid"),
        ({"num_agents": 2.5}, "must be an integer"),
    ],
)
def test_bad_settings_say_what_to_do(kwargs, message):
    with pytest.raises(PhalanxError) as err:
        phalanx.make("lbf", **kwargs)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"grid_observation": True, "global_state": "full"}, {"scenario": "15x15-4p-5f", "team_reward": True}],
)
def test_check_env(kwargs):
    env = phalanx.make("lbf", time_limit=20, **kwargs)
    episodes = check_env(env, num_steps=45)
    assert episodes >= 2  # the time limit is 20


# ---------------------------------------------------------------------------- rules by hand
@pytest.fixture(scope="module")
def env6():
    return LevelBasedForaging("6x6-3p-2f", max_agent_level=3, force_coop=False)


def test_moves_collisions_and_blocking(env6):
    # A0 and A1 both step onto (2, 3): both stay. A2 walks off the grid: stays.
    s = state_of([[2, 2], [2, 4], [0, 0]], [1, 1, 1], [[4, 4], [4, 1]], [2, 2])
    s2, _ = act(env6, s, [RIGHT, LEFT, UP])
    np.testing.assert_array_equal(s2.agent_pos, [[2, 2], [2, 4], [0, 0]])
    # A0 steps into A1's cell while A1 leaves it: blocked (cells are judged before moving).
    # A2 steps into uneaten food: blocked.
    s = state_of([[1, 1], [1, 2], [4, 3]], [1, 1, 1], [[4, 4], [4, 1]], [2, 2])
    s2, ts = act(env6, s, [RIGHT, RIGHT, RIGHT])
    np.testing.assert_array_equal(s2.agent_pos, [[1, 1], [1, 3], [4, 3]])
    # ... but an eaten food's cell can be entered.
    s = s.replace(food_eaten=jnp.array([True, False]))
    s2, _ = act(env6, s, [NOOP, NOOP, RIGHT])
    np.testing.assert_array_equal(s2.agent_pos[2], [4, 4])
    # The mask says the same: A2 at (4, 3) next to food (4, 4): right illegal, load legal.
    np.testing.assert_array_equal(ts.action_mask["agents"][2], [True, True, True, True, False, True])
    np.testing.assert_array_equal(ts.action_mask["agents"][0], [True, True, True, True, True, False])


def test_load_rewards_by_hand(env6):
    # Food 0 (level 3) at (3, 3); A0 (level 1) above it, A1 (level 2) left of it, A2 loads far away.
    s = state_of([[2, 3], [3, 2], [0, 0]], [1, 2, 1], [[3, 3], [1, 5]], [3, 2])
    s2, ts = act(env6, s, [LOAD, LOAD, LOAD])
    np.testing.assert_array_equal(s2.food_eaten, [True, False])
    # level × food level / (loaders' levels 3 × all food levels 5)
    np.testing.assert_allclose(ts.reward["agents"], [3 / 15, 6 / 15, 0.0], rtol=1e-6)
    assert not bool(ts.done)
    p = env6.default_params
    raw = act(env6, s, [LOAD, LOAD, LOAD], p.replace(normalize_reward=False))[1].reward["agents"]
    np.testing.assert_allclose(raw, [3.0, 6.0, 0.0])
    team = act(env6, s, [LOAD, LOAD, LOAD], p.replace(team_reward=True))[1].reward["agents"]
    np.testing.assert_allclose(team, [0.6, 0.6, 0.6], rtol=1e-6)
    # Too weak alone: nothing eaten, and with a penalty *every* agent pays penalty / (1 × 5).
    s2, ts = act(env6, s, [LOAD, NOOP, NOOP], p.replace(penalty=0.5))
    assert not bool(s2.food_eaten.any())
    np.testing.assert_allclose(ts.reward["agents"], [-0.1, -0.1, -0.1], rtol=1e-6)


def test_termination_beats_truncation_on_the_same_step(env6):
    p = env6.default_params.replace(time_limit=3)
    s = state_of([[2, 3], [0, 0], [5, 5]], [2, 1, 1], [[3, 3], [1, 1]], [2, 1], eaten=[False, True], t=2)
    _, ts = act(env6, s, [LOAD, NOOP, NOOP], p)  # the last item eaten on the time limit's step
    assert ts.terminated["agents"].all() and not bool(ts.truncated)
    _, ts = act(env6, s, [NOOP, NOOP, NOOP], p)
    assert not ts.terminated["agents"].any() and bool(ts.truncated)
    _, ts = act(env6, s.replace(step_count=jnp.int32(1)), [NOOP, NOOP, NOOP], p)
    assert not bool(ts.done)


def test_vector_and_grid_observations_by_hand():
    env = LevelBasedForaging("2s-8x8-2p-1f")
    s = state_of([[1, 1], [4, 4]], [1, 2], [[3, 3]], [3])
    obs = jax.jit(env.observe)(s).obs["agents"]
    # A0 at (1, 1): window offset min(2, (1, 1)) = (1, 1); food at (3, 3) → (3, 3); A1 is 3 away: hidden.
    np.testing.assert_array_equal(obs[0], [3, 3, 3, 1, 1, 1, -1, -1, 0])
    # A1 at (4, 4): offset (2, 2); food (3, 3) → (1, 1); itself (2, 2); A0 hidden.
    np.testing.assert_array_equal(obs[1], [1, 1, 3, 2, 2, 2, -1, -1, 0])
    grid = jax.jit(LevelBasedForaging("2s-8x8-2p-1f", grid_observation=True).observe)(s).obs["agents"][0]  # (3, 5, 5)
    assert grid[0, 2, 2] == 1 and grid[0].sum() == 1  # itself only
    assert grid[1, 4, 4] == 3 and grid[1].sum() == 3  # the food two rows and columns away
    np.testing.assert_array_equal(grid[2, 0], 0)  # row -1: off the grid
    np.testing.assert_array_equal(grid[2, :, 0], 0)  # column -1: off the grid
    assert grid[2, 1:, 1:].sum() == 16 - 2  # 4 × 4 cells on the grid, minus itself and the food


def test_params_vmap_over_time_limits():
    env = phalanx.make("lbf")
    params = jax.tree.map(lambda x: jnp.asarray([x, x]), env.default_params).replace(time_limit=jnp.array([1, 2]))

    def one(p):
        s, _ = env.reset(jax.random.PRNGKey(3), p)
        s, ts1 = env.step(jax.random.PRNGKey(0), s, {"agents": jnp.zeros(2, jnp.int32)}, p)
        return ts1.truncated

    np.testing.assert_array_equal(jax.jit(jax.vmap(one))(params), [True, False])


# ---------------------------------------------------------------------------- starts
def test_start_distribution_matches_jumanji():
    g, n, f, level, samples = 8, 3, 2, 3, 4000
    keys = jax.random.split(jax.random.PRNGKey(7), samples)
    jgen = RandomGenerator(grid_size=g, num_agents=n, num_food=f, fov=g, max_agent_level=level, force_coop=False)
    theirs = jax.device_get(jax.jit(jax.vmap(jgen))(keys))
    j_agents, j_food = theirs.agents.position, theirs.food_items.position
    j_alevel, j_flevel = theirs.agents.level, theirs.food_items.level
    ours = jax.jit(jax.vmap(lambda k: sample_start(k, g, n, f, level, False)))
    a_pos, a_level, f_pos, f_level = jax.device_get(ours(jax.random.split(jax.random.PRNGKey(8), samples)))

    for agents, food in ((a_pos, f_pos), (j_agents, j_food)):
        assert ((food > 0) & (food < g - 1)).all()  # off the edge
        assert (np.abs(food[:, 0] - food[:, 1]).sum(-1) > 1).all()  # not 4-adjacent
        cells = agents[..., 0] * g + agents[..., 1]
        assert all(len(set(c)) == n for c in cells)  # distinct
        # Jumanji's row mask: no agent stands in a row equal to either coordinate of any food.
        assert not (agents[:, :, 0, None] == food.reshape(samples, 1, 2 * f)).any()

    def freq(pos):
        return np.bincount((pos[..., 0] * g + pos[..., 1]).ravel(), minlength=g * g) / samples

    def close(p, q):
        sigma = np.sqrt(np.maximum(p * (1 - p / max(n, f)), 1e-4) * 2 / samples)
        return np.abs(p - q) <= 5 * sigma + 1e-3

    assert close(freq(a_pos), freq(j_agents)).all()
    assert close(freq(f_pos), freq(j_food)).all()
    a_hist = np.bincount(a_level.ravel(), minlength=level + 1)[1:] / (samples * n)
    j_hist = np.bincount(j_alevel.ravel(), minlength=level + 1)[1:] / (samples * n)
    np.testing.assert_allclose(a_hist, j_hist, atol=0.02)
    top = n * level + 1
    f_hist = np.bincount(f_level.ravel(), minlength=top) / (samples * f)
    np.testing.assert_allclose(f_hist, np.bincount(j_flevel.ravel(), minlength=top) / (samples * f), atol=0.02)
    # Food levels lie in [1, sum of the three lowest agent levels] (here all three agents).
    assert ((f_level >= 1) & (f_level <= a_level.sum(1, keepdims=True))).all()


def test_force_coop_food_level():
    env = LevelBasedForaging("8x8-4p-2f-coop", max_agent_level=5)
    s, _ = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(1), 64))
    lowest3 = np.sort(np.asarray(s.agent_level), axis=1)[:, :3].sum(1)
    np.testing.assert_array_equal(s.food_level, np.repeat(lowest3[:, None], 2, axis=1))
    assert len(np.unique(lowest3)) > 3  # levels really vary


# ---------------------------------------------------------------------------- viewer
def test_render_frame_draws_grid_agents_and_food():
    env = LevelBasedForaging("6x6-2p-2f")
    s = state_of([[0, 0], [5, 5]], [1, 2], [[2, 2], [3, 4]], [2, 3], eaten=[False, True])
    frame = render_frame(env, s)
    assert frame.shape == (400, 400, 3) and frame.dtype == np.uint8
    px = frame.reshape(-1, 3).astype(int)
    blue = ((px[:, 2] > 180) & (px[:, 0] < 80)).sum()
    green = ((px[:, 1] > 140) & (px[:, 0] < 80) & (px[:, 2] < 100)).sum()
    assert blue > 500 and green > 500  # two agents, one uneaten food item
    eaten_drawn = render_frame(env, s.replace(food_eaten=jnp.array([False, False]))).reshape(-1, 3).astype(int)
    green2 = ((eaten_drawn[:, 1] > 140) & (eaten_drawn[:, 0] < 80) & (eaten_drawn[:, 2] < 100)).sum()
    assert green2 > 1.5 * green  # the second item appears once it is not eaten
