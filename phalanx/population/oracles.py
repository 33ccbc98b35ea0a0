"""Oracles: a new population member for one player that best-responds to the opponent's meta-mixture.

* ``exact`` (poker and matrix games): the exact best response to the opponent population mixed by the
  meta-strategy — poker: :func:`~phalanx.population.exact.best_response` to the reach-weighted
  :func:`~phalanx.population.exact.mixture_policy`; matrix games: the best pure strategy (ties: the
  first action).
* ``ppo`` (any game): PPO (:func:`~phalanx.algos.ppo.train.make_train` with ``learners=(player,)``)
  against the opponent population, stacked as actor parameters, each env drawing its opponent member
  from the meta-strategy at every episode start. ``seeds`` best responses train in one compiled
  program (``jax.vmap`` over keys) and the best is kept: by its exact value against the mixture in
  poker and matrix games (where the member's table is ``table_from_logits`` of its actor on every
  information state, so exploitability stays exact), by its training return over the last quarter of
  updates in env games.

:func:`best_response` is the backend task: a module-level function of picklable arguments
(:class:`~phalanx.population.metagames.GameSpec`, :class:`OracleSpec`, NumPy populations and a key),
so a local or a Ray backend runs it alike; compiled programs are cached per process.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from phalanx.algos.ppo.config import PPOConfig
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
ORACLES = ("exact", "ppo")


@dataclasses.dataclass(frozen=True)
class OracleSpec:
    """Which oracle, and how many best responses it trains at once.

    Attributes:
        kind: ``"exact"`` or ``"ppo"``.
        seeds: PPO only: best responses trained per player in one ``vmap``-ped program; the best is kept.
        compiler_options: PPO only: XLA options of the training program as ``(name, value)`` pairs, e.g.
            ``(("xla_backend_optimization_level", 0),)`` compiles it about 2.5x faster on a CPU (and runs
            it slower): worth it for short runs and tests.
    """

    kind: str = "exact"
    seeds: int = 1
    compiler_options: tuple[tuple[str, Any], ...] = ()


def check_oracle(kind: str, game: str, game_kind: str) -> None:
    """ConfigError when ``kind`` is unknown (with did-you-mean) or does not fit the game."""
    if kind not in ORACLES:
        raise ConfigError(f"population.oracle={kind!r}: unknown oracle.{did_you_mean(str(kind), ORACLES)} "
                          f"Oracles: {', '.join(ORACLES)}.")
    if kind == "exact" and game_kind == "env":
        raise ConfigError(
            f"population.oracle=exact needs a game with exact best responses (kuhn_poker, leduc_poker or a matrix "
            f"game); {game!r} is an env game: use population.oracle=ppo."
        )


def check_ppo_config(ppo: PPOConfig, prefix: str = "train.") -> None:
    """ConfigError for PPO settings the PPO oracle does not support (members must be memoryless and
    see raw observations, so a member is a function of its observation alone — a table in poker)."""
    ppo.validate(prefix)
    for key, bad in (("recurrent_size", ppo.recurrent_size != 0), ("normalize_obs", ppo.normalize_obs),
                     ("agent_id", ppo.agent_id)):
        if bad:
            raise ConfigError(
                f"{prefix}{key}={getattr(ppo, key)!r}: the PPO oracle trains feed-forward members on raw "
                "observations; set it back to its default (0 / false)."
            )


def best_response(
    game: GameSpec, oracle: OracleSpec, player: int, opponents: Population, weights: Any, key: Any
) -> tuple[Population, dict[str, Any]]:
    """A new member for ``player`` against ``opponents`` (``K`` members) mixed by ``weights`` ``(K,)``.

    The backend task of an oracle step.

    Returns:
        ``(member, stats)``: ``member`` a population of one (NumPy leaves, leading axis 1); ``stats``
        JSON-able numbers: ``value`` (the member's payoff against the mixture: exact in tabular games,
        the training return in env games) and, for PPO, ``seed_values`` / ``train_returns`` per seed and,
        in tabular games, ``best_response_value`` (the exact best response's) and ``gap`` (the difference).
    """
    metagame = make_metagame(game)
    weights = np.asarray(weights, np.float64)
    if oracle.kind == "exact":
        mix = metagame.mixture(1 - player, opponents["tables"], weights)
        table, value = metagame.best_response(player, mix)
        return {"tables": np.asarray(table, np.float32)[None]}, {"value": float(value)}
    return _ppo_best_response(metagame, oracle, player, opponents, weights, jnp.asarray(key))


@functools.lru_cache(maxsize=32)
def ppo_program(game: GameSpec, player: int, seeds: int, compiler_options: tuple[tuple[str, Any], ...] = ()):
    """``run(keys (S, 2), opponents (C, ...), weights (C,)) -> (actors (S, ...), returns (S,))``.

    One whole PPO run per key: each seed's state is initialised by its own small jitted call, then
    all seeds train in ONE compiled program (``vmap`` over seeds of a ``lax.scan`` over updates).
    ``returns`` is each run's mean episode return over its last quarter of updates. Cached, so PSRO
    iterations reuse the compiled programs (opponent populations are padded to
    :func:`~phalanx.population.metagames.bucket` sizes).

    Initialisation stays outside the vmapped program on purpose: a batched orthogonal initialiser
    is a batched LAPACK QR, whose parallel batch loop can deadlock XLA:CPU's thread pool on small
    machines (seen with jaxlib 0.10 on 2 cores, asynchronous dispatch).
    """
    from phalanx.algos.ppo.train import make_train

    metagame = make_metagame(game)
    learner, other = metagame.players[player], metagame.players[1 - player]
    trainer = make_train(game.policy, metagame.env, learners=(learner,))
    num_updates = trainer.num_updates
    tail = max(1, num_updates // 4)

    @jax.jit
    def init(key, opponents, weights):
        return trainer.init(key, {other: opponents}, weights)

    def train(state):
        state, metrics = jax.lax.scan(lambda s, _: trainer.update(s), state, None, length=num_updates)
        total = jnp.sum(metrics.episode_return_sum[learner][-tail:])
        count = jnp.sum(metrics.episode_count[-tail:])
        return state.params[learner]["actor"], total / jnp.maximum(count, 1.0)

    train_all = jax.jit(jax.vmap(train), compiler_options=dict(compiler_options) or None)

    def run(keys, opponents, weights):
        states = [init(k, opponents, weights) for k in keys]
        return train_all(jax.tree.map(lambda *x: jnp.stack(x), *states))

    del seeds  # part of the cache key: one program per number of seeds
    return run


def _ppo_best_response(metagame, oracle: OracleSpec, player: int, opponents: Population, weights: np.ndarray,
                       key: jax.Array) -> tuple[Population, dict[str, Any]]:
    cap = bucket(population_size(opponents))
    program = ppo_program(metagame.spec, player, oracle.seeds, oracle.compiler_options)
    actors, returns = program(jax.random.split(key, oracle.seeds), pad_members(opponents["actors"], cap),
                              pad_weights(weights / weights.sum(), cap))
    actors = jax.tree.map(np.asarray, actors)
    returns = np.asarray(returns, np.float64)
    stats: dict[str, Any] = {"train_returns": returns.tolist()}
    if metagame.exact:
        tables = np.asarray(metagame.tables_from_actors(player, actors))  # (S, n, A)
        mix = metagame.mixture(1 - player, opponents["tables"], weights)
        values = np.array([float(metagame.values(*((t, mix) if player == 0 else (mix, t)))[player]) for t in tables])
        best = int(np.argmax(values))
        br_value = float(metagame.best_response(player, mix)[1])
        stats.update(value=float(values[best]), seed_values=values.tolist(), best_response_value=br_value,
                     gap=br_value - float(values[best]))
        member = {"tables": tables[best][None], "actors": jax.tree.map(lambda x: x[best][None], actors)}
    else:
        best = int(np.argmax(returns))
        stats["value"] = float(returns[best])
        member = {"actors": jax.tree.map(lambda x: x[best][None], actors)}
    stats["best_seed"] = best
    return member, stats


__all__ = ["ORACLES", "OracleSpec", "best_response", "check_oracle", "check_ppo_config", "ppo_program"]
