"""One evaluator: :func:`play`, a batch of episodes where every group acts through its own actor.

``phalanx eval`` (a trained policy against a random one), PSRO payoff cells (member against
member) and league matches all need the same thing — play ``E`` episodes in parallel, each group
of agents driven by some policy, and add up what happened — so it is written once, here, between
``algos`` (whose single-step ``act`` the actors call) and ``population`` / ``runtime`` (which call
:func:`play`). It knows envs and the learner protocol only.

An :class:`Actor` is what plays one group: a learner's single-step
``act(params, group, hidden, obs, first, key, *, mask=None, greedy=False) -> (actions, hidden)``
(:class:`~phalanx.algos.common.protocol.Learner`), that group's member parameters
(``learner.policy_params(state, group)``) and its initial recurrent state ``(E, A, H)``. Build one
with :func:`learner_actor`, :func:`state_actors` (every group of a train state) or
:func:`random_actor` (uniform legal actions).

Example — 64 games of a trained policy against a random opponent, one ``jit``::

    actors = {"taggers": learner_actor(learner, learner.policy_params(state, "taggers"), "taggers", 64),
              "runners": random_actor(env, "runners", 64)}
    outcome = jax.jit(lambda a, k: play(env, a, k))(actors, jax.random.PRNGKey(0))
    outcome.returns["taggers"]  # (64,) each game's return, averaged over the taggers

Several pairs at once (a PSRO payoff block) are a ``vmap`` of :func:`play` over stacked
``Actor.params``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from phalanx.algos.common.opponents import ActFn
from phalanx.envs.environment import Environment

__all__ = ["Actor", "Outcome", "StatFn", "acting_as", "learner_actor", "play", "random_actor", "state_actors"]

#: A per-step statistic of ONE env: ``stat(state, next_state) -> {name: () number}``; :func:`play`
#: ``vmap``-s it over the envs and sums it over each episode's live steps (e.g. Tag's tags).
StatFn = Callable[[Any, Any], dict[str, jax.Array]]


@struct.dataclass
class Actor:
    """What plays one group in :func:`play` (a pytree: ``params`` and ``hidden`` are leaves).

    Attributes:
        act: a learner's single-step ``act`` (static: part of the compiled program).
        params: the group's member, as ``learner.policy_params(state, group)`` returns it.
        hidden: ``(E, A, H)`` recurrent state at the first step (zeros; ``H = 0`` feed-forward).
            Its leading axis is the number of envs ``E`` :func:`play` runs.
        greedy: act with the learner's deterministic policy (static); otherwise its evaluation
            behaviour (PPO: sampled; value-based: ε-greedy with ``eval_epsilon``).
    """

    act: ActFn = struct.field(pytree_node=False)
    params: Any
    hidden: jax.Array
    greedy: bool = struct.field(pytree_node=False, default=False)


@struct.dataclass
class Outcome:
    """What :func:`play` returns: per-env totals of one episode each.

    Attributes:
        returns: ``{group: (E,)}`` float32: the episode's summed rewards, averaged over the group's agents.
        length: ``(E,)`` int32 steps each episode lasted (``steps`` when it did not end by then).
        done: ``(E,)`` bool: the episode ended (terminated or truncated) within ``steps``.
        stats: ``{name: (E,)}`` the ``stat`` hook's values summed over each episode's steps (``{}`` without one).
        metrics: ``{name: (E,)}`` the env's episode metrics (``TimeStep.info``, e.g. SMAX's won flag
            ``win_rate``) as they stood on each episode's last live step, as training reads them
            (``{}`` for envs without any).
        states: with ``record=True``, the env states before every step and after the last, leaves
            ``(steps + 1, E, ...)``; else None.
    """

    returns: dict[str, jax.Array]
    length: jax.Array
    done: jax.Array
    stats: dict[str, jax.Array]
    states: Any = None
    metrics: dict[str, jax.Array] = struct.field(default_factory=dict)


def learner_actor(learner: Any, params: Any, group: str, num_envs: int, greedy: bool = False) -> Actor:
    """``group`` played by ``learner``'s ``act`` with member ``params`` in ``num_envs`` envs."""
    return Actor(learner.act, params, learner.initial_hidden(num_envs)[group], greedy)


def state_actors(learner: Any, state: Any, num_envs: int, greedy: bool = False) -> dict[str, Actor]:
    """Every group of the env played by a train state's own policies (``policy_params(state, group)``)."""
    hidden = learner.initial_hidden(num_envs)
    return {g: Actor(learner.act, learner.policy_params(state, g), h, greedy) for g, h in hidden.items()}


def acting_as(actor: Actor, group: str) -> Actor:
    """``actor`` acting as its learner's ``group`` whichever group of the env it plays.

    A policy trained as one group can then play another whose observations and actions have the same
    layout: on a symmetric SMAX map, an allies policy trained against the heuristic enemy plays the
    enemies of a both-teams-learned battle (``enemy="learned"``), against a league's main agent.
    """
    inner = actor.act

    def act(params, group_, hidden, obs, first, key, *, mask=None, greedy=False):
        del group_
        return inner(params, group, hidden, obs, first, key, mask=mask, greedy=greedy)

    return actor.replace(act=act)


