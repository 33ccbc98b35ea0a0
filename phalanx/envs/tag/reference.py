"""A NumPy reference of continuous Tag: one env at a time, as WarpDrive's CPU path runs it.

Written from the rules (see :mod:`phalanx.envs.tag.env`), deliberately in the plain
style of WarpDrive's CPU implementation — NumPy over agents, Python loops per observer,
``heapq`` for nearest neighbours — so it serves both as the parity oracle for the JAX
env and as the CPU baseline in ``benchmarks/env_throughput/``.
"""

from __future__ import annotations

import heapq

import numpy as np

from phalanx.envs.tag.env import TagParams

F32 = np.float32


class TagReference:
    """One Tag env in NumPy, float32 throughout, agents in global id order."""

    def __init__(
        self,
        params: TagParams,
        agent_type: np.ndarray,
        use_full_observation: bool = True,
        num_other_agents_observed: int = 2,
        acceleration_actions: np.ndarray | None = None,
        turn_actions: np.ndarray | None = None,
        runner_exits_game_after_tagged: bool = True,
    ):
        """``*_actions`` default to WarpDrive's: ``[0, linspace(±1, 10)]``, ``[0, linspace(±π/2, 10)]``."""
        p = params
        self.p = p
        self.agent_type = np.asarray(agent_type, np.int32)
        self.n = len(self.agent_type)
        self.full = use_full_observation
        self.k = num_other_agents_observed
        self.exits = runner_exits_game_after_tagged
        self.L = F32(p.grid_length)
        self.T = int(p.episode_length)
        if acceleration_actions is None:
            acceleration_actions = np.insert(np.linspace(F32(-1), F32(1), 10), 0, 0)
        if turn_actions is None:
            turn_actions = np.insert(np.linspace(F32(-np.pi / 2), F32(np.pi / 2), 10), 0, 0)
        self.acc_actions = np.asarray(acceleration_actions, F32)
        self.turn_actions = np.asarray(turn_actions, F32)
        skill = np.where(self.agent_type == 1, F32(p.skill_level_tagger), F32(p.skill_level_runner))
        self.max_speed = (F32(p.max_speed) * skill).astype(F32)
        self.step_rewards = np.where(
            self.agent_type == 1, F32(p.step_penalty_for_tagger), F32(p.step_reward_for_runner)
        ).astype(F32)
        self.margin = F32(F32(p.tagging_distance) * self.L)

    def reset(self, x: np.ndarray, y: np.ndarray, direction: np.ndarray) -> np.ndarray:
        """Start from explicit positions and directions. Returns obs ``(N, obs_dim)``."""
        self.t = 0
        self.x, self.y = np.asarray(x, F32).copy(), np.asarray(y, F32).copy()
        self.direction = np.asarray(direction, F32).copy()
        self.speed = np.zeros(self.n, F32)
        self.acc = np.zeros(self.n, F32)
        self.alive = np.ones(self.n, np.int32)
        self.runners = {i for i in range(self.n) if self.agent_type[i] == 0}
        return self.observations()

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        """``actions``: ``(N, 2)`` int action indices in global id order.

        Returns ``(obs (N, D), rewards (N,), done)``.
        """
        self.t += 1
        d_acc = self.acc_actions[actions[:, 0]]
        d_turn = self.turn_actions[actions[:, 1]]
        self.direction = ((self.direction + d_turn) % F32(2 * np.pi) * self.alive).astype(F32)
        acc = (self.acc + d_acc).astype(F32)
        self.speed = (np.clip(self.speed + acc, F32(0.0), self.max_speed) * self.alive).astype(F32)
        self.acc = (acc * (self.speed > 0) * (self.speed < self.max_speed)).astype(F32)
        x = (self.x + self.speed * np.cos(self.direction)).astype(F32)
        y = (self.y + self.speed * np.sin(self.direction)).astype(F32)
        crossed = ~((x >= 0) & (x <= self.L) & (y >= 0) & (y <= self.L))
        self.x = np.clip(x, F32(0.0), self.L).astype(F32)
        self.y = np.clip(y, F32(0.0), self.L).astype(F32)
        edge = F32(self.p.edge_hit_penalty) * crossed

        obs = self.observations()

        rew = np.zeros(self.n, F32)
        for i in range(self.n):
            if self.alive[i]:
                rew[i] += edge[i] + self.step_rewards[i]
        taggers = [i for i in range(self.n) if self.agent_type[i] == 1]
        for r in sorted(self.runners):
            dists = [self._dist(r, tg) for tg in taggers]
            j = int(np.argmin(dists))
            if dists[j] < self.margin:
                rew[r] += F32(self.p.tag_penalty_for_runner)
                rew[taggers[j]] += F32(self.p.tag_reward_for_tagger)
                if self.exits:
                    self.alive[r] = 0
                    self.runners.discard(r)
        if self.t == self.T:
            for r in self.runners:
                rew[r] += F32(self.p.end_of_game_reward_for_runner)
        done = self.t >= self.T or len(self.runners) == 0
        return obs, rew, done

    def _dist(self, i: int, j: int) -> np.float32:
        return F32(np.sqrt((self.x[i] - self.x[j]) ** 2 + (self.y[i] - self.y[j]) ** 2))

    def observations(self) -> np.ndarray:
        """``(N, 7·k + 1)``: features relative to each observer, feature-major, then ``t/T``."""
        diag = F32(self.L * F32(np.sqrt(2)))
        vmax = F32(F32(self.p.max_speed) + F32(1e-10))
        feats = np.stack(
            [self.x / diag, self.y / diag, self.speed / vmax, self.acc / vmax,
             self.direction / F32(2 * np.pi)]
        ).astype(F32)  # (5, N)
        types = self.agent_type.astype(F32)
        alive = self.alive.astype(F32)
        time = F32(self.t / self.T)
        rows = []
        for i in range(self.n):
            if self.full:
                others = [j for j in range(self.n) if j != i]
                delta = feats[:, others] - feats[:, i : i + 1] if self.alive[i] else np.zeros((5, self.n - 1), F32)
                block = np.vstack([delta, types[others], alive[others]])
            else:
                block = np.zeros((7, self.k), F32)
                if self.alive[i]:
                    cand = [(j, self._dist(i, j)) for j in range(self.n) if j != i and self.alive[j]]
                    ids = [j for j, _ in heapq.nsmallest(self.k, cand, key=lambda c: c[1])]
                    m = len(ids)
                    block[:5, :m] = feats[:, ids] - feats[:, i : i + 1]
                    block[5, :m] = types[ids]
                    block[6, :m] = alive[ids]
            t_feat = time if self.alive[i] else F32(0.0)
            rows.append(np.concatenate([block.reshape(-1), [t_feat]]).astype(F32))
        return np.stack(rows)
