"""A PettingZoo env for the remote-actor tests (``env=pettingzoo:actor_envs``), with faults on request.

Each step both players see a random signal (one-hot of 4) and earn 1 for naming it; episodes are cut after
4 steps, so the best return is 4 and uniformly random players expect 4 × 1/4 = 1. Settings:

* ``fail_step=N`` with ``marker=PATH``: the ``N``-th step of the first env to create ``PATH`` raises
  ``RuntimeError`` (later envs, the replacement actor's included, find it and go on) — mid-episode.
* ``fail_reset_except_pid=PID``: every reset raises ``ValueError`` outside process ``PID`` (the test's own
  process, whose probe of the env must work): an env that cannot start in any actor.
* ``continuous=true``: each player's action is a number in ``[-1, 1]`` (a Box) and it earns
  ``1 - |action - target| / 2`` per step, the target ``-1, -1/3, 1/3, 1`` for signals 0-3 (uniformly random
  players expect ``CONTINUOUS_RANDOM_RETURN`` per episode, perfect ones 4).
* ``step_sleep_s=S``: every step sleeps ``S`` seconds (a slow simulator: a run that lasts while a test acts).
"""

from __future__ import annotations

import os
import time

import gymnasium
import numpy as np
from pettingzoo import ParallelEnv

RANDOM_RETURN = 1.0  # 4 steps × probability 1/4
BEST_RETURN = 4.0
CONTINUOUS_RANDOM_RETURN = 4 * (1 - 0.5 * np.mean([(1 + t * t) / 2 for t in (-1, -1 / 3, 1 / 3, 1)]))


class SignalGame(ParallelEnv):
    """Name the signal you see (see the module docstring)."""

    def __init__(self, fail_step: int | None = None, marker: str | None = None,
                 fail_reset_except_pid: int | None = None, step_sleep_s: float = 0.0, continuous: bool = False):
        self.metadata = {"name": "signal_game_v0"}
        self.k, self.length = 4, 4
        self.fail_step, self.marker, self.fail_reset_except_pid = fail_step, marker, fail_reset_except_pid
        self.step_sleep_s = step_sleep_s
        self.possible_agents = ["player_0", "player_1"]
        self._obs = gymnasium.spaces.Box(0.0, 1.0, (self.k,), np.float32)
        self.continuous = continuous
        box = gymnasium.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self._act = box if continuous else gymnasium.spaces.Discrete(self.k)
        self.rng = np.random.default_rng(0)
        self.steps = 0

    def observation_space(self, agent):
        return self._obs

    def action_space(self, agent):
        return self._act

    def _observe(self):
        return {a: np.eye(self.k, dtype=np.float32)[self.signal] for a in self.agents}

    def reset(self, seed=None, options=None):
        if self.fail_reset_except_pid is not None and os.getpid() != self.fail_reset_except_pid:
            raise ValueError("signal game cannot reset here")
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.agents, self.t = list(self.possible_agents), 0
        self.signal = int(self.rng.integers(self.k))
        return self._observe(), {a: {} for a in self.agents}

    def step(self, actions):
        self.steps += 1
        if self.step_sleep_s:
            time.sleep(self.step_sleep_s)
        if self.fail_step is not None and self.steps == self.fail_step:
            try:  # only the first env to get here (in any process) raises
                os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                pass
            else:
                raise RuntimeError(f"signal game broke at step {self.steps}")
        if self.continuous:
            target = 2 * self.signal / (self.k - 1) - 1
            rewards = {a: 1 - abs(float(np.asarray(actions[a]).reshape(-1)[0]) - target) / 2 for a in self.agents}
        else:
            rewards = {a: float(int(actions[a]) == self.signal) for a in self.agents}
        self.t += 1
        self.signal = int(self.rng.integers(self.k))
        truncated = {a: self.t >= self.length for a in self.agents}
        obs = self._observe()
        if self.t >= self.length:
            self.agents = []
        return obs, rewards, dict.fromkeys(obs, False), truncated, {a: {} for a in obs}


def parallel_env(**settings) -> SignalGame:
    """``env=pettingzoo:actor_envs`` builds this."""
    return SignalGame(**settings)
