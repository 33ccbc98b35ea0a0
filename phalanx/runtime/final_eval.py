"""The evaluation at the end of a ``phalanx train`` run: each seed's final policy, greedy, over
:data:`EPISODES` episodes played by :func:`phalanx.evaluation.play`. It gives ``marl_eval.json`` its
``absolute_metrics`` (marl-eval's score of the final policy), which training means must not stand in for:
they mix the whole last chunk's exploring policies.

A PettingZoo run (``env=pettingzoo:<module>``) has no JAX env to :func:`~phalanx.evaluation.play`: its final
policy plays the run's own host envs instead (:func:`host_final_evaluation`, the same greedy ``act`` and the same
metrics), and random play the same starts there (:func:`host_returns`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from phalanx.algos.common.host import random_actions
from phalanx.evaluation import Actor, play, state_actors

#: Episodes of the final evaluation, per seed.
EPISODES = 32
#: Host envs: steps a round of episodes may take before its unfinished episodes are left out.
HOST_MAX_STEPS = 10_000


def _absolute(returns: Mapping[str, Any], num_agents: Mapping[str, int],
              metrics: Mapping[str, Any] | None = None) -> dict[str, list[float]]:
    """One seed's marl-eval absolute metrics from per-episode returns ``{group: (N,)}`` (see
    :func:`final_evaluation`)."""
    total = sum(num_agents.values())
    returns = {g: np.asarray(r, np.float64) for g, r in returns.items()}
    values = {"return": sum(returns[g] * n for g, n in num_agents.items()) / total}
    if len(num_agents) > 1:
        values |= {f"return_{g}": r for g, r in returns.items()}
    values |= {m: np.asarray(v, np.float64) for m, v in (metrics or {}).items()}
    return {m: [float(x) for x in np.atleast_1d(v)] for m, v in values.items()}


def final_evaluation(env: Any, trainer: Any, state: Any, num_seeds: int, seed: int,
                     episodes: int = EPISODES) -> list[dict[str, list[float]]]:
    """Each seed's ``{metric: per-episode values}`` (marl-eval absolute metrics) of its greedy final policy.

    Metrics are named as in ``metrics.jsonl``'s marl-eval steps: ``return`` (agent-weighted mean over groups
    of each episode's return per agent), ``return_<group>`` when there are several groups, and the env's
    episode metrics (``win_rate``). Every seed plays the same ``episodes`` starting states (key ``seed``).
    """
    num_agents = {g: s.num_agents for g, s in env.spec.groups.items()}
    run = jax.jit(lambda actors, key: play(env, actors, key, env.time_limit))  # compiled once for all seeds
    out = []
    for k in range(num_seeds):
        one = state if num_seeds == 1 else jax.tree.map(lambda x, k=k: x[k], state)
        outcome = jax.device_get(run(state_actors(trainer, one, episodes, greedy=True), jax.random.PRNGKey(seed)))
        out.append(_absolute(outcome.returns, num_agents, outcome.metrics))
    return out


def evaluate_final(console: Any, env: Any, trainer: Any, state: Any, num_seeds: int,
                   seed: int) -> list[dict[str, list[float]]]:
    """:func:`final_evaluation`, and one line on ``console`` with its mean return over seeds and episodes."""
    absolute = final_evaluation(env, trainer, state, num_seeds, seed)
    mean = float(np.mean([np.mean(a["return"]) for a in absolute]))
    console.print(f"final policy, greedy, {EPISODES} episodes{' per seed' if num_seeds > 1 else ''}: "
                  f"mean return {mean:.4g}")
    return absolute


def host_returns(venv: Any, actors: Mapping[str, Actor] | None, episodes: int, seed: int,
                 max_steps: int = HOST_MAX_STEPS) -> dict[str, np.ndarray]:
    """Each group's return (mean over its agents) in ``episodes`` episodes played on host envs (a
    :class:`~phalanx.interop.host.HostVecEnv`, e.g. the run's PettingZoo worker pool).

    Episodes are played in rounds of the pool's ``E`` envs: round ``r`` resets env ``i`` with seed
    ``seed + r * E + i`` and keeps each env's first episode (the pool auto-resets; later ones are ignored), so
    episode ``j`` starts from reset seed ``seed + j`` whoever acts. ``actors``: every group's
    :class:`~phalanx.evaluation.Actor` (a learner's ``act``, as :func:`~phalanx.evaluation.play` uses it); None:
    uniformly random legal actions. An episode unfinished after ``max_steps`` steps is left out (the arrays
    are then shorter than ``episodes``).
    """
    groups, num_envs = tuple(venv.spec.groups), venv.num_envs
    rng, key = np.random.default_rng(seed), jax.random.PRNGKey(seed)

    @jax.jit
    def act(actors, hidden, obs, masks, first, key):
        actions, new_hidden = {}, {}
        for g, k in zip(groups, jax.random.split(key, len(groups)), strict=True):
            a = actors[g]
            actions[g], new_hidden[g] = a.act(a.params, g, hidden[g], obs[g], first, k, mask=masks.get(g),
                                              greedy=a.greedy)
        return actions, new_hidden

    out: dict[str, list[float]] = {g: [] for g in groups}
    for start in range(0, episodes, num_envs):
        ts = venv.reset(seed + start)
        hidden = None if actors is None else {g: a.hidden for g, a in actors.items()}
        first, finished = np.ones(num_envs, bool), np.zeros(num_envs, bool)
        returns = {g: np.zeros(num_envs) for g in groups}
        for _ in range(max_steps):
            if actors is None:
                actions = random_actions(venv.spec, ts.action_mask, num_envs, rng)
            else:
                key, k = jax.random.split(key)
                actions, hidden = act(actors, hidden, ts.obs, ts.action_mask, first, k)
                actions = jax.device_get(actions)
            ts = venv.step(actions)
            first = np.asarray(ts.episode.completed, bool)
            new = first & ~finished
            for g in groups:
                returns[g][new] = np.asarray(ts.episode.returns[g], np.float64)[new].mean(-1)
            finished |= new
            if finished.all():
                break
        keep = finished[: min(num_envs, episodes - start)]
        for g in groups:
            out[g].extend(returns[g][: len(keep)][keep].tolist())
    return {g: np.asarray(v, np.float64) for g, v in out.items()}


def host_final_evaluation(console: Any, venv: Any, learner: Any, state: Any, seed: int,
                          episodes: int = EPISODES) -> tuple[list[dict[str, list[float]]], dict[str, np.ndarray]]:
    """A host-env run's final evaluation: ``(absolute, random)``, ``absolute`` as :func:`final_evaluation`'s (one
    seed: host runs train one) from the greedy final policy on ``venv``, ``random`` random play's returns
    ``{group: (N,)}`` from the same starts (:func:`host_returns`); one line on ``console`` as
    :func:`evaluate_final` prints."""
    num_agents = {g: s.num_agents for g, s in venv.spec.groups.items()}
    played = host_returns(venv, state_actors(learner, state, venv.num_envs, greedy=True), episodes, seed)
    absolute = [_absolute(played, num_agents)]
    count = len(absolute[0]["return"])
    mean = f"mean return {np.mean(absolute[0]['return']):.4g}" if count else "no episode ended"
    console.print(f"final policy, greedy, {count} episodes on the host envs: {mean}")
    return absolute, host_returns(venv, None, episodes, seed)
