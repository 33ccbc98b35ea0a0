"""Oracles: a new population member for one player that best-responds to the opponent's meta-mixture.

* ``exact`` (poker and matrix games): the exact best response to the opponent population mixed by the
  meta-strategy — poker: :func:`~phalanx.population.exact.best_response` to the reach-weighted
  :func:`~phalanx.population.exact.mixture_policy`; matrix games: the best pure strategy (ties: the
  first action).
* ``learned`` (any game, any registered learner ``GameSpec.algo``): the learner's
  ``make_train(train, env, learners=(player's group,))`` trained by
  :func:`phalanx.algos.common.protocol.train` against :class:`~phalanx.algos.common.opponents.Opponents`
  — the opponent population's members (``policy_params`` stacked) and the meta-strategy as mixture
  weights, each env drawing its opponent member at every episode start. ``seeds`` best responses train
  in one compiled program (``jax.vmap`` over keys) and the best is kept: by its exact value against the
  mixture in poker and matrix games (where the member's table is the learner's policy at every
  information state, so exploitability stays exact), by its training return over the last quarter of
  updates in env games.

:func:`best_response` is the backend task: a module-level function of picklable arguments
(:class:`~phalanx.population.metagames.GameSpec`, :class:`OracleSpec`, NumPy populations and a key),
so a local or a Ray backend runs it alike; compiled programs are cached per process.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from phalanx.algos.common.opponents import Opponents
from phalanx.errors import ConfigError, did_you_mean
from phalanx.population.metagames import (
    GameSpec,
    Population,
    bucket,
    make_metagame,
    pad_members,
    pad_weights,
    population_size,
)

#: Oracle names.
ORACLES = ("exact", "learned")

#: Old oracle names → the new one (a one-line error names it).
RENAMED_ORACLES = {"ppo": "learned"}


@dataclasses.dataclass(frozen=True)
class OracleSpec:
    """Which oracle, and how many best responses it trains at once.

    Attributes:
        kind: ``"exact"`` or ``"learned"``.
        seeds: learned only: best responses trained per player in one ``vmap``-ped program; the best is kept.
        compiler_options: learned only: XLA options of the training program as ``(name, value)`` pairs, e.g.
            ``(("xla_backend_optimization_level", 0),)`` compiles it about 2.5x faster on a CPU (and runs
            it slower): worth it for short runs and tests.
    """

    kind: str = "exact"
    seeds: int = 1
    compiler_options: tuple[tuple[str, Any], ...] = ()


def check_oracle(kind: str, game: str, game_kind: str) -> None:
    """ConfigError when ``kind`` is unknown (with did-you-mean) or does not fit the game."""
    if kind in RENAMED_ORACLES:
        raise ConfigError(f"population.oracle={kind} was renamed: use population.oracle={RENAMED_ORACLES[kind]} "
                          "(it trains best responses with algo=).")
    if kind not in ORACLES:
        raise ConfigError(f"population.oracle={kind!r}: unknown oracle.{did_you_mean(str(kind), ORACLES)} "
                          f"Oracles: {', '.join(ORACLES)}.")
    if kind == "exact" and game_kind == "env":
        raise ConfigError(
            f"population.oracle=exact needs a game with exact best responses (kuhn_poker, leduc_poker or a matrix "
            f"game); {game!r} is an env game: use population.oracle=learned."
        )


def best_response(
    game: GameSpec, oracle: OracleSpec, player: int, opponents: Population, weights: Any, key: Any
) -> tuple[Population, dict[str, Any]]:
    """A new member for ``player`` against ``opponents`` (``K`` members) mixed by ``weights`` ``(K,)``.

    The backend task of an oracle step.

    Returns:
        ``(member, stats)``: ``member`` a population of one (NumPy leaves, leading axis 1); ``stats``
        JSON-able numbers: ``value`` (the member's payoff against the mixture: exact in tabular games,
        the training return in env games) and, learned, ``seed_values`` / ``train_returns`` per seed and,
        in tabular games, ``best_response_value`` (the exact best response's) and ``gap`` (the difference).
    """
    metagame = make_metagame(game)
    weights = np.asarray(weights, np.float64)
    if oracle.kind == "exact":
        mix = metagame.mixture(1 - player, opponents["tables"], weights)
        table, value = metagame.best_response(player, mix)
        return {"tables": np.asarray(table, np.float32)[None]}, {"value": float(value)}
    return _learned_best_response(metagame, oracle, player, opponents, weights, jnp.asarray(key))


#: Reports per learned best response: one after every ``1 / PROGRESS_STEPS`` of its updates.
PROGRESS_STEPS = 4
#: ``fn(player, updates_done, num_updates)``: where those reports go in this process (None: nowhere).
_progress: Callable[[int, int, int], None] | None = None


def set_progress(fn: Callable[[int, int, int], None] | None) -> Callable[[int, int, int], None] | None:
    """Send the learned oracle's progress reports (from inside its compiled run, in the process that runs it)
    to ``fn(player, updates_done, num_updates)``; returns the previous receiver. A PSRO iteration's best
    responses are long single programs: this is how a run shows progress within one."""
    global _progress
    previous, _progress = _progress, fn
    return previous


def _report(player: Any, done: Any, total: Any) -> None:
    if _progress is not None:
        _progress(int(player), int(done), int(total))


@functools.lru_cache(maxsize=32)
def learned_program(game: GameSpec, player: int, seeds: int, compiler_options: tuple[tuple[str, Any], ...] = ()):
    """``run(keys (S, 2), opponents (C, ...), weights (C,)) -> (members (S, ...), returns (S,))``.

    One whole run of ``game.algo`` per key, learning only ``player``'s group against the opponents
    (their members' ``policy_params`` stacked, mixed by ``weights``): each seed's state is initialised by
    its own small jitted call, then all seeds train in ONE compiled program (``vmap`` over seeds of a
    ``lax.scan`` over updates). ``members`` are the trained ``policy_params``; ``returns`` each run's
    mean episode return over its last quarter of updates. Cached, so PSRO iterations reuse the compiled
    programs (opponent populations are padded to :func:`~phalanx.population.metagames.bucket` sizes).

    Initialisation stays outside the vmapped program on purpose: a batched orthogonal initialiser
    is a batched LAPACK QR, whose parallel batch loop can deadlock XLA:CPU's thread pool on small
    machines (seen with jaxlib 0.10 on 2 cores, asynchronous dispatch).
    """
    metagame = make_metagame(game)
    group, other = metagame.players[player], metagame.players[1 - player]
    learner = game.make_learner(metagame.env, learners=(group,))
    num_updates = learner.num_updates
    tail = max(1, num_updates // 4)

    @jax.jit
    def init(key, opponents, weights):
        return learner.init(key, Opponents.create({other: opponents}, weights))

    every = max(1, num_updates // PROGRESS_STEPS)

    def update(s, i):  # an update, and every `every` updates a progress report (no data flows back)
        s, m = learner.update(s)
        jax.lax.cond((i + 1) % every == 0, lambda: jax.debug.callback(_report, player, i + 1, num_updates),
                     lambda: None)
        return s, m

    def train(state):
        state, metrics = jax.lax.scan(update, state, jnp.arange(num_updates))
        total = jnp.sum(metrics.episode_return_sum[group][-tail:])
        count = jnp.sum(metrics.episode_count[-tail:])
        return learner.policy_params(state, group), total / jnp.maximum(count, 1.0)

    train_all = jax.jit(jax.vmap(train), compiler_options=dict(compiler_options) or None)

    def run(keys, opponents, weights):
        states = [init(k, opponents, weights) for k in keys]
        return train_all(jax.tree.map(lambda *x: jnp.stack(x), *states))

    del seeds  # part of the cache key: one program per number of seeds
    return run


def _learned_best_response(metagame, oracle: OracleSpec, player: int, opponents: Population, weights: np.ndarray,
                       key: jax.Array) -> tuple[Population, dict[str, Any]]:
    cap = bucket(population_size(opponents))
    program = learned_program(metagame.spec, player, oracle.seeds, oracle.compiler_options)
    members, returns = program(jax.random.split(key, oracle.seeds), pad_members(opponents["params"], cap),
                               pad_weights(weights / weights.sum(), cap))
    members = jax.tree.map(np.asarray, members)
    returns = np.asarray(returns, np.float64)
    stats: dict[str, Any] = {"train_returns": returns.tolist()}
    if metagame.exact:
        tables = np.asarray(metagame.tables_from_members(player, members))  # (S, n, A)
        mix = metagame.mixture(1 - player, opponents["tables"], weights)
        values = np.array([float(metagame.values(*((t, mix) if player == 0 else (mix, t)))[player]) for t in tables])
        best = int(np.argmax(values))
        br_value = float(metagame.best_response(player, mix)[1])
        stats.update(value=float(values[best]), seed_values=values.tolist(), best_response_value=br_value,
                     gap=br_value - float(values[best]))
        member = {"tables": tables[best][None], "params": jax.tree.map(lambda x: x[best][None], members)}
    else:
        best = int(np.argmax(returns))
        stats["value"] = float(returns[best])
        member = {"params": jax.tree.map(lambda x: x[best][None], members)}
    stats["best_seed"] = best
    return member, stats


__all__ = ["ORACLES", "PROGRESS_STEPS", "RENAMED_ORACLES", "OracleSpec", "best_response", "check_oracle",
           "learned_program", "set_progress"]
