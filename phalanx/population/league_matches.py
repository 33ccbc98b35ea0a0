"""League matches: complete policies playing paired games through :func:`phalanx.evaluation.play`.

A league *player* is a complete policy ``{group: member params}`` — for every group of the env, what
a learner's ``policy_params(state, group)`` returns — played through that learner's single-step
``act``. The env's groups are split into two *sides* (:func:`sides`: alternate groups in the env's
order, so on a two-group env each group is a side: Tag's taggers vs runners, Kuhn's ``player_0``
vs ``player_1``, simple_tag's adversaries vs agents).

**A match between A and B** is ``G`` *paired games*. Game ``g`` is two episodes from the same reset
key and the same per-step keys (``play`` called twice with one key): in the first A plays side 0's
groups and B side 1's, in the second B plays side 0 and A side 1. A named scorer
(:mod:`phalanx.population.scorers`) turns the two episodes into A's score 1 / 0.5 / 0; B's is one
minus it. Because the sides swap under the same keys, a policy against itself plays two identical
episodes and scores exactly 0.5.

:func:`make_match_evaluator` compiles ``K`` matches at once: a ``vmap`` over matches, and inside
each a ``vmap`` over the two episodes of ``play`` with ``G`` envs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from phalanx.algos.common.opponents import ActFn
from phalanx.envs.environment import Environment
from phalanx.errors import ConfigError
from phalanx.evaluation import Actor, play
from phalanx.population.scorers import Scorer, Sides


def sides(groups: Sequence[str]) -> Sides:
    """The two sides of a match: the groups at even and at odd positions of the env's group order.

    Raises:
        ConfigError: for fewer than two groups (a league needs two sides).
    """
    groups = tuple(groups)
    if len(groups) < 2:
        raise ConfigError(f"the env has one group ({', '.join(groups)}); phalanx league needs two or more groups "
                          "(players of a match take opposite sides), e.g. env=simple_tag, env=kuhn_poker.")
    return groups[0::2], groups[1::2]


def paired(policy_a: Mapping[str, Any], policy_b: Mapping[str, Any], split: Sides) -> tuple[dict, dict]:
    """The policies of a paired game's two episodes: ``(A on side 0 + B on side 1, B on side 0 + A on side 1)``."""
    first = {**{g: policy_a[g] for g in split[0]}, **{g: policy_b[g] for g in split[1]}}
    second = {**{g: policy_b[g] for g in split[0]}, **{g: policy_a[g] for g in split[1]}}
    return first, second


def make_match_evaluator(env: Environment, acts: Mapping[str, ActFn], hidden: Mapping[str, jax.Array],
                         scorer: Scorer, greedy: bool = False,
                         steps: int | None = None) -> Callable[[dict, dict, jax.Array], jax.Array]:
    """A jitted ``f(policies_a, policies_b, key) -> (K, G)`` A's scores in ``K`` matches of ``G`` paired games.

    Args:
        env: an unbatched, un-resetting env (:func:`phalanx.make`'s).
        acts: ``{group: a learner's single-step act}`` for every group.
        hidden: ``{group: (G, A, H)}`` initial recurrent state (``learner.initial_hidden(G)``); ``G`` games.
        scorer: how a paired game is scored.
        greedy: act with the learners' deterministic policies.
        steps: steps per episode (default ``env.time_limit``).

    ``policies_a`` / ``policies_b`` are ``{group: member params}`` stacked on a leading match axis
    ``(K, ...)``; match ``k`` plays with ``split(key, K)[k]``.
    """
    split = sides(tuple(env.spec.groups))

    def match(policy_a, policy_b, key):
        first, second = paired(policy_a, policy_b, split)
        both = jax.tree.map(lambda x, y: jnp.stack([x, y]), first, second)

        def episode(policy):
            actors = {g: Actor(acts[g], policy[g], hidden[g], greedy) for g in env.spec.groups}
            return play(env, actors, key, steps, stat=scorer.stat)

        out = jax.vmap(episode)(both)
        return scorer.score(jax.tree.map(lambda x: x[0], out), jax.tree.map(lambda x: x[1], out), split)

    @jax.jit
    def evaluate(policies_a, policies_b, key):
        k = jax.tree.leaves(policies_a)[0].shape[0]
        return jax.vmap(match)(policies_a, policies_b, jax.random.split(key, k))

    return evaluate
