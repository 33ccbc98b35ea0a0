"""from_pettingzoo: the batched host env gives the numbers the PettingZoo env gives when
stepped directly (mpe2, an AEC env, a turn-based game with masks, agents that leave), and its
worker processes start, fail and close cleanly."""

from __future__ import annotations

import functools
import os
import subprocess
import sys

import gymnasium
import mpe2.simple_adversary_v3
import mpe2.simple_spread_v3
import numpy as np
import pytest
from pettingzoo import ParallelEnv
from pettingzoo.classic import tictactoe_v3
from pettingzoo.utils.conversions import aec_to_parallel, turn_based_aec_to_parallel

from phalanx.envs import Box, Discrete, MultiDiscrete
from phalanx.envs.testing import validate_timestep
from phalanx.errors import PhalanxError
from phalanx.interop.pettingzoo_in import infer_layout, pettingzoo_factory
from phalanx.runtime.host_envs import from_pettingzoo


class Dropout(ParallelEnv):
    """Scouts leave one by one (scout_i terminates after step i + 1); the base is cut at step 4.

    Observations and rewards come from the env's own seeded generator, so any mix-up of
    envs, agents or steps shows. Box actions for the base, discrete for scouts; has ``state()``.
    """

    def __init__(self, fail_at_step: int = 0):
        self.metadata = {"name": "dropout_v0"}
        self.possible_agents = ["scout_0", "scout_1", "scout_2", "base_0"]
        self.fail_at_step = fail_at_step
        self._obs = gymnasium.spaces.Box(-1.0, 1.0, (3,), np.float32)
        self._act = {"base_0": gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32)}
        self.rng = np.random.default_rng(0)

    def observation_space(self, agent):
        return self._obs

    def action_space(self, agent):
        return self._act.get(agent) or gymnasium.spaces.Discrete(3, start=1)

    def _observe(self):
        return {a: self.rng.uniform(-1, 1, 3).astype(np.float32) for a in self.agents}

    def state(self):
        return np.array([self.t, len(self.agents)], np.float32)

    def reset(self, seed=None, options=None):
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.agents, self.t = list(self.possible_agents), 0
        return self._observe(), {a: {} for a in self.agents}

    def step(self, actions):
        self.t += 1
        if self.t == self.fail_at_step:
            raise RuntimeError(f"Boom at step {self.t}")
        for a in self.agents:
            assert self.action_space(a).contains(np.asarray(actions[a], self.action_space(a).dtype)), (a, actions[a])
        rew = {a: float(np.sum(actions[a])) + float(self.rng.normal()) for a in self.agents}
        term = {a: a.startswith("scout") and int(a[-1]) + 1 == self.t for a in self.agents}
        trunc = {a: self.t >= 4 for a in self.agents}
        obs = self._observe()
        self.agents = [a for a in self.agents if not (term[a] or trunc[a])]
        return obs, rew, term, trunc, {a: {} for a in obs}


def mpe_spread(max_cycles=4):
    return mpe2.simple_spread_v3.parallel_env(max_cycles=max_cycles)


def mpe_spread_aec():
    return mpe2.simple_spread_v3.env(max_cycles=4)


# --------------------------------------------------------------------------- reference
def _legal_actions(rng, venv, ts):
    """Random legal actions for every (env, agent), shaped as the host env wants them."""
    out = {}
    for g, s in venv.spec.groups.items():
        shape = (venv.num_envs, s.num_agents)
        if isinstance(s.action, Box):
            out[g] = rng.uniform(-1.5, 1.5, (*shape, *s.action.shape)).astype(np.float32)
        elif isinstance(s.action, Discrete):
            noise = np.where(ts.action_mask[g], rng.random(ts.action_mask[g].shape), -1.0)
            out[g] = noise.argmax(-1).astype(np.int32)
        else:
            raise AssertionError(s.action)
    return out


def _expected_obs(venv, g, agent, obs):
    o = obs.get(agent)
    if o is None:
        return np.zeros(venv.spec.groups[g].observation.shape, np.float32)
    o = o["observation"] if isinstance(o, dict) else o
    return np.asarray(o, np.float32)


