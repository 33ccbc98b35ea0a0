"""RWARE against Jumanji's ``RobotWarehouse`` itself: same start, same actions, every step compared.

Jumanji's episodes run as a jitted ``lax.scan`` (``vmap``-ped over seeds) with random actions drawn
from its own action masks; its start states are converted into ours and the recorded actions
replayed through our env. Observations, action masks, rewards, termination (collision) and
truncation (time limit), and the whole state, must agree at every step up to and including the
step each episode ends. Hand-built situations (sequential-write quirks) are converted the other
way, from our state into Jumanji's.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jumanji.environments.routing.robot_warehouse import RobotWarehouse
from jumanji.environments.routing.robot_warehouse import utils as jumanji_utils
from jumanji.environments.routing.robot_warehouse.generator import RandomGenerator
from jumanji.environments.routing.robot_warehouse.types import Agent, Position, Shelf
from jumanji.environments.routing.robot_warehouse.types import State as JumanjiState

import phalanx
import phalanx.envs.rware
from phalanx.envs.rware import Rware, RwareState

FORWARD, TOGGLE = 1, 4


def jumanji_env(env: Rware, time_limit: int) -> RobotWarehouse:
    """Jumanji's RobotWarehouse with ``env``'s floor, agents, sensor range and queue."""
    generator = RandomGenerator(
        shelf_rows=env.shelf_rows, shelf_columns=env.shelf_columns, column_height=env.column_height,
        num_agents=env.num_agents, sensor_range=env.sensor_range, request_queue_size=env.request_queue_size,
    )
    return RobotWarehouse(generator=generator, time_limit=time_limit)


def from_jumanji(js: JumanjiState) -> RwareState:
    """Our state holding exactly Jumanji's grid, agents, requests, step count and key."""
    return RwareState(
        agent_pos=jnp.stack([js.agents.position.x, js.agents.position.y], axis=-1).astype(jnp.int32),
        agent_dir=js.agents.direction.astype(jnp.int32),
        carrying=js.agents.is_carrying.astype(jnp.bool_),
        agent_grid=js.grid[1].astype(jnp.int32),
        shelf_grid=js.grid[0].astype(jnp.int32),
        requested=js.shelves.is_requested.astype(jnp.bool_),
        t=js.step_count.astype(jnp.int32),
        key=js.key,
    )


def to_jumanji(s: RwareState) -> JumanjiState:
    """Jumanji's state for one of ours (shelf positions read off the shelf grid)."""
    shelf_grid = np.asarray(s.shelf_grid)
    cells = np.argwhere(shelf_grid > 0)
    order = np.argsort(shelf_grid[cells[:, 0], cells[:, 1]])
    cells = cells[order]
    grid = jnp.stack([jnp.asarray(shelf_grid), jnp.asarray(s.agent_grid)]).astype(jnp.int32)
    agents = Agent(
        position=Position(x=jnp.asarray(s.agent_pos[:, 0], jnp.int32), y=jnp.asarray(s.agent_pos[:, 1], jnp.int32)),
        direction=jnp.asarray(s.agent_dir, jnp.int32),
        is_carrying=jnp.asarray(s.carrying, jnp.int32),
    )
    shelves = Shelf(
        position=Position(x=jnp.asarray(cells[:, 0], jnp.int32), y=jnp.asarray(cells[:, 1], jnp.int32)),
        is_requested=jnp.asarray(s.requested, jnp.float32),
    )
    return JumanjiState(
        grid=grid, agents=agents, shelves=shelves,
        request_queue=jnp.asarray(np.flatnonzero(np.asarray(s.requested)), jnp.int32),
        step_count=jnp.asarray(s.t, jnp.int32),
        action_mask=jumanji_utils.compute_action_mask(grid, agents),
        key=s.key,
    )


def jumanji_collision(js: JumanjiState, num_agents: int) -> jax.Array:
    """Jumanji's own collision test on its state (some agent's cell shows another id)."""
    check = jax.vmap(functools.partial(jumanji_utils.is_collision, js.grid))
    return jnp.any(check(js.agents, jnp.arange(num_agents)))


