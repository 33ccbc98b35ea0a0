"""The dispatch simulation extended to actors: N env actors feeding one learner, on a virtual clock.

:mod:`phalanx.runtime.dispatch_sim` replays the task backend (independent tasks); this module plays the
actor–learner loop of ``backend=ray ray.num_actors=N`` (:mod:`phalanx.runtime.actor_run`): every actor steps
its ``K`` envs for ``T`` steps with the newest parameters it has (one block of ``K × T`` env steps) and hands
the block to the learner; it starts its next block when the learner has taken the last one (``outstanding=1``,
as the real pool keeps one rollout in flight per actor; more lets actors run ahead). The learner takes
finished blocks in the order they finished, paying Ray's per-block cost (``wait`` over ``N`` references,
``get``, the block's bytes, the call that issues the actor's next rollout), drops blocks whose policy lag
exceeds ``max_lag`` (counted, as the real run counts them), updates once per ``blocks_per_update`` blocks
and publishes its parameters (a ``put``). With ``sync`` actors instead wait for the parameters that learned
from their last block (``ray.max_policy_lag=0``, and RLlib's synchronous PPO: lag 0, no overlap).

The costs are measured elsewhere (:class:`ActorCosts`: an env step's time from the raw stepping rate, the
learner's time per env step from a real run, Ray's per-call costs from ``dispatch_sim``'s calibration); the
model then shows where the learner saturates: actors supply ``N K T / A`` env steps/s (``A`` = a block's
time), the learner absorbs ``B K T / (U + B c)`` (``U`` = an update's time, ``c`` = its cost per block).

Why in the package: the tests check the event loop against timelines worked out by hand, so the curve in
docs/scaling.md rests on something checked; the Ray actors benchmark sizes clusters with it.
"""

from __future__ import annotations

import bisect
import dataclasses
import heapq

import numpy as np

from phalanx.runtime.dispatch_sim import RayCosts


@dataclasses.dataclass(frozen=True)
class ActorCosts:
    """Seconds per unit of work in the actor–learner loop.

    Attributes:
        env_step_s: one env's ``step`` on an actor's CPU (1 / the raw stepping rate).
        act_s: one batched policy call for an actor's ``K`` envs (once per step of the block).
        learn_step_s: learner seconds per env step in its batch (all epochs and minibatches).
        learn_fixed_s: learner seconds per update independent of its batch (dispatch, metrics, logging).
        block_bytes_per_step: bytes of trajectory per env step (observations, actions, log-probs, ...).
        fetch_per_byte_s: learner seconds per byte of a block it takes from the object store.
        param_bytes: bytes of the parameters published after each update.
        ray: Ray's per-call costs on the learner (``wait``, ``get``, ``put``) and the one-way latency.
    """

    env_step_s: float
    act_s: float = 0.0
    learn_step_s: float = 0.0
    learn_fixed_s: float = 0.0
    block_bytes_per_step: int = 0
    fetch_per_byte_s: float = 0.0
    param_bytes: int = 0
    ray: RayCosts = dataclasses.field(default_factory=RayCosts)


@dataclasses.dataclass(frozen=True)
class ActorSimResult:
    """What one simulated run did: rates per second of virtual time, shares of the makespan."""

    actors: int
    envs_per_actor: int
    num_steps: int
    updates: int
    makespan_s: float
    env_steps_per_s: float  # env steps the learner trained on, per second
    sampled_per_s: float  # env steps the actors produced (dropped blocks included), per second
    actor_utilisation: float  # actors' stepping time / (actors × makespan)
    learner_busy: float  # updates, per-block and publishing costs / makespan
    learner_wait: float  # the learner waiting for a block / makespan
    mean_lag: float  # policy lag of the blocks trained on (updates between acting and learning)
    max_lag: int
    dropped_blocks: int


def block_seconds(costs: ActorCosts, envs_per_actor: int, num_steps: int) -> float:
    """An actor's time for one block: ``T × (K × env step + one batched policy call)``."""
    return num_steps * (envs_per_actor * costs.env_step_s + costs.act_s)


