"""Two-player matrix (normal-form) games as one-step environments.

Player 0 (the row player, group ``"player_0"``) picks a row ``i`` of ``n0``, player 1 (the
column player, group ``"player_1"``) a column ``j`` of ``n1``, simultaneously. Each gets its
payoff ``payoffs[p, i, j]`` and the episode *terminates* (a one-shot game: ``terminated``
True for both, ``truncated`` False).

There is nothing to observe before the move: every observation, and the global state, is
the constant ``[0.0]`` (shape ``(1,)``, float32), so a policy is simply a distribution over
actions. Payoffs live in :class:`MatrixParams` (``vmap`` a batch of games over it); the env
exposes them as NumPy arrays (``env.payoffs``, ``(2, n0, n1)``) for meta-game solvers.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from phalanx.envs.environment import Environment
from phalanx.envs.spaces import Box, Discrete
from phalanx.envs.types import EnvSpec, GroupSpec, TimeStep, full_mask, make_timestep
from phalanx.errors import PhalanxError

GROUPS = ("player_0", "player_1")

#: ``matrix_game``'s payoffs when none are given: the prisoner's dilemma, ``(n0, n1, 2)``.
DEFAULT_PAYOFFS = (((3.0, 3.0), (0.0, 5.0)), ((5.0, 0.0), (1.0, 1.0)))


@struct.dataclass
class MatrixParams:
    """The game's payoffs; ``vmap``-able (a batch has shape ``(B, 2, n0, n1)``).

    Attributes:
        payoffs: ``(2, n0, n1)`` float32; ``payoffs[p, i, j]`` is player ``p``'s payoff when
            player 0 plays ``i`` and player 1 plays ``j``.
    """

    payoffs: jax.Array


@struct.dataclass
class MatrixState:
    """Steps taken and the last joint action."""

    t: jax.Array  # () int32 steps taken (1 after the game's only move)
    last_actions: jax.Array  # (2,) int32 actions of player 0 and 1; -1 before the move


class MatrixGame(Environment[MatrixState, MatrixParams]):
    """A two-player matrix game with user-given payoffs (registered as ``"matrix_game"``).

    Give the payoffs in one of two forms:

    * ``payoffs``: a nested list / array of shape ``(n0, n1, 2)``: cell ``[i][j]`` is the pair
      ``[row player's payoff, column player's payoff]``, e.g. prisoner's dilemma
      ``[[[3, 3], [0, 5]], [[5, 0], [1, 1]]]``;
    * ``row_payoffs`` and ``column_payoffs``: two ``(n0, n1)`` matrices (a zero-sum game has
      ``column_payoffs = -row_payoffs``).

    With neither (``phalanx.make("matrix_game")``) the game is the prisoner's dilemma
    (:data:`DEFAULT_PAYOFFS`), so that every registered env can be built with its defaults.

    Args:
        payoffs: ``(n0, n1, 2)`` payoff pairs, or None.
        row_payoffs: ``(n0, n1)`` payoffs of player 0, or None.
        column_payoffs: ``(n0, n1)`` payoffs of player 1, or None.

    Raises:
        PhalanxError: both forms given, one of row/column missing, a wrong shape, or non-numeric or
            non-finite entries.
    """

    name = "matrix_game"
    #: Names of each player's actions (``None``: unnamed).
    action_names: tuple[tuple[str, ...], tuple[str, ...]] | None = None

    def __init__(
        self,
        payoffs: Any = None,
        row_payoffs: Any = None,
        column_payoffs: Any = None,
    ):
        table = _payoff_table(self.name, payoffs, row_payoffs, column_payoffs)
        self._payoffs = table
        self._params = MatrixParams(payoffs=table.copy())
        self.n_actions: tuple[int, int] = (int(table.shape[1]), int(table.shape[2]))

    @property
    def payoffs(self) -> np.ndarray:
        """``(2, n0, n1)`` float32 copy of the payoffs: ``[player 0's matrix, player 1's matrix]``."""
        return self._payoffs.copy()

    def make_params(self, payoffs: Any) -> MatrixParams:
        """Params for other payoffs of the same shape, ``(2, n0, n1)`` (or a batch ``(B, 2, n0, n1)``)."""
        arr = _numeric(self.name, "payoffs", payoffs)
        if arr.shape[-3:] != (2, *self.n_actions) or arr.ndim not in (3, 4):
            raise PhalanxError(
                f"{self.name}: payoffs of shape {arr.shape} do not fit this game; expected "
                f"(2, {self.n_actions[0]}, {self.n_actions[1]}) or a batch (B, 2, "
                f"{self.n_actions[0]}, {self.n_actions[1]})."
            )
        return MatrixParams(payoffs=jnp.asarray(arr, jnp.float32))

    @property
    def default_params(self) -> MatrixParams:
        return self._params

    @property
    def time_limit(self) -> int:
        """1: a matrix game is one simultaneous move."""
        return 1

    def draw_frame(self, fig: Any, state: MatrixState) -> None:
        """Draw one (unbatched, NumPy) state on the matplotlib ``fig``: see :mod:`phalanx.envs.matrix.viewer`."""
        from phalanx.envs.matrix.viewer import draw_matrix

        draw_matrix(fig, self.name, self.payoffs, self.action_names, state)

    @functools.cached_property
    def spec(self) -> EnvSpec:
        obs = Box(0.0, 1.0, (1,))
        return EnvSpec(
            groups={g: GroupSpec(1, obs, Discrete(n)) for g, n in zip(GROUPS, self.n_actions, strict=True)},
            global_state=Box(0.0, 1.0, (1,)),
        )

    def _reset(self, key: jax.Array, params: MatrixParams) -> tuple[MatrixState, TimeStep]:
        del key, params  # the start is always the same
        state = MatrixState(t=jnp.int32(0), last_actions=jnp.full((2,), -1, jnp.int32))
        zeros = {g: jnp.zeros(1, jnp.float32) for g in GROUPS}
        return state, self._timestep(zeros, done=False)

    def _step(
        self, key: jax.Array, state: MatrixState, actions: dict[str, jax.Array], params: MatrixParams
    ) -> tuple[MatrixState, TimeStep]:
        del key  # deterministic given the actions
        a0, a1 = actions["player_0"][0], actions["player_1"][0]
        table = jnp.asarray(params.payoffs, jnp.float32)
        reward = {"player_0": table[0, a0, a1][None], "player_1": table[1, a0, a1][None]}
        new_state = MatrixState(t=state.t + 1, last_actions=jnp.stack([a0, a1]).astype(jnp.int32))
        return new_state, self._timestep(reward, done=True)

    def _timestep(self, reward: dict[str, jax.Array], done: bool) -> TimeStep:
        obs = {g: jnp.zeros((1, 1), jnp.float32) for g in GROUPS}
        masks = {g: full_mask(1, self.spec.groups[g].action) for g in GROUPS}
        terminated = {g: jnp.full((1,), done, jnp.bool_) for g in GROUPS}
        return make_timestep(obs, masks, reward, terminated, False, jnp.zeros((1,), jnp.float32))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_actions={self.n_actions})"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _numeric(env: str, key: str, value: Any) -> np.ndarray:
    """``value`` as a finite float32 array, or a PhalanxError naming ``key``."""
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as err:  # ragged nested lists
        raise PhalanxError(
            f"{env}: {key}={_short(value)} is not a rectangular array of numbers ({err})."
        ) from None
    if arr.dtype.kind not in "iuf":
        raise PhalanxError(
            f"{env}: {key}={_short(value)} must contain only numbers (ints or floats); "
            f"got entries of dtype {arr.dtype}."
        )
    if not np.all(np.isfinite(arr)):
        raise PhalanxError(f"{env}: {key}={_short(value)} contains inf or nan; payoffs must be finite.")
    return arr.astype(np.float32)


def _payoff_table(env: str, payoffs: Any, row: Any, column: Any) -> np.ndarray:
    """Validate either payoff form; return the ``(2, n0, n1)`` float32 table."""
    usage = (
        "give either payoffs=[[[r, c], ...], ...] (shape (n0, n1, 2): a [row, column] payoff "
        "pair per cell) or row_payoffs= and column_payoffs= (shape (n0, n1) each)"
    )
    if payoffs is not None:
        if row is not None or column is not None:
            raise PhalanxError(f"{env}: both payoffs and row_payoffs/column_payoffs given; {usage}.")
        arr = _numeric(env, "payoffs", payoffs)
        if arr.ndim != 3 or arr.shape[2] != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
            raise PhalanxError(
                f"{env}: payoffs has shape {arr.shape}, expected (n0, n1, 2) with n0, n1 >= 1: "
                "one [row payoff, column payoff] pair per cell."
            )
        return np.ascontiguousarray(np.moveaxis(arr, 2, 0))
    if row is None and column is None:
        return _payoff_table(env, DEFAULT_PAYOFFS, None, None)
    if row is None or column is None:
        missing = "row_payoffs" if row is None else "column_payoffs"
        raise PhalanxError(
            f"{env}: {missing} is missing; row_payoffs and column_payoffs go together "
            "(for a zero-sum game, column_payoffs = -row_payoffs)."
        )
    mats = []
    for key, value in (("row_payoffs", row), ("column_payoffs", column)):
        arr = _numeric(env, key, value)
        if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
            raise PhalanxError(
                f"{env}: {key} has shape {arr.shape}, expected a matrix (n0, n1) with n0, n1 >= 1: "
                "rows are player 0's actions, columns player 1's."
            )
        mats.append(arr)
    if mats[0].shape != mats[1].shape:
        raise PhalanxError(
            f"{env}: row_payoffs has shape {mats[0].shape} but column_payoffs {mats[1].shape}; "
            "both must be (n0, n1)."
        )
    return np.stack(mats)


class RockPaperScissors(MatrixGame):
    """Rock-paper-scissors (zero-sum). Actions ``0 rock, 1 paper, 2 scissors``.

    Player 0's payoffs (player 1 gets the negative): a win +1, a loss -1, a draw 0::

                   rock  paper  scissors
        rock         0    -1      +1
        paper       +1     0      -1
        scissors    -1    +1       0

    Unique Nash equilibrium: both uniform, value 0.
    """

    name = "rock_paper_scissors"
    action_names = (("rock", "paper", "scissors"), ("rock", "paper", "scissors"))

    def __init__(self):
        row = np.array([[0, -1, 1], [1, 0, -1], [-1, 1, 0]])
        super().__init__(row_payoffs=row, column_payoffs=-row)


class MatchingPennies(MatrixGame):
    """Matching pennies (zero-sum). Actions ``0 heads, 1 tails``.

    Player 0 (the matcher) wins +1 when the coins match, player 1 when they differ::

                 heads   tails
        heads   +1, -1  -1, +1
        tails   -1, +1  +1, -1

    Unique Nash equilibrium: both uniform, value 0.
    """

    name = "matching_pennies"
    action_names = (("heads", "tails"), ("heads", "tails"))

    def __init__(self):
        row = np.array([[1, -1], [-1, 1]])
        super().__init__(row_payoffs=row, column_payoffs=-row)


class PrisonersDilemma(MatrixGame):
    """The prisoner's dilemma with Axelrod's payoffs ``T=5 > R=3 > P=1 > S=0``.

    Actions ``0 cooperate, 1 defect``; cells are (player 0, player 1)::

                     cooperate  defect
        cooperate      3, 3      0, 5
        defect         5, 0      1, 1

    Defecting is dominant; the unique Nash equilibrium (defect, defect) is Pareto-dominated.
    """

    name = "prisoners_dilemma"
    action_names = (("cooperate", "defect"), ("cooperate", "defect"))

    def __init__(self):
        row = np.array([[3, 0], [5, 1]])
        super().__init__(row_payoffs=row, column_payoffs=row.T)


class StagHunt(MatrixGame):
    """The stag hunt, payoffs ``a=4 > b=3 >= d=2 > c=0``. Actions ``0 stag, 1 hare``::

                 stag   hare
        stag     4, 4   0, 3
        hare     3, 0   2, 2

    Two pure equilibria: (stag, stag) is payoff-dominant, (hare, hare) risk-dominant; the
    mixed one plays stag with probability 2/3.
    """

    name = "stag_hunt"
    action_names = (("stag", "hare"), ("stag", "hare"))

    def __init__(self):
        row = np.array([[4, 0], [3, 2]])
        super().__init__(row_payoffs=row, column_payoffs=row.T)
