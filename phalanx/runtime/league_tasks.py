"""``phalanx league``'s tasks: compiled programs for training a player and playing matches, for any learner.

Module-level functions of picklable arguments, so a Ray backend can run them remotely; each worker
builds the compiled programs once per :class:`TaskSpec` and keeps them.

**A player** is one learner train state per side of the env (:func:`~phalanx.population.league_matches.sides`):
side ``s``'s state comes from ``make_train(config, env, learners=side_s)`` (the registered learner
``algo=``), so it learns side ``s``'s groups while the other side's groups play fixed opponents.
The state keeps everything that learner carries between updates (parameters, optimiser, target
networks, replay buffer, statistics, envs, counters), with its ``opponents`` removed between tasks.
The player's *policy*, what opponents and matches use, is ``{group: policy_params(side state, group)}``.
The envs carry on across tasks: an episode in flight when a task starts finishes against the member
now at its slot of the new mixture (each env redraws at its next episode start), and off-policy
learners keep replaying what they stored against earlier opponents.

* :func:`train_player_task` — train one player for ``updates_per_task`` updates of each side in turn
  against the other side's groups of an opponent mixture over league players
  (:meth:`League.opponent_distribution`), padded with zero-weight members to the league's capacity
  so the task compiles once; every env draws its opponent at each episode start inside the
  compiled program (:class:`~phalanx.algos.common.opponents.Opponents`). On Tag this is the taggers
  against the opponents' runners, then the runners against the opponents' taggers.
* :func:`evaluate_matches_task` — a batch of matches
  (:func:`~phalanx.population.league_matches.make_match_evaluator`, scored by ``league.scorer``,
  ``eval_chunk`` matches per compiled call), returning A's score in every paired game.

A learner's train state must be a dataclass with ``opponents`` and ``key`` fields (every registered
learner's is): the league swaps the opponent mixture in and gives each task its own PRNG key.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from phalanx.algos.common.episodes import BaseMetrics
from phalanx.algos.common.opponents import Opponents
from phalanx.errors import PhalanxError
from phalanx.population.league_matches import make_match_evaluator, sides
from phalanx.population.scorers import get_scorer
from phalanx.runtime.league_config import LeagueConfig

_BASE_FIELDS = {f.name for f in dataclasses.fields(BaseMetrics)}


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """What fixes the compiled programs of a league's tasks (hashable: workers cache programs by it)."""

    env: str
    env_settings: tuple[tuple[str, Any], ...]
    algo: str
    train: Any  # the learner's config dataclass (frozen)
    updates: int  # learner updates per side per train task
    games: int  # paired games per match per evaluation call
    chunk: int  # matches per evaluation call
    greedy: bool
    scorer: str

    @classmethod
    def of(cls, config: LeagueConfig) -> TaskSpec:
        """The task spec of a league config (env settings as sorted pairs)."""
        s = config.league
        return cls(config.env, tuple(sorted(config.env_settings.items())), config.algo, config.train,
                   s.updates_per_task, s.eval_games, s.eval_chunk, s.greedy_eval, s.scorer)


@dataclasses.dataclass(frozen=True)
class Programs:
    """A worker's compiled pieces for one :class:`TaskSpec`."""

    env: Any
    sides: tuple[tuple[str, ...], tuple[str, ...]]
    learners: tuple[Any, ...]  # one Learner per side (learners=side)
    init: Any  # jitted key -> player
    policy: Any  # jitted player -> {group: member params}
    train: Any  # jitted (player, opponents, weights, key) -> (player, metrics)
    evaluate: Any  # jitted (policies_a, policies_b, key) -> (K, G) A's scores


def _replace(state: Any, **fields: Any) -> Any:
    missing = [f for f in fields if not hasattr(state, f)]
    if missing or not hasattr(state, "replace"):
        raise PhalanxError(f"the league needs a learner train state with fields {sorted(fields)} "
                           f"(a flax struct dataclass); {type(state).__name__} lacks {missing or ['replace']}.")
    return state.replace(**fields)


def _summary(metrics: Any, groups: tuple[str, ...]) -> dict[str, dict[str, jax.Array]]:
    """``{group: {"return", "episodes", <the learner's own per-group metrics>}}`` over a task's updates."""
    count = metrics.episode_count.sum()
    out = {}
    for g in groups:
        row = {"return": metrics.episode_return_sum[g].sum() / jnp.maximum(count, 1.0), "episodes": count}
        for f in dataclasses.fields(metrics):
            value = getattr(metrics, f.name)
            if f.name not in _BASE_FIELDS and isinstance(value, dict) and g in value:
                row[f.name] = jnp.mean(value[g])
        out[g] = row
    return out


