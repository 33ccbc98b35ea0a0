"""What identifies a meta-game (:class:`GameSpec`), what every meta-game offers (:class:`MetaGame`), what a
population is, and the padding of member axes.

A *population* is a dict of arrays with a leading member axis ``K``:

* ``"tables"`` ``(K, n_p, A_p)``: tabular games only; each member's action probabilities at each of
  player ``p``'s information states (poker: ``tree.players[p]``'s order; matrix games: one state);
* ``"params"``: the learner's members — ``learner.policy_params(state, group)`` stacked on the member
  axis — whenever members are learned (the learned oracle, and always in env games).

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
import numpy as np

Population = dict[str, Any]

#: Tabular games with exact game-tree evaluation.
POKER_GAMES = ("kuhn_poker", "leduc_poker")


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
        game: a registered env name (see :func:`~phalanx.population.metagames.supported_games`).
        env_settings: the env's settings as sorted ``(key, value)`` pairs (lists frozen to tuples).
        algo: the registered learner (``algo=``) whose policies members are; None: tabular members only
            (the exact oracle).
        train: that learner's config (its ``train.*`` settings, a frozen dataclass): the learned oracle
            trains best responses with it; evaluation only uses the networks' shape.
        eval_episodes: Monte-Carlo games per payoff cell (env games).
        eval_steps: steps per evaluation episode (env games; None: the env's time limit).
    """

    game: str
    env_settings: tuple = ()
    algo: str | None = None
    train: Any = None
    eval_episodes: int = 64
    eval_steps: int | None = None

    @classmethod
    def create(cls, game: str, env_settings: Mapping[str, Any] | None = None, **kwargs: Any) -> GameSpec:
        """A spec for ``game`` with ``env_settings`` given as a mapping (frozen to sorted pairs); ``kwargs`` are
        the other fields. ``algo`` without ``train`` takes the learner's default config.
        """
        if kwargs.get("algo") is not None and kwargs.get("train") is None:
            from phalanx.algos.registry import get_algorithm

            kwargs["train"] = get_algorithm(kwargs["algo"]).config_cls()
        return cls(game, _freeze(dict(env_settings or {})), **kwargs)

    @property
    def learned(self) -> bool:
        """Whether members are a learner's policies (``algo`` is set)."""
        return self.algo is not None

    def settings(self) -> dict[str, Any]:
        """The env settings as keyword arguments of :func:`phalanx.make`."""
        return {k: _thaw(v) for k, v in self.env_settings}

    def make_env(self) -> Any:
        """The env: :func:`phalanx.make` of ``game`` with these settings."""
        import phalanx

        return phalanx.make(self.game, **self.settings())

    def make_learner(self, env: Any, learners: tuple[str, ...] | None = None) -> Any:
        """``make_train(train, env, learners)`` of the registered ``algo`` (a one-line ConfigError when the learner
        does not fit the env, e.g. continuous-action learners on discrete actions)."""
        from phalanx.algos.registry import get_algorithm
        from phalanx.errors import PhalanxError

        if self.algo is None:
            raise PhalanxError(f"{self.game}: learned members need GameSpec.algo (the learner's name).")
        return get_algorithm(self.algo).make_train(self.train, env, learners)


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


def pad_index(index: Any, capacity: int) -> np.ndarray:
    """``(capacity,)`` int32: ``index`` then zeros (padding pairs play member 0)."""
    out = np.zeros(capacity, np.int32)
    out[: len(index)] = np.asarray(index, np.int32)
    return out


def population_size(pop: Population) -> int:
    """Members ``K`` in ``pop``."""
    return int(jax.tree.leaves(pop)[0].shape[0])


def concat_members(pop: Population, new: Population) -> Population:
    """``pop`` with the members of ``new`` appended (same keys and leaf shapes)."""
    return jax.tree.map(lambda a, b: np.concatenate([np.asarray(a), np.asarray(b)]), pop, new)


class MetaGame(abc.ABC):
    """A game seen as a two-player meta-game between populations (players: the env's two groups).

    With a learner (``spec.algo``), a member is ``learner.policy_params(state, group)`` of the player's
    group and acts through the learner's single-step ``act`` — every member of every player through
    one all-groups learner (:attr:`learner`), since ``act`` depends only on the config and the env.
    """

    #: Payoffs are exact and policies tables (poker, matrix games); else Monte Carlo (env games).
    exact: bool = False

    def __init__(self, spec: GameSpec):
        self.spec = spec
        self.env = spec.make_env()
        self.players: tuple[str, str] = tuple(self.env.spec.groups)  # type: ignore[assignment]

    @property
    def zero_sum(self) -> bool:
        """Whether every outcome's payoffs sum to a constant (then meta-solver ``nash`` applies)."""
        return False

    @functools.cached_property
    def learner(self) -> Any:
        """``make_train(spec.train, env)`` with every group learning: what members act (and are initialised) with."""
        return self.spec.make_learner(self.env)

    @property
    def members_act_greedily(self) -> bool:
        """How a member plays: sampled from ``action_probs`` where the learner has it (a stochastic policy,
        e.g. PPO), else its deterministic policy (``act(greedy=True)``: value-based and continuous learners),
        as the learners play fixed opponents in training."""
        return not hasattr(self.learner, "action_probs")

    def initial_member(self, player: int, key: jax.Array) -> Any:
        """Player ``player``'s first member: a freshly initialised learner's ``policy_params`` (NumPy leaves)."""
        return jax.tree.map(np.asarray, self._initial_member(player, key))

    @functools.cached_property
    def _initial_member(self):
        learner = self.learner

        @functools.partial(jax.jit, static_argnums=0)
        def run(player, key):
            return learner.policy_params(learner.init(key), self.players[player])

        return run

    @abc.abstractmethod
    def initial_population(self, player: int, key: jax.Array) -> Population:
        """One member: player ``player``'s first policy (uniform random in tabular games without a learner)."""

    @abc.abstractmethod
    def evaluate_cells(
        self, pop0: Population, pop1: Population, rows: np.ndarray, cols: np.ndarray, key: jax.Array
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Payoffs of the pairs ``(pop0[rows[t]], pop1[cols[t]])``, all in one compiled call.

        Returns:
            ``(values (2, P) float64, stderr (2, P) or None, counts (P,) or None)`` — the form
            :func:`~phalanx.population.payoff_table.evaluate_missing` takes.
        """


__all__ = [
    "POKER_GAMES",
    "GameSpec",
    "MetaGame",
    "Population",
    "bucket",
    "concat_members",
    "pad_index",
    "pad_members",
    "pad_weights",
    "population_size",
]
