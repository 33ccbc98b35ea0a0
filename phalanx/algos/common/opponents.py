"""Fixed opponents: the groups that do not learn, each env drawing one member per episode.

A learner built with ``make_train(config, env, learners=(group, ...))`` trains only those
groups; every other group plays a fixed *population* given to ``init(key, opponents=...)``:
:class:`Opponents` holds, per fixed group, the members' policy parameters stacked on a leading
member axis ``(K, ...)`` — each member is what :meth:`Learner.policy_params` returns — and the
mixture weights ``(K,)``. At every episode start each env draws its member from the mixture
(:func:`draw_members`), and the member acts through the learner's own single-step ``act``
(:func:`opponent_actions`). This is the best-response oracle of PSRO, fictitious self-play
and league training, written once for every learner.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import struct

from phalanx.errors import PhalanxError


@struct.dataclass
class Opponents:
    """A fixed population for the groups that do not learn.

    Attributes:
        params: ``{group: policy params with a leading member axis (K, ...)}`` (one entry per
            fixed group; member ``k`` of every group plays together).
        weights: ``(K,)`` the mixture each env draws its member from at every episode start.
    """

    params: dict
    weights: jax.Array

    @classmethod
    def create(cls, params: dict, weights: jax.Array | Sequence[float] | None = None) -> Opponents:
        """Opponents from stacked member params; ``weights`` default to uniform over the ``K`` members."""
        num = num_members(params)
        weights = jnp.full((num,), 1.0 / num) if weights is None else jnp.asarray(weights, jnp.float32)
        if weights.shape != (num,):
            raise PhalanxError(f"opponent weights have shape {weights.shape}; expected ({num},), one per member.")
        return cls(params=params, weights=weights)

    @classmethod
    def stack(cls, members: Sequence[dict], weights: jax.Array | Sequence[float] | None = None) -> Opponents:
        """Opponents from a list of members, each ``{group: policy params}`` (no member axis)."""
        return cls.create(jax.tree.map(lambda *x: jnp.stack(x), *members), weights)


def num_members(params: dict) -> int:
    """``K``, the leading axis of the stacked member params."""
    leaves = jax.tree.leaves(params)
    if not leaves:
        raise PhalanxError("opponents hold no parameters; expected {group: params stacked on a member axis}.")
    return int(leaves[0].shape[0])


def check_learners(groups: Sequence[str], learners: Sequence[str] | None) -> tuple[str, ...]:
    """The learning groups (default: all); a :class:`PhalanxError` unless a non-empty subset of ``groups``."""
    groups = tuple(groups)
    learners = groups if learners is None else tuple(learners)
    unknown = [g for g in learners if g not in groups]
    if unknown or not learners:
        raise PhalanxError(
            f"learners={list(learners)}: expected a non-empty subset of the env's groups {list(groups)}."
        )
    return learners


def check_opponents(groups: Sequence[str], learners: Sequence[str], opponents: Opponents | None,
                    num_envs: int) -> tuple[Opponents | None, jax.Array | None]:
    """``(opponents, member index (E,) int32)`` for ``init``; ``(None, None)`` when every group learns.

    Raises:
        PhalanxError: some groups do not learn and ``opponents`` does not cover exactly them.
    """
    fixed = [g for g in groups if g not in learners]
    if not fixed:
        return None, None
    if not isinstance(opponents, Opponents) or set(opponents.params) != set(fixed):
        got = sorted(opponents.params) if isinstance(opponents, Opponents) else opponents
        raise PhalanxError(
            f"groups {fixed} do not learn, so init needs opponents=Opponents.create({{group: stacked policy "
            f"params}}) for exactly those groups; got {got}."
        )
    return opponents, jnp.zeros((num_envs,), jnp.int32)


def draw_members(key: jax.Array, opponents: Opponents, index: jax.Array, starts: jax.Array) -> jax.Array:
    """``(E,)`` member playing in each env: a fresh draw from the mixture where an episode starts."""
    drawn = jax.random.categorical(key, jnp.log(opponents.weights), shape=starts.shape)
    return jnp.where(starts, drawn, index)


#: A learner's single-step ``act(params, group, hidden, obs, first, key, *, mask, greedy) -> (actions, hidden)``.
ActFn = Callable[..., tuple[jax.Array, jax.Array]]


def opponent_actions(act: ActFn, opponents: Opponents, index: jax.Array, group: str, hidden: jax.Array,
                     obs: jax.Array, first: jax.Array, key: jax.Array, mask: jax.Array | None = None,
                     greedy: bool = False) -> tuple[jax.Array, jax.Array]:
    """Actions ``(E, A, ...)`` and hidden states ``(E, A, H)`` of fixed group ``group``, each env with its member.

    ``act`` is the learner's single-step act; ``index`` ``(E,)`` the member of each env; the other
    arguments are the group's batched inputs, as for ``act``.
    """
    params = jax.tree.map(lambda p: p[index], opponents.params[group])  # (E, ...)
    keys = jax.random.split(key, index.shape[0])

    def one_env(p, h, o, f, k, m):
        a, h = act(p, group, h[None], o[None], f[None], k, mask=None if m is None else m[None], greedy=greedy)
        return a[0], h[0]

    return jax.vmap(one_env)(params, hidden, obs, first, keys, mask)
