"""``phalanx eval``: episodes of a trained policy against a uniform random baseline.

Pure functions returning numbers (the CLI only formats them):

* :func:`load_policy` — a run directory's config, trainer and last checkpointed ``TrainState``
  (one member of a multi-seed run).
* :func:`rollout_returns` — ``N`` episodes run in parallel (``vmap`` over envs, ``lax.scan``
  over steps, one ``jit``) with the trained policy (sampled or greedy) or uniformly random
  legal actions; each episode's return per group (averaged over the group's agents).
* :func:`summarize` / :func:`compare` — mean and 95% confidence interval over episodes
  (Student's t; Welch's t for the trained − random difference).
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
import jax.numpy as jnp
import numpy as np

from phalanx.envs.environment import Environment
from phalanx.errors import PhalanxError

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


# ---------------------------------------------------------------------------------- rollouts
def make_rollout(env: Environment, num_envs: int, num_steps: int, act: Any, keep_states: bool = False):
    """A jitted ``f(key, carry0) -> (returns {group: (N,)}, lengths (N,), done (N,), states)``.

    ``act(carry, key, ts, first) -> (carry, actions)`` chooses the ``(N, A, ...)`` actions from
    the batched timestep ``ts``; ``first`` is True on an episode's first step. ``states`` is
    the env state of env 0 before every step and after the last (``num_steps + 1``), when
    ``keep_states`` (else None).
    """
    reset = jax.vmap(env.reset)
    step = jax.vmap(env.step)

    def body(c, key):
        carry, state, ts, over, returns, length, t = c
        k_act, k_step = jax.random.split(key)
        carry, actions = act(carry, k_act, ts, t == 0)
        new_state, new_ts = step(jax.random.split(k_step, num_envs), state, actions)
        live = ~over
        returns = {g: r + jnp.where(live, new_ts.reward[g].mean(-1), 0.0) for g, r in returns.items()}
        length = length + live.astype(jnp.int32)
        over = over | new_ts.done
        kept = jax.tree.map(lambda x: x[0], state) if keep_states else None
        return (carry, new_state, new_ts, over, returns, length, t + 1), kept

    @jax.jit
    def run(key, carry0):
        k_reset, k_steps = jax.random.split(key)
        state, ts = reset(jax.random.split(k_reset, num_envs))
        returns = {g: jnp.zeros(num_envs) for g in env.spec.groups}
        c0 = (carry0, state, ts, jnp.zeros(num_envs, bool), returns, jnp.zeros(num_envs, jnp.int32), 0)
        c, states = jax.lax.scan(body, c0, jax.random.split(k_steps, num_steps))
        _, last, _, over, returns, length, _ = c
        if keep_states:
            states = jax.tree.map(lambda s, x: jnp.concatenate([s, x[0][None]]), states, last)
        return returns, length, over, states

    return run


def random_actor(env: Environment):
    """``act`` for :func:`make_rollout`: uniform over legal actions (masks where the env has them)."""

    def act(carry, key, ts, first):
        del first
        keys = jax.random.split(key, ts.truncated.shape[0])
        return carry, jax.vmap(env.sample_actions)(keys, ts.action_mask)

    return act


def policy_actor(trainer: Any, state: Any, greedy: bool = False):
    """``act`` for :func:`make_rollout` from a trained state; the carry is the hidden state."""

    def act(hidden, key, ts, first):
        return trainer.act(state, hidden, key, ts, first, greedy)

    return act


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
    if not 0 <= member < config.num_seeds:
        raise PhalanxError(f"member={member}: the run has num_seeds={config.num_seeds}; "
                           f"expected 0 <= member < {config.num_seeds}.")
    if not (path / "checkpoints").is_dir():
        raise PhalanxError(f"run_dir={run_dir}: no checkpoint yet (no checkpoints/ directory).")
    env = phalanx.make(config.env, **config.env_settings)
    trainer = get_algorithm(config.algo).make_train(config.train, env)
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
    trained, rand = episode_returns(env, trainer, state, episodes, seed, greedy, max_steps)
    groups = {}
    for g in env.spec.groups:
        diff, diff_ci = compare(trained[g], rand[g])
        groups[g] = GroupResult(summarize(trained[g]), summarize(rand[g]), diff, diff_ci)
    return EvalResult(config.env, episodes, greedy, member, step, groups, trained, rand)


def episode_returns(env: Environment, trainer: Any, state: Any, episodes: int, seed: int = 0,
                    greedy: bool = False, max_steps: int | None = None):
    """``(trained, random)`` returns ``{group: (episodes,)}``; both use the same reset keys."""
    steps = max_steps or env.time_limit
    key = jax.random.PRNGKey(seed)
    trained_run = make_rollout(env, episodes, steps, policy_actor(trainer, state, greedy))
    random_run = make_rollout(env, episodes, steps, random_actor(env))
    hidden = trainer.initial_hidden(episodes)
    # The same key for both: the same starting states (common random numbers), different actions.
    ret_t, *_ = trained_run(key, hidden)
    ret_r, *_ = random_run(key, None)
    to_np = lambda r: {g: np.asarray(v, np.float64) for g, v in r.items()}  # noqa: E731
    return to_np(ret_t), to_np(ret_r)


def policy_episode_states(env: Environment, trainer: Any, state: Any, seed: int = 0, greedy: bool = False,
                          max_steps: int | None = None) -> list[Any]:
    """The env states of one episode of the trained policy (reset state first, through the end)."""
    steps = max_steps or env.time_limit
    run = make_rollout(env, 1, steps, policy_actor(trainer, state, greedy), keep_states=True)
    _, length, _, states = run(jax.random.PRNGKey(seed), trainer.initial_hidden(1))
    return unstack(states, int(length[0]) + 1)


def random_episode_states(env: Environment, seed: int = 0, max_steps: int | None = None) -> list[Any]:
    """The env states of one episode of the uniform random policy."""
    steps = max_steps or env.time_limit
    run = make_rollout(env, 1, steps, random_actor(env), keep_states=True)
    _, length, _, states = run(jax.random.PRNGKey(seed), None)
    return unstack(states, int(length[0]) + 1)


def unstack(states: Any, n: int) -> list[Any]:
    """Split ``states`` (leaves ``(T, ...)``, on device) into the first ``n`` per-step states on the host
    (leaves ``(...)``).
    """
    host = jax.device_get(states)
    return [jax.tree.map(lambda x, t=t: x[t], host) for t in range(n)]
