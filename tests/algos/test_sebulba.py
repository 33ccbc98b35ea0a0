"""PPO on host envs with acting overlapped across splits (the host path's option, Sebulba shape): same
rollout layout as the compiled trainer, actions consistent with what ``learn`` recomputes, and IPPO
learns a tiny PettingZoo game."""

from __future__ import annotations

import functools

import gymnasium
import jax
import mpe2.simple_spread_v3
import numpy as np
import pytest
from pettingzoo import ParallelEnv

import phalanx
from phalanx.algos.common.host import metrics_line, random_returns
from phalanx.algos.ppo.config import PPOConfig
from phalanx.algos.ppo.rollout import env_step
from phalanx.algos.ppo.sebulba import make_host_trainer, train_overlapped
from phalanx.algos.ppo.train import UpdateMetrics, make_train
from phalanx.envs import EnvSpec
from phalanx.errors import PhalanxError
from phalanx.networks import distributions as dist
from phalanx.runtime.host_envs import from_pettingzoo


class SignalGame(ParallelEnv):
    """Each step both players see a random signal (one-hot of 4) and earn 1 for naming it.

    Episodes are cut (truncated) after 4 steps, so the best return is 4 per episode and a
    uniformly random player expects 4 × 1/4 = 1. Learning it needs the observation of the
    same step as the reward: an off-by-one in the host pipeline stays at 1.
    """

    def __init__(self, num_signals: int = 4, episode_length: int = 4):
        self.metadata = {"name": "signal_game_v0"}
        self.k, self.length = num_signals, episode_length
        self.possible_agents = ["player_0", "player_1"]
        self._obs = gymnasium.spaces.Box(0.0, 1.0, (num_signals,), np.float32)
        self._act = gymnasium.spaces.Discrete(num_signals)
        self.rng = np.random.default_rng(0)

    def observation_space(self, agent):
        return self._obs

    def action_space(self, agent):
        return self._act

    def _observe(self):
        return {a: np.eye(self.k, dtype=np.float32)[self.signal] for a in self.agents}

    def reset(self, seed=None, options=None):
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.agents, self.t = list(self.possible_agents), 0
        self.signal = int(self.rng.integers(self.k))
        return self._observe(), {a: {} for a in self.agents}

    def step(self, actions):
        rewards = {a: float(int(actions[a]) == self.signal) for a in self.agents}
        self.t += 1
        self.signal = int(self.rng.integers(self.k))
        truncated = {a: self.t >= self.length for a in self.agents}
        obs = self._observe()
        if self.t >= self.length:
            self.agents = []
        return obs, rewards, dict.fromkeys(obs, False), truncated, {a: {} for a in obs}


RANDOM_RETURN = 1.0  # 4 steps × probability 1/4
MARGIN = 2.0  # trained players must average at least RANDOM_RETURN + MARGIN = 3 (of 4)


def test_ippo_on_a_host_pettingzoo_env_beats_random():
    config = PPOConfig(num_envs=8, num_steps=16, total_steps=8 * 16 * 20, num_minibatches=2, lr=3e-3,
                       hidden=(32, 32))
    with from_pettingzoo(SignalGame, num_envs=8, num_workers=2, num_splits=2) as venv:
        baseline = random_returns(venv, 200, seed=1)["player"]
        assert baseline == pytest.approx(RANDOM_RETURN, abs=0.2)  # the analytic value, measured
        state, lines = train_overlapped(config, venv=venv, seed=0)
    assert len(lines) == 20 and lines[-1]["env_steps"] == 8 * 16 * 20 == int(state.env_steps)
    assert all(line["episodes"] == 32 for line in lines)  # 128 steps / 4 per episode
    final = np.mean([line["episode_return"]["player"] for line in lines[-3:]])
    first = lines[0]["episode_return"]["player"]
    assert first < RANDOM_RETURN + 0.5, first  # starts random
    assert final >= RANDOM_RETURN + MARGIN, [line["episode_return"]["player"] for line in lines]


def _spread():
    return mpe2.simple_spread_v3.parallel_env(max_cycles=5)


