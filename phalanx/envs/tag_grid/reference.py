"""A plain NumPy gridworld Tag, one env, agent by agent, written from WarpDrive's rules.

Used by the parity tests of :class:`~phalanx.envs.tag_grid.TagGrid`: same start and
actions must give the same observations, rewards and dones. Deliberately simple (Python
loops over agents, scalar arithmetic in float32 like the JAX env) rather than fast.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_MOVES = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))  # stay, x+1, x-1, y+1, y-1


class TagGridReference:
    """One gridworld Tag game: agents ``0..N-2`` are taggers (type 0), agent ``N-1`` the runner.

    Args:
        num_taggers, grid_length, episode_length, rewards, use_full_observation: as
            :class:`~phalanx.envs.tag_grid.TagGrid`.
    """

    def __init__(
        self,
        num_taggers: int = 10,
        grid_length: int = 10,
        episode_length: int = 100,
        wall_hit_penalty: float = 0.1,
        tag_reward_for_tagger: float = 10.0,
        tag_penalty_for_runner: float = 2.0,
        step_cost_for_tagger: float = 0.01,
        use_full_observation: bool = True,
    ):
        self.num_taggers = num_taggers
        self.num_agents = num_taggers + 1
        self.grid_length = grid_length
        self.episode_length = episode_length
        self.wall_hit_penalty = np.float32(wall_hit_penalty)
        self.tag_reward_for_tagger = np.float32(tag_reward_for_tagger)
        self.tag_penalty_for_runner = np.float32(tag_penalty_for_runner)
        self.step_cost_for_tagger = np.float32(step_cost_for_tagger)
        self.use_full_observation = use_full_observation
        self.x: list[int] = []
        self.y: list[int] = []
        self.t = 0

    def reset(self, x: Sequence[int] | None = None, y: Sequence[int] | None = None) -> np.ndarray:
        """Start at cells ``x``, ``y`` (``N`` each), or WarpDrive's default; returns ``(N, D)`` obs."""
        n = self.num_agents
        if x is None:
            centre = int(0.5 * self.grid_length)
            x = [centre] * (n - 1) + [0]
            y = [centre] * (n - 1) + [0]
        self.x = [int(v) for v in x]
        self.y = [int(v) for v in y]
        self.t = 0
        return self.observations()

    def step(self, actions: Sequence[int]) -> tuple[np.ndarray, np.ndarray, bool]:
        """Apply one action per agent (global order). Returns ``(obs (N, D), rewards (N,), done)``."""
        n, L = self.num_agents, self.grid_length
        self.t += 1
        rewards = np.zeros(n, np.float32)
        # Move every agent and clip it to the grid; a clipped move costs the wall penalty.
        for i in range(n):
            dx, dy = _MOVES[int(actions[i])]
            nx, ny = self.x[i] + dx, self.y[i] + dy
            cx, cy = min(max(nx, 0), L), min(max(ny, 0), L)
            penalty = self.wall_hit_penalty if (cx != nx or cy != ny) else np.float32(0.0)
            rewards[i] = -penalty
            self.x[i], self.y[i] = cx, cy
        # Tag check after all moves.
        runner = n - 1
        tagged = False
        for i in range(self.num_taggers):
            if self.x[i] == self.x[runner] and self.y[i] == self.y[runner]:
                tagged = True
        for i in range(n):
            if i < self.num_taggers:
                r = self.tag_reward_for_tagger if tagged else -self.step_cost_for_tagger
            else:
                r = -self.tag_penalty_for_runner if tagged else self.step_cost_for_tagger
            rewards[i] = np.float32(r + rewards[i])
        done = tagged or self.t >= self.episode_length
        return self.observations(), rewards, done

    def observations(self) -> np.ndarray:
        """``(N, 4N + 1)`` (full) or ``(N, 6)`` (partial) float32 observations."""
        n = self.num_agents
        L, T = np.float32(self.grid_length), np.float32(self.episode_length)
        time = np.float32(self.t) / T
        types = [0.0] * (n - 1) + [1.0]
        rows = []
        for i in range(n):
            if self.use_full_observation:
                row = [np.float32(v) / L for v in self.x] + [np.float32(v) / L for v in self.y]
                row += types + [1.0 if j == i else 0.0 for j in range(n)] + [time]
            else:
                if i < n - 1:
                    j = n - 1  # a tagger sees the runner
                else:  # the runner sees its nearest tagger, ties to the lowest id
                    j, best = 0, None
                    for k in range(n - 1):
                        d = (self.x[k] - self.x[i]) ** 2 + (self.y[k] - self.y[i]) ** 2
                        if best is None or d < best:
                            j, best = k, d
                row = [
                    np.float32(self.x[i]) / L, np.float32(self.y[i]) / L,
                    np.float32(self.x[j]) / L, np.float32(self.y[j]) / L, types[i], time,
                ]
            rows.append(row)
        return np.asarray(rows, dtype=np.float32)
