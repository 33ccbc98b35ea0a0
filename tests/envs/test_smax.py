"""SMAX as the Phalanx env ``smax``: every map through check_env, both enemy modes, the battle's end
(won, lost, drawn, timed out) on hand-built states, scenarios by name, the viewer."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("jaxmarl")

import phalanx
from phalanx.envs.testing import check_env
from phalanx.envs.wrappers import AutoReset, EpisodeStatistics, episode_metric_names
from phalanx.errors import PhalanxError
from phalanx.interop.smax import SMAX, battle_state, register_scenario, scenario_names
from phalanx.interop.smax.viewer import attack_targets

FAST = ["3m", "2s3z", "3s_vs_5z", "smacv2_5_units"]
SLOW = ["25m", "3s5z", "8m", "5m_vs_6m", "10m_vs_11m", "27m_vs_30m", "3s5z_vs_3s6z", "6h_vs_8z",
        "smacv2_10_units", "smacv2_20_units"]
# JaxMARL's sizes (obs = 13 (allies - 1) + 13 enemies + 10; actions = enemies + 5).
SIZES = {"3m": (3, 3), "2s3z": (5, 5), "3s_vs_5z": (3, 5), "smacv2_5_units": (5, 5), "25m": (25, 25),
         "3s5z": (8, 8), "8m": (8, 8), "5m_vs_6m": (5, 6), "10m_vs_11m": (10, 11), "27m_vs_30m": (27, 30),
         "3s5z_vs_3s6z": (8, 9), "6h_vs_8z": (6, 8), "smacv2_10_units": (10, 10), "smacv2_20_units": (20, 20)}


def test_every_jaxmarl_map_is_a_scenario():
    from jaxmarl.environments.smax.smax_env import MAP_NAME_TO_SCENARIO

    assert set(FAST + SLOW) == set(MAP_NAME_TO_SCENARIO) <= set(scenario_names())


def _check(scenario: str) -> None:
    env = phalanx.make("smax", scenario=scenario)
    allies, enemies = SIZES[scenario]
    g = env.spec.groups["allies"]
    assert list(env.spec.groups) == ["allies"] and g.num_agents == allies and g.has_action_mask
    assert g.observation.shape == (13 * (allies - 1) + 13 * enemies + 10,) and g.action.n == enemies + 5
    assert env.spec.global_state.shape == (12 * (allies + enemies),)
    assert env.time_limit == 100
    assert check_env(env, num_steps=110) >= 1  # a whole episode: a battle decided or the time limit


@pytest.mark.parametrize("scenario", FAST)
def test_check_env_on_small_maps(scenario):
    _check(scenario)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", SLOW)
def test_check_env_on_large_maps(scenario):
    _check(scenario)


def test_learned_enemy_is_a_second_group():
    env = phalanx.make("smax", scenario="3s_vs_5z", enemy="learned")
    assert env.groups == {"allies": 3, "enemies": 5}
    assert env.spec.groups["enemies"].action.n == 3 + 5  # an enemy attacks one of the 3 allies
    assert check_env(env, num_steps=110) >= 1


def _with_units(env: SMAX, state, alive: np.ndarray, step: int = 5):
    """``state`` with only the units in ``alive`` standing (health 0 elsewhere) and the step counter at ``step``."""
    battle = battle_state(state.env_state)
    alive = jnp.asarray(alive)
    battle = battle.replace(unit_alive=alive, unit_health=jnp.where(alive, battle.unit_health, 0.0),
                            step=jnp.asarray(step, battle.step.dtype))
    inner = state.env_state
    inner = inner.replace(state=battle) if env.enemy == "heuristic" else battle
    return state.replace(env_state=inner)


def _stop(env: SMAX) -> dict:
    return {g: jnp.full((n,), 4, jnp.int32) for g, n in env.groups.items()}  # 4 = stop: nobody shoots


@pytest.mark.parametrize("enemy", ["heuristic", "learned"])
def test_a_won_battle_ends_the_episode_for_everyone_with_the_win_flag(enemy):
    env = phalanx.make("smax", scenario="3m", enemy=enemy)
    state, ts = env.reset(jax.random.PRNGKey(0))
    assert float(ts.info["win_rate"]) == 0.0
    won = _with_units(env, state, np.array([True, False, True, False, False, False]))
    _, ts = jax.jit(env.step)(jax.random.PRNGKey(1), won, _stop(env))
    assert bool(ts.done) and not bool(ts.truncated)
    assert all(bool(t.all()) for t in ts.terminated.values())  # living allies too: the battle is over
    assert float(ts.info["win_rate"]) == 1.0
    np.testing.assert_allclose(ts.reward["allies"], 1.0)  # the won-battle bonus, no damage this step
    if enemy == "learned":
        np.testing.assert_allclose(ts.reward["enemies"], -1.0)  # zero-sum self-play reward


@pytest.mark.parametrize("alive, reward", [
    ([False, False, False, True, False, True], 0.0),  # lost: no bonus for the allies
    ([False] * 6, 0.0),  # both teams wiped out on one step: a draw, no bonus
])
def test_a_lost_or_drawn_battle_is_no_win(alive, reward):
    env = phalanx.make("smax", scenario="3m")
    state, _ = env.reset(jax.random.PRNGKey(0))
    _, ts = jax.jit(env.step)(jax.random.PRNGKey(1), _with_units(env, state, np.array(alive)), _stop(env))
    assert bool(ts.done) and not bool(ts.truncated)
    assert float(ts.info["win_rate"]) == 0.0
    np.testing.assert_allclose(ts.reward["allies"], reward)


def test_the_time_limit_truncates_with_both_teams_standing():
    env = phalanx.make("smax", scenario="3m")
    state, _ = env.reset(jax.random.PRNGKey(0))
    state = _with_units(env, state, np.ones(6, bool), step=env.time_limit - 1)
    _, ts = jax.jit(env.step)(jax.random.PRNGKey(1), state, _stop(env))
    assert bool(ts.truncated) and not any(bool(t.any()) for t in ts.terminated.values())
    assert float(ts.info["win_rate"]) == 0.0


def test_episode_statistics_report_the_win_flag_at_the_episode_end():
    env = phalanx.make("smax", scenario="3m")
    assert episode_metric_names(env) == ("win_rate",)
    stats = EpisodeStatistics(AutoReset(env))
    state, ts = stats.reset(jax.random.PRNGKey(0))
    assert ts.episode.metrics == {"win_rate": 0.0}
    state = state.replace(env_state=_with_units(env, state.env_state, np.array([True] + [False] * 5)))
    _, ts = jax.jit(stats.step)(jax.random.PRNGKey(1), state, _stop(env))
    assert bool(ts.episode.completed) and float(ts.episode.metrics["win_rate"]) == 1.0
    assert float(ts.info["win_rate"]) == 1.0


def test_unknown_scenario_and_enemy_are_one_line_errors():
    with pytest.raises(PhalanxError) as err:
        phalanx.make("smax", scenario="4m")
    message = str(err.value)
    assert "\n" not in message and "'4m'" in message and "3s5z_vs_3s6z" in message and "smacv2_20_units" in message
    with pytest.raises(PhalanxError, match="heuristic, learned"):
        phalanx.make("smax", enemy="scripted")


def test_a_registered_scenario_is_a_map_by_name():
    from jaxmarl.environments.smax import Scenario

    name = "test_1s2z_vs_3m"
    if name not in scenario_names():
        register_scenario(name, Scenario(jnp.array([2, 3, 3, 0, 0, 0], jnp.uint8), 3, 3, False, False))
    env = phalanx.make("smax", scenario=name)
    state, _ = env.reset(jax.random.PRNGKey(0))
    np.testing.assert_array_equal(battle_state(state.env_state).unit_types, [2, 3, 3, 0, 0, 0])
    with pytest.raises(PhalanxError, match="exists already"):
        register_scenario("3m", Scenario(jnp.zeros(6, jnp.uint8), 3, 3, False, False))
    with pytest.raises(PhalanxError, match="lists 2 units"):
        register_scenario("test_bad", Scenario(jnp.zeros(2, jnp.uint8), 3, 3, False, False))


def test_attack_targets_follow_jaxmarl_indexing():
    # 3 allies, 2 enemies: ally action 5 + j hits enemy j (unit 3 + j); enemy action 5 + j hits ally 2 - j.
    np.testing.assert_array_equal(attack_targets(np.array([5, 6, 4, 5, 7]), 3), [3, 4, -1, 2, 0])


def test_render_writes_a_gif_of_a_battle(tmp_path, capsys):
    from PIL import Image

    from phalanx.cli import main

    out = tmp_path / "smax.gif"
    assert main(["render", "env=smax", "env.scenario=2s3z", "policy=random", "steps=4", f"out={out}"]) == 0
    assert out.stat().st_size > 0
    with Image.open(out) as im:
        assert im.n_frames >= 2
        first = np.asarray(im.convert("RGB"))
    blue = (first[..., 2] > 150) & (first[..., 0] < 100)
    red = (first[..., 0] > 150) & (first[..., 2] < 100)
    assert blue.sum() > 20 and red.sum() > 20  # both teams drawn


def test_steps_are_jaxmarls_own():
    """The adapter adds nothing to the battle: observations, rewards, masks and world state equal
    JaxMARL's HeuristicEnemySMAX (Mava's settings) stepped with the same keys and actions."""
    from jaxmarl.environments.smax import HeuristicEnemySMAX, map_name_to_scenario

    env = phalanx.make("smax", scenario="2s3z")
    lib = HeuristicEnemySMAX(scenario=map_name_to_scenario("2s3z"), see_enemy_actions=True, walls_cause_death=True,
                             attack_mode="closest")
    state, ts = env.reset(jax.random.PRNGKey(3))
    _, lib_state = lib.reset(jax.random.PRNGKey(3))
    step, lib_step = jax.jit(env.step), jax.jit(lib.step_env)
    for t in range(30):
        key = jax.random.PRNGKey(100 + t)
        actions = env.sample_actions(key, ts.action_mask)
        state, ts = step(key, state, actions)
        per_agent = {a: actions["allies"][i] for i, a in enumerate(lib.agents)}
        obs, lib_state, rew, _, _ = lib_step(key, lib_state, per_agent)
        np.testing.assert_array_equal(ts.obs["allies"], np.stack([obs[a] for a in lib.agents]))
        np.testing.assert_array_equal(ts.reward["allies"], np.stack([rew[a] for a in lib.agents]))
        np.testing.assert_array_equal(ts.global_state, obs["world_state"])
        avail = lib.get_avail_actions(lib_state)
        np.testing.assert_array_equal(ts.action_mask["allies"], np.stack([avail[a] for a in lib.agents]))
        if bool(ts.done):
            break