def test_host_rollout_has_the_compiled_trainers_layout_and_its_log_probs():
    """MAPPO with a GRU and every normaliser (the most code paths): the host rollout has the
    compiled trainer's ``Transition`` layout, the acting half saw what ``learn`` recomputes
    (log-probabilities from the stored inputs at the rollout's parameters equal the stored
    ones), and ``learn`` takes it."""
    config = PPOConfig(critic="mappo", recurrent_size=8, num_envs=4, num_steps=6, total_steps=48,
                       num_minibatches=2, hidden=(16,), normalize_obs=True, normalize_values=True)
    env = phalanx.make("simple_spread", max_cycles=5)  # Phalanx's simple_spread has mpe2's spaces
    trainer = make_train(config, env)
    anakin = jax.eval_shape(
        lambda key: jax.lax.scan(functools.partial(env_step, trainer), trainer.init(key),
                                 jax.random.split(key, config.num_steps))[1],
        jax.random.PRNGKey(0))
    with from_pettingzoo(_spread, num_envs=4, num_workers=0, num_splits=2) as venv:
        assert venv.spec == EnvSpec({"agent": env.spec.groups["agents"]}, env.spec.global_state)
        host = make_host_trainer(config, venv)
        state, carries = host.init(jax.random.PRNGKey(0))
        state, carries, traj, start_hidden, k_learn = host.rollout(state, carries)
        # Same fields, shapes and dtypes; only the group is named after the PettingZoo agents.
        assert _layout(traj, "agent") == _layout(anakin, "agents")
        np.testing.assert_array_equal(np.asarray(traj.episode_end).sum(0), [1, 1, 1, 1])  # 6 steps, 5-step episodes
        assert bool(traj.resets[0].all()) and bool(traj.resets[5].all())  # first step, and after each episode end
        assert not bool(traj.resets[1:5].any())

        policy = host.trainer.policy
        g = policy.groups["agent"]
        _, out = policy.actor_outputs(state.params, "agent", start_hidden["actor"]["agent"], traj.actor_in["agent"],
                                      traj.resets)
        logp, _ = dist.log_prob_and_entropy(g.space, out, traj.raw_action["agent"], None)
        np.testing.assert_allclose(np.asarray(logp), np.asarray(traj.log_prob["agent"]), rtol=1e-5, atol=1e-5)
        assert len(np.unique(np.asarray(traj.raw_action["agent"]))) == 5  # the policy really sampled

        state, metrics = host._learn(state, traj, start_hidden, k_learn)
        assert np.isfinite(float(metrics.policy_loss["agent"])) and float(metrics.episode_count) == 4


def _layout(traj, group: str) -> dict:
    """``{field: (shape, dtype)}``, with the group's key in dict fields renamed to ``"g"``."""
    out = {}
    for field in traj.__dataclass_fields__:
        value = getattr(traj, field)
        if isinstance(value, dict):
            value = {("g" if k == group else k): v for k, v in value.items()}
        out[field] = jax.tree.map(lambda x: (tuple(x.shape), np.dtype(x.dtype)), value)
    return out


def test_mismatched_pool_size_is_a_clear_error():
    with from_pettingzoo(functools.partial(SignalGame), num_envs=2, num_workers=0) as venv, \
            pytest.raises(PhalanxError, match=r"train\.num_envs=8"):
        make_host_trainer(PPOConfig(num_envs=8, num_steps=4, total_steps=32, num_minibatches=1), venv)


def test_metrics_lines_pool_episodes_over_a_chunk():
    def m(steps, ret_sum, count, length_sum, loss):
        g = {"player": np.float32(loss)}
        return UpdateMetrics(env_steps=np.int32(steps), episode_return_sum={"player": np.float32(ret_sum)},
                             episode_length_sum=np.float32(length_sum), episode_count=np.float32(count),
                             policy_loss=g, value_loss=g, entropy=g, approx_kl=g, clip_fraction=g)

    line = metrics_line(2, 6, [m(100, 6.0, 3, 12.0, 1.0), m(200, 4.0, 1, 4.0, 3.0)], 5.0, 40.0)
    # 4 episodes with returns summing to 10: mean 2.5 (not the mean of per-update means, 2.0 and 4.0).
    assert line["episode_return"] == {"player": 2.5} and line["episode_length"] == 4.0
    assert line["episodes"] == 4 and line["env_steps"] == 200 and line["chunk"] == 2 and line["update"] == 6
    assert line["policy_loss"] == {"player": 2.0}
    empty = metrics_line(0, 1, [m(100, 0.0, 0, 0.0, 1.0)], 1.0, 1.0)
    assert empty["episode_return"] == {"player": None} and empty["episode_length"] is None