def _expected_mask(obs, info, agent, size):
    o = obs.get(agent)
    if isinstance(o, dict) and "action_mask" in o:
        return np.asarray(o["action_mask"], bool)
    if "action_mask" in info.get(agent, {}):
        return np.asarray(info[agent]["action_mask"], bool)
    return np.ones(size, bool)


def _to_env_action(space, x):
    if isinstance(space, gymnasium.spaces.Discrete):
        return int(x) + int(space.start)
    return np.clip(np.asarray(x, np.float32), space.low, space.high)


def compare_with_direct_stepping(venv, make_parallel, seed, num_steps, rng):
    """Step ``venv`` and one directly-driven copy of the env per batch row; compare everything."""
    refs = [make_parallel() for _ in range(venv.num_envs)]
    cur = [r.reset(seed=seed + e) for e, r in enumerate(refs)]
    returns = [dict.fromkeys(r.possible_agents, 0.0) for r in refs]
    lengths = [0] * venv.num_envs
    has_state = venv.layout.state_mode == "state"
    ts = venv.reset(seed)
    episodes = 0

    def check_obs(ts, e, obs, infos, present, final):
        for g, names in venv.agent_names.items():
            for i, a in enumerate(names):
                field = ts.final_obs if final else ts.obs
                view = {a: obs[a]} if a in present and a in obs else {}
                np.testing.assert_array_equal(field[g][e, i], _expected_obs(venv, g, a, view), err_msg=a)
                if not final and g in ts.action_mask:
                    want = _expected_mask(obs, infos, a, ts.action_mask[g].shape[-1]) if a in present else True
                    np.testing.assert_array_equal(ts.action_mask[g][e, i], want, err_msg=a)

    for e, (obs, infos) in enumerate(cur):
        check_obs(ts, e, obs, infos, set(refs[e].agents), final=False)
        if has_state:
            np.testing.assert_array_equal(ts.global_state[e], refs[e].state())
    for _ in range(num_steps):
        actions = _legal_actions(rng, venv, ts)
        ts = venv.step(actions)
        validate_timestep(venv, _row(ts, 0))
        for e, ref in enumerate(refs):
            live = list(ref.agents)
            act = {}
            for g, names in venv.agent_names.items():
                for i, a in enumerate(names):
                    if a in live:
                        act[a] = _to_env_action(ref.action_space(a), actions[g][e, i])
            obs, rew, term, trunc, infos = ref.step(act)
            done = not ref.agents
            check_obs(ts, e, obs, infos, set(live), final=True)
            if has_state:
                np.testing.assert_array_equal(ts.final_global_state[e], ref.state())
            for g, names in venv.agent_names.items():
                for i, a in enumerate(names):
                    assert ts.reward[g][e, i] == np.float32(rew.get(a, 0.0)), a
                    returns[e][a] += np.float32(rew.get(a, 0.0))
                    if a not in live:
                        want = True
                    elif done:
                        want = term[a]
                    else:
                        want = term[a] or trunc[a] or a not in ref.agents
                    assert ts.terminated[g][e, i] == want, (a, e)
            assert ts.truncated[e] == (done and any(trunc[a] and not term[a] for a in live))
            assert ts.episode.completed[e] == done
            lengths[e] += 1
            if done:
                episodes += 1
                assert ts.episode.length[e] == lengths[e]
                for g, names in venv.agent_names.items():
                    np.testing.assert_allclose(ts.episode.returns[g][e], [returns[e][a] for a in names], rtol=1e-5)
                returns[e] = dict.fromkeys(ref.possible_agents, 0.0)
                lengths[e] = 0
                obs, infos = ref.reset()
            else:
                assert ts.episode.length[e] == 0
            check_obs(ts, e, obs, infos, set(ref.agents), final=False)
            if has_state:
                np.testing.assert_array_equal(ts.global_state[e], ref.state())
    return episodes


def _row(ts, e):
    import jax

    return jax.tree.map(lambda x: x[e], ts)


# --------------------------------------------------------------------------- parity
@pytest.fixture(scope="module")
def mpe_pool():
    with from_pettingzoo(functools.partial(mpe_spread, 4), num_envs=4, num_workers=2, num_splits=2) as venv:
        yield venv


