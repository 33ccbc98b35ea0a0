"""Remote actors on Ray for host envs: each steps its own PettingZoo envs with a copy of the policy.

An :class:`RolloutActor` (a Ray actor, CPU) owns ``K`` envs in its own process and the learner's own acting
code. For PPO that is the host path's :class:`~phalanx.algos.ppo.sebulba.HostTrainer` (the same jitted
``act`` and transition recording as every host run); asked for a rollout with the learner's latest policy (an
object-store reference, resolved on the actor), it steps ``num_steps`` steps and returns a *block*: the
rollout ``(T, K, ...)`` in the compiled trainer's :class:`~phalanx.algos.ppo.types.Transition` layout, with
the behaviour log-probabilities it acted with, the recurrent state at its start and the version of the
policy it used. For a replay learner (IQL/VDN/QMIX ε-greedy; ISAC/MASAC/MADDPG with their exploration
noise, uniform during warm-up) the block is the steps its replay buffer stores (the Ape-X shape). The envs
keep running across blocks, so episodes span them.

:class:`ActorPool` keeps one rollout in flight per actor and hands finished blocks to the learner
(:mod:`phalanx.runtime.actor_run`) in the order they finish. **Faults**: an actor whose process dies
(killed, out of memory, its node lost) or whose env raises is killed and replaced by a fresh actor with
fresh envs (new seeds), its rollout is issued again, and the block it had in flight is counted as lost
(``K × num_steps`` env steps: a block counts whole). An actor slot that fails ``MAX_FAILURES_IN_ROW`` times
without delivering a block (an env that raises on every reset) stops the run with one line naming the env
and its error (:class:`ActorEnvError`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from typing import Any

from phalanx.errors import RunFaultError

#: Failures of one actor slot in a row, without a block delivered, that stop the run.
MAX_FAILURES_IN_ROW = 3
#: Seconds without any block that stop the run (e.g. a replacement actor that no node has a free CPU for).
STALL_S = 1800.0


class ActorEnvError(RunFaultError):
    """The env failed in every fresh actor (e.g. it raises on every reset): the run stops (one line, exit 1)."""


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


def _node_id() -> str:
    import ray

    return ray.get_runtime_context().get_node_id()


class _Recorded:
    """A host env pool whose ``reset``/``step`` remember the exception they raise: inside a compiled rollout
    (host callbacks) the error reaches the actor wrapped in XLA's, and the env's own is the one to report."""

    def __init__(self, venv: Any):
        self.venv, self.error = venv, None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.venv, name)

    def reset(self, seed: int | None = 0) -> Any:
        try:
            return self.venv.reset(seed)
        except Exception as err:
            self.error = err
            raise

    def step(self, actions: Any) -> Any:
        try:
            return self.venv.step(actions)
        except Exception as err:
            self.error = err
            raise


class RolloutActor:
    """One remote actor: ``num_envs`` envs of ``env`` stepped in this process by the policy it is sent.

    PPO (``ippo``/``mappo``) acts through the host path's :class:`~phalanx.algos.ppo.sebulba.HostTrainer`
    (one compiled scan per rollout, the env steps as host callbacks) and returns rollouts in the trainer's
    ``Transition`` layout. A replay learner
    (``iql``/``vdn``/``qmix``; ``isac``/``masac``/``maddpg``) acts through its own compiled exploring env step on the
    envs (host callbacks) and returns the steps its replay buffer stores (the Ape-X shape: actors feed the
    learner's buffer).
    Nothing here raises to Ray: a failure (building or resetting the envs, an env step) is returned as
    ``{"ok": False, "error": ...}`` by :meth:`rollout`, so the pool tells an env's error from a lost process.

    Args:
        index: the actor's slot in its pool; env: ``pettingzoo:<module>``; env_settings: its settings.
        algo: the registered learner; train: its settings (the actor acts with them on ``num_envs`` envs).
        num_envs: envs this actor steps (``K``); seed: its envs' and sampling seed.
    """

    def __init__(self, index: int, env: str, env_settings: dict[str, Any], algo: str, train: Any, num_envs: int,
                 seed: int):
        self.index, self.num_envs, self.error = index, num_envs, None
        self.started, self.busy_s, self._stepped = time.perf_counter(), 0.0, False
        self._venv: Any = None
        os.environ.setdefault("JAX_PLATFORMS", "cpu")  # acting is the actor's CPU; the learner keeps accelerators
        try:
            self._build(env, env_settings, algo, train, num_envs, seed)
        except Exception as err:  # reported by the first rollout
            self.error = self._describe(err)

    def _describe(self, err: BaseException) -> str:
        env_error = getattr(self._venv, "error", None)
        return _one_line(env_error if env_error is not None else err)

    def _build(self, env: str, env_settings: dict[str, Any], algo: str, train: Any, num_envs: int,
               seed: int) -> None:
        import jax

        from phalanx.algos.common.host import host_learner
        from phalanx.algos.ppo.config import PPOConfig
        from phalanx.algos.ppo.sebulba import make_host_trainer
        from phalanx.algos.registry import get_algorithm
        from phalanx.interop.pettingzoo_in import pettingzoo_factory
        from phalanx.runtime.host_envs import from_pettingzoo

        self._venv = _Recorded(from_pettingzoo(pettingzoo_factory(env, **env_settings), num_envs, num_workers=0))
        # The actor never learns: one update's worth of steps (PPO: one minibatch; replay: the smallest buffer).
        total = max(train.total_steps, num_envs * train.num_steps)
        if isinstance(train, PPOConfig):
            acting = dataclasses.replace(train, num_envs=num_envs, num_minibatches=1, total_steps=total)
            self._host = make_host_trainer(acting, self._venv)
            self._state, self._carries = self._host.init(jax.random.PRNGKey(seed), seed)
            return
        # The smallest buffer the learner's settings allow (a Q-learner's windows, a continuous one's warm-up).
        buffer = max(num_envs * max(train.num_steps, getattr(train, "window", 1)), train.learning_starts)
        acting = dataclasses.replace(train, num_envs=num_envs, total_steps=total, buffer_size=buffer)
        self._learner = host_learner(get_algorithm(algo).make_train, acting, self._venv, seed)
        self._state = jax.jit(self._learner.init)(jax.random.PRNGKey(seed))

        def steps(state: Any, key: Any) -> Any:  # the learner's own exploring env step, num_steps times
            return jax.lax.scan(self._learner._env_step, state, jax.random.split(key, train.num_steps))

        self._steps = jax.jit(steps)

    def rollout(self, policy: Any, version: int, env_steps: int) -> dict[str, Any]:
        """``num_steps`` steps of every env with ``policy`` of update ``version``.

        PPO: ``policy`` is a :class:`~phalanx.algos.ppo.sebulba.Learner`; the block's ``data`` is ``{"traj",
        "start_hidden", "stats": (sent, after) observation statistics}``. Replay learners: ``policy`` is the
        learner's ``params``, ε (continuous: warm-up) follows the learner's ``env_steps``; ``data`` is ``{"steps",
        "sums"}``.
        Returns ``{"ok": True, "data", "version", "busy", "pid", "node"}`` (arrays as NumPy), or
        ``{"ok": False, "error": one line}``.
        """
        import jax

        if self.error is not None:
            return {"ok": False, "error": self.error, "pid": os.getpid()}
        t0 = time.perf_counter()
        try:
            if hasattr(self, "_host"):
                state = self._state.replace(params=policy.params, obs_stats=policy.obs_stats,
                                            state_stats=policy.state_stats, value_stats=policy.value_stats)
                state, carries, traj, start_hidden, _ = self._host.rollout(state, self._carries)
                stats = ((policy.obs_stats, policy.state_stats), (state.obs_stats, state.state_stats))
                data = {"traj": traj, "start_hidden": start_hidden, "stats": stats}
                self._carries = carries
            else:  # a fresh actor's first step starts every episode (env_steps 0)
                state = self._state.replace(params=policy, env_steps=jax.numpy.int32(env_steps if self._stepped else 0))
                key, k_roll = jax.random.split(state.key)
                state, (steps, sums) = self._steps(state, k_roll)
                state = state.replace(key=key)
                data = {"steps": steps, "sums": sums.total()}
            data = jax.device_get(data)
        except Exception as err:  # the envs are in an unknown state now: the pool replaces this actor
            self.error = self._describe(err)
            return {"ok": False, "error": self.error, "pid": os.getpid()}
        self._state, self._stepped = state, True
        busy = time.perf_counter() - t0
        self.busy_s += busy
        return {"ok": True, "data": data, "version": version, "busy": busy, "pid": os.getpid(), "node": _node_id()}


@dataclasses.dataclass
class Block:
    """A finished rollout of one actor: its ``data`` (see :meth:`RolloutActor.rollout`), the acting ``version``."""

    actor: int
    version: int
    data: dict[str, Any]
    busy_s: float


@dataclasses.dataclass
class ActorSlot:
    """One actor slot's record: its current Ray handle and what it has done (across replacements)."""

    index: int
    handle: Any
    started: float
    blocks: int = 0
    busy_s: float = 0.0
    replaced: int = 0
    failures_in_row: int = 0
    pid: int | None = None
    node: str | None = None


