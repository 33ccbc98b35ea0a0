"""Games as two-player meta-games: populations of policies, payoffs of (row, column) member pairs.

A :class:`~phalanx.population.game_spec.MetaGame` turns one game into what PSRO and self-play
need — a first member per player, and the payoffs of any batch of (row member, column member)
pairs computed in ONE vectorised call:

=================================== ======================== ================================================
game                                players (row, column)    payoffs of a pair
=================================== ======================== ================================================
``kuhn_poker``, ``leduc_poker``     player_0, player_1       exact (game-tree evaluation, :mod:`.exact`)
matrix games (``rock_paper_scissors``, player_0, player_1     exact (``x @ P_p @ y``)
``matching_pennies``, ``matrix_game`` …)
two-group envs (``tag``: taggers vs  the env's two groups     Monte Carlo: mean episode return per agent of
runners, ``simple_tag``: predators                            each group over ``eval_episodes`` games played by
vs prey, …)                                                   :func:`phalanx.evaluation.play`, with standard errors
=================================== ======================== ================================================

Members are any registered learner's policies (``GameSpec.algo``; see
:mod:`~phalanx.population.game_spec` for the population format); tabular games
(:mod:`~phalanx.population.tabular`) also keep each member's exact table.
:func:`check_game_learner` says, before anything runs, whether a learner can play a game.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from phalanx.errors import ConfigError, PhalanxError, did_you_mean
from phalanx.evaluation import Actor, play
from phalanx.population.game_spec import (
    POKER_GAMES,
    GameSpec,
    MetaGame,
    Population,
    bucket,
    concat_members,
    pad_index,
    pad_members,
    pad_weights,
    population_size,
)
from phalanx.population.tabular import MatrixMetaGame, PokerMetaGame, TabularMetaGame


class EnvMetaGame(MetaGame):
    """A two-group env (team vs team) whose members are a learner's policies, payoffs estimated by Monte Carlo.

    Player ``p``'s payoff in a cell is group ``p``'s episode return averaged over its agents, averaged
    over ``spec.eval_episodes`` games; its standard error is the sample standard deviation over those
    games divided by ``sqrt(eval_episodes)``.
    """

    def __init__(self, spec: GameSpec):
        super().__init__(spec)
        self.steps = spec.eval_steps or self.env.time_limit

    def initial_population(self, player, key):
        return {"params": jax.tree.map(lambda x: x[None], self.initial_member(player, key))}

    @functools.cached_property
    def _returns(self):
        """Jitted ``(params0 (C0, ...), params1 (C1, ...), rows (P,), cols (P,), key) -> (P, M, 2)`` returns."""
        learner, env, players = self.learner, self.env, self.players
        games, greedy = self.spec.eval_episodes, self.members_act_greedily
        hidden = learner.initial_hidden(games)

        def games_of_pair(p0, p1, key):
            actors = {players[0]: Actor(learner.act, p0, hidden[players[0]], greedy),
                      players[1]: Actor(learner.act, p1, hidden[players[1]], greedy)}
            returns = play(env, actors, key, self.steps).returns
            return jnp.stack([returns[players[0]], returns[players[1]]], -1)  # (M, 2)

        @jax.jit
        def run(params0, params1, rows, cols, key):
            def pair(r, c, k):
                return games_of_pair(jax.tree.map(lambda x: x[r], params0), jax.tree.map(lambda x: x[c], params1), k)

            return jax.vmap(pair)(rows, cols, jax.random.split(key, rows.shape[0]))

        return run

    def evaluate_cells(self, pop0, pop1, rows, cols, key):
        p = len(rows)
        # Padded pairs play real games here, so pairs get a small floor (members only cost a gather).
        c0, c1, cp = bucket(population_size(pop0)), bucket(population_size(pop1)), bucket(p, floor=4)
        returns = self._returns(pad_members(pop0["params"], c0), pad_members(pop1["params"], c1),
                                pad_index(rows, cp), pad_index(cols, cp), key)
        returns = np.asarray(returns, np.float64)[:p]  # (P, M, 2)
        m = returns.shape[1]
        values = returns.mean(axis=1).T
        stderr = (returns.std(axis=1, ddof=1).T / np.sqrt(m)) if m > 1 else np.zeros_like(values)
        return values, stderr, np.full(p, m, np.int64)


# --------------------------------------------------------------------------- lookup


def supported_games() -> list[str]:
    """Registered envs that are two-player meta-games (two groups, or poker / matrix games)."""
    from phalanx.envs import registered
    from phalanx.envs.registry import make

    names = []
    for name in registered():
        try:
            env = make(name)
        except PhalanxError:
            continue
        if len(env.spec.groups) == 2:
            names.append(name)
    return names


def game_kind(game: str, env_settings: Mapping[str, Any] | None = None) -> str:
    """``"poker"``, ``"matrix"`` or ``"env"``; a ConfigError (with did-you-mean) for other games."""
    from phalanx.envs import registered
    from phalanx.envs.matrix.env import MatrixGame

    if game not in registered():
        games = supported_games()
        raise ConfigError(f"env={game!r}: unknown env.{did_you_mean(str(game), games)} "
                          f"Envs with two players or groups: {', '.join(games)}.")
    env = GameSpec.create(game, env_settings).make_env()
    if game in POKER_GAMES:
        return "poker"
    if isinstance(env, MatrixGame):
        return "matrix"
    groups = list(env.spec.groups)
    if len(groups) != 2:
        raise ConfigError(
            f"env={game!r} has {len(groups)} group(s) ({', '.join(groups)}); a meta-game needs two players or "
            f"two teams. Games: {', '.join(supported_games())}."
        )
    return "env"


def check_game_learner(spec: GameSpec) -> None:
    """A one-line ConfigError unless ``spec.algo`` can learn and play members of ``spec.game``.

    Asks the learner (``make_train`` for each player's group refuses what it cannot train: continuous-
    action learners on discrete actions, QMIX without a global state, ...) and the game: in tabular games a
    member must be memoryless (no recurrent state), so that its table at each information state is exactly
    how it plays. Cheap: nothing is compiled.
    """
    if not spec.learned:
        return
    env = spec.make_env()
    for group in env.spec.groups:
        learner = spec.make_learner(env, learners=(group,))
    kind = game_kind(spec.game, spec.settings())
    hidden = learner.initial_hidden(1)
    if kind != "env" and any(h.shape[-1] for h in hidden.values()):
        raise ConfigError(f"algo={spec.algo} train.recurrent_size={getattr(spec.train, 'recurrent_size', '?')}: "
                          f"{spec.game} members must be memoryless (a table per information state); set "
                          "train.recurrent_size=0.")


@functools.lru_cache(maxsize=16)
def make_metagame(spec: GameSpec) -> MetaGame:
    """The (cached, so compiled functions are reused) meta-game of ``spec``."""
    kind = game_kind(spec.game, spec.settings())
    cls = {"poker": PokerMetaGame, "matrix": MatrixMetaGame, "env": EnvMetaGame}[kind]
    if kind == "env" and not spec.learned:
        raise ConfigError(f"env={spec.game!r}: env games need learned members (GameSpec.algo, the learner's name).")
    return cls(spec)


__all__ = [
    "EnvMetaGame",
    "GameSpec",
    "MatrixMetaGame",
    "MetaGame",
    "PokerMetaGame",
    "Population",
    "TabularMetaGame",
    "bucket",
    "check_game_learner",
    "concat_members",
    "game_kind",
    "make_metagame",
    "pad_members",
    "pad_weights",
    "population_size",
    "supported_games",
]
