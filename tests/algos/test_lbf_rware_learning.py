"""IPPO/MAPPO learn LBF and RWARE: a fast check on a tiny LBF, slow targets on Mava's tasks.

Returns are team returns (Mava's and EPyMARL's units). Numbers, commands and budgets:
benchmarks/mava/README.md; the slow tests train as benchmarks/mava/lbf_rware_learning.py does.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

import phalanx
from phalanx.algos.ppo import PPOConfig, make_train
from phalanx.bench import random_return
from phalanx.runtime.run_config import from_values


def _final(returns: np.ndarray, fraction: int = 10) -> float:
    """Mean of the last 1/fraction of the per-update returns (NaN = no episode ended there)."""
    return float(np.nanmean(returns[-max(1, len(returns) // fraction):]))


def _returns(metrics, group: str) -> np.ndarray:
    """Per-update mean episode return of ``group`` (NaN where no episode ended)."""
    count = np.asarray(metrics.episode_count)
    return np.where(count > 0, np.asarray(metrics.episode_return_sum[group]) / np.maximum(count, 1), np.nan)


# Mava's tasks: LBF with Mava's team reward (a whole episode's rewards sum to at most 1), RWARE's team reward.
TASKS = {
    "lbf": ("lbf", {"scenario": "2s-8x8-2p-2f-coop", "team_reward": True}),
    "rware-tiny-2ag": ("rware", {"scenario": "tiny-2ag"}),
    "rware-tiny-4ag": ("rware", {"scenario": "tiny-4ag"}),
}


def _train(task: str, algo: str, steps: int) -> tuple[np.ndarray, phalanx.envs.Environment]:
    """Train as ``phalanx train env=<env> algo=<algo> train.total_steps=<steps>`` resolves (seed 0)."""
    name, settings = TASKS[task]
    config = from_values({"env": name, "algo": algo, "train": {"total_steps": steps}}, settings)
    env = phalanx.make(name, **settings)
    _, metrics = jax.jit(make_train(config.train, env).train)(jax.random.PRNGKey(0))
    return _returns(metrics, next(iter(env.spec.groups))), env


# A 5x5 grid, 2 agents, 1 food, full sight, 25-step episodes: one food worth 1 per episode (team reward).
TINY_LBF = {"scenario": "5x5-2p-1f", "time_limit": 25, "team_reward": True}
TINY_MARGIN = 0.4  # measured: random 0.43-0.44; trained 1.00 after 1e5 steps, seeds 0-2 (benchmarks/mava/README.md)


def test_ippo_beats_random_on_tiny_lbf():
    env = phalanx.make("lbf", **TINY_LBF)
    config = PPOConfig(num_envs=16, num_steps=25, total_steps=100_000, lr=1e-3, anneal_lr=False, hidden=(32, 32),
                       num_minibatches=2, agent_id=True)
    _, metrics = jax.jit(make_train(config, env).train)(jax.random.PRNGKey(0))
    trained = _final(_returns(metrics, "agents"))
    random = random_return(env, 256, 100, jax.random.PRNGKey(1))
    assert trained > random + TINY_MARGIN, f"IPPO {trained:.3f} vs random {random:.3f} (margin {TINY_MARGIN})"


# Slow targets on Mava's tasks, at the defaults `phalanx train env=... algo=...` resolves to and budgets
# far below Mava's/EPyMARL's 2e7 steps (what fits a shared 2-core CPU). Margins over the random policy's
# team return are about half of what the measured runs reached (benchmarks/mava/README.md).
SLOW_TARGETS = [
    # task, algo, env steps, margin over random
    ("lbf", "ippo", 300_000, 0.5),  # measured: 0.92 at 2.9e5 steps vs random 0.016
    ("lbf", "mappo", 300_000, 0.5),  # measured: 0.92 at 2.9e5 steps
    # RWARE's curves are still rising at 1e6 steps (deliveries per episode, last 10 % of updates ≈ 0.4).
    ("rware-tiny-2ag", "mappo", 1_000_000, 0.15),  # measured: 0.51 (last 5 %) vs random 0.022
    ("rware-tiny-4ag", "ippo", 1_000_000, 0.15),  # measured: 0.50 (last 5 %) vs random 0.017
]


@pytest.mark.slow
@pytest.mark.parametrize(("task", "algo", "steps", "margin"), SLOW_TARGETS)
def test_beats_random_on_mava_task(task: str, algo: str, steps: int, margin: float):
    returns, env = _train(task, algo, steps)
    trained = _final(returns)
    random = random_return(env, 256, 4 * env.default_params.time_limit, jax.random.PRNGKey(1))
    assert trained > random + margin, f"{algo} on {task}: {trained:.3f} vs random {random:.3f} (margin {margin})"


# Mava's published returns on RWARE (read off its README's figures, Jumanji's collision rule, 2e7 steps):
# the issue's target. Each case trains 2e7 steps (7–14 min on an idle 2-core CPU).
MAVA_RWARE = [
    # task, algo, Mava's return at 2e7 steps
    ("rware-tiny-2ag", "mappo", 16.0),  # measured: 18.15 (benchmarks/mava/README.md, 2026-11-22)
    ("rware-tiny-4ag", "mappo", 24.0),  # measured: 30.05
    ("rware-tiny-2ag", "ippo", 15.5),
]


@pytest.mark.slow
@pytest.mark.parametrize(("task", "algo", "mava"), MAVA_RWARE)
def test_reaches_mava_return_on_rware(task: str, algo: str, mava: float):
    returns, _ = _train(task, algo, 20_000_000)
    trained = _final(returns, fraction=20)
    assert trained >= mava, f"{algo} on {task} after 2e7 steps: {trained:.2f} < Mava's {mava}"
