"""Agent Q-networks (feed-forward or GRU) and the VDN/QMIX mixers.

Agent networks follow :mod:`phalanx.networks`' convention: inputs ``(T, *batch, d)`` with a
leading time axis, ``resets: (T, *batch)`` zeroing the GRU state at episode starts, and a
carry ``(*batch, H)`` (``H = 0`` and ignored when feed-forward).
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from phalanx.networks import MLP, ScannedGRU
from phalanx.networks.modules import ACTIVATIONS, orthogonal


class QNetwork(nn.Module):
    """Q-values of one group's agents (parameters shared within the group).

    ``__call__(carry, x, resets) -> (carry, q (T, *b, n))`` acts; :meth:`with_next` also gives
    the Q-values of each step's *next* observation, for targets (see there).
    """

    num_actions: int
    hidden: Sequence[int] = (64, 64)
    activation: str = "relu"
    recurrent_size: int = 0

    def setup(self):
        if self.recurrent_size:
            self.embed = nn.Dense(self.recurrent_size, kernel_init=orthogonal(np.sqrt(2)))
            self.gru = ScannedGRU(self.recurrent_size)
        self.torso = MLP(self.hidden, self.activation)
        self.head = nn.Dense(self.num_actions, kernel_init=orthogonal(1.0), bias_init=nn.initializers.zeros)

    def _q(self, h: jax.Array) -> jax.Array:
        return self.head(self.torso(h))

    def _embed(self, x: jax.Array) -> jax.Array:
        return ACTIVATIONS[self.activation](self.embed(x))

    def __call__(self, carry: jax.Array, x: jax.Array, resets: jax.Array) -> tuple[jax.Array, jax.Array]:
        if not self.recurrent_size:
            return carry, self._q(x)
        carry, hs = self.gru(carry, (self._embed(x), resets))
        return carry, self._q(hs)

    def with_next(self, carry: jax.Array, x: jax.Array, next_x: jax.Array,
                  resets: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(q, q_next)``, both ``(T, *b, n)``: Q at each step's input and at its next observation.

        ``next_x[t]`` is the observation step ``t`` reached (the pre-reset final observation
        on an episode's last step). A recurrent network reads it with one more GRU step from
        the state after ``x[t]``, so ``q_next[t]`` is what acting would have seen next — equal
        to ``q[t + 1]`` inside an episode, and still defined when the episode ended at ``t``.
        """
        if not self.recurrent_size:
            return self._q(x), self._q(next_x)
        _, hs = self.gru(carry, (self._embed(x), resets))  # hs[t]: the state after reading x[t]
        _, next_hs = self.gru(hs, (self._embed(next_x)[None], jnp.zeros_like(resets)[None]))
        return self._q(hs), self._q(next_hs[0])


class QMixer(nn.Module):
    """QMIX's monotonic mixing network (Rashid et al., 2018).

    ``Q_tot = w2 · elu(q · W1 + b1) + V(s)`` with ``W1 = |hyper_w1(s)|`` ``(N, E)`` and
    ``w2 = |hyper_w2(s)|`` ``(E,)`` from two-layer hypernetworks on the global state ``s``,
    ``b1`` linear in ``s`` and ``V`` a two-layer network of ``s``. Non-negative weights and a
    monotonic activation make ``∂Q_tot/∂q_i >= 0``.
    """

    num_agents: int
    embed: int = 32
    hypernet_embed: int = 64

    @nn.compact
    def __call__(self, qs: jax.Array, state: jax.Array) -> jax.Array:
        """``qs: (..., N)``, ``state: (..., S)`` → ``Q_tot: (...)``."""
        n, e = self.num_agents, self.embed

        def dense(width: int, name: str, x: jax.Array) -> jax.Array:
            # Biases drawn like PyTorch's (and PyMARL's) U(±1/√fan_in), not zero: with a constant or
            # zero global state the hypernetworks' outputs are their biases, and |0| weights would
            # cut every gradient to the agents.
            bound = 1.0 / np.sqrt(max(x.shape[-1], 1))
            bias = lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -bound, bound)  # noqa: E731
            return nn.Dense(width, bias_init=bias, name=name)(x)

        def hyper(width: int, name: str) -> jax.Array:
            return dense(width, f"{name}_1", nn.relu(dense(self.hypernet_embed, f"{name}_0", state)))

        w1 = jnp.abs(hyper(n * e, "hyper_w1")).reshape(*qs.shape[:-1], n, e)
        b1 = dense(e, "hyper_b1", state)
        hidden = nn.elu(jnp.einsum("...n,...ne->...e", qs, w1) + b1)
        w2 = jnp.abs(hyper(e, "hyper_w2"))
        v = dense(1, "V_1", nn.relu(dense(e, "V_0", state)))[..., 0]
        return jnp.sum(hidden * w2, axis=-1) + v


def vdn_mix(qs: jax.Array) -> jax.Array:
    """VDN: ``Q_tot = Σ_i q_i`` over the last axis, ``(..., N) -> (...)``."""
    return jnp.sum(qs, axis=-1)