@functools.cache
def rollouts(scenario: str, time_limit: int, num_steps: int, masked: bool):
    """Jitted, seed-``vmap``-ped rollouts of Jumanji (random actions) and of ours (replaying them)."""
    env = phalanx.make("rware", scenario=scenario, time_limit=time_limit)
    jenv = jumanji_env(env, time_limit)
    n = env.num_agents

    def jumanji_body(carry, xs):
        state, mask = carry
        key, forced = xs
        if masked:
            sampled = jax.random.categorical(key, jnp.where(mask, 0.0, -jnp.inf)).astype(jnp.int32)
        else:  # any action: illegal ones must be played as no-ops by both
            sampled = jax.random.randint(key, (n,), 0, 5, jnp.int32)
        actions = jnp.where(forced >= 0, forced, sampled)
        state, ts = jenv.step(state, actions)
        out = {
            "actions": actions, "obs": ts.observation.agents_view, "mask": ts.observation.action_mask,
            "reward": ts.reward, "done": ts.last(), "collision": jumanji_collision(state, n),
            "state": from_jumanji(state),
        }
        return (state, ts.observation.action_mask), out

    @jax.jit
    @functools.partial(jax.vmap, in_axes=(0, 0, None))
    def run_jumanji(start, key, forced):
        _, out = jax.lax.scan(jumanji_body, (start, start.action_mask), (jax.random.split(key, num_steps), forced))
        return out

    def ours_body(state, actions):
        state, ts = env.step(jax.random.PRNGKey(0), state, {"agents": actions})
        out = {
            "obs": ts.obs["agents"], "mask": ts.action_mask["agents"], "reward": ts.reward["agents"],
            "terminated": ts.terminated["agents"], "truncated": ts.truncated, "global_state": ts.global_state,
            "state": state,
        }
        return state, out

    @jax.jit
    @jax.vmap
    def run_ours(start, actions):
        return jax.lax.scan(ours_body, start, actions)[1]

    return env, jenv, run_jumanji, run_ours


def assert_match(what: str, mine: np.ndarray, theirs: np.ndarray, compared: np.ndarray) -> None:
    """``mine == theirs`` at every compared ``(env, step)`` (``compared``: ``(B, T)`` bool); names the first miss."""
    B, T = compared.shape
    differs = (np.asarray(mine) != np.asarray(theirs)).reshape(B, T, -1).any(axis=-1) & compared
    if differs.any():
        b, t = np.argwhere(differs)[0]
        raise AssertionError(f"{what} differs first at env {b}, step {t}:\n"
                             f"ours    {mine[b, t]}\nJumanji {theirs[b, t]}")


def compare_episodes(scenario, time_limit, num_steps, starts, seed, masked=True, forced=None):
    """Run both envs from the Jumanji ``starts`` (batched) and compare every step of every episode.

    Returns one ``(how it ended, length, team return)`` per episode.
    """
    env, _, run_jumanji, run_ours = rollouts(scenario, time_limit, num_steps, masked)
    batch, n = jax.tree.leaves(starts)[0].shape[0], env.num_agents
    if forced is None:
        forced = -np.ones((num_steps, n), np.int32)
    ref = jax.device_get(run_jumanji(starts, jax.random.split(jax.random.PRNGKey(seed), batch), jnp.asarray(forced)))
    ours = jax.device_get(run_ours(jax.vmap(from_jumanji)(starts), jnp.asarray(ref["actions"])))
    assert ref["done"].any(axis=1).all(), "every compared episode must end within num_steps"
    last = np.argmax(ref["done"], axis=1)  # (B,) the step each episode ends
    steps = np.arange(num_steps)[None, :]
    compared = steps <= last[:, None]  # (B, T): up to and including the last step
    ends_here = steps == last[:, None]
    collision = ref["collision"] & ends_here
    assert_match("observation", ours["obs"], ref["obs"], compared)
    assert_match("action mask", ours["mask"], ref["mask"], compared)
    assert_match("reward", ours["reward"], np.repeat(ref["reward"][..., None], n, axis=-1), compared)
    assert_match("terminated", ours["terminated"], np.repeat(collision[..., None], n, axis=-1), compared)
    assert_match("truncated", ours["truncated"], ends_here & ~collision, compared)
    assert_match("global state", ours["global_state"], ref["obs"].reshape(batch, num_steps, -1), compared)
    for field in RwareState.__dataclass_fields__:
        assert_match(f"state.{field}", getattr(ours["state"], field), getattr(ref["state"], field), compared)
    rewards = np.where(compared, ref["reward"], 0.0).sum(axis=1)
    return [("collision" if collision[b].any() else "time limit", int(last[b]) + 1, float(rewards[b]))
            for b in range(batch)]


