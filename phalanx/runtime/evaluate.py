"""``phalanx eval``: episodes of a trained policy against a uniform random baseline.

Pure functions returning numbers (the CLI only formats them):

* :func:`load_policy` — a run directory's config, trainer and last checkpointed ``TrainState``
  (one member of a multi-seed run).
* :func:`episode_returns` — ``N`` episodes played by :func:`phalanx.evaluation.play` (the one
  evaluator) with the trained policy (sampled or greedy) and with uniformly random legal actions,
  from the same reset keys; each episode's return per group (averaged over the group's agents).
* :func:`summarize` / :func:`compare` — mean and 95% confidence interval over episodes
  (Student's t; Welch's t for the trained − random difference).
* :func:`interval` — the 95% interval of an env's episode metric (``TimeStep.info``, e.g. SMAX's
  ``win_rate``): Wilson's score interval for a 0/1 flag (a t interval collapses to a point at 0 or
  100 % won), Student's t otherwise.
* :func:`evaluate` — all of the above for a run directory.

Episodes are not auto-reset: every env plays exactly one episode from its own reset key, for
``env.time_limit`` steps; rewards after the episode's end are ignored.
The policy normalises observations with the statistics stored in the ``TrainState`` (frozen),
starts from zero recurrent state (reset on the first step) and respects action masks.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import jax
import numpy as np

from phalanx.envs.environment import Environment
from phalanx.errors import PhalanxError
from phalanx.evaluation import Outcome, play, random_actor, state_actors

CI_METHOD = "95% CI, Student's t over episodes (Welch's t for the difference)"


@dataclasses.dataclass(frozen=True)
class Summary:
    """Mean of ``n`` episode returns and the half-width of its 95% confidence interval."""

    mean: float
    ci95: float  # half-width; nan when n < 2
    std: float
    n: int


@dataclasses.dataclass(frozen=True)
class GroupResult:
    trained: Summary
    random: Summary
    diff: float  # trained.mean − random.mean
    diff_ci95: float


@dataclasses.dataclass(frozen=True)
class MetricResult:
    """An env episode metric (e.g. ``win_rate``) over the trained and the random episodes: mean and
    95% interval ``(low, high)`` of each (:func:`interval`)."""

    trained: float
    trained_interval: tuple[float, float]
    random: float
    random_interval: tuple[float, float]


@dataclasses.dataclass(frozen=True)
class EvalResult:
    env: str
    episodes: int
    greedy: bool
    member: int
    step: int  # checkpoint step evaluated
    groups: dict[str, GroupResult]
    trained_returns: dict[str, np.ndarray]  # {group: (N,)}
    random_returns: dict[str, np.ndarray]
    ci_method: str = CI_METHOD
    metrics: dict[str, MetricResult] = dataclasses.field(default_factory=dict)  # the env's episode metrics


# ---------------------------------------------------------------------------------- statistics
def _t_quantile(df: float) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, df))


def summarize(x: np.ndarray) -> Summary:
    """Mean and 95% Student-t confidence half-width of a sample of episode returns."""
    x = np.asarray(x, np.float64)
    n = int(x.size)
    if n == 0:
        return Summary(math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    if n < 2:
        return Summary(mean, math.nan, math.nan, n)
    std = float(x.std(ddof=1))
    return Summary(mean, _t_quantile(n - 1) * std / math.sqrt(n), std, n)


def compare(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """``(mean(a) − mean(b), 95% half-width)`` with Welch's t (unequal variances)."""
    sa, sb = summarize(a), summarize(b)
    diff = sa.mean - sb.mean
    if sa.n < 2 or sb.n < 2:
        return diff, math.nan
    va, vb = sa.std**2 / sa.n, sb.std**2 / sb.n
    se2 = va + vb
    if se2 == 0:
        return diff, 0.0
    df = se2**2 / (va**2 / (sa.n - 1) + vb**2 / (sb.n - 1))
    return diff, _t_quantile(df) * math.sqrt(se2)


