"""The one host path (phalanx.algos.common.host): every learner family trains on PettingZoo envs
stepped on the host, through its own compiled ``update``; its stored transitions equal the
compiled path's on a deterministic env; and ``phalanx train`` leaves a JAX run's directory."""

from __future__ import annotations

import functools
import json

import jax
import jax.numpy as jnp
import mpe2.simple_spread_v3
import numpy as np
import pytest

from phalanx.algos.common.host import HostEnv, host_learner, train_host
from phalanx.algos.registry import get_algorithm
from phalanx.envs.environment import Environment
from phalanx.envs.spaces import Box, Discrete
from phalanx.envs.types import EnvSpec, GroupSpec, TimeStep, make_timestep
from phalanx.errors import PhalanxError
from phalanx.interop.pettingzoo_out import to_pettingzoo
from phalanx.runtime.host_envs import from_pettingzoo


def _spread(continuous: bool = False):
    return mpe2.simple_spread_v3.parallel_env(N=2, max_cycles=6, continuous_actions=continuous)


def _tiny(algo: str, **extra):
    """The learner ``algo`` with a tiny config: 4 envs × 6 steps per update, 4 updates."""
    a = get_algorithm(algo)
    sizes = {"num_envs": 4, "num_steps": 6, "total_steps": 4 * 6 * 4, "hidden": (16,)}
    return a, a.config_cls(**{**a.defaults, **sizes, **extra})


FAMILIES = {  # one learner per family, with settings that learn from the first updates
    "ippo": ({"num_minibatches": 2}, False),
    "iql": ({"learning_starts": 24, "batch_size": 8, "gradient_steps": 2, "recurrent_size": 0}, False),
    "maddpg": ({"warmup_steps": 24, "batch_size": 8, "gradient_steps": 2}, True),
}


@pytest.mark.parametrize("algo", sorted(FAMILIES))
def test_every_family_trains_on_host_envs(algo):
    extra, continuous = FAMILIES[algo]
    algorithm, config = _tiny(algo, **extra)
    with from_pettingzoo(functools.partial(_spread, continuous), num_envs=4, num_workers=0) as venv:
        learner = host_learner(algorithm.make_train, config, venv)
        start = learner.policy_params(jax.jit(learner.init)(jax.random.PRNGKey(0)), "agent")
        state, lines = train_host(config, venv, make_train=algorithm.make_train, seed=0, log_every=2)
    assert [ln["update"] for ln in lines] == [2, 4] and [ln["env_steps"] for ln in lines] == [48, 96]
    assert [ln["episodes"] for ln in lines] == [8, 8]  # 48 steps of 4 envs, 6-step episodes
    assert all(-100 < ln["episode_return"]["agent"] < 0 and ln["episode_length"] == 6.0 for ln in lines)
    own = {"ippo": "policy_loss", "iql": "loss", "maddpg": "critic_loss"}[algo]
    assert np.isfinite(lines[-1][own]["agent"]) and lines[-1][own]["agent"] != 0.0  # it took gradient steps
    end = learner.policy_params(state, "agent")
    moved = jax.tree.map(lambda a, b: float(jnp.abs(a - b).max()), start, end)
    assert max(jax.tree.leaves(moved)) > 0, "the learned parameters did not change"


def test_a_value_based_learner_through_the_process_pool():
    algorithm, config = _tiny("vdn", learning_starts=24, batch_size=8, recurrent_size=0)
    with from_pettingzoo(functools.partial(_spread, False), num_envs=4, num_workers=2) as venv:
        state, lines = train_host(config, venv, make_train=algorithm.make_train, seed=1, log_every=4)
    assert len(lines) == 1 and lines[0]["env_steps"] == 96 == int(state.env_steps)
    assert lines[0]["episodes"] == 16 and np.isfinite(lines[0]["loss"]["agent"])


# --------------------------------------------------------------------------- host == compiled
class Countdown(Environment):
    """A deterministic discrete game: two agents see the step's one-hot ``t mod 3`` and earn 1 for naming it.

    Nothing is random (reset ignores its key), so the same actions give the same timesteps on the
    host (through ``to_pettingzoo``) and compiled; episodes are cut after 4 steps.
    """

    name = "countdown"

    @property
    def spec(self) -> EnvSpec:
        group = GroupSpec(2, Box(0.0, 1.0, (3,)), Discrete(3))
        return EnvSpec({"agents": group}, Box(0.0, 1.0, (6,)))

    @property
    def default_params(self) -> None:
        return None

    def _timestep(self, t: jax.Array, reward: jax.Array) -> TimeStep:
        obs = jnp.broadcast_to(jax.nn.one_hot(t % 3, 3), (2, 3))
        return make_timestep({"agents": obs}, {"agents": jnp.ones((2, 3), bool)}, {"agents": reward},
                             {"agents": jnp.zeros(2, bool)}, t >= 4, obs.reshape(-1))

    def _reset(self, key, params):
        return jnp.int32(0), self._timestep(jnp.int32(0), jnp.zeros(2))

    def _step(self, key, state, actions, params):
        reward = (actions["agents"] == state % 3).astype(jnp.float32)
        return state + 1, self._timestep(state + 1, reward)