def simulate_actors(actors: int, envs_per_actor: int, num_steps: int, costs: ActorCosts, updates: int = 20,
                    blocks_per_update: int | None = None, outstanding: int = 1, max_lag: int = 2,
                    sync: bool = False, jitter: float = 0.0, seed: int = 0) -> ActorSimResult:
    """Play ``updates`` learner updates fed by ``actors`` actors (see the module docstring).

    Args:
        blocks_per_update: blocks in one update's batch (default ``actors``: one per actor, the batch growing
            with the cluster as ``train.num_envs = N × K`` does).
        outstanding: most blocks an actor has unconsumed (in progress + finished) before it waits.
        max_lag: blocks acted with parameters more than this many updates old are dropped.
        sync: actors wait for the update that learned from their last block (no overlap; lag 0).
        jitter: each block takes ``A × U(1 - jitter, 1 + jitter)`` (fixed per block by ``seed``).
    """
    if actors < 1 or envs_per_actor < 1 or num_steps < 1 or updates < 1 or outstanding < 1:
        raise ValueError("actors, envs_per_actor, num_steps, updates and outstanding must be >= 1")
    per_update = blocks_per_update or actors
    if sync and per_update > actors:  # each actor gives one block per update: more would never come
        raise ValueError(f"sync: blocks_per_update={per_update} exceeds actors={actors}")
    steps_per_block = envs_per_actor * num_steps
    base = block_seconds(costs, envs_per_actor, num_steps)
    rng = np.random.default_rng(seed)
    block_bytes = steps_per_block * costs.block_bytes_per_step
    per_block = (costs.ray.call_s + costs.ray.wait_s + costs.ray.wait_per_ref_s * actors + costs.ray.get_s
                 + block_bytes * costs.fetch_per_byte_s)
    update_s = costs.learn_fixed_s + costs.learn_step_s * per_update * steps_per_block
    publish_s = costs.ray.put_s + costs.param_bytes * costs.ray.put_per_byte_s
    published: list[float] = [-np.inf]  # published[v]: when version v reached the actors
    events: list[tuple[float, int, int, float]] = []  # (ready_at, seq, actor, start)
    ready: list[tuple[float, int, int, float]] = []  # finished blocks, in the order they finished
    pending = [0] * actors  # unconsumed blocks per actor
    blocked: list[int] = []  # actors waiting (outstanding reached, or sync)
    spans: list[tuple[float, float]] = []  # every block's (start, end) on its actor
    seq = 0

    def start(i: int, at: float) -> None:
        nonlocal seq
        seconds = base * (rng.uniform(1 - jitter, 1 + jitter) if jitter else 1.0)
        spans.append((at, at + seconds))
        pending[i] += 1
        heapq.heappush(events, (at + seconds + costs.ray.latency_s, seq, i, at))
        seq += 1

    def finish_until(t: float) -> None:  # every block finished by t: queue it; its actor goes on or waits
        while events and events[0][0] <= t:
            ev = heapq.heappop(events)
            ready.append(ev)
            i, end = ev[2], ev[0] - costs.ray.latency_s
            if not sync and pending[i] < outstanding:
                start(i, end)
            else:
                blocked.append(i)

    for i in range(actors):
        start(i, 0.0)
    t = wait = learner = 0.0
    lags: list[int] = []
    dropped = sampled = 0
    for u in range(updates):
        taken = 0
        while taken < per_update:
            finish_until(t)
            if not ready:  # wait for the next block to finish
                wait += events[0][0] - t
                t = events[0][0]
                continue
            _, _, i, began = ready.pop(0)
            t += per_block
            learner += per_block
            pending[i] -= 1
            sampled += steps_per_block
            version = bisect.bisect_right(published, began) - 1
            if not sync and i in blocked:
                blocked.remove(i)
                start(i, t)
            if u - version > max_lag:
                dropped += 1
                continue
            lags.append(u - version)
            taken += 1
        t += update_s + publish_s
        learner += update_s + publish_s
        published.append(t + costs.ray.latency_s)
        if sync:  # every waiting actor starts with the new parameters
            finish_until(t)
            for i in blocked:
                start(i, t + costs.ray.latency_s)
            blocked.clear()
    trained = updates * per_update * steps_per_block
    busy = sum(min(end, t) - begin for begin, end in spans if begin < t)  # blocks still running count up to t
    return ActorSimResult(actors, envs_per_actor, num_steps, updates, t, trained / t, sampled / t,
                          busy / (actors * t), learner / t, wait / t,
                          float(np.mean(lags)), max(lags), dropped)


def saturation(costs: ActorCosts, envs_per_actor: int, num_steps: int,
               blocks_per_update: int | None = None, actors: int = 1) -> float:
    """Actors at which supply meets the learner's capacity (the analytic knee of the simulated curve).

    With ``blocks_per_update`` unset (one block per actor) the learner's capacity per env step is
    ``learn_step_s + per-block cost / (K T)`` (plus ``learn_fixed_s`` and the publish spread over the batch,
    computed at ``actors``); the actors' supply per actor is ``K T / A``.
    """
    steps = envs_per_actor * num_steps
    per_update = blocks_per_update or actors
    per_block = (costs.ray.call_s + costs.ray.wait_s + costs.ray.wait_per_ref_s * actors + costs.ray.get_s
                 + steps * costs.block_bytes_per_step * costs.fetch_per_byte_s)
    fixed = costs.learn_fixed_s + costs.ray.put_s + costs.param_bytes * costs.ray.put_per_byte_s
    learner_s_per_step = costs.learn_step_s + per_block / steps + fixed / (per_update * steps)
    return block_seconds(costs, envs_per_actor, num_steps) / steps / learner_s_per_step
