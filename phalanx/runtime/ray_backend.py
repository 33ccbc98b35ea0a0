"""The ``ray`` backend: tasks run on a pool of Ray worker actors, on one machine or a cluster.

Usage (the same :class:`~phalanx.runtime.backend.Backend` protocol as ``LocalBackend``)::

    from phalanx.runtime.ray_backend import RayBackend, connect

    connect("auto")                      # join a running cluster (`ray start --head`); None: start a local Ray
    with RayBackend(num_workers=2) as backend:
        futures = [backend.submit(task_fn, spec, params, key, name=f"task {k}") for k in range(8)]
        results = backend.gather(futures)   # in submission order; raises TaskFailedError on a failed task
        for f in backend.as_completed(futures): ...   # or first finished first; f.meta: worker, busy_s, wall_s
        backend.utilisation()               # per worker: tasks done, busy / wall time, restarts

``task_fn`` is a module-level function (pickled by reference: every node must have Phalanx
installed) of picklable arguments whose inputs — seeds included — are fixed at submission, so
results do not depend on which worker runs a task, nor on retries. ``PSRO``, the league and the
``phalanx train`` seed tasks are written this way (``population_run.run(config, backend=...)``,
``league_run.run(config, backend=...)``); the CLI builds this backend from ``backend=ray``
``ray.address=...`` ``ray.num_workers=N`` (see :func:`~phalanx.runtime.backend.make_backend`).

**Workers.** ``num_workers`` actors, each reserving ``num_cpus`` CPUs (and one GPU when the
cluster has a GPU per worker; by default one worker per GPU, else one per ``num_cpus`` CPUs). A
worker runs the same compiled JAX code as the local path and keeps its compiled programs
between tasks (the task modules cache them per process). Tasks go to idle workers, lowest index
first, one task per worker at a time.

**Parameters through the object store.** Every array-holding argument is ``ray.put`` once; the
backend remembers the last :data:`PUT_CACHE` arguments by identity, so an object submitted to
many tasks (a population, a player's parameters) travels to the store once and its reference is
passed to each of them (and to retries). Do not mutate an argument after submitting it.

**Faults.** Workers are created with ``max_restarts``: a worker whose process dies (killed,
out of memory, node lost) is restarted by Ray and its task is put back at the front of the queue,
preferably for another worker (at most ``max_task_retries`` times per task). A task that raises,
or returns NaN, failed for a reason of its own: its error comes back as a value
(:attr:`TaskFuture.error <phalanx.runtime.backend.TaskFuture>`, naming worker and task, with the
remote traceback), it is tried once more on another worker, and if it fails ``max_task_failures``
times :meth:`gather` raises :class:`TaskFailedError` — one clear message that stops the run
instead of retrying forever.

**Progress from workers.** ``backend.relay_progress(set_progress, deliver)``: the progress reports of tasks on
workers (a learned PSRO oracle's, :func:`~phalanx.population.oracles.set_progress`) reach ``deliver`` here while
the backend waits for tasks, each before its task's result (:mod:`phalanx.runtime.ray_progress`).

**Zero workers.** ``RayBackend(num_workers=0)`` runs every task in this process at submission
(as ``LocalBackend``, with the same statistics) and never imports Ray.

Ray is imported only when a remote backend is made; without it, :func:`connect` raises a
``PhalanxError`` saying ``pip install -e ".[ray]"``.
"""

from __future__ import annotations

import collections
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from phalanx.errors import PhalanxError
from phalanx.runtime.ray_connect import connect, import_ray
from phalanx.runtime.ray_progress import ProgressRelay
from phalanx.runtime.ray_worker import Worker, has_nan
from phalanx.runtime.task_future import TaskFuture

#: How many submitted arguments the backend remembers (by identity) with their object-store references.
PUT_CACHE = 64
#: Arguments whose arrays hold fewer bytes than this travel inline with the call instead of via ``ray.put``.
INLINE_BYTES = 4096


class TaskFailedError(PhalanxError):
    """A task failed for a reason of its own (it raised, or returned NaN) on every try; the run stops.

    Attributes:
        task: the task's name; worker: the worker (index, pid, node) of the last try;
        attempts: tries made; remote_traceback: the last try's traceback on the worker.
    """

    def __init__(self, message: str, task: str = "", worker: str = "", attempts: int = 0, remote_traceback: str = ""):
        super().__init__(message)
        self.task, self.worker, self.attempts, self.remote_traceback = task, worker, attempts, remote_traceback


class WorkerLostError(PhalanxError):
    """A task's worker died more than ``max_task_retries`` times while running it, or no worker is left."""


