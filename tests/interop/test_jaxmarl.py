"""from_jaxmarl: JaxMARL envs through the Phalanx contract, step for step equal to the library's own."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("jaxmarl")

from phalanx.envs import from_jaxmarl, make, wrap_for_training
from phalanx.envs.testing import check_env
from phalanx.errors import PhalanxError

CASES = [("MPE_simple_spread_v3", {}), ("SMAX", {"scenario": "3m"}), ("HeuristicEnemySMAX", {"scenario": "3m"})]


@pytest.mark.parametrize(("name", "settings"), CASES)
def test_check_env_through_the_adapter(name, settings):
    env = make(f"jaxmarl:{name}", **settings)
    check_env(env, num_steps=40)


def test_groups_come_from_agent_name_prefixes():
    assert from_jaxmarl("SMAX", scenario="3m").groups == {"allies": 3, "enemies": 3}
    assert from_jaxmarl("HeuristicEnemySMAX", scenario="3m").groups == {"allies": 3}
    env = from_jaxmarl("MPE_simple_spread_v3")
    assert env.groups == {"agents": 3} and env.agent_names["agents"] == ["agent_0", "agent_1", "agent_2"]


@pytest.mark.parametrize(("name", "settings"), CASES[:2])
def test_steps_equal_the_library_env(name, settings):
    """Same keys and actions: the adapter's observations, rewards and masks are the library's, agent by agent."""
    env = from_jaxmarl(name, **settings)
    lib = env.env
    key = jax.random.PRNGKey(3)
    state, ts = env.reset(key)
    lib_obs, lib_state = lib.reset(key)
    step, lib_step = jax.jit(env.step), jax.jit(lib.step_env)
    for t in range(6):
        for g, names in env.agent_names.items():
            for i, a in enumerate(names):
                np.testing.assert_array_equal(np.asarray(ts.obs[g][i]), np.asarray(lib_obs[a]), err_msg=f"{a} t={t}")
        if name.endswith("SMAX"):
            avail = lib.get_avail_actions(lib_state)
            for g, names in env.agent_names.items():
                np.testing.assert_array_equal(np.asarray(ts.action_mask[g]), np.stack([avail[a] for a in names]) > 0)
            np.testing.assert_allclose(np.asarray(ts.global_state), np.asarray(lib.get_world_state(lib_state)))
        k_act, k_step, key = jax.random.split(key, 3)
        actions = env.sample_actions(k_act, ts.action_mask)
        state, ts = step(k_step, state, actions)
        per_agent = {a: actions[g][i] for g, names in env.agent_names.items() for i, a in enumerate(names)}
        lib_obs, lib_state, lib_rew, _, _ = lib_step(k_step, lib_state, per_agent)
        for g, names in env.agent_names.items():
            np.testing.assert_allclose(np.asarray(ts.reward[g]), np.asarray([lib_rew[a] for a in names]), rtol=1e-6)


def test_the_time_limit_truncates_and_does_not_terminate():
    """JaxMARL's dones say "done" at the time limit; the adapter says truncated, on the max_steps-th step."""
    env = from_jaxmarl("MPE_simple_spread_v3", max_steps=4)
    assert env.time_limit == 4
    state, ts = env.reset(jax.random.PRNGKey(0))
    step = jax.jit(env.step)
    for t in range(1, 5):
        state, ts = step(jax.random.PRNGKey(t), state, env.sample_actions(jax.random.PRNGKey(t)))
        assert bool(ts.truncated) == (t == 4) and not np.asarray(ts.terminated["agents"]).any()


def test_killed_units_are_terminated_and_stay_so():
    """SMAX: a unit's done before the time limit is termination, and it does not come back."""
    env = from_jaxmarl("SMAX", scenario="3m")
    state, ts = env.reset(jax.random.PRNGKey(0))
    step = jax.jit(env.step)
    attack = jnp.full((3,), 5, jnp.int32)  # every unit attacks the nearest enemy slot 0 when it can
    seen = {"allies": np.zeros(3, bool), "enemies": np.zeros(3, bool)}
    for t in range(env.time_limit):
        masks = ts.action_mask
        actions = {g: jnp.where(masks[g][jnp.arange(3), attack], attack, env.sample_actions(jax.random.PRNGKey(t))[g])
                   for g in env.groups}
        state, ts = step(jax.random.PRNGKey(t), state, actions)
        for g in seen:
            now = np.asarray(ts.terminated[g])
            assert (now >= seen[g]).all(), (g, t)  # terminated stays terminated
            alive = np.asarray(state.env_state.unit_alive)[:3] if g == "allies" else \
                np.asarray(state.env_state.unit_alive)[3:]
            assert (now == ~alive).all() or bool(ts.done), (g, t)  # at the battle's end the winners too
            seen[g] = now
        if bool(ts.done):
            break
    assert any(s.any() for s in seen.values()), "no unit died in a whole battle"
    if not bool(ts.truncated):  # a team was wiped out: the episode is over for every unit (JaxMARL's __all__)
        assert all(s.all() for s in seen.values())


def test_trains_through_phalanx_wrappers():
    env = wrap_for_training(from_jaxmarl("MPE_simple_spread_v3", max_steps=3), num_envs=2)
    state, ts = env.reset(jax.random.PRNGKey(0))
    completed = []
    for t in range(4):
        state, ts = env.step(jax.random.PRNGKey(t), state, env.sample_actions(jax.random.PRNGKey(t)))
        completed.append(np.asarray(ts.episode.completed).tolist())
    assert completed == [[False, False], [False, False], [True, True], [False, False]]  # 3-step episodes, reset
    assert np.asarray(ts.obs["agents"]).shape == (2, 3, 18)


def test_unknown_names_list_the_available_ones():
    with pytest.raises(PhalanxError, match=r"Did you mean 'MPE_simple_spread_v3'\?.*JaxMARL's envs: .*SMAX"):
        make("jaxmarl:MPE_simple_sprad_v3")
    with pytest.raises(PhalanxError, match="unknown scenario 'nope'"):
        from_jaxmarl("SMAX", scenario="nope")
    with pytest.raises(PhalanxError, match="jaxmarl:<name>, jumanji:<name>"):
        make("jaxmarll:SMAX")


def test_the_cli_resolves_jaxmarl_names(capsys):
    from phalanx.cli import main

    assert main(["config", "train", "env=jaxmarl:SMAX", "env.scenario=3m", "algo=mappo"]) == 0
    assert "env: jaxmarl:SMAX" in capsys.readouterr().out
    assert main(["config", "train", "env=jaxmarl:SMAXX"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Did you mean 'SMAX'?" in err
