"""League scorers by name: who won each paired game of a match (``league.scorer=NAME``).

A match between players A and B is a batch of *paired games* (:mod:`phalanx.population.league_matches`):
game ``g`` is two episodes from the same initial state with the same per-step keys; in the
``first`` A plays side 0's groups and B side 1's, in the ``second`` the sides are swapped. A scorer
turns the two :class:`~phalanx.evaluation.Outcome` batches into A's score per game, 1 / 0.5 / 0 for
a win / draw / loss, and must be *symmetric*: swapping A and B gives one minus the scores, so a
policy against itself scores exactly 0.5 and Elo ratings are well defined.

* ``returns`` (every env; the default): A's total is what A's groups earned — side 0's group
  returns in the first episode plus side 1's in the second — and B's total what B's groups
  earned in the same two episodes. Each group is played once by A and once by B from the same
  state, so A's total minus B's is the sum over groups of (A's return in that role minus B's).
  The higher total wins; totals equal up to float rounding (relative ``1e-6``) are a draw.
* ``tags`` (Tag only, its league default): A beats B if A's taggers tagged more runners than B's
  taggers did; on equal tags, if they tagged them sooner (fewer runner steps — the sum over the
  episode's steps of the runners still in the game — for B's runners than for A's); equal on both
  is a draw. Counted by a per-step statistic :func:`~phalanx.evaluation.play` sums.

A scorer names the envs that provide it (``envs``; None: any env); an env selects its default with
``league_defaults={"league.scorer": NAME}`` at its ``register`` line. Add one with
:func:`register_scorer`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from phalanx.errors import ConfigError, did_you_mean
from phalanx.evaluation import Outcome, StatFn

#: The two sides of a match: the env's groups split into those A plays first and those B plays first.
Sides = tuple[tuple[str, ...], tuple[str, ...]]

#: ``score(first, second, sides) -> (G,)`` A's scores (1 win, 0.5 draw, 0 loss) in each paired game.
ScoreFn = Callable[[Outcome, Outcome, Sides], jax.Array]


@dataclasses.dataclass(frozen=True)
class Scorer:
    """A named way of scoring paired games.

    Attributes:
        name: what users type (``league.scorer=NAME``).
        score: ``(first, second, sides) -> (G,)`` A's scores (see the module docstring).
        stat: the per-step statistic :func:`~phalanx.evaluation.play` sums for it (None: returns only).
        envs: the env names that provide it (None: every env).
        description: one line for error messages and docs.
    """

    name: str
    score: ScoreFn
    stat: StatFn | None = None
    envs: tuple[str, ...] | None = None
    description: str = ""


_SCORERS: dict[str, Scorer] = {}


def register_scorer(scorer: Scorer) -> None:
    """Add (or replace) a scorer under ``scorer.name``."""
    _SCORERS[scorer.name] = scorer


def scorers() -> dict[str, Scorer]:
    """Every registered scorer by name."""
    return dict(sorted(_SCORERS.items()))


def get_scorer(name: str, env: str | None = None) -> Scorer:
    """The scorer called ``name``, checked against env ``env`` when given; a one-line :class:`ConfigError` else."""
    if name not in _SCORERS:
        raise ConfigError(f"league.scorer={name!r}: unknown scorer.{did_you_mean(str(name), _SCORERS)} "
                          f"Valid: {', '.join(scorers())}.")
    scorer = _SCORERS[name]
    if env is not None and scorer.envs is not None and env not in scorer.envs:
        raise ConfigError(f"league.scorer={name}: {scorer.description} is provided by env={'|'.join(scorer.envs)}, "
                          f"not env={env}; use league.scorer=returns.")
    return scorer


def compare(a: jax.Array, b: jax.Array, rtol: float = 1e-6) -> jax.Array:
    """1 where ``a > b``, 0 where ``a < b``, 0.5 where they are equal up to ``rtol`` (relative, floor 1)."""
    diff = a - b
    tie = jnp.abs(diff) <= rtol * jnp.maximum(1.0, jnp.maximum(jnp.abs(a), jnp.abs(b)))
    return jnp.where(tie, 0.5, 0.5 + 0.5 * jnp.sign(diff))


def side_totals(first: Outcome, second: Outcome, sides: Sides) -> tuple[jax.Array, jax.Array]:
    """``(A's total, B's total)`` ``(G,)``: the returns each player's groups earned over the paired game."""
    zero = jnp.zeros_like(first.length, jnp.float32)
    a = sum((first.returns[g] for g in sides[0]), zero) + sum((second.returns[g] for g in sides[1]), zero)
    b = sum((first.returns[g] for g in sides[1]), zero) + sum((second.returns[g] for g in sides[0]), zero)
    return a, b


def returns_scores(first: Outcome, second: Outcome, sides: Sides) -> jax.Array:
    """The ``returns`` scorer: A wins a paired game when its groups earned more than B's (module docstring)."""
    return compare(*side_totals(first, second, sides))


def tag_stat(state: Any, next_state: Any) -> dict[str, jax.Array]:
    """Tag's per-step counts: ``tags`` (runners tagged on the step) and ``runner_steps`` (runners still in after it)."""
    before, after = state.alive[state.runner_ids], next_state.alive[next_state.runner_ids]
    return {"tags": jnp.sum(before & ~after), "runner_steps": jnp.sum(after)}


def tags_scores(first: Outcome, second: Outcome, sides: Sides) -> jax.Array:
    """The ``tags`` scorer on Tag (side 0 = taggers): more tags win, then fewer steps of the other's runners."""
    if sides != (("taggers",), ("runners",)):
        raise ConfigError(f"league.scorer=tags needs the sides (taggers,) vs (runners,); got {sides}.")
    # first: A's taggers vs B's runners; second: B's taggers vs A's runners.
    tags = jnp.sign(first.stats["tags"] - second.stats["tags"])
    speed = jnp.sign(second.stats["runner_steps"] - first.stats["runner_steps"])  # A's runners lasted longer
    return 0.5 + 0.5 * jnp.sign(2 * tags + speed)


register_scorer(Scorer("returns", returns_scores, description="the groups' returns"))
register_scorer(Scorer("tags", tags_scores, tag_stat, envs=("tag",), description="the tag count"))