# ---------------------------------------------------------------------------------------------- the backend
@dataclass
class WorkerStats:
    """One worker's record: tasks finished, seconds busy in tasks, task failures, deaths seen (restarts)."""

    index: int
    tasks_done: int = 0
    busy_s: float = 0.0
    failures: int = 0
    restarts: int = 0
    pid: int | None = None
    node: str | None = None
    alive: bool = True


@dataclass
class _Task:
    future: TaskFuture
    fn: Callable[..., Any]
    args: tuple
    kwargs: dict
    deaths: int = 0
    failures: int = 0
    tried: list[int] = field(default_factory=list)
    done: bool = False


class RayBackend:
    """Runs tasks on ``num_workers`` Ray worker actors (see the module docstring).

    Args:
        num_workers: worker actors; None: one per GPU if the cluster has GPUs, else one per ``num_cpus``
            CPUs of the cluster; 0: every task in this process (no Ray).
        address: passed to :func:`connect` if Ray is not initialised yet (``auto``, ``HOST:PORT``, None).
        num_cpus: CPUs each worker reserves.
        num_gpus: GPUs each worker reserves (None: 1 when the cluster has a GPU per worker, else an equal share).
        max_restarts: how often Ray restarts a dead worker (-1: always).
        max_task_retries: re-runs of a task whose worker died under it.
        max_task_failures: tries of a task that raises or returns NaN before the run stops.
        check_nan: treat a result holding NaN as a task failure.
        crash: test hook ``{worker index: (nth task, marker file)}`` (see :class:`Worker`).
    """

    name = "ray"

    def __init__(self, num_workers: int | None = None, *, address: str | None = None, num_cpus: float = 1,
                 num_gpus: float | None = None, max_restarts: int = -1, max_task_retries: int = 3,
                 max_task_failures: int = 2, check_nan: bool = True,
                 crash: dict[int, tuple[int, str]] | None = None):
        self.max_task_retries, self.max_task_failures, self.check_nan = max_task_retries, max_task_failures, check_nan
        self.max_restarts = max_restarts
        self.started = time.perf_counter()
        self.tasks_submitted = self.tasks_done = self.attempts = 0
        self._owns_ray = False
        self._actors: list[Any] = []
        self._queue: collections.deque[_Task] = collections.deque()
        self._running: dict[Any, tuple[_Task, int]] = {}
        self._probes: dict[Any, int] = {}  # a restarting worker's "are you back?" call
        self._idle: list[int] = []
        self._puts: collections.OrderedDict[int, tuple[Any, Any]] = collections.OrderedDict()
        self._relay: ProgressRelay | None = None  # made on the first relay_progress
        if num_workers == 0:
            self.stats = [WorkerStats(0, pid=os.getpid(), node="local")]
            return
        self._ray = import_ray()
        self._owns_ray = connect(address)
        resources = self._ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        if num_workers is None:
            num_workers = gpus or max(1, int(resources.get("CPU", 1) // num_cpus))
        if num_gpus is None:  # one GPU each, or a share of the few there are
            num_gpus = 0 if not gpus else 1 if gpus >= num_workers else gpus / num_workers
        cpus = resources.get("CPU", 0)
        if num_workers * num_cpus > cpus:  # the extra workers would never start, nor their tasks
            self.close()
            raise PhalanxError(f"ray.num_workers={num_workers} x ray.num_cpus={num_cpus} needs "
                               f"{num_workers * num_cpus:g} CPUs and the Ray cluster has {cpus:g}; use fewer workers "
                               "or fewer CPUs each, or add nodes (ray start --address=...).")
        actor = self._ray.remote(num_cpus=num_cpus, num_gpus=num_gpus, max_restarts=max_restarts,
                                 max_task_retries=0)(Worker)
        crash = crash or {}
        self._actors = [actor.remote(i, crash.get(i)) for i in range(num_workers)]
        self.stats = [WorkerStats(i) for i in range(num_workers)]
        self._idle = list(range(num_workers))

    # ------------------------------------------------------------------ properties
    @property
    def num_workers(self) -> int:
        """Remote workers (0: in-process)."""
        return len(self._actors)

    @property
    def remote(self) -> bool:
        """Whether tasks run on Ray workers (False: in this process)."""
        return bool(self._actors)

    # ------------------------------------------------------------------ the Backend protocol
    def submit(self, fn: Callable[..., Any], *args: Any, name: str = "", **kwargs: Any) -> TaskFuture:
        """Queue ``fn(*args, **kwargs)`` (started as soon as a worker is idle); return its future."""
        future = TaskFuture(name=name or getattr(fn, "__name__", "task"))
        future.meta["submitted"] = time.perf_counter()
        self.tasks_submitted += 1
        if not self.remote:
            t0 = time.perf_counter()
            future.result = fn(*args, **kwargs)  # in-process: errors propagate with their own traceback
            busy = time.perf_counter() - t0
            if self.check_nan and has_nan(future.result):  # deterministic here: no second try
                raise TaskFailedError(f"task {future.name!r} failed in this process: its result contains NaN.",
                                      future.name, "this process", 1)
            self._record(0, busy)
            self.attempts += 1
            future.meta.update(done=True, worker=0, attempts=1, busy_s=busy, wall_s=busy)
            return future
        if self._relay is not None:
            fn = self._relay.wrap(fn)
        task = _Task(future, fn, tuple(self._put(a) for a in args), {k: self._put(v) for k, v in kwargs.items()})
        future.handle = task
        self._queue.append(task)
        self._dispatch()
        return future

    def gather(self, futures: Sequence[TaskFuture]) -> list[Any]:
        """Wait for ``futures``; their results in order. Raises the first failed task's error
        (:class:`TaskFailedError` / :class:`WorkerLostError`)."""
        self.wait(futures)
        for f in futures:
            if f.error is not None:
                raise f.error
        return [f.result for f in futures]

    def as_completed(self, futures: Sequence[TaskFuture]) -> Iterator[TaskFuture]:
        """Yield ``futures`` as they finish (or fail; see ``future.error``), first finished first."""
        pending = list(futures)
        while pending:
            done = [f for f in pending if f.meta.get("done")]
            if not done:
                self._step()
            for f in done:
                pending.remove(f)
                yield f

    def wait(self, futures: Sequence[TaskFuture]) -> list[TaskFuture]:
        """Wait until every future is done or failed (errors are left as values in ``future.error``)."""
        i = 0  # futures[:i] are done, and done stays done: linear in len(futures), not quadratic
        while i < len(futures):
            if futures[i].meta.get("done"):
                i += 1
            else:
                self._step()
        return list(futures)

    def relay_progress(self, set_progress: Callable[[Any], Any] | None,
                       deliver: Callable[..., None] | None = None) -> None:
        """Relay the progress reports of tasks submitted from now on (see the module docstring) to ``deliver(*report)``
        in this process; ``set_progress(receiver) -> previous receiver`` installs a receiver on a worker (a
        module-level function, e.g. :func:`phalanx.population.oracles.set_progress`). ``None``: stop relaying.
        In-process tasks (``num_workers=0``) report to this process's receiver already: nothing to do."""
        if not self.remote:
            return
        if self._relay is None and set_progress is not None:
            self._relay = ProgressRelay(self._ray, set_progress, deliver)
        elif self._relay is not None:
            self._relay.set_progress, self._relay.deliver = set_progress, None if set_progress is None else deliver

    def close(self) -> None:
        """Kill the workers (and shut Ray down if this backend started it)."""
        for a in self._actors:
            self._ray.kill(a, no_restart=True)
        if self._relay is not None:
            self._relay.close()
            self._relay = None
        self._actors, self._running, self._puts = [], {}, collections.OrderedDict()
        self._queue.clear()
        if self._owns_ray:
            self._ray.shutdown()
            self._owns_ray = False

    def __enter__(self) -> RayBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ statistics
    def utilisation(self) -> list[dict[str, Any]]:
        """Per worker since the backend started: ``tasks`` done, ``busy_s``, ``utilisation`` (busy / wall time),
        ``failures`` (tasks that raised or returned NaN), ``restarts`` (deaths seen)."""
        wall = max(time.perf_counter() - self.started, 1e-9)
        return [{"worker": s.index, "tasks": s.tasks_done, "busy_s": round(s.busy_s, 4),
                 "utilisation": round(s.busy_s / wall, 4), "failures": s.failures, "restarts": s.restarts}
                for s in self.stats]

    # ------------------------------------------------------------------ internals
    def _record(self, index: int, busy: float) -> None:
        self.stats[index].tasks_done += 1
        self.stats[index].busy_s += busy
        self.tasks_done += 1

    def _put(self, value: Any) -> Any:
        """``value``'s object-store reference (put once per object), or ``value`` itself if it is small."""
        if isinstance(value, self._ray.ObjectRef):
            return value
        key = id(value)
        if key in self._puts:
            self._puts.move_to_end(key)
            return self._puts[key][1]
        import jax

        leaves = jax.tree_util.tree_leaves(value)
        if sum(getattr(x, "nbytes", 0) for x in leaves) < INLINE_BYTES:
            return value
        ref = self._ray.put(value)
        self._puts[key] = (value, ref)  # holding ``value`` keeps its id from being reused
        if len(self._puts) > PUT_CACHE:
            self._puts.popitem(last=False)
        return ref

    def _dispatch(self) -> None:
        while self._queue and self._idle:
            task = self._queue.popleft()
            fresh = [w for w in self._idle if w not in task.tried]
            w = min(fresh or self._idle)  # a retry goes elsewhere when another worker is idle
            self._idle.remove(w)
            task.tried.append(w)
            self.attempts += 1
            ref = self._actors[w].run.remote(task.fn, task.future.name, self.check_nan, *task.args, **task.kwargs)
            self._running[ref] = (task, w)

    def _describe(self, w: int) -> str:
        s = self.stats[w]
        where = f" pid {s.pid} on {s.node}" if s.pid is not None else ""
        return f"worker {w}{where}"

    def _step(self) -> None:
        if not self._running and not self._probes:
            raise WorkerLostError("no task is running and tasks are still waiting: every worker is gone "
                                  f"({self.num_workers} started); see the Ray logs (/tmp/ray/session_latest/logs).")
        relay = self._relay.waiting() if self._relay is not None else []
        ready, _ = self._ray.wait([*self._running, *self._probes, *relay], num_returns=1)
        ref = ready[0]
        if relay and self._relay.ready(ref):  # progress reports from running tasks
            return
        if ref in self._probes:
            self._probe_done(ref)
            return
        task, w = self._running.pop(ref)
        try:
            out = self._ray.get(ref)
        except self._ray.exceptions.RayActorError as e:
            self._worker_died(task, w, e)
            self._dispatch()
            return
        except self._ray.exceptions.RayTaskError as e:  # e.g. arguments that fail to unpickle on the worker
            out = {"ok": False, "error": str(e).strip().splitlines()[-1], "traceback": str(e), "busy": 0.0}
        stats = self.stats[w]
        stats.pid, stats.node = out.get("pid", stats.pid), out.get("node", stats.node)
        self._idle.append(w)
        if self._relay is not None:
            self._relay.finished(task.fn)  # its last reports, before its result
        if out["ok"]:
            self._record(w, out["busy"])
            task.future.result, task.done = out["value"], True
            # busy_s: in the task on the worker; wall_s: submission to result here (the difference is
            # queueing, transfer and coordination overhead).
            task.future.meta.update(done=True, worker=w, attempts=len(task.tried), busy_s=out["busy"],
                                    wall_s=time.perf_counter() - task.future.meta["submitted"])
        else:
            stats.failures += 1
            stats.busy_s += out["busy"]
            task.failures += 1
            where = self._describe(w)
            message = (f"task {task.future.name!r} failed on {where}: {out['error']}"
                       f" (try {task.failures} of {self.max_task_failures})")
            task.future.error = TaskFailedError(message, task.future.name, where, task.failures,
                                                out.get("traceback", ""))
            if task.failures >= self.max_task_failures:
                task.future.error = TaskFailedError(
                    f"task {task.future.name!r} failed {task.failures} times, last on {where}: {out['error']}. "
                    "The error is the task's own (not a lost worker), so the run stops; its traceback is in the "
                    "worker's log (/tmp/ray/session_latest/logs/worker-*.err on its node).",
                    task.future.name, where, task.failures, out.get("traceback", ""))
                task.done = True
                task.future.meta.update(done=True, worker=w, attempts=len(task.tried))
            else:
                self._queue.appendleft(task)  # once more, on another worker if one is idle
        self._dispatch()

    def _worker_died(self, task: _Task, w: int, error: BaseException) -> None:
        stats = self.stats[w]
        stats.restarts += 1
        task.deaths += 1
        if 0 <= self.max_restarts < stats.restarts:
            stats.alive = False  # Ray does not restart it again
        if stats.alive:  # Ray restarts it; it takes tasks again once it answers
            self._probe(w)
        if task.deaths > self.max_task_retries:
            task.future.error = WorkerLostError(
                f"task {task.future.name!r}: its worker died {task.deaths} times under it (last {self._describe(w)}); "
                f"giving up after max_task_retries={self.max_task_retries}. Is a node running out of memory?")
            task.done = True
            task.future.meta.update(done=True, worker=w, attempts=len(task.tried))
        else:
            self._queue.appendleft(task)


    def _probe(self, w: int) -> None:
        # Ray retries this call until the restarted process answers (plain calls fail while it restarts).
        self._probes[self._actors[w].describe.options(max_task_retries=-1).remote()] = w

    def _probe_done(self, ref: Any) -> None:
        w = self._probes.pop(ref)
        try:
            info = self._ray.get(ref)
        except self._ray.exceptions.RayActorError:
            self.stats[w].alive = False  # past max_restarts, or its node is gone
            return
        self.stats[w].pid, self.stats[w].node = info["pid"], info["node"]
        self._idle.append(w)
        self._dispatch()


__all__ = ["RayBackend", "TaskFailedError", "Worker", "WorkerLostError", "WorkerStats", "connect", "import_ray"]
