"""Any learner on envs stepped by the host (PettingZoo envs in worker processes): one path for all.

Every learner's compiled ``update`` steps a batched env through ``env.reset(key)`` and
``env.step(key, state, actions)``. :class:`HostEnv` is that batched env for a
:class:`~phalanx.interop.host.HostVecEnv`: its ``reset`` and ``step`` are ordered
``jax.experimental.io_callback`` calls into the host pool, so inside the learner's own
``lax.scan`` each env step sends the actions to the host once and brings the timestep back once.
Nothing of the learner changes: PPO's rollout and GAE, the Q-learners' ε-greedy steps, replay
and gradient steps, MADDPG's and SAC's warm-up and replay run exactly as on a JAX env, and the
run's ``TrainState`` checkpoints as usual (its ``env_state`` is a step counter; the envs' own
state lives on the host).

:func:`host_learner` builds a registered learner's ``make_train(config, env)`` on a
:class:`SpecEnv` (the host envs' spec) and swaps in the :class:`HostEnv`; :func:`train_host`
runs it in compiled chunks of ``log_every`` updates and reports one metrics line per chunk.

The acting code is the learner's own: ``update`` acts through the same networks its
single-step ``act`` uses, so a process that only acts (a remote actor) runs ``act`` jitted on
the observations it steps, and the learner's ``update`` sees the host env as any other env.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import io_callback

from phalanx.envs.environment import Environment
from phalanx.envs.spaces import Box
from phalanx.envs.types import EnvSpec, EpisodeStats, TimeStep, make_timestep
from phalanx.errors import PhalanxError
from phalanx.interop.host import HostVecEnv


def zero_timestep(spec: EnvSpec) -> TimeStep:
    """An all-zero (all-legal) unbatched timestep of ``spec``, episode statistics included."""
    groups = spec.groups
    ts = make_timestep(
        obs={g: jnp.zeros((s.num_agents, *s.observation.shape), jnp.float32) for g, s in groups.items()},
        action_mask={g: jnp.ones((s.num_agents, s.action.mask_size), bool) for g, s in groups.items()
                     if not isinstance(s.action, Box)},
        reward={g: jnp.zeros(s.num_agents, jnp.float32) for g, s in groups.items()},
        terminated={g: jnp.zeros(s.num_agents, bool) for g, s in groups.items()},
        truncated=jnp.bool_(False),
        global_state=jnp.zeros(spec.global_state.shape, jnp.float32),
    )
    stats = EpisodeStats(returns={g: jnp.zeros(s.num_agents, jnp.float32) for g, s in groups.items()},
                         length=jnp.int32(0), completed=jnp.bool_(False))
    return ts.replace(episode=stats)


class SpecEnv(Environment):
    """Stands in for a host env inside a learner's ``make_train``: it has the spec, and a reset of zeros.

    ``make_train`` builds networks and optimisers from an env's spec; :func:`host_learner` then
    replaces the wrapped env with a :class:`HostEnv`. Stepping it is an error: host envs step on the host.
    """

    def __init__(self, spec: EnvSpec, name: str = "host"):
        self._spec = spec
        self.name = name  # what a learner's error messages call the env

    @property
    def spec(self) -> EnvSpec:
        """The host envs' spec (per env, unbatched)."""
        return self._spec

    @property
    def default_params(self) -> None:
        """No params: the host envs carry their own settings."""
        return None

    def _reset(self, key: jax.Array, params: None) -> tuple[jax.Array, TimeStep]:
        del key, params
        ts = zero_timestep(self._spec)
        return jnp.int32(0), ts.replace(episode=None)

    def _step(self, key, state, actions, params):
        raise PhalanxError("SpecEnv cannot step: a host env is stepped by the host (phalanx.algos.common.host).")


