"""What a learner needs from a batch of envs stepped on the host: the :class:`HostVecEnv` protocol.

Envs that are not JAX (PettingZoo envs, through ``phalanx.from_pettingzoo``) step on the host,
usually in worker processes that :mod:`phalanx.runtime.host_envs` owns. Learners type against
this protocol instead, so ``algos`` never imports a process pool: anything with these members
trains, whether its envs run in processes, threads or this process.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from phalanx.envs.types import EnvSpec, TimeStep


@runtime_checkable
class HostVecEnv(Protocol):
    """``num_envs`` auto-resetting envs on the host, in Phalanx's batched layout (NumPy leaves, env axis first).

    The envs form ``num_splits`` equal splits (``split_rows[s]`` are split ``s``'s env indices), so a
    learner can choose actions for one split while another steps: ``step_async(actions, s)`` starts
    split ``s``'s step and returns at once, ``step_wait(s)`` returns its timestep.

    Attributes:
        spec: groups, their spaces and the global-state space (per env, unbatched).
        num_envs: ``E``, the leading axis of every array.
        num_splits: how many splits the envs form (a divisor of ``num_envs``).
        split_rows: ``range`` of env indices of each split, in order.
    """

    spec: EnvSpec
    num_envs: int
    num_splits: int
    split_rows: Sequence[range]

    def reset(self, seed: int | None = 0) -> TimeStep:
        """Reset every env (env ``i`` with ``seed + i``); the batched first timestep."""
        ...

    def step(self, actions: dict[str, Any]) -> TimeStep:
        """Step every env with ``actions[g]`` ``(E, A, ...)``; the batched timestep (ended episodes restart)."""
        ...

    def step_async(self, actions: dict[str, Any], split: int = 0) -> None:
        """Start stepping split ``split`` with ``actions[g]`` ``(E / num_splits, A, ...)``."""
        ...

    def step_wait(self, split: int = 0) -> TimeStep:
        """Wait for split ``split``'s step; its timestep, leaves ``(E / num_splits, ...)``."""
        ...

    def close(self) -> None:
        """Release what the envs hold (processes, shared memory); idempotent."""
        ...
