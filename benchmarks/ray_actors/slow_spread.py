"""``mpe2.simple_spread_v3`` made deliberately slow: every ``step`` (and ``reset``) first sleeps ``sleep_ms``.

A stand-in for the simulators the Ray actors exist for (Python or C++ processes whose step costs
milliseconds): with a sleep, an env's step time is set by the benchmark, not by the loaded CPU, so
two actors on two nodes should step twice as fast as one. Trained as a PettingZoo module::

    PYTHONPATH=benchmarks/ray_actors phalanx train env=pettingzoo:slow_spread env.sleep_ms=5 ...

(``pettingzoo_factory`` imports ``slow_spread`` and calls its ``parallel_env(**settings)``; the
``PYTHONPATH`` travels to Ray's workers because they are started from this process's environment.)
"""

from __future__ import annotations

import time
from typing import Any

from mpe2 import simple_spread_v3
from pettingzoo.utils.wrappers import BaseParallelWrapper


class SleepingParallelEnv(BaseParallelWrapper):
    """A ParallelEnv whose ``step`` and ``reset`` sleep ``sleep_s`` seconds before stepping the wrapped env."""

    def __init__(self, env: Any, sleep_s: float):
        super().__init__(env)
        self.sleep_s = sleep_s

    def reset(self, seed: int | None = None, options: dict | None = None) -> Any:
        """The wrapped env's reset, after the sleep."""
        time.sleep(self.sleep_s)
        return self.env.reset(seed=seed, options=options)

    def step(self, actions: dict) -> Any:
        """The wrapped env's step, after the sleep."""
        time.sleep(self.sleep_s)
        return self.env.step(actions)


def parallel_env(sleep_ms: float = 5.0, **settings: Any) -> SleepingParallelEnv:
    """``simple_spread_v3.parallel_env(**settings)`` sleeping ``sleep_ms`` milliseconds per step."""
    return SleepingParallelEnv(simple_spread_v3.parallel_env(**settings), sleep_ms / 1000.0)