class ActorPool:
    """``num_actors`` :class:`RolloutActor` s on Ray, one rollout in flight each (see the module docstring).

    Passed to :func:`~phalanx.runtime.run_context.open_run` as the run's backend, so each ``metrics.jsonl``
    line gains ``workers``: per actor blocks, busy seconds, utilisation (busy / wall) and replacements.
    """

    name = "ray"

    def __init__(self) -> None:
        self.slots: list[ActorSlot] = []
        self.lost_env_steps = self.replaced = 0
        self.wait_s = 0.0
        self._in_flight: dict[Any, int] = {}
        self._ray: Any = None
        self._owns_ray = False

    def connect(self, address: str | None = None) -> float:
        """Join Ray (``address``; None: start a local Ray); return the cluster's CPUs."""
        from phalanx.runtime.ray_connect import connect, import_ray

        self._ray = import_ray()
        self._owns_ray = connect(address)
        return float(self._ray.cluster_resources().get("CPU", 0))

    def start(self, env: str, env_settings: dict[str, Any], algo: str, train: Any, *, num_actors: int,
              envs_per_actor: int, seed: int, num_cpus: float) -> None:
        """Create the actors (after :meth:`connect`); none is given work until :meth:`issue`."""
        self._spec = (env, dict(env_settings), algo, train, envs_per_actor)
        self.block_steps = envs_per_actor * train.num_steps
        self._seed, self._num_cpus = seed, num_cpus
        self._token = f"{os.getpid()}-{time.time_ns() % 10**9}"
        self.slots = [ActorSlot(i, self._spawn(i, 0), time.perf_counter()) for i in range(num_actors)]

    def _spawn(self, index: int, generation: int) -> Any:
        env, settings, algo, train, k = self._spec
        # SPREAD: actors go to different nodes while they can (a slow env's load shared, a lost node costs fewer
        # actors); a replacement for one on a lost node goes wherever a CPU is free.
        actor = self._ray.remote(num_cpus=self._num_cpus, max_restarts=0, max_task_retries=0,
                                 scheduling_strategy="SPREAD")(RolloutActor)
        # Each actor (and each replacement) has its own seeds. The first actor's are the run's own (envs seed + i,
        # sampling from the learner's initial key), as a local host run's: one on-policy actor repeats that run.
        seed = self._seed + k * index + 1_000_003 * generation
        name = f"phalanx-actor-{self._token}-{index}-{generation}"  # findable: ray.get_actor(name)
        return actor.options(name=name).remote(index, env, settings, algo, train, k, seed)

    @property
    def num_actors(self) -> int:
        """Actor slots in the pool."""
        return len(self.slots)

    def publish(self, policy: Any) -> Any:
        """``policy`` in the object store, once: the reference every actor's next rollout is given."""
        return self._ray.put(policy)

    def issue(self, actor: int, policy: Any, version: int, env_steps: int = 0) -> None:
        """Start a rollout on ``actor`` with ``policy`` (an object-store reference) of update ``version``, after
        ``env_steps`` learnt env steps (a replay learner's ε schedule)."""
        self._in_flight[self.slots[actor].handle.rollout.remote(policy, version, env_steps)] = actor

    def next_block(self, policy: Any, version: int, env_steps: int = 0) -> Block:
        """The next finished block (first finished first); lost actors are replaced (re-issued with ``policy``).

        Raises:
            ActorEnvError: an actor slot failed :data:`MAX_FAILURES_IN_ROW` times in a row.
            RunFaultError: no block came for :data:`STALL_S` seconds.
        """
        ray = self._ray
        while True:
            t0 = time.perf_counter()
            ready, _ = ray.wait(list(self._in_flight), num_returns=1, timeout=STALL_S)
            self.wait_s += time.perf_counter() - t0
            if not ready:
                raise RunFaultError(f"no actor delivered a rollout in {STALL_S:g} s ({len(self._in_flight)} in "
                                    "flight); a replacement actor may be waiting for a CPU no node has free (see "
                                    "`ray status`); the run stops, resume= continues from its last checkpoint.")
            actor = self._in_flight.pop(ready[0])
            slot = self.slots[actor]
            try:
                out = ray.get(ready[0])
            except ray.exceptions.RayError as err:  # the actor died, its node was lost, or its block with it
                out = {"ok": False, "error": f"actor lost ({_one_line(err)})"}
            if out["ok"]:
                slot.blocks += 1
                slot.busy_s += out["busy"]
                slot.failures_in_row, slot.pid, slot.node = 0, out["pid"], out["node"]
                return Block(actor, out["version"], out["data"], out["busy"])
            self._replace(actor, out["error"], policy, version, env_steps)

    def _replace(self, actor: int, error: str, policy: Any, version: int, env_steps: int) -> None:
        slot = self.slots[actor]
        slot.failures_in_row += 1
        self.lost_env_steps += self.block_steps
        if slot.failures_in_row >= MAX_FAILURES_IN_ROW:
            raise ActorEnvError(f"env={self._spec[0]}: {error} (actor {actor} failed {slot.failures_in_row} times "
                                "in a row, with fresh envs each time); the run stops.")
        with contextlib.suppress(Exception):
            self._ray.kill(slot.handle, no_restart=True)
        slot.replaced += 1
        self.replaced += 1
        slot.handle = self._spawn(actor, slot.replaced)
        self.issue(actor, policy, version, env_steps)

    def utilisation(self) -> list[dict[str, Any]]:
        """Per actor since the pool started: ``blocks``, ``busy_s``, ``utilisation`` (busy / wall), ``replaced``,
        and where its last block came from (``pid``, Ray ``node`` id)."""
        now = time.perf_counter()
        return [{"actor": s.index, "blocks": s.blocks, "busy_s": round(s.busy_s, 4),
                 "utilisation": round(s.busy_s / max(now - s.started, 1e-9), 4), "replaced": s.replaced,
                 "pid": s.pid, "node": s.node} for s in self.slots]

    def close(self) -> None:
        """Kill the actors (and shut Ray down if this pool started it)."""
        for s in self.slots:
            with contextlib.suppress(Exception):
                self._ray.kill(s.handle, no_restart=True)
        if self._ray is None:
            return
        self.slots, self._in_flight = [], {}
        if self._owns_ray:
            self._ray.shutdown()
            self._owns_ray = False


__all__ = ["MAX_FAILURES_IN_ROW", "STALL_S", "ActorEnvError", "ActorPool", "ActorSlot", "Block", "RolloutActor"]
