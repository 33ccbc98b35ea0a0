"""The Ray backend's dispatch under N simulated workers: the REAL ``RayBackend`` code, Ray replaced by a clock.

:class:`SimRay` stands in for the ``ray`` module underneath :class:`~phalanx.runtime.ray_backend.RayBackend`
(only inside :func:`simulated`): its worker actors "run" a task by occupying a virtual clock for the
task's duration, and its ``wait`` returns the next task to finish in virtual time. Everything above
Ray — ``RayBackend.__init__``, ``submit``, ``_put``, ``_dispatch``, ``_step``, ``gather``, ``as_completed``,
the retry and restart bookkeeping — is Phalanx's own code, run unchanged.

The coordinator's cost is charged to the virtual clock two ways:

* its **real CPU time**: every CPU second the driver thread spends outside :class:`SimRay` (RayBackend's
  Python and the workload's own loop) advances the clock by one second (``time.thread_time``, so the
  other processes on a loaded machine do not count);
* **Ray's own per-call cost**, which a simulation cannot run: :class:`RayCosts` (seconds per actor call,
  per ``wait`` plus per reference waited on, per ``get``, per ``put`` and per byte put), measured on a real
  local Ray (``benchmarks/ray/ray_dispatch_sim.py --calibrate``) — or zero, to see RayBackend's Python alone.

Workloads (each uses only the public backend API, as PSRO and the league do):

* ``stream`` — the league's shape: ``N`` learners, each with one task in flight; the driver waits for them in
  round-robin order (``gather([future])``) and submits a learner's next task when its last one is processed;
* ``bulk`` — PSRO's payoff evaluation / the league's final round robin: submit ``M`` tasks, ``gather`` them.

Why it is in the package: the tests check RayBackend's dispatch, retries and put cache on it against
timelines worked out by hand, without starting Ray; the Ray benchmark sizes clusters with it.
The actor–learner loop (``ray.num_actors``: env actors streaming trajectory blocks to one learner) is
simulated on the same costs by :mod:`phalanx.runtime.actor_sim`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np


def sleep_task(seconds: float, payload: Any = None) -> float:
    """A stand-in task: sleeps ``seconds`` (on a real Ray worker; :class:`SimRay` only reads the number).

    ``payload`` (e.g. a population's parameters) is carried to the worker and ignored.
    """
    time.sleep(seconds)
    return seconds


# ---------------------------------------------------------------------------------------------- Ray, simulated
@dataclasses.dataclass(frozen=True)
class RayCosts:
    """Seconds of the coordinator's time that Ray's own calls take (measured by :func:`calibrate`).

    Attributes:
        call_s: one actor method call (``actor.run.remote(...)``: serialise the call, send it).
        wait_s, wait_per_ref_s: one ``ray.wait(refs, num_returns=1)``: fixed part + per reference passed.
        get_s: one ``ray.get`` of a small finished result.
        put_s, put_per_byte_s: one ``ray.put``: fixed part + per byte of array data.
        latency_s: one-way latency call → worker and result → coordinator (not coordinator CPU).
    """

    call_s: float = 0.0
    wait_s: float = 0.0
    wait_per_ref_s: float = 0.0
    get_s: float = 0.0
    put_s: float = 0.0
    put_per_byte_s: float = 0.0
    latency_s: float = 0.0


class SimRef:
    """An ``ObjectRef`` stand-in: ready at virtual time ``ready_at`` with ``value`` (or raising ``error``)."""

    __slots__ = ("error", "nbytes", "ready_at", "value")

    def __init__(self, ready_at: float, value: Any = None, error: BaseException | None = None, nbytes: int = 0):
        self.ready_at, self.value, self.error, self.nbytes = ready_at, value, error, nbytes


class _Exceptions:
    class RayActorError(Exception):
        """The actor's process died (simulated)."""

    class RayTaskError(Exception):
        """The call failed on the worker (simulated)."""


class _Method:
    def __init__(self, actor: SimActor, name: str):
        self.actor, self.name = actor, name

    def options(self, **_: Any) -> _Method:
        return self

    def remote(self, *args: Any, **kwargs: Any) -> SimRef:
        return self.actor.sim._call(self.actor, self.name, args, kwargs)


class SimActor:
    """A simulated worker actor: ``run`` occupies it for the task's duration; ``deaths`` kill it mid-task."""

    def __init__(self, sim: SimRay, index: int):
        self.sim, self.index = sim, index
        self.free_at = 0.0
        self.busy_s = 0.0
        self.tasks = 0
        self.dies_in: set[int] = set(sim.deaths.get(index, ()))  # task numbers during which the process dies
        self.run, self.describe = _Method(self, "run"), _Method(self, "describe")


class SimRay:
    """The part of the ``ray`` module that :class:`RayBackend` uses, on a virtual clock (see the module docstring).

    Args:
        num_cpus: the simulated cluster's CPUs (``cluster_resources``).
        costs: Ray's per-call costs charged to the coordinator.
        duration: seconds a task takes on a worker, from its ``(fn, args, kwargs)`` (default: ``args[0]``,
            as :func:`sleep_task` takes it).
        fetch_per_byte_s: worker seconds per byte of object-store arguments (added to the task's time).
        deaths: ``{worker: [n, ...]}``: the worker's process dies during its ``n``-th call of ``run``.
        restart_s: seconds until Ray has restarted a dead worker.
    """

    exceptions = _Exceptions
    ObjectRef = SimRef

    def __init__(self, num_cpus: int, costs: RayCosts = RayCosts(),
                 duration: Callable[[Callable, tuple, dict], float] | None = None, fetch_per_byte_s: float = 0.0,
                 deaths: dict[int, list[int]] | None = None, restart_s: float = 1.0):
        self.num_cpus, self.costs, self.fetch_per_byte_s = num_cpus, costs, fetch_per_byte_s
        self.duration = duration or (lambda fn, args, kwargs: float(args[0]))
        self.deaths, self.restart_s = deaths or {}, restart_s
        self.now = 0.0  # the virtual clock (seconds)
        self.coordinator_s = 0.0  # virtual seconds the coordinator spent: its own CPU + Ray's modelled calls
        self.python_s = 0.0  # of which its own measured CPU time
        self.calls = self.waits = self.puts = 0
        self.bytes_put = 0
        self.actors: list[SimActor] = []
        self._mark = time.thread_time()

    # -- the clock: the coordinator's real CPU time since it last returned from Ray, plus Ray's modelled cost
    def _enter(self, ray_cost: float) -> None:
        spent = time.thread_time() - self._mark
        self.python_s += spent
        self.coordinator_s += spent + ray_cost
        self.now += spent + ray_cost

    def _leave(self) -> None:
        self._mark = time.thread_time()

    # -- the ``ray`` functions RayBackend calls
    def cluster_resources(self) -> dict[str, float]:
        """``{"CPU": num_cpus}``, as Ray reports its cluster."""
        return {"CPU": float(self.num_cpus)}

    def remote(self, **_: Any) -> Callable[[type], Any]:
        """``ray.remote(...)(cls)``: an actor class whose ``remote(index)`` makes a :class:`SimActor`."""
        sim = self

        class ActorClass:
            @staticmethod
            def remote(index: int, crash: Any = None) -> SimActor:
                actor = SimActor(sim, index)
                sim.actors.append(actor)
                return actor

        return lambda cls: ActorClass

    def put(self, value: Any) -> SimRef:
        """``ray.put``: charges the modelled cost per call and per byte of ``value``'s arrays."""
        import jax

        nbytes = sum(getattr(x, "nbytes", 0) for x in jax.tree_util.tree_leaves(value))
        self._enter(self.costs.put_s + nbytes * self.costs.put_per_byte_s)
        self.puts += 1
        self.bytes_put += nbytes
        ref = SimRef(self.now, value, nbytes=nbytes)
        self._leave()
        return ref

    def wait(self, refs: list[SimRef], num_returns: int = 1) -> tuple[list[SimRef], list[SimRef]]:
        """``ray.wait``: the first of ``refs`` to be ready in virtual time; the clock advances to it."""
        self._enter(self.costs.wait_s + self.costs.wait_per_ref_s * len(refs))
        self.waits += 1
        first = min(refs, key=lambda r: r.ready_at)
        self.now = max(self.now, first.ready_at)  # the coordinator sleeps until it is ready
        self._leave()
        return [first], [r for r in refs if r is not first]

    def get(self, ref: SimRef) -> Any:
        """``ray.get`` of a ready reference: its value, or its error raised."""
        self._enter(self.costs.get_s)
        self._leave()
        if ref.error is not None:
            raise ref.error
        return ref.value

    def kill(self, actor: SimActor, no_restart: bool = True) -> None:
        """``ray.kill``: nothing to do in a simulation."""
        pass

    def shutdown(self) -> None:
        """``ray.shutdown``: nothing to do in a simulation."""
        pass

    def _call(self, actor: SimActor, method: str, args: tuple, kwargs: dict) -> SimRef:
        self._enter(self.costs.call_s)
        self.calls += 1
        start = max(self.now + self.costs.latency_s, actor.free_at)
        if method == "describe":  # the backend's "are you back?" probe after a restart
            ref = SimRef(start, {"pid": 1000 + actor.index, "node": "sim"})
        else:
            fn, _name, _check_nan, *task_args = args
            actor.tasks += 1
            fetched = sum(a.nbytes for a in (*task_args, *kwargs.values()) if isinstance(a, SimRef))
            seconds = self.duration(fn, tuple(a.value if isinstance(a, SimRef) else a for a in task_args), kwargs)
            seconds += fetched * self.fetch_per_byte_s
            if actor.tasks in actor.dies_in:  # dies halfway through; Ray restarts it after restart_s
                actor.free_at = start + seconds / 2 + self.restart_s
                ref = SimRef(start + seconds / 2 + self.costs.latency_s,
                             error=_Exceptions.RayActorError(f"simulated death of worker {actor.index}"))
            else:
                actor.free_at = start + seconds
                actor.busy_s += seconds
                ref = SimRef(actor.free_at + self.costs.latency_s,
                             {"ok": True, "value": seconds, "busy": seconds, "pid": 1000 + actor.index, "node": "sim"})
        self._leave()
        return ref


@contextlib.contextmanager
def simulated(sim: SimRay) -> Iterator[SimRay]:
    """Inside the block, ``RayBackend`` gets ``sim`` where it would import / connect to Ray."""
    from phalanx.runtime import ray_backend

    saved = ray_backend.import_ray, ray_backend.connect
    ray_backend.import_ray = lambda: sim
    ray_backend.connect = lambda *args, **kwargs: False
    try:
        yield sim
    finally:
        ray_backend.import_ray, ray_backend.connect = saved


# ---------------------------------------------------------------------------------------------- workloads
def stream(backend: Any, learners: int, tasks_per_learner: int, task_s: Callable[[int, int], float],
           payload: Any = None) -> list[Any]:
    """The league's schedule: each learner always has one task in flight; results are processed in round-robin
    order (``gather([future])``) and the learner's next task is submitted right after. Returns every future.

    ``payload``: an object sent with every task, or a function of nothing making a new one per task (as the
    league stacks a new opponent mixture for every train task)."""
    fresh = callable(payload)

    def args(i: int, k: int) -> tuple[float, Any]:
        return task_s(i, k), payload() if fresh else payload

    pending = {i: backend.submit(sleep_task, *args(i, 0), name=f"learner {i} task 0") for i in range(learners)}
    done: list[Any] = []
    counts = dict.fromkeys(range(learners), 0)
    turn = 0
    while pending:
        i = turn % learners
        turn += 1
        if i not in pending:
            continue
        future = pending.pop(i)
        backend.gather([future])
        done.append(future)
        counts[i] += 1
        if counts[i] < tasks_per_learner:
            pending[i] = backend.submit(sleep_task, *args(i, counts[i]), name=f"learner {i} task {counts[i]}")
    return done


def bulk(backend: Any, tasks: int, task_s: Callable[[int, int], float], payload: Any = None) -> list[Any]:
    """PSRO's evaluation / the league's final round robin: submit ``tasks`` tasks, then ``gather`` them all."""
    futures = [backend.submit(sleep_task, task_s(k, 0), payload, name=f"task {k}") for k in range(tasks)]
    backend.gather(futures)
    return futures


def durations(mean_s: float, jitter: float, seed: int = 0) -> Callable[[int, int], float]:
    """Task ``(learner, k)`` takes ``mean_s * U(1 - jitter, 1 + jitter)`` seconds (fixed per task)."""
    def task_s(i: int, k: int) -> float:
        u = np.random.default_rng([seed, i, k]).uniform(1 - jitter, 1 + jitter)
        return float(mean_s * u)

    return task_s


@dataclasses.dataclass
class SimResult:
    """One simulated run: ``workers``, ``tasks``, virtual ``makespan_s``, dispatch ``throughput`` (tasks/s),
    worker ``utilisation`` (busy / (workers × makespan)), the coordinator's busy fraction and its time per task
    (``coord_per_task_s``, of which ``python_per_task_s`` is RayBackend's and the loop's measured CPU),
    ``ideal_s`` (the makespan with a free coordinator), and ``sim_wall_s`` (real seconds the simulation took)."""

    workload: str
    workers: int
    tasks: int
    task_s: float
    makespan_s: float
    ideal_s: float
    throughput: float
    utilisation: float
    coord_busy: float
    coord_per_task_s: float
    python_per_task_s: float
    bytes_put: int
    sim_wall_s: float


def simulate(workers: int, task_s: float = 2.0, tasks_per_worker: int = 20, workload: str = "stream",
             costs: RayCosts = RayCosts(), jitter: float = 0.2, payload_bytes: int = 0, fresh_payload: bool = False,
             fetch_per_byte_s: float = 0.0, deaths: dict[int, list[int]] | None = None) -> SimResult:
    """Run ``workload`` (``stream``: one learner per worker; ``bulk``: all tasks at once) through the real
    ``RayBackend`` on ``workers`` simulated workers. A ``payload_bytes`` array goes with every task: the same
    one (put once, by the backend's cache, as a population is), or with ``fresh_payload`` (``stream`` only)
    a new one per task (put every time, as the league's opponent stacks are)."""
    import jax  # noqa: F401  (imported here, not inside the clock: the backend's first put imports it)

    from phalanx.runtime.ray_backend import RayBackend

    sim = SimRay(workers, costs, fetch_per_byte_s=fetch_per_byte_s, deaths=deaths)
    payload: Any = np.zeros(payload_bytes // 4, np.float32) if payload_bytes else None
    if payload_bytes and fresh_payload:
        payload = functools.partial(np.zeros, payload_bytes // 4, np.float32)
    each = durations(task_s, jitter)
    t0 = time.perf_counter()
    with simulated(sim):
        sim._leave()
        backend = RayBackend(workers, num_cpus=1)
        if workload == "stream":
            futures = stream(backend, workers, tasks_per_worker, each, payload)
        elif workload == "bulk":
            futures = bulk(backend, workers * tasks_per_worker, lambda k, _: each(k, 0), payload)
        else:
            raise ValueError(f"workload={workload!r}: expected stream or bulk")
        sim._enter(0.0)
        backend.close()
    busy = sum(a.busy_s for a in sim.actors)
    # A free coordinator: each worker's tasks back to back (stream), or the work spread evenly (bulk, a bound).
    ideal = max(sum(each(i, k) for k in range(tasks_per_worker)) for i in range(workers)) \
        if workload == "stream" else busy / workers
    n = len(futures)
    return SimResult(workload, workers, n, task_s, sim.now, ideal, n / sim.now, busy / (workers * sim.now),
                     sim.coordinator_s / sim.now, sim.coordinator_s / n, sim.python_s / n, sim.bytes_put,
                     time.perf_counter() - t0)
