"""Agent Q-networks (feed-forward or GRU) and the VDN/QMIX mixers.

Agent networks follow :mod:`phalanx.networks`' convention: inputs ``(T, *batch, d)`` with a
leading time axis, ``resets: (T, *batch)`` zeroing the GRU state at episode starts, and a
carry ``(*batch, H)`` (``H = 0`` and ignored when feed-forward).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from phalanx.networks import MLP
from phalanx.networks.modules import ACTIVATIONS, Dense


def _gru_steps(cell: nn.GRUCell, carry: jax.Array, inputs: tuple[jax.Array, jax.Array, jax.Array]):
    x, reset, cut = inputs
    # No gradient flows back through the state where ``cut`` (the end of a burn-in).
    carry = jnp.where(cut[..., None], jax.lax.stop_gradient(carry), carry)
    carry = jnp.where(reset[..., None], jnp.zeros_like(carry), carry)
    return cell(carry, x)


class QNetwork(nn.Module):
    """Q-values of one group's agents (parameters shared within the group).

    ``__call__(carry, x, resets) -> (carry, q (T, *b, n))`` acts; :meth:`with_next` also gives
    the Q-values of each step's *next* observation, for targets (see there). Recurrent:
    ``Dense -> GRU -> MLP -> Dense``, as EPyMARL's RNN agent; feed-forward: ``MLP -> Dense``.
    """

    num_actions: int
    hidden: Sequence[int] = (64, 64)
    activation: str = "relu"
    recurrent_size: int = 0

    def setup(self):
        if self.recurrent_size:
            self.embed = Dense(self.recurrent_size)
            self.cell = nn.GRUCell(self.recurrent_size)
        self.torso = MLP(self.hidden, self.activation)
        self.head = Dense(self.num_actions)

    def _q(self, h: jax.Array) -> jax.Array:
        return self.head(self.torso(h))

    def _embed(self, x: jax.Array) -> jax.Array:
        return ACTIVATIONS[self.activation](self.embed(x))

    def _scan(self, carry: jax.Array, x: jax.Array, resets: jax.Array,
              cut: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
        """The GRU over the time axis: ``(carry, hs)`` with ``hs[t]`` the state after reading ``x[t]``."""
        scan = nn.scan(_gru_steps, variable_broadcast="params", split_rngs={"params": False})
        cut = jnp.zeros_like(resets) if cut is None else jnp.broadcast_to(cut, resets.shape)
        return scan(self.cell, carry, (self._embed(x), resets, cut))

    def __call__(self, carry: jax.Array, x: jax.Array, resets: jax.Array) -> tuple[jax.Array, jax.Array]:
        if not self.recurrent_size:
            return carry, self._q(x)
        carry, hs = self._scan(carry, x, resets)
        return carry, self._q(hs)

    def with_next(self, carry: jax.Array, x: jax.Array, next_x: jax.Array, resets: jax.Array,
                  cut: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
        """``(q, q_next)``, both ``(T, *b, n)``: Q at each step's input and at its next observation.

        ``next_x[t]`` is the observation step ``t`` reached (the pre-reset final observation
        on an episode's last step). A recurrent network reads it with one more GRU step from
        the state after ``x[t]``, so ``q_next[t]`` is what acting would have seen next — equal
        to ``q[t + 1]`` inside an episode, and still defined when the episode ended at ``t``.
        ``cut`` (``(T, *b)`` or broadcastable, bool) stops gradients through the GRU state
        entering those steps (burn-in: outputs before the cut then get no gradient at all once
        the loss ignores them).
        """
        if not self.recurrent_size:
            return self._q(x), self._q(next_x)
        _, hs = self._scan(carry, x, resets, cut)
        next_hs, _ = self.cell(hs, self._embed(next_x))  # every step at once: time is a batch axis here
        return self._q(hs), self._q(next_hs)


def fan_in_uniform_init(key: jax.Array, like: Any) -> Any:
    """Parameters shaped like ``like`` (a Flax params tree), each ``U(−1/√fan_in, 1/√fan_in)``.

    This is PyTorch's default for linear layers (and so PyMARL's/EPyMARL's): ``fan_in`` is the
    input width of the kernel a bias or kernel belongs to. Drawing every parameter from one
    uniform sample keeps the compiled initialisation tiny (no per-layer QR or RNG programs),
    and gives biases non-zero values, which QMIX's hypernetworks need (see :class:`QMixer`).
    """
    paths, treedef = jax.tree_util.tree_flatten_with_path(like)
    kernels = {tuple(p[:-1]): x.shape[0] for p, x in paths if p[-1].key == "kernel"}
    sizes = [int(np.prod(x.shape)) for _, x in paths]
    u = jax.random.uniform(key, (sum(sizes),), jnp.float32, -1.0, 1.0)
    leaves, start = [], 0
    for (path, x), size in zip(paths, sizes, strict=True):
        bound = 1.0 / np.sqrt(kernels[tuple(path[:-1])])
        leaves.append((u[start : start + size] * bound).reshape(x.shape).astype(x.dtype))
        start += size
    return jax.tree_util.tree_unflatten(treedef, leaves)


class QMixer(nn.Module):
    """QMIX's monotonic mixing network (Rashid et al., 2018).

    ``Q_tot = w2 · elu(q · W1 + b1) + V(s)`` with ``W1 = |hyper_w1(s)|`` ``(N, E)`` and
    ``w2 = |hyper_w2(s)|`` ``(E,)`` from two-layer hypernetworks on the global state ``s``,
    ``b1`` linear in ``s`` and ``V`` a two-layer network of ``s``. Non-negative weights and a
    monotonic activation make ``∂Q_tot/∂q_i >= 0``.

    Initialise it with :func:`fan_in_uniform_init` (as the trainer does), not Flax's zero
    biases: with a constant or zero global state (matrix games) the hypernetworks' outputs are
    their biases, and ``|0|`` weights would cut every gradient to the agents.
    """

    num_agents: int
    embed: int = 32
    hypernet_embed: int = 64

    @nn.compact
    def __call__(self, qs: jax.Array, state: jax.Array) -> jax.Array:
        """``qs: (..., N)``, ``state: (..., S)`` → ``Q_tot: (...)``.

        ``state``'s leading axes may be a suffix of ``qs``'s (e.g. ``qs (K, B, N)``, ``state (B, S)``):
        the hypernetworks then run once per state and their weights mix all ``K`` Q vectors of it.
        """
        n, e = self.num_agents, self.embed

        def dense(width: int, name: str, x: jax.Array) -> jax.Array:
            return Dense(width, name=name)(x)

        def hyper(width: int, name: str) -> jax.Array:
            return dense(width, f"{name}_1", nn.relu(dense(self.hypernet_embed, f"{name}_0", state)))

        w1 = jnp.abs(hyper(n * e, "hyper_w1")).reshape(*state.shape[:-1], n, e)
        b1 = dense(e, "hyper_b1", state)
        hidden = nn.elu(jnp.einsum("...n,...ne->...e", qs, w1) + b1)
        w2 = jnp.abs(hyper(e, "hyper_w2"))
        v = dense(1, "V_1", nn.relu(dense(e, "V_0", state)))[..., 0]
        return jnp.sum(hidden * w2, axis=-1) + v


def vdn_mix(qs: jax.Array) -> jax.Array:
    """VDN: ``Q_tot = Σ_i q_i`` over the last axis, ``(..., N) -> (...)``."""
    return jnp.sum(qs, axis=-1)
