"""The one interface every learner implements, and what is written once on top of it.

A learner is built by ``make_train(config, env, learners=None) -> Learner`` (its package registers
that function with :func:`phalanx.algos.registry.register_algorithm`). Everything on it is pure, so
the runtime ``jit``s it, ``vmap``s it over seeds and checkpoints its state; the population layer
(PSRO, fictitious self-play, league) uses nothing else:

* ``num_updates``: updates in the whole run.
* ``init(key, opponents=None) -> state``: a train state (a pytree holding parameters, optimiser,
  envs, buffers, RNG key and counters). When ``make_train`` got ``learners=(group, ...)``, the
  other groups do not learn: ``opponents`` (:class:`~phalanx.algos.common.opponents.Opponents`)
  gives them a fixed population, members stacked on a leading axis ``(K, ...)`` with mixture
  weights ``(K,)``; each env draws one member per episode. Omitting it then is an error.
* ``update(state) -> (state, metrics)``: one rollout and its learning; ``metrics`` is a
  :class:`~phalanx.algos.common.episodes.BaseMetrics` subclass (``{group: ()}`` or ``()`` fields).
* ``train(key) -> (state, metrics)``: :func:`train`, a whole run as a function of one key.
  A best response against a population is ``train(learner, key, opponents)`` (``vmap`` it over
  keys for several seeds; the opponents are an ordinary pytree argument).
* ``initial_hidden(batch) -> {group: (batch, A, H)}``: zero recurrent state (``H = 0`` feed-forward).
* ``policy_params(state, group) -> params``: the pytree ``act`` needs for one group — network
  parameters plus any observation statistics. **This pytree is what a population member is**:
  stack members on a leading axis to build ``Opponents``; store it as a PSRO/league member.
  For a group that does not learn it is the first opponent member's.
* ``act(params, group, hidden, obs, first, key, *, mask=None, greedy=False) -> (actions, hidden)``:
  one step of one group in a batch of envs. ``params`` from ``policy_params``; ``hidden``
  ``(E, A, H)``; ``obs`` the raw observations ``(E, A, *obs_shape)``; ``first`` ``(E,)`` bool marks
  episode starts (recurrent state reset); ``mask`` ``(E, A, n)`` legal actions of discrete groups
  (None: all legal). Returns env actions ``(E, A, ...)`` and the new hidden state. ``greedy`` gives
  the learner's deterministic policy: most likely action (PPO), ``argmax Q`` (value-based), the
  mean action (continuous); otherwise its evaluation behaviour (sampled; ε-greedy with
  ``eval_epsilon``; exploration noise). Fixed opponents act with ``greedy`` as each family plays a
  population member: PPO sampled, value-based and continuous learners greedily.

:func:`act_all` steps every group of a batched timestep with a state's own policies (evaluation).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import jax

from phalanx.algos.common.opponents import Opponents
from phalanx.envs.types import TimeStep


@runtime_checkable
class Learner(Protocol):
    """What every registered learner's ``make_train`` returns (see the module docstring)."""

    @property
    def num_updates(self) -> int:
        """Updates in the whole run."""
        ...

    def init(self, key: jax.Array, opponents: Opponents | None = None) -> Any:
        """The train state at the start of a run (``opponents`` for the groups that do not learn)."""
        ...

    def update(self, state: Any) -> tuple[Any, Any]:
        """One rollout and its learning: ``(state, metrics)``."""
        ...

    def train(self, key: jax.Array) -> tuple[Any, Any]:
        """A whole run from one key (:func:`train`)."""
        ...

    def initial_hidden(self, batch: int) -> dict[str, jax.Array]:
        """Zero recurrent state ``{group: (batch, A, H)}``."""
        ...

    def policy_params(self, state: Any, group: str) -> Any:
        """The pytree ``act`` needs for ``group``: one population member."""
        ...

    def act(self, params: Any, group: str, hidden: jax.Array, obs: jax.Array, first: jax.Array, key: jax.Array,
            *, mask: jax.Array | None = None, greedy: bool = False) -> tuple[jax.Array, jax.Array]:
        """One step of ``group`` in a batch of envs: ``(actions (E, A, ...), hidden (E, A, H))``."""
        ...


def train(learner: Learner, key: jax.Array, opponents: Opponents | None = None) -> tuple[Any, Any]:
    """A whole run as one function of one key: ``init`` then ``update`` scanned ``num_updates`` times.

    ``vmap`` it over keys for several seeds; metrics leaves gain a leading ``(num_updates,)`` axis.
    """
    state = learner.init(key, opponents)
    return jax.lax.scan(lambda s, _: learner.update(s), state, None, length=learner.num_updates)


def act_all(learner: Learner, state: Any, hidden: dict, key: jax.Array, ts: TimeStep, first: jax.Array,
            greedy: bool = False) -> tuple[dict, dict]:
    """``(hidden, actions)`` of every group for a batch of envs ``ts`` (``(E, ...)``) from ``state``'s policies.

    ``first`` (``(E,)`` or ``()``) marks episode starts. Groups that do not learn act with their first
    opponent member. Action masks are passed for the groups whose timestep has them.
    """
    groups = tuple(hidden)
    keys = dict(zip(groups, jax.random.split(key, len(groups)), strict=True))
    first = jax.numpy.broadcast_to(first, ts.truncated.shape)
    actions, new_hidden = {}, {}
    for g in groups:
        actions[g], new_hidden[g] = learner.act(learner.policy_params(state, g), g, hidden[g], ts.obs[g], first,
                                                keys[g], mask=ts.action_mask.get(g), greedy=greedy)
    return new_hidden, actions
