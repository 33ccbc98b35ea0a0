"""``phalanx league``'s tasks: compiled programs for training a player and playing matches.

Module-level functions of picklable arguments, so a Ray backend can run them remotely; each worker
builds the compiled programs once per :class:`TaskSpec` and keeps them.

* :func:`train_player_task` — train one league player for ``updates_per_task`` PPO updates of its
  taggers against the opponents' runners, then as many of its runners against the opponents'
  taggers (two trainers built with ``learners=("taggers",)`` / ``("runners",)``). The opponents are
  the learner's PFSP/self-play mixture over league players (:meth:`League.opponent_distribution`),
  padded with zero-weight members to the league's capacity so the task compiles once; every env
  draws its opponent at each episode start inside the compiled program.
* :func:`evaluate_matches_task` — a batch of matches (:func:`~phalanx.population.league.make_match_evaluator`,
  a jitted ``vmap`` over matches, ``eval_chunk`` matches per call).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from phalanx.algos.ppo.config import PPOConfig
from phalanx.population.league import make_match_evaluator
from phalanx.runtime.league_config import LeagueConfig

GROUPS = ("taggers", "runners")


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """What fixes the compiled programs of a league's tasks (hashable: workers cache programs by it)."""

    env: str
    env_settings: tuple[tuple[str, Any], ...]
    train: PPOConfig
    updates: int  # PPO updates per group per train task
    games: int  # paired games per match per evaluation call
    chunk: int  # matches per evaluation call
    greedy: bool

    @classmethod
    def of(cls, config: LeagueConfig) -> TaskSpec:
        """The task spec of a league config (env settings as sorted pairs)."""
        return cls(config.env, tuple(sorted(config.env_settings.items())), config.train, config.league.updates_per_task,
                   config.league.eval_games, config.league.eval_chunk, config.league.greedy_eval)


@dataclasses.dataclass(frozen=True)
class Programs:
    """A worker's compiled pieces for one :class:`TaskSpec`."""

    env: Any
    policy: Any
    trainers: dict[str, Any]  # {group that learns: Trainer}
    train: Any  # jitted (player, opponents, weights, key) -> (player, metrics)
    evaluate: Any  # jitted (actors_a, actors_b, key) -> (tags, runner_steps)


@functools.lru_cache(maxsize=4)
def programs(spec: TaskSpec) -> Programs:
    """Build (once per process and spec) the trainers and the jitted train / evaluation functions."""
    import phalanx
    from phalanx.algos.ppo.train import make_train

    env = phalanx.make(spec.env, **dict(spec.env_settings))
    trainers = {g: make_train(spec.train, env, learners=(g,)) for g in GROUPS}
    policy = trainers["taggers"].policy

    def train(player, opponents, weights, key):
        params, opt, metrics = {}, {}, {}
        for g, k in zip(GROUPS, jax.random.split(key), strict=True):
            other = GROUPS[1 - GROUPS.index(g)]
            tr = trainers[g]
            state = tr.init(k, {other: opponents[other]}, weights)
            state = state.replace(params=player["params"], opt_state=player["opt"][g])
            state, m = jax.lax.scan(lambda s, _, tr=tr: tr.update(s), state, None, length=spec.updates)
            params[g], opt[g] = state.params[g], state.opt_state
            count = m.episode_count.sum()
            metrics[g] = {"return": m.episode_return_sum[g].sum() / jnp.maximum(count, 1.0), "episodes": count,
                          "policy_loss": m.policy_loss[g].mean(), "entropy": m.entropy[g].mean()}
        return {"params": params, "opt": opt}, metrics

    evaluate = make_match_evaluator(env, policy, spec.games, spec.greedy, spec.train.squash)
    return Programs(env, policy, trainers, jax.jit(train), evaluate)


def initial_player(spec: TaskSpec, key: jax.Array) -> dict[str, Any]:
    """A new player's state: ``{"params": {group: {"actor", "critic"}}, "opt": {group: optimiser state}}``."""
    prog = programs(spec)
    params = prog.policy.init(key)
    opt = {g: prog.trainers[g].optimizer.init(params) for g in GROUPS}
    return jax.device_get({"params": params, "opt": opt})


def actors_of(player: dict[str, Any]) -> dict[str, Any]:
    """``{group: actor params}`` of a player's state (what opponents and evaluations need)."""
    return {g: player["params"][g]["actor"] for g in GROUPS}


def train_player_task(spec: TaskSpec, player: dict, opponents: dict, weights: np.ndarray,
                      key: np.ndarray) -> tuple[dict, dict]:
    """Train ``player`` for ``spec.updates`` updates per group against an opponent mixture.

    Args:
        player: the learner's state (:func:`initial_player`'s layout).
        opponents: ``{group: actor params stacked on a leading member axis (C, ...)}``.
        weights: ``(C,)`` the mixture each env draws its opponent from at every episode start.
        key: a PRNG key (``(2,)`` uint32).

    Returns:
        ``(new player state, {group: {"return", "episodes", "policy_loss", "entropy"}})`` as NumPy/floats.
    """
    new, metrics = programs(spec).train(player, opponents, jnp.asarray(weights, jnp.float32), jnp.asarray(key))
    new, metrics = jax.device_get((new, metrics))
    return new, {g: {k: float(v) for k, v in m.items()} for g, m in metrics.items()}


def evaluate_matches_task(spec: TaskSpec, actors_a: dict, actors_b: dict, key: np.ndarray,
                          repeats: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Play ``K`` matches (``spec.games × repeats`` paired games each) between ``actors_a[k]`` and ``actors_b[k]``.

    ``actors_*`` are ``{group: actor params (K, ...)}``. Returns ``(tags, runner_steps)``, each
    ``(K, games × repeats, 2)`` int (see :func:`~phalanx.population.league.match_scores`).
    """
    evaluate = programs(spec).evaluate
    k = jax.tree.leaves(actors_a)[0].shape[0]
    pad = -k % spec.chunk  # fixed-size calls: one compiled program

    def padded(tree):
        return jax.tree.map(lambda x: np.concatenate([x, np.repeat(x[:1], pad, 0)]) if pad else x, tree)

    a_all, b_all = padded(actors_a), padded(actors_b)
    tags, steps = [], []
    for r in range(repeats):
        row_t, row_s = [], []
        for c in range(0, k + pad, spec.chunk):
            a, b = (jax.tree.map(lambda x, c=c: x[c : c + spec.chunk], t) for t in (a_all, b_all))
            t, s = evaluate(a, b, jax.random.fold_in(jax.random.fold_in(jnp.asarray(key), r), c))
            row_t.append(np.asarray(t))
            row_s.append(np.asarray(s))
        tags.append(np.concatenate(row_t)[:k])
        steps.append(np.concatenate(row_s)[:k])
    return np.concatenate(tags, axis=1), np.concatenate(steps, axis=1)


def stack(trees: list[Any]) -> Any:
    """Trees of the same structure stacked on a new leading axis (NumPy)."""
    return jax.tree.map(lambda *x: np.stack(x), *trees)


def copy_tree(tree: Any) -> Any:
    """A NumPy copy of every leaf (a player's state is kept apart from the arrays it was made from)."""
    return jax.tree.map(np.array, tree)