def interval(x: np.ndarray) -> tuple[float, float]:
    """95% interval of an episode metric's mean: Wilson's score interval when every value is 0 or 1
    (a won flag: its mean is a rate), else the mean ± Student's t half-width."""
    x = np.asarray(x, np.float64)
    n = int(x.size)
    if n == 0:
        return math.nan, math.nan
    if np.isin(x, (0.0, 1.0)).all():
        z, p = 1.959963984540054, float(x.mean())
        centre, half = (p + z * z / (2 * n)), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        low, high = (centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)
        return (0.0 if p == 0 else low), (1.0 if p == 1 else high)  # exact ends, not rounding noise
    s = summarize(x)
    return s.mean - s.ci95, s.mean + s.ci95


# ---------------------------------------------------------------------------------- run dirs
def load_policy(run_dir: str | Path, member: int = 0) -> tuple[Any, Any, Environment, Any, int]:
    """``(config, trainer, env, state, step)`` of a run directory's newest checkpoint.

    ``state`` is the ``TrainState`` of seed ``member`` (multi-seed runs store a stacked one).
    """
    import phalanx
    from phalanx.algos.registry import get_algorithm
    from phalanx.runtime import run_dir as rd
    from phalanx.runtime.checkpoint import Checkpoints
    from phalanx.runtime.train_run import init_state

    path = Path(run_dir)
    if not path.is_dir():
        raise PhalanxError(f"run_dir={run_dir}: no such directory; give the run directory phalanx train printed, "
                           "e.g. runs/<env>-<algo>-<time>.")
    if not (path / "config.yaml").is_file():
        raise PhalanxError(f"run_dir={run_dir}: no config.yaml there; is it a phalanx run directory?")
    config = rd.load_config(path)
    if config.env.startswith("pettingzoo:"):  # no JAX env to play: its final policy was played on its host envs
        raise PhalanxError(f"run_dir={run_dir}: a PettingZoo run (env={config.env}) is evaluated on its own host "
                           "envs when training ends; see its summary.json and marl_eval.json (phalanx eval plays "
                           "JAX envs only).")
    if not 0 <= member < config.num_seeds:
        raise PhalanxError(f"member={member}: the run has num_seeds={config.num_seeds}; "
                           f"expected 0 <= member < {config.num_seeds}.")
    if not (path / "checkpoints").is_dir():
        raise PhalanxError(f"run_dir={run_dir}: no checkpoint yet (no checkpoints/ directory).")
    env = phalanx.make(config.env, **config.env_settings)
    trainer = get_algorithm(config.algo).make_train(config.train, env)
    if getattr(config, "record", None):  # a recording run's checkpoints hold its recorder's env state
        from phalanx.runtime.train_record import with_recording

        trainer = with_recording(trainer, env)
    ckpt = Checkpoints(path / "checkpoints")
    try:
        step = ckpt.latest_step()
        if step is None:
            raise PhalanxError(f"run_dir={run_dir}: no finalised checkpoint yet.")
        like = jax.eval_shape(lambda: init_state(trainer, config))
        like = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), like)
        state, _ = ckpt.restore(step, like)
    finally:
        ckpt.close()
    if config.num_seeds > 1:
        state = jax.tree.map(lambda x: x[member], state)
    return config, trainer, env, state, step


def evaluate(run_dir: str | Path, episodes: int, seed: int = 0, greedy: bool = False, member: int = 0,
             max_steps: int | None = None) -> EvalResult:
    """Evaluate a run's last checkpoint: ``episodes`` episodes trained and the same number random."""
    if episodes < 1:
        raise PhalanxError(f"episodes={episodes}: expected an integer >= 1.")
    return evaluate_loaded(load_policy(run_dir, member), episodes, seed, greedy, member, max_steps)


