"""A dataset held on the device: the rows of an OG-MARL-layout vault, ready for compiled sampling.

The runtime reads the vault (:mod:`phalanx.runtime.vault`) and builds an :class:`OfflineData`; learners
only see these arrays, so everything they do with them compiles into the run's program.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct


@struct.dataclass
class OfflineData:
    """Rows ``t = 0..T-1`` of concatenated episodes; agents of every group side by side on axis 1.

    Attributes:
        obs: ``(T, N, O)`` float32 flattened observations before acting.
        actions: ``(T, N)`` int32 (discrete) or ``(T, N, d)`` float32 (continuous).
        rewards: ``(T, N)`` float32.
        terminals: ``(T, N)`` float32: the agent reached a terminal state at row ``t`` (no value follows).
            A time-limit cut is not one: its target still bootstraps (see ``next_index``), else the same
            observation would be worth ``r`` at the cut and ``r + γ V`` elsewhere (the time left is not
            in the observation), and the Q-values of nearly equal actions drown in that noise.
        legals: ``(T, N, A)`` bool legal actions at ``obs`` (None: continuous).
        next_obs: ``(B, N, O)`` in a sampled batch: the row after each one (what a TD target bootstraps
            from); None in the whole dataset (the next row is ``obs[t + 1]``, not stored twice).
        next_legals: likewise, its legal actions.
        state: ``(T, S)`` float32 the env's global state before acting (QMIX's mixer reads it).
        next_state: ``(B, S)`` in a sampled batch: the next row's state; None in the whole dataset.
        td_valid: ``(T,)`` bool: row ``t`` has a TD target: False only on a last row that does not end
            an episode (a recording stopped mid-episode).
        next_index: ``(T,)`` int32 the row a TD target at ``t`` bootstraps from: ``t + 1``, or ``t``
            itself where a time limit cut the episode (the vault holds no final observation, and the
            next row is another episode's start; ``V(o_t)`` stands in for ``V(o_{t+1})``, Pardo et al.,
            2018, "Time Limits in Reinforcement Learning").
        layout: ``((group, start, stop), ...)`` the groups' slices of the agent axis (static).
    """

    obs: jax.Array
    actions: jax.Array
    rewards: jax.Array
    terminals: jax.Array
    legals: jax.Array | None
    next_obs: jax.Array | None
    next_legals: jax.Array | None
    state: jax.Array
    next_state: jax.Array | None
    td_valid: jax.Array
    next_index: jax.Array
    layout: tuple = struct.field(pytree_node=False, default=())

    @property
    def num_rows(self) -> int:
        """``T``: rows (agent steps of all agents at once)."""
        return int(self.obs.shape[0])

    @classmethod
    def build(cls, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray, terminals: np.ndarray,
              truncations: np.ndarray, legals: np.ndarray | None, state: np.ndarray,
              layout: dict[str, tuple[int, int]]) -> OfflineData:
        """From OG-MARL fields without the batch axis (``(T, N, ...)``), as numpy or JAX arrays."""
        obs = np.asarray(obs, np.float32)
        term = np.asarray(terminals, np.float32)
        trunc = np.asarray(truncations, np.float32)
        terminated = (term > 0).all(-1)
        cut = (trunc > 0).all(-1) & ~terminated  # a time limit ended it: the next row is another episode
        valid = np.ones(len(obs), bool)
        valid[-1] = terminated[-1] | cut[-1]
        rows = np.arange(len(obs))
        next_index = np.where(cut, rows, np.minimum(rows + 1, len(obs) - 1)).astype(np.int32)
        legal = None if legals is None else np.asarray(legals) > 0
        return cls(obs=jnp.asarray(obs), actions=jnp.asarray(actions), rewards=jnp.asarray(rewards, jnp.float32),
                   terminals=jnp.asarray(term), legals=None if legal is None else jnp.asarray(legal),
                   next_obs=None, next_legals=None, state=jnp.asarray(state, jnp.float32), next_state=None,
                   td_valid=jnp.asarray(valid), next_index=jnp.asarray(next_index),
                   layout=tuple((g, a, b) for g, (a, b) in layout.items()))

    def sample(self, key: jax.Array, batch_size: int) -> OfflineData:
        """``batch_size`` rows drawn uniformly with replacement, with their next rows (leaves ``(B, ...)``)."""
        index = jax.random.randint(key, (batch_size,), 0, self.obs.shape[0])
        after = self.next_index[index]  # the last row's, if unfinished, is unused (td_valid)
        batch = jax.tree.map(lambda x: x[index], self.replace(next_obs=None, next_legals=None, next_state=None))
        return batch.replace(next_obs=self.obs[after], next_legals=None if self.legals is None else self.legals[after],
                             next_state=self.state[after])

    def group(self, name: str) -> OfflineData:
        """The rows with only ``name``'s agents on axis 1 (``state`` and ``td_valid`` kept)."""
        start, stop = next((a, b) for g, a, b in self.layout if g == name)
        agents = lambda x: None if x is None else x[:, start:stop]  # noqa: E731
        return self.replace(obs=agents(self.obs), actions=agents(self.actions), rewards=agents(self.rewards),
                            terminals=agents(self.terminals), legals=agents(self.legals),
                            next_obs=agents(self.next_obs), next_legals=agents(self.next_legals))
