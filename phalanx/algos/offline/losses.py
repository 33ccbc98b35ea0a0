"""Offline losses, one group's batch at a time: behaviour cloning and IQL+CQL.

Shapes: ``B`` rows, ``A`` agents of the group; ``logits``/``q`` ``(B, A, n)``; masks ``(B, A, n)`` bool
(True = legal); everything else ``(B, A)`` unless stated.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from phalanx.algos.common.targets import masked_mean, td_target
from phalanx.algos.value_based.targets import NEG_INF, bootstrap_values, legal


def bc_discrete_loss(logits: jax.Array, actions: jax.Array, mask: jax.Array) -> jax.Array:
    """Behaviour cloning: ``−E[log π(a_data | o)]`` with π a softmax over the legal actions."""
    logp = jax.nn.log_softmax(jnp.where(legal(mask), logits, NEG_INF), axis=-1)
    return -jnp.mean(jnp.take_along_axis(logp, actions[..., None].astype(jnp.int32), -1)[..., 0])


def bc_continuous_loss(mean_action: jax.Array, actions: jax.Array) -> jax.Array:
    """Behaviour cloning of a deterministic policy: ``E[‖μ(o) − a_data‖²]`` (``(B, A, d)`` each)."""
    return jnp.mean(jnp.sum((mean_action - actions) ** 2, axis=-1))


def cql_regulariser(q: jax.Array, actions: jax.Array, mask: jax.Array) -> jax.Array:
    """CQL(H) (Kumar et al., 2020): ``E[logsumexp_a Q(s, a) − Q(s, a_data)]`` over legal actions, ``(B, A)``.

    It pushes down every action's value and pushes up the data's, so actions the dataset never took
    cannot look better than the ones it did.
    """
    chosen = jnp.take_along_axis(q, actions[..., None].astype(jnp.int32), -1)[..., 0]
    return jax.nn.logsumexp(jnp.where(legal(mask), q, NEG_INF), axis=-1) - chosen


def uniform_legal_actions(key: jax.Array, mask: jax.Array, num: int) -> jax.Array:
    """``num`` uniformly random legal actions per agent, ``(num, B, A)`` int32 from a ``(B, A, n)`` mask.

    One random integer per action picks among the legal ones (``cumsum`` of the mask): ``n`` times fewer
    random numbers than ``jax.random.categorical``'s Gumbel draw, whose noise generation is most of a
    QMIX+CQL step on CPU otherwise.
    """
    ok = legal(mask)
    count = jnp.maximum(ok.sum(-1), 1)
    pick = jax.random.randint(key, (num, *count.shape), 0, jnp.iinfo(jnp.int32).max) % count
    return jnp.argmax(jnp.cumsum(ok, -1) > pick[..., None], axis=-1).astype(jnp.int32)


def iql_cql_loss(q: jax.Array, q_next_online: jax.Array, q_next_target: jax.Array, actions: jax.Array,
                 mask: jax.Array, next_mask: jax.Array, rewards: jax.Array, terminals: jax.Array,
                 td_valid: jax.Array, gamma: float, cql_weight: float, double_q: bool
                 ) -> tuple[jax.Array, tuple[jax.Array, jax.Array, jax.Array]]:
    """Independent Q-learning on dataset rows plus ``cql_weight ×`` :func:`cql_regulariser`.

    Targets ``r + γ (1 − terminal) V(s')`` with ``V`` from the value-based family's
    :func:`~phalanx.algos.value_based.targets.bootstrap_values` (double Q: online argmax, target value);
    ``terminals`` 1 where nothing is bootstrapped (a terminal state; a time-limit cut bootstraps, see
    :class:`~phalanx.algos.offline.data.OfflineData`); rows without a
    target (``td_valid`` ``(B,)`` False: a recording's unfinished last row) have no TD term.
    Returns ``(loss, (td_loss, cql, mean chosen Q))``.
    """
    boot = jax.lax.stop_gradient(bootstrap_values(q_next_online, q_next_target, next_mask, double_q))
    target = jax.lax.stop_gradient(td_target(rewards, terminals, boot, gamma))
    chosen = jnp.take_along_axis(q, actions[..., None].astype(jnp.int32), -1)[..., 0]
    valid = jnp.broadcast_to(td_valid[:, None], chosen.shape)
    td = masked_mean((chosen - target) ** 2, valid)
    cql = jnp.mean(cql_regulariser(q, actions, mask))
    return td + cql_weight * cql, (td, cql, jnp.mean(chosen))


def qmix_cql_loss(q: jax.Array, q_next_online: jax.Array, q_next_target: jax.Array, actions: jax.Array,
                  next_mask: jax.Array, ood_actions: jax.Array, mix: Callable[[jax.Array], jax.Array],
                  target_mix: Callable[[jax.Array], jax.Array], team_reward: jax.Array, team_terminal: jax.Array,
                  td_valid: jax.Array, gamma: float, cql_weight: float, double_q: bool
                  ) -> tuple[jax.Array, tuple[jax.Array, jax.Array, jax.Array]]:
    """QMIX on dataset rows plus CQL on the mixed value, as OG-MARL's QMIX+CQL.

    ``mix``/``target_mix``: agents' Qs ``(..., B, A) -> (..., B)`` through the online / target mixer at
    the rows' / next rows' global states (``mix`` is called once, on all ``K + 1`` joint actions).
    TD: ``(Q_tot(s, a_data) − y)²`` with
    ``y = r_team + γ (1 − terminal) Q_tot'(s', a')`` (``a'`` per agent from
    :func:`~phalanx.algos.value_based.targets.bootstrap_values`); CQL:
    ``logsumexp`` over ``{Q_tot(s, a_ood^k)}_k ∪ {Q_tot(s, a_data)}`` minus ``Q_tot(s, a_data)``, with
    ``ood_actions`` ``(K, B, A)`` random legal joint actions (the joint action space is too large to sum).
    ``team_reward``, ``team_terminal``, ``td_valid``: ``(B,)``. Returns ``(loss, (td, cql, mean Q_tot))``.
    """
    boot = jax.lax.stop_gradient(bootstrap_values(q_next_online, q_next_target, next_mask, double_q))
    target = jax.lax.stop_gradient(td_target(team_reward, team_terminal, target_mix(boot), gamma))
    chosen = jnp.take_along_axis(q, actions[..., None].astype(jnp.int32), -1)[..., 0]
    # A one-hot product, not a gather: its gradient is dense, where a gather's is a slow scatter on CPU.
    ood = jnp.sum(q[None] * jax.nn.one_hot(ood_actions, q.shape[-1], dtype=q.dtype), -1)  # (K, B, A)
    mixed = mix(jnp.concatenate([ood, chosen[None]], axis=0))  # (K + 1, B): one mixer call
    q_tot = mixed[-1]
    td = masked_mean((q_tot - target) ** 2, td_valid)
    cql = jnp.mean(jax.nn.logsumexp(mixed, axis=0) - q_tot)
    return td + cql_weight * cql, (td, cql, jnp.mean(q_tot))
