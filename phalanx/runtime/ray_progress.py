"""Progress reports of tasks on Ray workers, relayed to the process that submitted them
(:meth:`phalanx.runtime.ray_backend.RayBackend.relay_progress`).

A learned PSRO oracle's best response is one long compiled program on a worker; its progress reports
(:func:`phalanx.population.oracles.set_progress`) go, through :func:`relayed` on the worker, to a
:class:`ProgressSink` actor, from which the backend takes them while it waits for its tasks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


class ProgressSink:
    """Progress reports from tasks on workers, numbered in arrival order, for the backend to take (a Ray actor with
    0 CPUs; asynchronous, so a waiting :meth:`next` does not hold up :meth:`put`). The taker says how many it has
    had: a report is handed out until then, so none is lost when two takes cross."""

    def __init__(self) -> None:
        import asyncio

        self._reports: list[tuple] = []
        self._start = 0  # the number of the first report kept
        self._event = asyncio.Event()

    async def put(self, report: tuple) -> None:
        """One report (from a task on a worker)."""
        self._reports.append(report)
        self._event.set()

    async def since(self, n: int) -> tuple[int, list[tuple]]:
        """``(number of the first, reports)``: every report from number ``n`` on (those before are dropped), at once."""
        if n > self._start:
            del self._reports[: n - self._start]
            self._start = n
        return self._start, list(self._reports)

    async def next(self, n: int) -> tuple[int, list[tuple]]:
        """:meth:`since` ``n``, once there is a report numbered ``n`` or later."""
        while self._start + len(self._reports) <= n:
            self._event.clear()
            await self._event.wait()
        return await self.since(n)


def relayed(sink: Any, set_progress: Callable[[Any], Any], fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """On a worker: ``fn(*args, **kwargs)`` with each of its progress reports (``set_progress``'s receiver) put into
    ``sink`` before the task goes on: in order (an asynchronous actor keeps no order between calls) and all in the
    sink when the task returns."""
    import ray

    previous = set_progress(lambda *report: ray.get(sink.put.remote(report)))
    try:
        return fn(*args, **kwargs)
    finally:
        set_progress(previous)


class ProgressRelay:
    """The backend's side: the :class:`ProgressSink` actor, tasks wrapped to report to it, reports handed to
    ``deliver(*report)`` (None: tasks submitted now are not wrapped, and reports still arriving are dropped).

    The sink lives until :meth:`close`: a task wrapped earlier may still report after relaying stops.
    """

    def __init__(self, ray: Any, set_progress: Callable[[Any], Any], deliver: Callable[..., None] | None) -> None:
        self._ray, self.set_progress, self.deliver = ray, set_progress, deliver
        self._sink = ray.remote(num_cpus=0)(ProgressSink).remote()
        self._reported = 0  # reports taken so far
        self._pending = self._sink.next.remote(0)

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` reporting through the sink (a task to submit), or ``fn`` itself while not relaying."""
        return fn if self.deliver is None else functools.partial(relayed, self._sink, self.set_progress, fn)

    def waiting(self) -> list[Any]:
        """The object to wait on with the tasks' (the sink's pending answer) while relaying."""
        return [] if self.deliver is None else [self._pending]

    def ready(self, ref: Any) -> bool:
        """If ``ref`` (from a wait on the tasks and :meth:`waiting`) is the sink's answer: hand its reports on."""
        if ref != self._pending:
            return False
        self._hand_on(self._ray.get(ref))
        self._pending = self._sink.next.remote(self._reported)
        return True

    def finished(self, fn: Callable[..., Any]) -> None:
        """A task ``fn`` has returned: if :meth:`wrap` made it, hand on its last reports (in the sink by now)."""
        if isinstance(fn, functools.partial) and fn.func is relayed:
            self._hand_on(self._ray.get(self._sink.since.remote(self._reported)))

    def _hand_on(self, numbered: tuple[int, list[tuple]]) -> None:
        first, reports = numbered
        for report in reports[max(0, self._reported - first):]:  # the ones not taken yet
            self._reported += 1
            if self.deliver is not None:
                self.deliver(*report)

    def close(self) -> None:
        """End the sink actor."""
        self._ray.kill(self._sink, no_restart=True)


__all__ = ["ProgressRelay", "ProgressSink", "relayed"]