@functools.lru_cache(maxsize=4)
def programs(spec: TaskSpec) -> Programs:
    """Build (once per process and spec) the side learners and the jitted init / policy / train / evaluate."""
    import phalanx
    from phalanx.algos.registry import get_algorithm

    env = phalanx.make(spec.env, **dict(spec.env_settings))
    split = sides(tuple(env.spec.groups))
    make_train = get_algorithm(spec.algo).make_train
    learners = tuple(make_train(spec.train, env, learners=side) for side in split)
    side_of = {g: s for s, side in enumerate(split) for g in side}

    def policy(player):
        return {g: learners[side_of[g]].policy_params(player[str(side_of[g])], g) for g in env.spec.groups}

    def init(key):
        # Member structure of every group (a learner of all groups, traced only) for placeholder opponents.
        every = make_train(spec.train, env)
        shapes = jax.eval_shape(lambda k: {g: every.policy_params(every.init(k), g) for g in env.spec.groups}, key)
        members = jax.tree.map(lambda s: jnp.zeros((1, *s.shape), s.dtype), shapes)
        player = {}
        for s, (learner, k) in enumerate(zip(learners, jax.random.split(key, len(split)), strict=True)):
            others = Opponents.create({g: members[g] for g in split[1 - s]})
            player[str(s)] = _replace(learner.init(k, others), opponents=None)
        return player

    def train(player, opponents, weights, key):
        new, metrics = {}, {}
        for s, (learner, k) in enumerate(zip(learners, jax.random.split(key, len(split)), strict=True)):
            mixture = Opponents(params={g: opponents[g] for g in split[1 - s]}, weights=weights)
            state = _replace(player[str(s)], opponents=mixture, key=k)
            state, m = jax.lax.scan(lambda st, _, learner=learner: learner.update(st), state, None,
                                    length=spec.updates)
            new[str(s)] = _replace(state, opponents=None)
            metrics.update(_summary(m, split[s]))
        return new, metrics

    hidden = learners[0].initial_hidden(spec.games)
    acts = {g: learners[side_of[g]].act for g in env.spec.groups}
    evaluate = make_match_evaluator(env, acts, hidden, get_scorer(spec.scorer, spec.env), spec.greedy)
    return Programs(env, split, learners, jax.jit(init), jax.jit(policy), jax.jit(train), evaluate)


def initial_player(spec: TaskSpec, key: jax.Array) -> dict[str, Any]:
    """A new player: ``{str(side): the side learner's train state (opponents removed)}`` as NumPy."""
    return jax.device_get(programs(spec).init(jnp.asarray(key)))


def policy_of(spec: TaskSpec, player: dict[str, Any]) -> dict[str, Any]:
    """A player's complete policy ``{group: member params}`` (what opponents and matches use), as NumPy."""
    return jax.device_get(programs(spec).policy(player))


def train_player_task(spec: TaskSpec, player: dict, opponents: dict, weights: np.ndarray,
                      key: np.ndarray) -> tuple[dict, dict]:
    """Train ``player`` for ``spec.updates`` updates per side against an opponent mixture.

    Args:
        player: the learner's state (:func:`initial_player`'s layout).
        opponents: ``{group: member params stacked on a leading member axis (C, ...)}`` (policies).
        weights: ``(C,)`` the mixture each env draws its opponent from at every episode start.
        key: a PRNG key (``(2,)`` uint32).

    Returns:
        ``(new player, {group: {"return", "episodes", <the learner's per-group metrics>}})`` as NumPy/floats.
    """
    new, metrics = programs(spec).train(player, opponents, jnp.asarray(weights, jnp.float32), jnp.asarray(key))
    new, metrics = jax.device_get((new, metrics))
    return new, {g: {k: float(v) for k, v in m.items()} for g, m in metrics.items()}


def evaluate_matches_task(spec: TaskSpec, policies_a: dict, policies_b: dict, key: np.ndarray,
                          repeats: int = 1) -> np.ndarray:
    """Play ``K`` matches (``spec.games × repeats`` paired games each) between ``policies_a[k]`` and ``policies_b[k]``.

    ``policies_*`` are ``{group: member params (K, ...)}``. Returns A's scores ``(K, games × repeats)``
    float32 in ``{0, 0.5, 1}`` (:mod:`phalanx.population.scorers`).
    """
    evaluate = programs(spec).evaluate
    k = jax.tree.leaves(policies_a)[0].shape[0]
    pad = -k % spec.chunk  # fixed-size calls: one compiled program

    def padded(tree):
        return jax.tree.map(lambda x: np.concatenate([x, np.repeat(x[:1], pad, 0)]) if pad else x, tree)

    a_all, b_all = padded(policies_a), padded(policies_b)
    scores = []
    for r in range(repeats):
        row = []
        for c in range(0, k + pad, spec.chunk):
            a, b = (jax.tree.map(lambda x, c=c: x[c : c + spec.chunk], t) for t in (a_all, b_all))
            row.append(np.asarray(evaluate(a, b, jax.random.fold_in(jax.random.fold_in(jnp.asarray(key), r), c))))
        scores.append(np.concatenate(row)[:k])
    return np.concatenate(scores, axis=1).astype(np.float32)


def stack(trees: list[Any]) -> Any:
    """Trees of the same structure stacked on a new leading axis (NumPy)."""
    return jax.tree.map(lambda *x: np.stack(x), *trees)


def copy_tree(tree: Any) -> Any:
    """A NumPy copy of every leaf (a player's state is kept apart from the arrays it was made from)."""
    return jax.tree.map(np.array, tree)