@functools.cache
def jumanji_reset(scenario: str):
    """Jitted, ``vmap``-ped Jumanji reset returning ``(its state, our conversion, its timestep)``."""
    jenv = jumanji_env(phalanx.make("rware", scenario=scenario), 500)

    def reset(key):
        state, ts = jenv.reset(key)
        return state, from_jumanji(state), ts

    return jax.jit(jax.vmap(reset))


def jumanji_starts(scenario: str, seeds) -> JumanjiState:
    """Jumanji's start states for ``seeds`` (batched); the time limit lives in the env, not the state."""
    return jumanji_reset(scenario)(jnp.stack([jax.random.PRNGKey(s) for s in seeds]))[0]


FAST = ("tiny-4ag", 100, 100)  # scenario, time limit, steps: shared by the fast tests (one compilation)
BATCH = 8


@pytest.mark.parametrize("scenario", ["tiny-4ag", pytest.param("small-4ag", marks=pytest.mark.slow),
                                      pytest.param("medium-6ag", marks=pytest.mark.slow)])
def test_reset_draws_jumanjis_start(scenario):
    """``reset(key)`` replays Jumanji's generator draw for draw: same start state and first timestep."""
    env = phalanx.make("rware", scenario=scenario)
    keys = jnp.stack([jax.random.PRNGKey(s) for s in range(BATCH)])
    _, converted, jts = jumanji_reset(scenario)(keys)
    ours, ts = jax.jit(jax.vmap(env.reset))(keys)
    for field in RwareState.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(ours, field), getattr(converted, field), err_msg=field)
    np.testing.assert_array_equal(ts.obs["agents"], jts.observation.agents_view)
    np.testing.assert_array_equal(ts.action_mask["agents"], jts.observation.action_mask)
    assert len({tuple(np.asarray(p).ravel()) for p in ours.agent_pos}) == BATCH  # every seed starts elsewhere


def test_random_episodes_match_jumanji():
    """Whole tiny-4ag episodes with masked random actions, ended by collisions and by the time limit."""
    scenario, time_limit, num_steps = FAST
    ends = compare_episodes(scenario, time_limit, num_steps, jumanji_starts(scenario, range(BATCH)), seed=1)
    kinds = [kind for kind, _, _ in ends]
    assert "collision" in kinds and "time limit" in kinds, ends  # both ways of ending were compared


@pytest.mark.slow
@pytest.mark.parametrize("scenario, masked", [
    ("tiny-2ag", True), ("tiny-4ag", True), ("tiny-4ag-easy", True), ("small-4ag", True), ("medium-6ag", True),
    ("large-8ag", True), ("tiny-4ag", False),
])
def test_full_length_episodes_match_jumanji(scenario, masked):
    """Jumanji's default 500-step limit, 16 seeds, more sizes; unmasked actions play illegal moves as no-ops."""
    ends = compare_episodes(scenario, 500, 500, jumanji_starts(scenario, range(100, 116)), seed=2, masked=masked)
    assert len(ends) == 16


def ready_to_deliver(js: JumanjiState, env: Rware, index: int) -> JumanjiState | None:
    """Jumanji's start ``js`` with agent 0 above goal ``index``, facing it, carrying a requested shelf.

    Returns None when another agent stands on the goal or the cell above it.
    """
    goal = tuple(int(v) for v in env.layout.goals[index])
    above = (goal[0] - 1, goal[1])
    grid = np.array(js.grid)
    if grid[1][above] not in (0, 1) or grid[1][goal] not in (0, 1):
        return None
    shelf = int(js.request_queue[0])
    home = (int(js.shelves.position.x[shelf]), int(js.shelves.position.y[shelf]))
    grid[0][home], grid[0][above] = 0, shelf + 1
    old = (int(js.agents.position.x[0]), int(js.agents.position.y[0]))
    grid[1][old], grid[1][above] = 0, 1
    agents = Agent(
        position=Position(x=js.agents.position.x.at[0].set(above[0]), y=js.agents.position.y.at[0].set(above[1])),
        direction=js.agents.direction.at[0].set(2),  # down, onto the goal
        is_carrying=js.agents.is_carrying.at[0].set(1),
    )
    shelves = js.shelves._replace(position=Position(
        x=js.shelves.position.x.at[shelf].set(above[0]), y=js.shelves.position.y.at[shelf].set(above[1])))
    grid = jnp.asarray(grid)
    return js.replace(grid=grid, agents=agents, shelves=shelves,
                      action_mask=jumanji_utils.compute_action_mask(grid, agents))