class HostEnv:
    """A :class:`HostVecEnv` as the batched env of a compiled ``update``: reset and step are host callbacks.

    It has the members learners read from their wrapped env (``spec``, ``num_envs``,
    ``default_params``, ``reset``, ``step``); leaves carry the env axis ``E`` first, as
    ``wrap_for_training`` gives them (auto-reset and episode statistics are the pool's). The
    ``key`` arguments are unused: the host envs draw from their own seeded streams (env ``i``
    reset with ``seed + i``). The callbacks are ordered, so they run once per step, in order,
    and not under ``vmap`` (one seed per host run).
    """

    def __init__(self, venv: HostVecEnv, seed: int = 0):
        self.venv, self.seed = venv, seed
        self.num_envs = venv.num_envs
        zero = zero_timestep(venv.spec)
        self._shape = jax.tree.map(lambda x: jax.ShapeDtypeStruct((venv.num_envs, *x.shape), x.dtype), zero)

    @property
    def spec(self) -> EnvSpec:
        """The host envs' spec (per env, unbatched)."""
        return self.venv.spec

    @property
    def default_params(self) -> None:
        """No params: the host envs carry their own settings."""
        return None

    def _as_timestep(self, ts: TimeStep) -> TimeStep:
        """``ts`` with every leaf as the NumPy dtype the callback declared."""
        return jax.tree.map(lambda x, s: np.asarray(x, s.dtype), ts, self._shape)

    def _host_reset(self) -> TimeStep:
        return self._as_timestep(self.venv.reset(self.seed))

    def _host_step(self, actions: dict) -> TimeStep:
        return self._as_timestep(self.venv.step({g: np.asarray(a) for g, a in actions.items()}))

    def reset(self, key: jax.Array, params: Any = None) -> tuple[jax.Array, TimeStep]:
        """Reset every host env: ``(step counter, timestep (E, ...))``."""
        del key, params
        ts = io_callback(self._host_reset, self._shape, ordered=True)
        return jnp.int32(0), ts

    def step(self, key: jax.Array, state: jax.Array, actions: dict[str, jax.Array],
             params: Any = None) -> tuple[jax.Array, TimeStep]:
        """Step every host env with ``actions[g]`` ``(E, A, ...)``: ``(counter + 1, timestep)``."""
        del key, params
        ts = io_callback(self._host_step, self._shape, actions, ordered=True)
        return state + 1, ts


def host_learner(make_train: Callable[..., Any], config: Any, venv: HostVecEnv, seed: int = 0) -> Any:
    """A registered learner's ``make_train(config, env)`` whose envs are ``venv`` (stepped on the host).

    Raises:
        PhalanxError: ``venv.num_envs`` is not ``config.num_envs``, or the learner keeps no ``env``
            field to replace (a learner outside Phalanx's families).
    """
    if venv.num_envs != config.num_envs:
        raise PhalanxError(f"train_host: the env pool has {venv.num_envs} envs but train.num_envs={config.num_envs}.")
    learner = make_train(config, SpecEnv(venv.spec))
    if not (dataclasses.is_dataclass(learner) and any(f.name == "env" for f in dataclasses.fields(learner))):
        raise PhalanxError(f"train_host: {type(learner).__name__} keeps no `env` field; host envs need one.")
    return dataclasses.replace(learner, env=HostEnv(venv, seed))


def metrics_line(chunk: int, update: int, metrics: list[Any], wall_time: float, steps_per_s: float) -> dict[str, Any]:
    """A ``metrics.jsonl`` line for one chunk's per-update metrics (any learner's ``BaseMetrics`` subclass).

    Episode statistics are pooled over the chunk's episodes (``None`` if none ended); every other
    field is averaged over its updates (``{group: value}`` or a plain value).
    """
    ms = [dataclasses.asdict(m) for m in jax.device_get(metrics)]
    count = float(sum(m["episode_count"] for m in ms))
    line: dict[str, Any] = {
        "chunk": chunk, "update": update, "env_steps": int(ms[-1]["env_steps"]), "wall_time": round(wall_time, 4),
        "steps_per_s": round(steps_per_s, 1), "episodes": int(count),
        "episode_return": {g: float(sum(m["episode_return_sum"][g] for m in ms)) / count if count else None
                           for g in ms[0]["episode_return_sum"]},
        "episode_length": float(sum(m["episode_length_sum"] for m in ms)) / count if count else None,
    }
    base = {"env_steps", "episode_return_sum", "episode_length_sum", "episode_count", "episode_metric_sums"}
    sums = [m.get("episode_metric_sums", {}) for m in ms]
    if sums[0]:  # an env's own episode metrics (e.g. a win flag): pooled over episodes like the returns
        line["episode_metrics"] = {k: float(sum(s[k] for s in sums)) / count if count else None for k in sums[0]}
    for key in (k for k in ms[0] if k not in base):
        if isinstance(ms[0][key], dict):
            line[key] = {g: float(np.mean([m[key][g] for m in ms])) for g in ms[0][key]}
        else:
            line[key] = float(np.mean([m[key] for m in ms]))
    return line


def _unstack(metrics: Any, n: int) -> list[Any]:
    """A chunk's metrics (leaves ``(n, ...)``) as ``n`` per-update metrics."""
    metrics = jax.device_get(metrics)
    return [jax.tree.map(lambda x, i=i: x[i], metrics) for i in range(n)]


