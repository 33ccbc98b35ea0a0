"""Two-player turn-based card games inside Phalanx's simultaneous-move contract.

Groups are ``{"player_0": 1, "player_1": 1}``, as in the matrix games. Every step both groups
submit an action; only the action of the player to move is applied. The waiting player's
action mask allows exactly one action, 0, which is ignored: a policy-gradient learner gets a
log-probability of 0, hence no gradient, from waiting steps. Once the game is over both masks
allow only action 0 and ``step`` leaves the state unchanged (reset it, e.g. with
:class:`~phalanx.envs.AutoReset`).

* **Observation** of each player: its OpenSpiel ``information_state_tensor`` (float32).
* **Reward**: chips won or lost, on the step that ends the game only (zero-sum); 0 otherwise.
* **End**: ``terminated`` for both players at the end of the game; never ``truncated``.
* **Global state**: both players' information-state tensors, player 0's first ``(2 T,)``.
* **Chance**: ``reset`` deals every card the game will use from its key (the public card
  stays hidden until its round); ``step`` is deterministic. :meth:`PokerEnv.reset_to_deal`
  starts from given cards, e.g. to replay an OpenSpiel game.
"""

from __future__ import annotations

import abc
import functools
from typing import Generic, TypeVar

import jax
import jax.numpy as jnp
from flax import struct

from phalanx.envs.environment import Environment
from phalanx.envs.poker.tree import GameTree, game_tree
from phalanx.envs.spaces import Box, Discrete
from phalanx.envs.types import EnvSpec, GroupSpec, TimeStep, make_timestep

GROUPS = ("player_0", "player_1")

StateT = TypeVar("StateT")


@struct.dataclass
class PokerParams:
    """No numeric settings: the rules are OpenSpiel's defaults (kept for the env contract)."""


class PokerEnv(Environment[StateT, PokerParams], Generic[StateT]):
    """Shared plumbing of the poker envs; subclasses give the rules on arrays.

    A state must have fields ``player`` (``()`` int32, the player to move) and ``done``
    (``()`` bool, the game is over).
    """

    #: Distinct actions (OpenSpiel's ``num_distinct_actions``).
    num_actions: int
    #: Length of the information-state tensor.
    tensor_size: int
    #: Cards in the deck and cards dealt per game.
    deck_size: int
    cards_dealt: int

    @abc.abstractmethod
    def initial_state(self, cards: jax.Array) -> StateT:
        """The state after dealing ``cards`` ``(cards_dealt,)`` int32 (player 0's, player 1's, [public])."""

    @abc.abstractmethod
    def apply_action(self, state: StateT, action: jax.Array) -> StateT:
        """The mover plays ``action`` (``()`` int32) in an unfinished game."""

    @abc.abstractmethod
    def legal_actions(self, state: StateT) -> jax.Array:
        """``(A,)`` bool legal actions of the player to move."""

    @abc.abstractmethod
    def info_state_tensors(self, state: StateT) -> jax.Array:
        """``(2, T)`` float32 each player's OpenSpiel information-state tensor."""

    @abc.abstractmethod
    def returns(self, state: StateT) -> jax.Array:
        """``(2,)`` float32 chips won by each player in a finished game."""

    @property
    def default_params(self) -> PokerParams:
        return PokerParams()

    @functools.cached_property
    def spec(self) -> EnvSpec:
        obs = Box(0.0, 1.0, (self.tensor_size,))
        group = GroupSpec(1, obs, Discrete(self.num_actions), has_action_mask=True)
        return EnvSpec(groups=dict.fromkeys(GROUPS, group), global_state=Box(0.0, 1.0, (2 * self.tensor_size,)))

    @property
    def tree(self) -> GameTree:
        """The game's full tree for exact evaluation (built on first use, shared by all instances)."""
        return game_tree(self.name)

    def reset_to_deal(self, cards: jax.Array) -> tuple[StateT, TimeStep]:
        """Start a game with the given ``cards`` ``(cards_dealt,)`` int32, distinct, in ``[0, deck_size)``."""
        state = self.initial_state(jnp.asarray(cards, jnp.int32))
        return state, self._timestep(state, jnp.zeros(2, jnp.float32))

    def _reset(self, key: jax.Array, params: PokerParams) -> tuple[StateT, TimeStep]:
        del params
        cards = jax.random.permutation(key, self.deck_size)[: self.cards_dealt].astype(jnp.int32)
        return self.reset_to_deal(cards)

    def _step(
        self, key: jax.Array, state: StateT, actions: dict[str, jax.Array], params: PokerParams
    ) -> tuple[StateT, TimeStep]:
        del key, params  # every card was dealt at reset
        action = jnp.where(state.player == 0, actions["player_0"][0], actions["player_1"][0])
        moved = self.apply_action(state, action)
        # A finished game stays as it is.
        new = jax.tree.map(lambda old, nxt: jnp.where(state.done, old, nxt), state, moved)
        reward = jnp.where(new.done & ~state.done, self.returns(new), 0.0).astype(jnp.float32)
        return new, self._timestep(new, reward)

    def _timestep(self, state: StateT, reward: jax.Array) -> TimeStep:
        tensors = self.info_state_tensors(state)
        only_first = jnp.arange(self.num_actions) == 0
        legal = self.legal_actions(state)
        masks = [jnp.where(~state.done & (state.player == p), legal, only_first) for p in (0, 1)]
        return make_timestep(
            obs={g: tensors[p][None] for p, g in enumerate(GROUPS)},
            action_mask={g: masks[p][None] for p, g in enumerate(GROUPS)},
            reward={g: reward[p][None] for p, g in enumerate(GROUPS)},
            terminated={g: state.done[None] for g in GROUPS},
            truncated=False,
            global_state=tensors.reshape(-1),
        )

    @property
    def max_game_length(self) -> int:
        """Most moves in one game (Kuhn 3, Leduc 8): every episode is over after this many steps."""
        from phalanx.envs.poker.viewer import MAX_GAME_LENGTH

        return MAX_GAME_LENGTH[self.name]

    @property
    def time_limit(self) -> int:
        """:attr:`max_game_length`: a game is over after its longest line of play."""
        return self.max_game_length

    def render_text(self, state: StateT) -> str:
        """One (unbatched) state as readable text: cards, pot, bets, whose turn or the result."""
        from phalanx.envs.poker.viewer import poker_text

        return poker_text(self, state)

    def draw_frame(self, fig, state: StateT) -> None:
        """Draw :meth:`render_text` on a matplotlib figure (used by ``phalanx.envs.viewers.render_frame``)."""
        from phalanx.envs.poker.viewer import draw_poker

        draw_poker(fig, self, state)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
