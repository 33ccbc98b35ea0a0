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

:func:`make_backend` builds the backend a config names (``backend=local|ray`` and the
``ray.KEY=VALUE`` settings of :class:`RayConfig`); :mod:`phalanx.runtime.ray_backend` has the Ray one
(imported only when asked for, so the local backend never imports Ray).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, get_args

from phalanx.config import ranged
from phalanx.errors import ConfigError, did_you_mean
from phalanx.runtime.task_future import TaskFuture

#: What ``backend=`` may name.
BackendName = Literal["local", "ray"]
#: The backends a config may name.
BACKENDS: tuple[str, ...] = get_args(BackendName)


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
        """Run ``fn(*args, **kwargs)`` now, in this process; the future holds its result (errors raise here)."""
        future = TaskFuture(name=name or getattr(fn, "__name__", "task"))
        future.result = fn(*args, **kwargs)  # errors propagate with their own traceback
        self.tasks_run += 1
        return future

    def gather(self, futures: Sequence[TaskFuture]) -> list[Any]:
        """The results of ``futures``, in order (already computed by :meth:`submit`)."""
        return [f.result for f in futures]

    def as_completed(self, futures: Sequence[TaskFuture]) -> Iterator[TaskFuture]:
        """Yield ``futures`` as they finish (here: all are done, in submission order)."""
        yield from futures

    def close(self) -> None:
        """Nothing to release (tasks ran in this process)."""
        pass

    def __enter__(self) -> LocalBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class RayConfig:
    """``ray.KEY=VALUE``: where and how the ``ray`` backend runs (ignored by ``backend=local``).

    Attributes:
        address: ``auto`` (the cluster ``ray start`` runs on this machine), ``HOST:PORT`` (a head node's
            address), or null: start a local Ray on this machine.
        num_workers: worker actors (null: one per GPU of the cluster, else one per ``num_cpus`` CPUs;
            0: tasks run in the coordinator's process).
        num_cpus: CPUs each worker reserves.
        max_task_failures: tries of a task that raises or returns NaN before the run stops.
        coordinator: run the run loop in a coordinator actor on this machine, the driver only relaying its
            progress (false: the run loop runs in this process).
        num_actors: ``phalanx train env=pettingzoo:...``: remote actors stepping the env, each with its own
            envs and a copy of the policy (:mod:`phalanx.runtime.actor_run`); null: one per ``num_cpus`` CPUs
            of the cluster, one CPU left to the learner.
        envs_per_actor: envs each actor steps (null: ``train.num_envs / num_actors``); an update learns from
            ``train.num_envs / envs_per_actor`` actor blocks.
        max_policy_lag: the most updates a block's acting policy may be behind the learner; older blocks are
            dropped (and counted). 0: actors wait for each update (on-policy, no overlap).
    """

    address: str | None = None
    num_workers: int | None = ranged(None, min=0, note="or null: one per GPU or per ray.num_cpus CPUs")
    num_cpus: float = ranged(1.0, gt=0)
    max_task_failures: int = ranged(2, min=1)
    coordinator: bool = True
    num_actors: int | None = ranged(None, min=1, note="or null: one per ray.num_cpus CPUs, one left to the learner")
    envs_per_actor: int | None = ranged(None, min=1, note="or null: train.num_envs / ray.num_actors")
    max_policy_lag: int = ranged(2, min=0, note="0 = actors wait for every update")


def check_backend(name: str) -> str:
    """``name`` if it is a backend, else a :class:`ConfigError` naming the valid ones."""
    if name not in BACKENDS:
        raise ConfigError(f"backend={name!r}: expected one of {', '.join(BACKENDS)}.{did_you_mean(name, BACKENDS)}")
    return name


def make_backend(name: str, ray: RayConfig | None = None) -> Any:
    """The backend ``name`` (``local`` or ``ray``; ``ray`` connects to or starts Ray as ``ray.address`` says)."""
    if check_backend(name) == "local":
        return LocalBackend()
    from phalanx.runtime.ray_backend import RayBackend

    ray = ray or RayConfig()
    return RayBackend(ray.num_workers, address=ray.address, num_cpus=ray.num_cpus,
                      max_task_failures=ray.max_task_failures)


def backend_choice(config: Any, overrides: dict[str, Any] | None = None, stored: Any = None) -> tuple[str, RayConfig]:
    """The backend a run uses and its Ray settings: ``config``'s (or, resuming, the ``stored`` config's),
    with ``backend=`` / ``ray.KEY=`` from ``overrides`` on top (a resumed run may change its backend)."""
    import dataclasses

    from phalanx.config import build

    base = stored if stored is not None else config
    overrides = overrides or {}
    name = overrides.get("backend", base.backend)
    given = overrides.get("ray", {})
    if not isinstance(given, dict):
        raise ConfigError(f"ray={given!r}: expected a group of keys (ray.KEY=VALUE).")
    ray = build(RayConfig, {**dataclasses.asdict(base.ray), **given}, prefix="ray.")
    return check_backend(str(name)), ray