@pytest.mark.parametrize("seed", [0, 11])
def test_mpe2_simple_spread_matches_direct_stepping(mpe_pool, seed):
    assert mpe_pool.agent_names == {"agent": ["agent_0", "agent_1", "agent_2"]}
    assert mpe_pool.layout.state_mode == "state"  # mpe2 implements state()
    episodes = compare_with_direct_stepping(mpe_pool, functools.partial(mpe_spread, 4), seed, 10,
                                            np.random.default_rng(seed))
    assert episodes == 8  # 4 envs × 2 episodes of 4 steps: auto-reset exercised


@pytest.mark.parametrize("seed", [0, 5])
def test_agents_that_leave_are_padded_and_terminated(seed):
    with from_pettingzoo(Dropout, num_envs=3, num_workers=0) as venv:
        assert venv.agent_names == {"scout": ["scout_0", "scout_1", "scout_2"], "base": ["base_0"]}
        assert venv.spec.groups["base"].action == Box(-1.0, 1.0, (2,))
        assert venv.spec.groups["scout"].action == Discrete(3)  # Discrete(3, start=1) shifted to 0..2
        episodes = compare_with_direct_stepping(venv, Dropout, seed, 9, np.random.default_rng(seed))
        assert episodes == 6
        ts = venv.reset(seed)
        ts = venv.step(_legal_actions(np.random.default_rng(0), venv, ts))
        np.testing.assert_array_equal(ts.terminated["scout"], [[True, False, False]] * 3)  # scout_0 left
        ts = venv.step(_legal_actions(np.random.default_rng(0), venv, ts))
        np.testing.assert_array_equal(ts.obs["scout"][:, 0], 0.0)  # padded once gone


def test_aec_env_is_converted_and_matches_its_parallel_version():
    with from_pettingzoo(mpe_spread_aec, num_envs=2, num_workers=0) as venv:
        compare_with_direct_stepping(venv, lambda: aec_to_parallel(mpe_spread_aec()), 3, 6,
                                     np.random.default_rng(0))
    with from_pettingzoo(mpe_spread_aec, num_envs=2, num_workers=0) as a, \
            from_pettingzoo(functools.partial(mpe_spread, 4), num_envs=2, num_workers=0) as b:
        ta, tb = a.reset(3), b.reset(3)
        np.testing.assert_array_equal(ta.obs["agent"], tb.obs["agent"])
        for t in range(5):
            acts = {"agent": np.full((2, 3), t % 5, np.int32)}
            ta, tb = a.step(acts), b.step(acts)
            np.testing.assert_array_equal(ta.final_obs["agent"], tb.final_obs["agent"])
            np.testing.assert_array_equal(ta.reward["agent"], tb.reward["agent"])


def test_turn_based_game_with_masks_in_observations():
    with from_pettingzoo(tictactoe_v3.env, num_envs=2, num_workers=0) as venv:
        g = venv.spec.groups["player"]
        assert venv.agent_names == {"player": ["player_1", "player_2"]}
        assert g.observation.shape == (3, 3, 2) and g.action == Discrete(9) and g.has_action_mask
        assert venv.layout.state_mode == "concat"  # tictactoe has no state(): observations concatenated
        episodes = compare_with_direct_stepping(venv, lambda: turn_based_aec_to_parallel(tictactoe_v3.env()), 2,
                                                20, np.random.default_rng(1))
        assert episodes >= 2


def test_group_inference_orders_indices_as_numbers():
    class Many(Dropout):
        def __init__(self):
            super().__init__()
            self.possible_agents = sorted([f"agent_{i}" for i in range(12)] + ["base_0"])  # agent_10 < agent_2

    layout = infer_layout(Many())
    assert layout.agent_names["agent"] == [f"agent_{i}" for i in range(12)]
    assert list(layout.agent_names) == ["agent", "base"]
    adv = infer_layout(mpe2.simple_adversary_v3.parallel_env())
    assert adv.agent_names == {"adversary": ["adversary_0"], "agent": ["agent_0", "agent_1"]}
    assert adv.spec.groups["adversary"].observation.shape == (8,)
    assert adv.spec.groups["agent"].observation.shape == (10,)