def train_host(
    config: Any,
    venv: HostVecEnv,
    *,
    make_train: Callable[..., Any],
    seed: int = 0,
    log_every: int = 1,
    callback: Callable[[Any, dict[str, Any]], None] | None = None,
    line: Callable[..., dict[str, Any]] | None = None,
) -> tuple[Any, list[dict[str, Any]]]:
    """Train any learner (``make_train(config, env)``) on host envs, e.g. ``from_pettingzoo(factory, num_envs)``.

    Args:
        config: the learner's settings; ``num_envs`` must be ``venv.num_envs``.
        venv: the open envs to train on (left open; the caller closes them).
        make_train: the learner's builder (``get_algorithm(name).make_train``).
        seed: PRNG seed of the learner (``PRNGKey(seed)``) and of the envs (env ``i``: ``seed + i``).
        log_every: updates per compiled chunk and metrics line (the last chunk may be shorter).
        callback: called after every line with the state and the line (e.g. to log, checkpoint).
        line: ``line(chunk, update, metrics, wall_time, steps_per_s) -> dict`` makes a chunk's line from
            its per-update metrics (the runtime passes its ``metrics.jsonl`` format); default :func:`metrics_line`.

    Returns:
        The final train state and one metrics dict per chunk (the keys of a ``metrics.jsonl`` line:
        ``chunk``, ``update``, ``env_steps``, ``wall_time``, ``steps_per_s``, ``episodes``,
        ``episode_return`` per group, ``episode_length``, and the learner's own metrics).
    """
    if not isinstance(log_every, int) or log_every < 1:
        raise PhalanxError(f"train_host: log_every={log_every!r}; expected an integer >= 1.")
    learner = host_learner(make_train, config, venv, seed)
    make_line = line or metrics_line
    chunks: dict[int, Any] = {}

    def chunk(n: int) -> Any:
        if n not in chunks:
            chunks[n] = jax.jit(lambda s: jax.lax.scan(lambda s, _: learner.update(s), s, None, length=n))
        return chunks[n]

    state = jax.jit(learner.init)(jax.random.PRNGKey(seed))
    lines: list[dict[str, Any]] = []
    done, total = 0, learner.num_updates
    wall0 = time.perf_counter()
    while done < total:
        n = min(log_every, total - done)
        t0 = time.perf_counter()
        state, metrics = chunk(n)(state)
        jax.block_until_ready(metrics)
        now = time.perf_counter()
        done += n
        entry = make_line(len(lines), done, _unstack(metrics, n), now - wall0,
                          n * config.steps_per_update / (now - t0))
        lines.append(entry)
        if callback is not None:
            callback(state, entry)
    return state, lines


def random_actions(spec: EnvSpec, action_mask: dict[str, np.ndarray], num_envs: int,
                   rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Uniformly random legal actions ``{group: (E, A, ...)}`` for host envs (masks where the groups have them;
    a ``Box`` group: uniform within its bounds, clipped to [-1, 1])."""
    actions = {}
    for g, s in spec.groups.items():
        shape = (num_envs, s.num_agents)
        if isinstance(s.action, Box):
            actions[g] = rng.uniform(max(s.action.low, -1.0), min(s.action.high, 1.0),
                                     (*shape, *s.action.shape)).astype(np.float32)
        else:
            logits = np.where(action_mask[g], rng.gumbel(size=action_mask[g].shape), -np.inf)
            if hasattr(s.action, "nvec"):
                parts = np.split(logits, np.cumsum(s.action.nvec)[:-1], axis=-1)
                actions[g] = np.stack([p.argmax(-1) for p in parts], -1).astype(np.int32)
            else:
                actions[g] = logits.argmax(-1).astype(np.int32)
    return actions


def random_returns(venv: HostVecEnv, num_steps: int, seed: int = 0) -> dict[str, float]:
    """Mean episode return per group (agent-averaged) of uniformly random legal actions: the baseline."""
    rng = np.random.default_rng(seed)
    ts = venv.reset(seed)
    sums = {g: 0.0 for g in venv.spec.groups}
    count = 0
    for _ in range(num_steps):
        ts = venv.step(random_actions(venv.spec, ts.action_mask, venv.num_envs, rng))
        done = ts.episode.completed
        count += int(done.sum())
        for g in sums:
            sums[g] += float(ts.episode.returns[g][done].mean(-1).sum()) if done.any() else 0.0
    return {g: v / count if count else float("nan") for g, v in sums.items()}


__all__ = ["HostEnv", "SpecEnv", "host_learner", "metrics_line", "random_actions", "random_returns", "train_host",
           "zero_timestep"]
