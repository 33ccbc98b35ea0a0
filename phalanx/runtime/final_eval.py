"""The evaluation at the end of a ``phalanx train`` run: each seed's final policy, greedy, over
:data:`EPISODES` episodes played by :func:`phalanx.evaluation.play`. It gives ``marl_eval.json`` its
``absolute_metrics`` (marl-eval's score of the final policy), which training means must not stand in for:
they mix the whole last chunk's exploring policies.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from phalanx.evaluation import play, state_actors

#: Episodes of the final evaluation, per seed.
EPISODES = 32


def final_evaluation(env: Any, trainer: Any, state: Any, num_seeds: int, seed: int,
                     episodes: int = EPISODES) -> list[dict[str, list[float]]]:
    """Each seed's ``{metric: per-episode values}`` (marl-eval absolute metrics) of its greedy final policy.

    Metrics are named as in ``metrics.jsonl``'s marl-eval steps: ``return`` (agent-weighted mean over groups
    of each episode's return per agent), ``return_<group>`` when there are several groups, and the env's
    episode metrics (``win_rate``). Every seed plays the same ``episodes`` starting states (key ``seed``).
    """
    num_agents = {g: s.num_agents for g, s in env.spec.groups.items()}
    total = sum(num_agents.values())
    run = jax.jit(lambda actors, key: play(env, actors, key, env.time_limit))  # compiled once for all seeds
    out = []
    for k in range(num_seeds):
        one = state if num_seeds == 1 else jax.tree.map(lambda x, k=k: x[k], state)
        outcome = jax.device_get(run(state_actors(trainer, one, episodes, greedy=True), jax.random.PRNGKey(seed)))
        returns = {g: np.asarray(r, np.float64) for g, r in outcome.returns.items()}
        values = {"return": sum(returns[g] * n for g, n in num_agents.items()) / total}
        if len(num_agents) > 1:
            values |= {f"return_{g}": r for g, r in returns.items()}
        values |= {m: np.asarray(v, np.float64) for m, v in outcome.metrics.items()}
        out.append({m: [float(x) for x in v] for m, v in values.items()})
    return out


def evaluate_final(console: Any, env: Any, trainer: Any, state: Any, num_seeds: int,
                   seed: int) -> list[dict[str, list[float]]]:
    """:func:`final_evaluation`, and one line on ``console`` with its mean return over seeds and episodes."""
    absolute = final_evaluation(env, trainer, state, num_seeds, seed)
    mean = float(np.mean([np.mean(a["return"]) for a in absolute]))
    console.print(f"final policy, greedy, {EPISODES} episodes{' per seed' if num_seeds > 1 else ''}: "
                  f"mean return {mean:.4g}")
    return absolute