def evaluate_loaded(loaded: tuple, episodes: int, seed: int = 0, greedy: bool = False, member: int = 0,
                    max_steps: int | None = None) -> EvalResult:
    """:func:`evaluate` given :func:`load_policy`'s result."""
    if episodes < 1:
        raise PhalanxError(f"episodes={episodes}: expected an integer >= 1.")
    config, trainer, env, state, step = loaded
    played, random_played = episode_outcomes(env, trainer, state, episodes, seed, greedy, max_steps)
    trained, rand = _returns(played), _returns(random_played)
    groups = {}
    for g in env.spec.groups:
        diff, diff_ci = compare(trained[g], rand[g])
        groups[g] = GroupResult(summarize(trained[g]), summarize(rand[g]), diff, diff_ci)
    metrics = {}
    for name, values in played.metrics.items():
        t, r = np.asarray(values, np.float64), np.asarray(random_played.metrics[name], np.float64)
        metrics[name] = MetricResult(float(t.mean()), interval(t), float(r.mean()), interval(r))
    return EvalResult(config.env, episodes, greedy, member, step, groups, trained, rand, metrics=metrics)


def _play(env: Environment, actors: dict, seed: int, steps: int, record: bool = False) -> Outcome:
    """:func:`~phalanx.evaluation.play` compiled once for these actors."""
    return jax.jit(lambda a, k: play(env, a, k, steps, record=record))(actors, jax.random.PRNGKey(seed))


def _random_actors(env: Environment, episodes: int) -> dict:
    return {g: random_actor(env, g, episodes) for g in env.spec.groups}


def episode_outcomes(env: Environment, trainer: Any, state: Any, episodes: int, seed: int = 0,
                     greedy: bool = False, max_steps: int | None = None) -> tuple[Outcome, Outcome]:
    """``(trained, random)`` :class:`~phalanx.evaluation.Outcome` of ``episodes`` episodes each;
    both use the same reset keys."""
    steps = max_steps or env.time_limit
    # The same key for both: the same starting states (common random numbers), different actions.
    trained = _play(env, state_actors(trainer, state, episodes, greedy), seed, steps)
    return trained, _play(env, _random_actors(env, episodes), seed, steps)


def _returns(outcome: Outcome) -> dict[str, np.ndarray]:
    return {g: np.asarray(v, np.float64) for g, v in outcome.returns.items()}


def episode_returns(env: Environment, trainer: Any, state: Any, episodes: int, seed: int = 0,
                    greedy: bool = False, max_steps: int | None = None):
    """``(trained, random)`` returns ``{group: (episodes,)}``; both use the same reset keys."""
    trained, rand = episode_outcomes(env, trainer, state, episodes, seed, greedy, max_steps)
    return _returns(trained), _returns(rand)


def policy_episode_states(env: Environment, trainer: Any, state: Any, seed: int = 0, greedy: bool = False,
                          max_steps: int | None = None) -> list[Any]:
    """The env states of one episode of the trained policy (reset state first, through the end)."""
    outcome = _play(env, state_actors(trainer, state, 1, greedy), seed, max_steps or env.time_limit, record=True)
    return unstack(outcome.states, int(outcome.length[0]) + 1)


def random_episode_states(env: Environment, seed: int = 0, max_steps: int | None = None) -> list[Any]:
    """The env states of one episode of the uniform random policy."""
    outcome = _play(env, _random_actors(env, 1), seed, max_steps or env.time_limit, record=True)
    return unstack(outcome.states, int(outcome.length[0]) + 1)


def unstack(states: Any, n: int) -> list[Any]:
    """The first ``n`` per-step states of env 0 on the host (leaves ``(...)``) from :attr:`Outcome.states`
    (leaves ``(T, E, ...)``, on device).
    """
    host = jax.device_get(jax.tree.map(lambda x: x[:, 0], states))
    return [jax.tree.map(lambda x, t=t: x[t], host) for t in range(n)]
