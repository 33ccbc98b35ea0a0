"""Games as two-player meta-games: populations of policies, payoffs of (row, column) member pairs.

A :class:`MetaGame` turns one game into what PSRO and self-play need — a first member per player,
and the payoffs of any batch of (row member, column member) pairs computed in ONE vectorised call:

=================================== ======================== ================================================
game                                players (row, column)    payoffs of a pair
=================================== ======================== ================================================
``kuhn_poker``, ``leduc_poker``     player_0, player_1       exact (game-tree evaluation, :mod:`.exact`)
matrix games (``rock_paper_scissors``, player_0, player_1     exact (``x @ P_p @ y``)
``matching_pennies``, ``matrix_game`` …)
two-group envs (``tag``: taggers vs  the env's two groups     Monte Carlo: mean episode return per agent of
runners, ``simple_tag``: predators                            each group over ``eval_episodes`` games, with
vs prey, …)                                                   standard errors
=================================== ======================== ================================================

A *population* is a dict of arrays with a leading member axis ``K``:

* ``"tables"`` ``(K, n_p, A_p)``: tabular games only; each member's action probabilities at each of
  player ``p``'s information states (poker: ``tree.players[p]``'s order; matrix games: one state);
* ``"actors"``: PPO actor parameters stacked on the member axis (present when members are networks,
  i.e. with the PPO oracle, and always in env games).

Shapes given to compiled functions are padded to powers of two (:func:`bucket`), so a growing
population recompiles O(log K) times, not once per member.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from phalanx.algos.ppo.config import PPOConfig
from phalanx.envs.types import TimeStep
from phalanx.envs.wrappers import Wrapper
from phalanx.errors import ConfigError, PhalanxError, did_you_mean

Population = dict[str, Any]

#: Tabular games with exact game-tree evaluation.
POKER_GAMES = ("kuhn_poker", "leduc_poker")


# --------------------------------------------------------------------------- specs and padding


def _freeze(value: Any) -> Any:
    """Lists → tuples, dicts → sorted item tuples (hashable settings)."""
    if isinstance(value, Mapping):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


@dataclasses.dataclass(frozen=True)
class GameSpec:
    """Everything that identifies a meta-game: hashable and picklable, so backend tasks carry it.

    Attributes:
        game: a registered env name (see :func:`supported_games`).
        env_settings: the env's settings as sorted ``(key, value)`` pairs (lists frozen to tuples).
        policy: the PPO settings whose networks members are (None: tabular members only). The PPO
            oracle trains with these settings; evaluation only uses the network shape.
        eval_episodes: Monte-Carlo games per payoff cell (env games).
        eval_steps: steps per evaluation episode (env games; None: the env's time limit).
    """

    game: str
    env_settings: tuple = ()
    policy: PPOConfig | None = None
    eval_episodes: int = 64
    eval_steps: int | None = None

    @classmethod
    def create(cls, game: str, env_settings: Mapping[str, Any] | None = None, **kwargs: Any) -> GameSpec:
        """A spec for ``game`` with ``env_settings`` given as a mapping (frozen to sorted pairs); ``kwargs`` are
        the other fields.
        """
        return cls(game, _freeze(dict(env_settings or {})), **kwargs)

    def settings(self) -> dict[str, Any]:
        """The env settings as keyword arguments of :func:`phalanx.make`."""
        return {k: _thaw(v) for k, v in self.env_settings}

    def make_env(self) -> Any:
        """The env: :func:`phalanx.make` of ``game`` with these settings."""
        import phalanx

        return phalanx.make(self.game, **self.settings())


def bucket(n: int, floor: int = 16) -> int:
    """The smallest power of two ``>= max(n, floor)``: the padded size of a batch of ``n``."""
    return max(floor, 1 << max(int(n) - 1, 0).bit_length())


def pad_members(tree: Any, capacity: int) -> Any:
    """Pad every leaf's leading member axis to ``capacity`` with copies of member 0."""

    def pad(x):
        x = np.asarray(x)
        extra = capacity - x.shape[0]
        return x if extra <= 0 else np.concatenate([x, np.repeat(x[:1], extra, axis=0)])

    return jax.tree.map(pad, tree)


def pad_weights(weights: Any, capacity: int) -> np.ndarray:
    """``(capacity,)`` float32 weights: ``weights`` then zeros (padding members are never picked)."""
    w = np.zeros(capacity, np.float32)
    w[: len(weights)] = np.asarray(weights, np.float32)
    return w


def _pad_index(index: Any, capacity: int) -> np.ndarray:
    out = np.zeros(capacity, np.int32)
    out[: len(index)] = np.asarray(index, np.int32)
    return out


def population_size(pop: Population) -> int:
    """Members ``K`` in ``pop``."""
    return int(jax.tree.leaves(pop)[0].shape[0])


def concat_members(pop: Population, new: Population) -> Population:
    """``pop`` with the members of ``new`` appended (same keys and leaf shapes)."""
    return jax.tree.map(lambda a, b: np.concatenate([np.asarray(a), np.asarray(b)]), pop, new)


def uniform_actor(params: dict) -> dict:
    """Actor parameters whose output layer is zero: uniform over legal actions (the first member).

    The head is the actor's top-level ``Dense_0``; continuous actors keep ``log_std`` (mean 0).
    """
    inner = dict(params["params"])
    inner["Dense_0"] = jax.tree.map(jnp.zeros_like, inner["Dense_0"])
    return {**params, "params": inner}


# --------------------------------------------------------------------------- per-env episode ends


@struct.dataclass
class _PerEnvDoneTimeStep(TimeStep):
    """A TimeStep whose ``done`` also works on a batch ``(E, ...)``: over agents only, per env.

    ``TimeStep.done`` reduces ``terminated`` over every axis, so on a vmapped batch it is True only
    when all envs end at once; the PPO trainer reads it on batches (episode ends, episode starts where
    opponents are redrawn, which agents act). Games of varying length (poker) need it per env.
    """

    @property
    def done(self) -> jax.Array:
        ended = jnp.stack([t.all(axis=-1) for t in jax.tree.leaves(self.terminated)]).all(axis=0)
        return ended | self.truncated


class PerEnvDone(Wrapper):
    """Makes the env's timesteps :class:`_PerEnvDoneTimeStep` (a no-op where ``TimeStep.done`` is already per env)."""

    @staticmethod
    def _convert(ts: TimeStep) -> TimeStep:
        return _PerEnvDoneTimeStep(**{f.name: getattr(ts, f.name) for f in dataclasses.fields(ts)})

    def _reset(self, key, params):
        state, ts = self.env.reset(key, params)
        return state, self._convert(ts)

    def _step(self, key, state, actions, params):
        state, ts = self.env.step(key, state, actions, params)
        return state, self._convert(ts)


# --------------------------------------------------------------------------- base class


class MetaGame(abc.ABC):
    """A game seen as a two-player meta-game between populations (see the module docstring)."""

    #: Payoffs are exact and policies tables (poker, matrix games); else Monte Carlo (env games).
    exact: bool = False

    def __init__(self, spec: GameSpec):
        self.spec = spec
        self.env = PerEnvDone(spec.make_env())
        self.players: tuple[str, str] = tuple(self.env.spec.groups)  # type: ignore[assignment]
        self._policy = None

    @property
    def zero_sum(self) -> bool:
        """Whether every outcome's payoffs sum to a constant (then meta-solver ``nash`` applies)."""
        return False

    @property
    def policy(self) -> Any:
        """The :class:`~phalanx.algos.ppo.policy.MultiAgentPolicy` members use (needs ``spec.policy``)."""
        if self._policy is None:
            from phalanx.algos.ppo.policy import MultiAgentPolicy

            if self.spec.policy is None:
                raise PhalanxError(f"{self.spec.game}: network members need GameSpec.policy (PPO settings).")
            self._policy = MultiAgentPolicy(self.env.spec, self.spec.policy)
        return self._policy

    def initial_actor(self, player: int, key: jax.Array) -> dict:
        """Player ``player``'s uniform-random actor parameters (network shape from ``spec.policy``)."""
        params = self.policy.init(key)[self.players[player]]["actor"]
        return jax.tree.map(np.asarray, uniform_actor(params))

    @abc.abstractmethod
    def initial_population(self, player: int, key: jax.Array) -> Population:
        """One member: the uniform random policy of ``player``."""

    @abc.abstractmethod
    def evaluate_cells(
        self, pop0: Population, pop1: Population, rows: np.ndarray, cols: np.ndarray, key: jax.Array
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Payoffs of the pairs ``(pop0[rows[t]], pop1[cols[t]])``, all in one compiled call.

        Returns:
            ``(values (2, P) float64, stderr (2, P) or None, counts (P,) or None)`` — the form
            :func:`~phalanx.population.payoff_table.evaluate_missing` takes.
        """


# --------------------------------------------------------------------------- tabular games


class TabularMetaGame(MetaGame):
    """A game whose policies are tables and whose payoffs, mixtures and best responses are exact."""

    exact = True

    @abc.abstractmethod
    def legal(self, player: int) -> np.ndarray:
        """``(n_p, A_p)`` bool legal actions at each information state of ``player``."""

    @abc.abstractmethod
    def infostate_obs(self, player: int) -> np.ndarray:
        """``(n_p, d)`` float32: the observation ``player``'s actor sees at each information state."""

    @abc.abstractmethod
    def mixture(self, player: int, tables: Any, weights: Any) -> jax.Array:
        """The single table ``(n_p, A_p)`` that plays like picking a member by ``weights`` ``(K,)`` per game."""

    @abc.abstractmethod
    def best_response(self, player: int, opponent_table: Any) -> tuple[jax.Array, jax.Array]:
        """``(table (n_p, A_p) deterministic, value ())``: a best response to the opponent's table."""

    @abc.abstractmethod
    def values(self, table0: Any, table1: Any) -> jax.Array:
        """``(2,)`` expected payoffs of the profile ``(table0, table1)``."""

    def nash_conv(self, table0: Any, table1: Any) -> float:
        """What both players together gain by best-responding: 0 exactly at a Nash equilibrium."""
        v = self.values(table0, table1)
        b0 = self.best_response(0, table1)[1]
        b1 = self.best_response(1, table0)[1]
        return float(b0 + b1 - v[0] - v[1])

    def uniform_table(self, player: int) -> np.ndarray:
        """``(n_p, A_p)`` float32 uniform policy of ``player``: equal probability on the legal actions of each
        information state.
        """
        legal = self.legal(player)
        return (legal / legal.sum(-1, keepdims=True)).astype(np.float32)

    def initial_population(self, player: int, key: jax.Array) -> Population:
        pop = {"tables": self.uniform_table(player)[None]}
        if self.spec.policy is not None:
            actor = self.initial_actor(player, key)
            pop["actors"] = jax.tree.map(lambda x: x[None], actor)
            pop["tables"] = np.asarray(self.tables_from_actors(player, pop["actors"]))
        return pop

    def tables_from_actors(self, player: int, actors: Any) -> jax.Array:
        """``(K, n_p, A_p)``: each member actor ``(K, ...)`` run on every information state, masked softmax."""
        return self._tables_from_actors(player, actors)

    @functools.cached_property
    def _tables_from_actors(self):
        policy = self.policy

        @functools.partial(jax.jit, static_argnums=0)
        def run(player, actors):
            g = policy.groups[self.players[player]]
            obs = jnp.asarray(self.infostate_obs(player))
            legal = jnp.asarray(self.legal(player))
            n = obs.shape[0]

            def one(params):
                _, logits = g.actor.apply(params, jnp.zeros((n, 0)), obs[None], jnp.zeros((1, n), bool))
                return jax.nn.softmax(jnp.where(legal, logits[0], -jnp.inf), axis=-1)

            return jax.vmap(one)(actors)

        return run

    def evaluate_cells(self, pop0, pop1, rows, cols, key):
        del key  # exact
        p = len(rows)
        c0, c1, cp = bucket(population_size(pop0)), bucket(population_size(pop1)), bucket(p)
        values = self._payoff_entries(pad_members(pop0["tables"], c0), pad_members(pop1["tables"], c1),
                                      _pad_index(rows, cp), _pad_index(cols, cp))
        return np.asarray(values, np.float64)[:, :p], None, None

    @abc.abstractmethod
    def _payoff_entries(self, tables0, tables1, rows, cols) -> jax.Array:
        """``(2, P)`` exact payoffs of the padded pairs (one jitted call)."""


class PokerMetaGame(TabularMetaGame):
    """Kuhn or Leduc poker with exact evaluation on the full game tree (:mod:`phalanx.population.exact`)."""

    def __init__(self, spec: GameSpec):
        from phalanx.envs.poker import game_tree

        super().__init__(spec)
        self.tree = game_tree(spec.game)

    @property
    def zero_sum(self) -> bool:
        return True

    def legal(self, player):
        return self.tree.players[player].legal

    def infostate_obs(self, player):
        return self.tree.players[player].tensors

    def mixture(self, player, tables, weights):
        from phalanx.population import exact

        cap = bucket(len(weights))
        return exact.mixture_policy(self.tree, player, pad_members(tables, cap), pad_weights(weights, cap))

    def best_response(self, player, opponent_table):
        from phalanx.population import exact

        return exact.best_response(self.tree, player, jnp.asarray(opponent_table, jnp.float32))

    def values(self, table0, table1):
        from phalanx.population import exact

        return exact.expected_payoffs(self.tree, jnp.asarray(table0, jnp.float32), jnp.asarray(table1, jnp.float32))

    def nash_conv(self, table0, table1):
        from phalanx.population import exact

        return float(exact.nash_conv(self.tree, jnp.asarray(table0, jnp.float32), jnp.asarray(table1, jnp.float32)))

    def _payoff_entries(self, tables0, tables1, rows, cols):
        from phalanx.population import exact

        return exact.payoff_entries(self.tree, tables0, tables1, rows, cols)


class MatrixMetaGame(TabularMetaGame):
    """A matrix game: a member is a mixed strategy, a table with one information state ``(1, A_p)``."""

    def __init__(self, spec: GameSpec):
        super().__init__(spec)
        self.payoffs = np.asarray(self.env.payoffs, np.float64)  # (2, n0, n1)

    @property
    def zero_sum(self) -> bool:
        total = self.payoffs[0] + self.payoffs[1]
        return float(total.max() - total.min()) <= 1e-9 * max(1.0, float(np.abs(self.payoffs).max()))

    def legal(self, player):
        return np.ones((1, self.payoffs.shape[1 + player]), bool)

    def infostate_obs(self, player):
        return np.zeros((1, 1), np.float32)  # the env's constant observation

    def mixture(self, player, tables, weights):
        w = np.asarray(weights, np.float64)
        return ((w / w.sum()) @ np.asarray(tables, np.float64)[:, 0, :])[None]  # (1, A_p)

    def best_response(self, player, opponent_table):
        y = np.asarray(opponent_table, np.float64).reshape(-1)
        q = self.payoffs[0] @ y if player == 0 else y @ self.payoffs[1]
        best = int(np.argmax(q))  # ties: the first action
        return np.eye(len(q), dtype=np.float32)[best][None], float(q[best])

    def values(self, table0, table1):
        x, y = np.asarray(table0, np.float64).reshape(-1), np.asarray(table1, np.float64).reshape(-1)
        return np.array([x @ self.payoffs[0] @ y, x @ self.payoffs[1] @ y])

    def nash_conv(self, table0, table1):
        from phalanx.population.meta_solvers import nash_conv_of_meta

        x, y = np.asarray(table0, np.float64).reshape(-1), np.asarray(table1, np.float64).reshape(-1)
        return nash_conv_of_meta(self.payoffs, x, y)

    @functools.cached_property
    def _entries(self):
        payoffs = jnp.asarray(self.payoffs, jnp.float32)

        @jax.jit
        def entries(tables0, tables1, rows, cols):
            x, y = tables0[rows, 0], tables1[cols, 0]  # (P, n0), (P, n1)
            return jnp.einsum("ki,pij,kj->pk", x, payoffs, y)

        return entries

    def _payoff_entries(self, tables0, tables1, rows, cols):
        return self._entries(tables0, tables1, rows, cols)


# --------------------------------------------------------------------------- two-team env games


class EnvMetaGame(MetaGame):
    """A two-group env (team vs team) whose members are PPO actors, payoffs estimated by Monte Carlo.

    Player ``p``'s payoff in a cell is group ``p``'s episode return averaged over its agents, averaged
    over ``spec.eval_episodes`` games; its standard error is the sample standard deviation over those
    games divided by ``sqrt(eval_episodes)``.
    """

    def __init__(self, spec: GameSpec):
        super().__init__(spec)
        self.steps = spec.eval_steps or self.env.time_limit

    def initial_population(self, player, key):
        return {"actors": jax.tree.map(lambda x: x[None], self.initial_actor(player, key))}

    @functools.cached_property
    def _returns(self):
        """Jitted ``(actors0 (C0, ...), actors1 (C1, ...), rows (P,), cols (P,), key) -> (P, M, 2)`` returns."""
        from phalanx.envs.wrappers import VecEnv
        from phalanx.networks import distributions as dist

        policy, env = self.policy, self.env
        squash = self.spec.policy.squash
        games = self.spec.eval_episodes
        venv = VecEnv(env, games)
        hidden = policy.initial_hidden(games)

        def act(params, name, ts, actor_in, key):
            g = policy.groups[name]
            _, out = policy.actor_outputs({name: {"actor": params}}, name, hidden[name], actor_in[None],
                                          jnp.zeros((1, games), bool))
            out = jax.tree.map(lambda x: x[0] if x.ndim > 1 else x, out)  # drop time; keep log_std (d,)
            mask = ts.action_mask.get(name) if g.masked else None
            return dist.sample(key, g.space, out, mask, squash)[0]

        def games_of_pair(a0, a1, key):
            k_reset, k_run = jax.random.split(key)
            state, ts = venv.reset(k_reset)

            def body(carry, k):
                state, ts, over, ret = carry
                actor_in, _ = policy.inputs(ts, None, None)
                k0, k1, k_env = jax.random.split(k, 3)
                actions = {self.players[0]: act(a0, self.players[0], ts, actor_in[self.players[0]], k0),
                           self.players[1]: act(a1, self.players[1], ts, actor_in[self.players[1]], k1)}
                state, nts = venv.step(k_env, state, actions)
                live = ~over  # rewards count until the episode's end; nothing after it
                ret = ret + jnp.where(live[:, None], jnp.stack([nts.reward[g].mean(-1) for g in self.players], -1),
                                      0.0)
                return (state, nts, over | nts.done, ret), None

            init = (state, ts, jnp.zeros(games, bool), jnp.zeros((games, 2)))
            (_, _, _, ret), _ = jax.lax.scan(body, init, jax.random.split(k_run, self.steps))
            return ret  # (M, 2)

        @jax.jit
        def run(actors0, actors1, rows, cols, key):
            def pair(r, c, k):
                return games_of_pair(jax.tree.map(lambda x: x[r], actors0), jax.tree.map(lambda x: x[c], actors1), k)

            return jax.vmap(pair)(rows, cols, jax.random.split(key, rows.shape[0]))

        return run

    def evaluate_cells(self, pop0, pop1, rows, cols, key):
        p = len(rows)
        # Padded pairs play real games here, so pairs get a small floor (members only cost a gather).
        c0, c1, cp = bucket(population_size(pop0)), bucket(population_size(pop1)), bucket(p, floor=4)
        returns = self._returns(pad_members(pop0["actors"], c0), pad_members(pop1["actors"], c1),
                                _pad_index(rows, cp), _pad_index(cols, cp), key)
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
        raise ConfigError(f"unknown game {game!r}.{did_you_mean(str(game), games)} Games: {', '.join(games)}.")
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


@functools.lru_cache(maxsize=16)
def make_metagame(spec: GameSpec) -> MetaGame:
    """The (cached, so compiled functions are reused) meta-game of ``spec``."""
    kind = game_kind(spec.game, spec.settings())
    cls = {"poker": PokerMetaGame, "matrix": MatrixMetaGame, "env": EnvMetaGame}[kind]
    if kind == "env" and spec.policy is None:
        raise ConfigError(f"env={spec.game!r}: env games need network members (the PPO oracle's settings).")
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
    "concat_members",
    "game_kind",
    "make_metagame",
    "pad_members",
    "pad_weights",
    "population_size",
    "supported_games",
    "uniform_actor",
]