def random_actor(env: Environment, group: str, num_envs: int) -> Actor:
    """``group`` playing uniformly random legal actions (masks where the env has them) in ``num_envs`` envs."""
    spec = env.spec.groups[group]

    def act(params, group_, hidden, obs, first, key, *, mask=None, greedy=False):
        del params, group_, obs, first, greedy
        keys = jax.random.split(key, hidden.shape[0])
        masks = None if mask is None else {group: mask}
        sample = lambda k, m: env.sample_actions(k, None if m is None else m)[group]  # noqa: E731
        return jax.vmap(sample)(keys, masks), hidden

    return Actor(act, None, jnp.zeros((num_envs, spec.num_agents, 0)))


def play(env: Environment, actors_by_group: Mapping[str, Actor], key: jax.Array, steps: int | None = None, *,
         stat: StatFn | None = None, record: bool = False) -> Outcome:
    """Play one episode in each of ``E`` envs, every group acting through its :class:`Actor`.

    Pure and jittable (``steps``, ``stat``, ``record`` and the actors' ``act`` are static): a
    ``vmap`` over envs inside a ``lax.scan`` of ``steps`` steps. Episodes are NOT auto-reset: each
    env plays one episode from its own reset key for ``steps`` steps (default ``env.time_limit``,
    by which every episode is over); rewards and ``stat`` count while the episode is live, i.e. up
    to and including the step that ends it, and nothing after.

    Randomness: ``k_reset, k_run = split(key)``; env ``e`` resets with ``split(k_reset, E)[e]``. At
    step ``t`` (key ``split(k_run, steps)[t]``), ``k_act, k_env = split(.)``; group ``i`` of
    ``env.spec.groups`` acts with ``split(k_act, G)[i]`` and env ``e`` steps with ``split(k_env, E)[e]``.
    So two calls with the same ``key`` start from the same states (common random numbers: a league's
    paired games, a policy and a random baseline on the same deals).

    Args:
        env: an unbatched, un-resetting env (:func:`phalanx.make`'s).
        actors_by_group: ``{group: Actor}`` for every group of ``env.spec.groups``.
        key: the PRNG key of the whole batch.
        steps: steps to play (default ``env.time_limit``).
        stat: optional per-step statistic of one env, ``stat(state, next_state) -> {name: ()}``.
        record: also return every env state (:attr:`Outcome.states`) — for rendering.

    Returns:
        An :class:`Outcome` of ``(E,)`` arrays.
    """
    groups = tuple(env.spec.groups)
    if set(actors_by_group) != set(groups):
        raise ValueError(f"play needs one actor per group of {env.name} {list(groups)}; got {sorted(actors_by_group)}.")
    actors = {g: actors_by_group[g] for g in groups}
    num_envs = int(jax.tree.leaves(actors[groups[0]].hidden)[0].shape[0])
    steps = env.time_limit if steps is None else int(steps)
    reset, step = jax.vmap(env.reset), jax.vmap(env.step)
    count = jax.vmap(stat) if stat is not None else None

    def body(carry, k):
        state, ts, hidden, over, returns, stats, metrics, length, first = carry
        k_act, k_env = jax.random.split(k)
        actions, new_hidden = {}, {}
        for g, k_g in zip(groups, jax.random.split(k_act, len(groups)), strict=True):
            a = actors[g]
            firsts = jnp.full((num_envs,), first)
            actions[g], new_hidden[g] = a.act(a.params, g, hidden[g], ts.obs[g], firsts, k_g,
                                              mask=ts.action_mask.get(g), greedy=a.greedy)
        new_state, new_ts = step(jax.random.split(k_env, num_envs), state, actions)
        live = ~over
        returns = {g: r + jnp.where(live, new_ts.reward[g].mean(-1), 0.0) for g, r in returns.items()}
        if count is not None:
            stats = {n: stats[n] + jnp.where(live, v, 0).astype(stats[n].dtype)
                     for n, v in count(state, new_state).items()}
        metrics = {n: jnp.where(live, new_ts.info[n], m) for n, m in metrics.items()}
        length = length + live.astype(jnp.int32)
        carry = (new_state, new_ts, new_hidden, over | new_ts.done, returns, stats, metrics, length, jnp.bool_(False))
        return carry, state if record else None

    k_reset, k_run = jax.random.split(key)
    state, ts = reset(jax.random.split(k_reset, num_envs))
    returns = {g: jnp.zeros(num_envs) for g in groups}
    stats = {}
    if count is not None:
        # Sums of bool statistics are counts: int32.
        stats = jax.tree.map(lambda x: jnp.zeros(x.shape, jnp.result_type(x.dtype, jnp.int32)),
                             jax.eval_shape(count, state, state))
    hidden = {g: a.hidden for g, a in actors.items()}
    metrics = {n: jnp.asarray(v, jnp.float32) for n, v in ts.info.items()}
    carry = (state, ts, hidden, jnp.zeros(num_envs, bool), returns, stats, metrics,
             jnp.zeros(num_envs, jnp.int32), jnp.bool_(True))
    carry, states = jax.lax.scan(body, carry, jax.random.split(k_run, steps))
    last, _, _, over, returns, stats, metrics, length, _ = carry
    if record:
        states = jax.tree.map(lambda s, x: jnp.concatenate([s, x[None]]), states, last)
    return Outcome(returns=returns, length=length, done=over, stats=stats, states=states, metrics=metrics)
