"""The summary at the end of a ``phalanx train`` run: the final policy's return, the best training chunk's, and
random play's for reference — printed in a few lines and written to ``summary.json``.

Every return here is the agent-weighted mean over the env's groups of each episode's return per agent, the
``return`` of ``marl_eval.json``, so the three numbers compare with each other and with that file. The final
return is the end-of-run evaluation's (:mod:`phalanx.runtime.final_eval`), not a second evaluation; random play
uses the same starting states (the same key), so the two differ only by the actions. A PettingZoo run's
(``env=pettingzoo:<module>``) two are played on its host envs from the same reset seeds
(:func:`~phalanx.runtime.final_eval.host_final_evaluation`) and say so (``played_on: host``).
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from phalanx.evaluation import play, random_actor


def _weights(env: Any) -> dict[str, float]:
    num_agents = {g: s.num_agents for g, s in env.spec.groups.items()}
    total = sum(num_agents.values())
    return {g: n / total for g, n in num_agents.items()}


def mean_return(env: Any, returns: dict[str, Any]) -> float:
    """The agent-weighted mean over groups of per-episode returns ``{group: (N,)}``."""
    return float(sum(np.mean(np.asarray(returns[g], np.float64)) * w for g, w in _weights(env).items()))


def random_return(env: Any, seed: int, episodes: int) -> float:
    """Mean return of uniformly random legal actions over ``episodes`` episodes from key ``seed``."""
    actors = {g: random_actor(env, g, episodes) for g in env.spec.groups}
    outcome = jax.device_get(jax.jit(lambda a, k: play(env, a, k, env.time_limit))(actors, jax.random.PRNGKey(seed)))
    return mean_return(env, outcome.returns)


def best_chunk(lines: list[dict[str, Any]], env: Any) -> dict[str, Any] | None:
    """The ``metrics.jsonl`` line with the highest return (seed mean) as ``{"return", "env_steps", "chunk"}``;
    ``None`` when no chunk completed an episode of every group."""
    weights = _weights(env)
    best = None
    for line in lines:
        r = line["episode_return"]
        if any(r.get(g) is None for g in weights):
            continue
        value = sum(r[g] * w for g, w in weights.items())
        if best is None or value > best["return"]:
            best = {"return": value, "env_steps": line["env_steps"], "chunk": line["chunk"]}
    return best


def summarize(env: Any, lines: list[dict[str, Any]], absolute: list[dict[str, list[float]]], seed: int,
              episodes: int, random: dict[str, Any] | None = None) -> dict[str, Any]:
    """``summary.json``'s object from the run's metrics lines and its final evaluation ``absolute`` (per seed,
    :func:`~phalanx.runtime.final_eval.final_evaluation`, ``episodes`` each).

    ``random``: random play's returns ``{group: (N,)}`` when they were played elsewhere (host envs:
    :func:`~phalanx.runtime.final_eval.host_final_evaluation`; the summary then says ``played_on: host`` and
    counts the episodes that ended); None: played here on ``env`` (:func:`random_return`).
    """
    best = best_chunk(lines, env)
    finals = [r for a in absolute for r in a["return"]]
    if random is None:
        rand, rand_episodes = random_return(env, seed, episodes), episodes
    else:
        rand_episodes = min(len(np.atleast_1d(r)) for r in random.values())
        rand = mean_return(env, random) if rand_episodes else None
    return {
        "final_return": float(np.mean([np.mean(a["return"]) for a in absolute])) if finals else None,
        "final_episodes": episodes if random is None else len(absolute[0]["return"]), "num_seeds": len(absolute),
        "best_return": None if best is None else best["return"],
        "best_env_steps": None if best is None else best["env_steps"],
        "best_chunk": None if best is None else best["chunk"],
        "random_return": rand, "random_episodes": rand_episodes,
        "played_on": "jax" if random is None else "host",
    }


def _value(x: float | None) -> str:
    return "-       " if x is None else f"{x:<8.4g}"


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The few lines printed at the end of the run (each fits 80 columns)."""
    per_seed = " per seed" if summary["num_seeds"] > 1 else ""
    where = " on the host envs" if summary.get("played_on") == "host" else ""
    if summary["best_return"] is None:
        best = "best return     -        (no training chunk finished an episode)"
    else:
        best = (f"best return     {summary['best_return']:<8.4g} (training chunk, at "
                f"{summary['best_env_steps']:,} env steps)")
    return ["summary (summary.json):",
            f"  final return    {_value(summary['final_return'])} (greedy, {summary['final_episodes']} "
            f"episodes{per_seed}{where})",
            f"  {best}",
            f"  random play     {_value(summary['random_return'])} (same {summary['random_episodes']} starts)"]