def test_multidiscrete_spaces_are_kept():
    class Multi(Dropout):
        def action_space(self, agent):
            return gymnasium.spaces.MultiDiscrete([2, 3])

    layout = infer_layout(Multi())
    assert layout.spec.groups["scout"].action == MultiDiscrete((2, 3))


# --------------------------------------------------------------------------- processes
def _gone(pid: int) -> bool:
    return not os.path.exists(f"/proc/{pid}")  # joined (reaped) processes leave no zombie entry


def test_close_joins_workers_and_leaves_no_processes():
    venv = from_pettingzoo(Dropout, num_envs=4, num_workers=2)
    pids = venv.worker_pids
    assert len(pids) == 2 and not any(_gone(p) for p in pids)
    venv.reset(0)
    venv.close()
    venv.close()  # idempotent
    assert all(_gone(p) for p in pids)
    with pytest.raises(PhalanxError, match="closed"):
        venv.reset(0)
    with pytest.raises(RuntimeError, match="inside"), from_pettingzoo(Dropout, num_envs=2, num_workers=2) as v2:
        pids = v2.worker_pids
        raise RuntimeError("inside the with block")
    assert all(_gone(p) for p in pids)


def test_the_pool_is_a_host_vec_env_and_the_learner_layer_needs_no_process_pool():
    """The pool matches HostVecEnv (what sebulba types against); algos import no runtime module."""
    import ast
    from pathlib import Path

    from phalanx.interop.host import HostVecEnv

    with from_pettingzoo(Dropout, num_envs=2, num_workers=0) as venv:
        assert isinstance(venv, HostVecEnv)
    assert not isinstance(object(), HostVecEnv)
    root = Path(__file__).resolve().parents[2] / "phalanx" / "algos"
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("phalanx.runtime"):
                raise AssertionError(f"{path} imports {node.module}")


def test_env_errors_come_back_and_the_pool_still_closes():
    with from_pettingzoo(functools.partial(Dropout, fail_at_step=2), num_envs=4, num_workers=2) as venv:
        pids = venv.worker_pids
        ts = venv.reset(0)
        ts = venv.step(_legal_actions(np.random.default_rng(0), venv, ts))
        with pytest.raises(PhalanxError, match=r"env 0: RuntimeError: Boom at step 2"):
            venv.step(_legal_actions(np.random.default_rng(0), venv, ts))
    assert all(_gone(p) for p in pids)


def test_factories_and_their_errors():
    env = pettingzoo_factory("pettingzoo:mpe2.simple_spread_v3", N=2, max_cycles=7)()
    assert env.possible_agents == ["agent_0", "agent_1"] and env.unwrapped.max_cycles == 7
    with pytest.raises(PhalanxError, match=r"Did you mean 'mpe2\.simple_spread_v3'"):
        pettingzoo_factory("pettingzoo:mpe2.simple_sprad_v3")
    with pytest.raises(PhalanxError, match="not a module path"):
        pettingzoo_factory("pettingzoo:mpe2/simple_spread")
    with pytest.raises(PhalanxError, match="no parallel_env"):
        pettingzoo_factory("pettingzoo:mpe2")
    with pytest.raises(PhalanxError, match="building the env failed"):
        from_pettingzoo(pettingzoo_factory("pettingzoo:mpe2.simple_spread_v3", bogus=1), num_workers=0)
    with pytest.raises(PhalanxError, match="cannot be sent to worker processes"):
        from_pettingzoo(lambda: Dropout(), num_envs=2, num_workers=2)
    with pytest.raises(PhalanxError, match="num_splits must divide"):
        from_pettingzoo(Dropout, num_envs=3, num_workers=2, num_splits=2)

    class Text(Dropout):
        def observation_space(self, agent):
            return gymnasium.spaces.Text(5)

    with pytest.raises(PhalanxError, match="observation space Text"):
        from_pettingzoo(Text, num_workers=0)


def test_missing_pettingzoo_is_one_clear_error():
    code = ("import sys; sys.modules['pettingzoo'] = None\n"
            "from phalanx.errors import PhalanxError\n"
            "try:\n    import phalanx.interop.pettingzoo_in\nexcept PhalanxError as e:\n    print('ERR', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "ERR PettingZoo interop needs pettingzoo and gymnasium" in out.stdout
