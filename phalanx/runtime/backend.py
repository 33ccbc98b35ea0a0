"""Where population tasks run: one interface, a ``local`` backend here and a ``ray`` one for clusters.

Population algorithms (PSRO, league, several ``phalanx train`` seeds) are written as a
coordinator that submits *tasks* — plain module-level functions of picklable arguments
(parameters as NumPy/JAX arrays) — and waits for their results. A task is one of:

* train a best response / league player for some updates against an opponent mixture;
* evaluate a batch of payoff-table cells;
* train one seed or hyperparameter point.

The coordinator never cares where a task runs: :class:`LocalBackend` runs it in-process
when submitted; a Ray backend runs it on a worker actor. Results come back in submission
order from :meth:`Backend.gather`, so a run is the same on every backend.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class TaskFuture:
    """A submitted task: its name (for messages), and its result once done."""

    name: str
    result: Any = None
    error: BaseException | None = None
    handle: Any = None  # backend-specific (a Ray ObjectRef)
    meta: dict[str, Any] = field(default_factory=dict)


class Backend(Protocol):
    """What a coordinator needs from an execution backend."""

    name: str

    def submit(self, fn: Callable[..., Any], *args: Any, name: str = "", **kwargs: Any) -> TaskFuture:
        """Start ``fn(*args, **kwargs)``; return its future at once (or when done, locally)."""
        ...

    def gather(self, futures: Sequence[TaskFuture]) -> list[Any]:
        """Wait for ``futures`` and return their results in order; raise the first task error."""
        ...

    def close(self) -> None:
        """Release workers."""
        ...


class LocalBackend:
    """Runs every task in this process, at submission time (the default; no Ray needed)."""

    name = "local"

    def __init__(self) -> None:
        self.tasks_run = 0

    def submit(self, fn: Callable[..., Any], *args: Any, name: str = "", **kwargs: Any) -> TaskFuture:
        future = TaskFuture(name=name or getattr(fn, "__name__", "task"))
        future.result = fn(*args, **kwargs)  # errors propagate with their own traceback
        self.tasks_run += 1
        return future

    def gather(self, futures: Sequence[TaskFuture]) -> list[Any]:
        return [f.result for f in futures]

    def close(self) -> None:
        pass

    def __enter__(self) -> LocalBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
