"""Where a distributed run's time goes: each task's dispatch, run and return, recorded around any backend.

:class:`Recorder` wraps a backend (local or Ray) and stamps every task — submitted, started and ended on the
worker, result seen by the coordinator; :func:`timeline` turns those stamps into the overhead per task and
the run's serial time. Why: a backend's overhead (serialisation, scheduling, transfers) is only visible
against the task's own time measured where it runs.

Per task, on one machine's clock (``time.time``):

* ``dispatch`` — from ``max(submitted, the end of the worker's previous task)`` to the start on the worker;
* ``task`` — the function itself;
* ``return`` — from the end on the worker to the coordinator seeing the result.

``serial`` is the wall time during which no task runs anywhere (the coordinator's own work plus overheads).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def _timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float, float]:
    """``(fn(*args, **kwargs), start, end)`` with wall-clock stamps taken where the task runs."""
    start = time.time()
    value = fn(*args, **kwargs)
    return value, start, time.time()


class Recorder:
    """A backend that forwards to ``inner`` and records every task's timeline (see the module docstring).

    Every other attribute (``utilisation``, ``name``, ...) is ``inner``'s, so the run loops see the backend
    they would see without it.
    """

    def __init__(self, inner: Any):
        self.inner = inner
        self.tasks: list[dict[str, Any]] = []
        self._open: dict[int, tuple[Any, dict[str, Any]]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def submit(self, fn: Callable[..., Any], *args: Any, name: str = "", **kwargs: Any) -> Any:
        """Submit ``fn`` to the inner backend, wrapped to stamp its start and end where it runs."""
        record = {"name": name or getattr(fn, "__name__", "task"), "submitted": time.time()}
        future = self.inner.submit(_timed, fn, *args, name=record["name"], **kwargs)
        self._open[id(future)] = (future, record)
        return future

    def gather(self, futures: Sequence[Any]) -> list[Any]:
        """The tasks' values, as the inner backend's ``gather``; records each task's timeline."""
        wrapped = self.inner.gather(futures)
        values = []
        for future, (value, start, end) in zip(futures, wrapped, strict=True):
            values.append(value)
            entry = self._open.pop(id(future), None)
            if entry is not None:
                record = entry[1]
                meta = future.meta
                seen = record["submitted"] + meta["wall_s"] if "wall_s" in meta else end
                record.update(start=start, end=end, seen=seen, worker=meta.get("worker", 0),
                              attempts=meta.get("attempts", 1))
                self.tasks.append(record)
        return values


def timeline(tasks: list[dict[str, Any]], t0: float, t1: float) -> dict[str, Any]:
    """Per-task dispatch/return overheads and the run's serial time (no task running) from a Recorder's tasks."""
    by_worker: dict[int, list[dict[str, Any]]] = {}
    for t in sorted(tasks, key=lambda t: t["start"]):
        by_worker.setdefault(t["worker"], []).append(t)
    dispatch, back, busy = [], [], []
    for runs in by_worker.values():
        prev_end = -np.inf
        for t in runs:
            dispatch.append(t["start"] - max(t["submitted"], prev_end))
            back.append(t["seen"] - t["end"])
            busy.append(t["end"] - t["start"])
            prev_end = t["end"]
    # wall time covered by at least one running task
    covered, edge = 0.0, t0
    for t in sorted(tasks, key=lambda t: t["start"]):
        start, end = max(t["start"], edge), t["end"]
        if end > start:
            covered += end - start
            edge = end
    kinds: dict[str, list[float]] = {}  # median task time per kind: the first word of the task's name
    for t in tasks:
        kinds.setdefault(t.get("name", "task").split()[0].split("/")[0], []).append(t["end"] - t["start"])
    dispatch_a, back_a, busy_a = np.asarray(dispatch), np.asarray(back), np.asarray(busy)
    return {"tasks": len(tasks), "task_s_mean": float(busy_a.mean()), "task_s_median": float(np.median(busy_a)),
            "dispatch_s_mean": float(dispatch_a.mean()), "return_s_mean": float(back_a.mean()),
            "overhead_s_mean": float((dispatch_a + back_a).mean()),
            "overhead_share": float((dispatch_a + back_a).sum() / busy_a.sum()),
            "serial_s": float((t1 - t0) - covered), "busy_s": float(busy_a.sum()),
            "task_s_by_kind": {k: float(np.median(v)) for k, v in sorted(kinds.items())}}


# ---------------------------------------------------------------------------------------------- the cases