def test_deliveries_and_new_requests_match_jumanji():
    """Agent 0 delivers a requested shelf on step 1, then random play: rewards, new requests and keys agree."""
    scenario, time_limit, num_steps = FAST
    env = phalanx.make("rware", scenario=scenario)
    starts = []
    for first in range(200, 200 + 4 * BATCH, BATCH):  # batches of BATCH seeds: one compiled reset
        batch = jumanji_starts(scenario, range(first, first + BATCH))
        for b in range(BATCH):
            ready = ready_to_deliver(jax.tree.map(lambda x, b=b: x[b], batch), env, index=b % 2)
            if ready is not None:
                starts.append(ready)
    starts = jax.tree.map(lambda *xs: jnp.stack(xs), *starts[:BATCH])
    forced = -np.ones((num_steps, env.num_agents), np.int32)
    forced[0, 0] = FORWARD
    ends = compare_episodes(scenario, time_limit, num_steps, starts, seed=3, forced=forced)
    assert all(team_return >= 1 for _, _, team_return in ends), ends  # every episode delivered


@functools.cache
def jitted_steps(scenario: str):
    env = phalanx.make("rware", scenario=scenario)
    return env, jax.jit(jumanji_env(env, 500).step), jax.jit(env.step)


@pytest.mark.parametrize("name, agents, actions", [
    # Agent 0 follows agent 1 into its cell. Jumanji moves agent 0 first: it overwrites agent 1,
    # whose departure then clears the cell, so agent 0 is lost from the grid: a collision.
    ("follower first", {"agent_pos": [(0, 3), (0, 4)], "agent_dir": [1, 1]}, [FORWARD, FORWARD]),
    ("leader first", {"agent_pos": [(0, 4), (0, 3)], "agent_dir": [1, 1]}, [FORWARD, FORWARD]),
    ("swap", {"agent_pos": [(0, 3), (0, 4)], "agent_dir": [1, 3]}, [FORWARD, FORWARD]),
    ("same cell", {"agent_pos": [(0, 3), (0, 5)], "agent_dir": [1, 3]}, [FORWARD, FORWARD]),
    ("into a standing agent", {"agent_pos": [(0, 3), (0, 4)], "agent_dir": [1, 0]}, [FORWARD, 0]),
    # Agent 0 carries a shelf into the highway cell where agent 1 toggles load: agent 1 finds the
    # shelf carried in before its turn and picks it up (a collision, seen in the last observation).
    ("pick up a shelf carried in", {"agent_pos": [(1, 2), (1, 3)], "agent_dir": [1, 0], "carrying": [True, False]},
     [FORWARD, TOGGLE]),
    ("carried in after my turn", {"agent_pos": [(1, 3), (1, 2)], "agent_dir": [0, 1], "carrying": [False, True]},
     [TOGGLE, FORWARD]),
])
def test_sequential_write_quirks_match_jumanji(name, agents, actions):
    env, jumanji_step, step = jitted_steps("tiny-2ag")
    ours = env.make_state(**agents)
    js = to_jumanji(ours)
    for field in RwareState.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(ours, field), getattr(from_jumanji(js), field), err_msg=field)
    a = jnp.asarray(actions, jnp.int32)
    js2, jts = jumanji_step(js, a)
    ours2, ts = step(jax.random.PRNGKey(0), ours, {"agents": a})
    np.testing.assert_array_equal(ts.obs["agents"], jts.observation.agents_view, err_msg=name)
    np.testing.assert_array_equal(ts.action_mask["agents"], jts.observation.action_mask, err_msg=name)
    for field in RwareState.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(ours2, field), getattr(from_jumanji(js2), field), err_msg=name)
    collision = bool(jumanji_collision(js2, env.num_agents))
    assert bool(ts.terminated["agents"].all()) == collision == bool(jts.last())
    assert collision == (name != "leader first"), name
    if name == "pick up a shelf carried in":
        assert bool(ours2.carrying[1])  # the quirk really happened