def _countdown_pz():
    return to_pettingzoo(Countdown())


def test_host_transitions_equal_the_compiled_paths():
    """IQL, one update of 3 envs × 7 steps (episodes end and auto-reset inside it): the replay buffer
    the host path filled equals the compiled path's, field by field (the PettingZoo side names the
    group ``agent``). Exploration (ε from 1) makes the actions differ between envs and steps."""
    algorithm, config = _tiny("iql", num_envs=3, num_steps=7, total_steps=21, learning_starts=1000)
    env = Countdown()
    compiled = algorithm.make_train(config, env)
    s_compiled, m_compiled = jax.jit(compiled.update)(jax.jit(compiled.init)(jax.random.PRNGKey(3)))
    with from_pettingzoo(_countdown_pz, num_envs=3, num_workers=0) as venv:
        host = host_learner(algorithm.make_train, config, venv)
        s_host, m_host = jax.jit(host.update)(jax.jit(host.init)(jax.random.PRNGKey(3)))
    a = jax.device_get(s_compiled.buffer.experience)
    b = jax.device_get(s_host.buffer.experience)
    flat_a = {jax.tree_util.keystr(p).replace("'agents'", "'agent'"): x
              for p, x in jax.tree_util.tree_flatten_with_path(a)[0]}
    flat_b = {jax.tree_util.keystr(p): x for p, x in jax.tree_util.tree_flatten_with_path(b)[0]}
    assert flat_a.keys() == flat_b.keys()
    for k in flat_a:
        np.testing.assert_array_equal(flat_a[k], flat_b[k], err_msg=k)
    actions = flat_b[".action['agent']"][:, :7]
    assert len(np.unique(actions)) == 3  # random actions: the comparison covers every action
    assert float(m_host.episode_count) == float(m_compiled.episode_count) == 3  # one end per env (t = 4)
    assert float(m_host.episode_return_sum["agent"]) == float(m_compiled.episode_return_sum["agents"])


def test_host_env_is_the_pools_batch_and_a_wrong_size_is_an_error():
    algorithm, config = _tiny("iql")
    with from_pettingzoo(functools.partial(_spread, False), num_envs=2, num_workers=0) as venv:
        with pytest.raises(PhalanxError, match=r"train\.num_envs=4"):
            host_learner(algorithm.make_train, config, venv)
        env = HostEnv(venv, seed=5)
        _, ts = jax.jit(env.reset)(jax.random.PRNGKey(0))
        np.testing.assert_array_equal(np.asarray(ts.obs["agent"]), venv.reset(5).obs["agent"])


def test_phalanx_train_on_pettingzoo_with_a_q_learner_leaves_a_run_dir(tmp_path):
    from phalanx.cli import main

    run = tmp_path / "iql"
    args = ["train", "env=pettingzoo:mpe2.simple_spread_v3", "env.N=2", "env.max_cycles=6", "algo=iql",
            "num_workers=0", "train.num_envs=4", "train.num_steps=6", "train.total_steps=96",
            "train.learning_starts=24", "train.batch_size=8", "train.hidden=[16]", "train.recurrent_size=0",
            "log_every=2", "checkpoint_every=1", f"run_dir={run}"]
    assert main(args) == 0
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [ln["env_steps"] for ln in lines] == [48, 96] and "loss" in lines[-1] and "epsilon" in lines[-1]
    assert (run / "config.yaml").exists()
    assert sorted(p.name for p in (run / "checkpoints").iterdir() if p.name.isdigit()) == ["1", "2"]


def test_a_combination_that_cannot_work_fails_before_a_run_dir(tmp_path, capsys):
    from phalanx.cli import main

    run = tmp_path / "qmix"
    args = ["train", "env=pettingzoo:mpe2.simple_spread_v3", "env.continuous_actions=true", "algo=qmix",
            f"run_dir={run}"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Discrete" in err[0] and "pettingzoo:mpe2.simple_spread_v3" in err[0]
    assert not run.exists()
