"""``backend=ray``: a run function in a coordinator actor, its tasks on worker actors, the driver relaying progress.

::

    driver (phalanx psro|league|train ... backend=ray; runtime.launch decides)
      └─ Coordinator actor (0 CPUs, pinned to the driver's node, so the run directory is the driver's)
           runs the run function it is given — the same as backend=local runs, e.g. population_run.run —
           owning the population, payoff table, schedule and RNG, checkpointing after every task batch
           └─ RayBackend: worker actors (num_cpus each, one per GPU where there are GPUs) run the tasks

The coordinator's console writes into a buffer that the driver polls (:data:`POLL_S`) and copies
to its own terminal, so progress bars and messages look as in a local run. Workers are owned by
the coordinator: killing it (or the driver, Ctrl-C) ends them too; ``resume=<run_dir>`` then
continues from the last checkpoint without redoing finished work.

With ``ray.coordinator=false`` the run function runs in the driver process instead (same results). This
module never imports a run function: it is handed one (a module-level function, which Ray pickles by name).
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from phalanx.errors import PhalanxError, RunFaultError, RunInterruptedError
from phalanx.runtime.faults import Interrupts

#: Seconds between the driver's polls of the coordinator.
POLL_S = 0.25
#: ``fn(config, overrides, console, backend=backend, **kwargs) -> run directory``: what a coordinator runs.
RunFunction = Callable[..., Path]


class _Buffer:
    """A write-only text file whose contents the driver takes in pieces (thread-safe)."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self._parts.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def take(self) -> str:
        with self._lock:
            text, self._parts = "".join(self._parts), []
        return text


class Coordinator:
    """The coordinator (a Ray actor): runs one run function in a thread with a :class:`RayBackend`.

    Args:
        fn, config, overrides, kwargs: the run, ``fn(config, overrides, console, backend=..., **kwargs)``.
        ray_config: the run's :class:`~phalanx.runtime.backend.RayConfig` (its workers).
        terminal, width, color_system: the driver's console, which this one imitates.
    """

    def __init__(self, fn: RunFunction, config: Any, overrides: dict[str, Any] | None, kwargs: dict[str, Any],
                 ray_config: Any, terminal: bool, width: int, color_system: str | None):
        import jax

        # The coordinator's own computations (meta-solvers, exploitability, stacking) are small: it stays on
        # the CPU and leaves this node's accelerators (and their memory) to the workers.
        jax.config.update("jax_platforms", "cpu")
        self.fn, self.config, self.overrides, self.kwargs, self.ray_config = fn, config, overrides, kwargs, ray_config
        self.buffer = _Buffer()
        self.console = Console(file=self.buffer, force_terminal=terminal, width=width, color_system=color_system)
        self.done, self.result, self.error = False, None, None
        self.utilisation: list[dict[str, Any]] = []
        self.backend: Any = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the run (returns at once)."""
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.thread.start()

    def _main(self) -> None:
        from phalanx.runtime.backend import make_backend

        try:
            self.backend = make_backend("ray", self.ray_config)
            self.result = str(self.fn(self.config, self.overrides, self.console, backend=self.backend,
                                      **self.kwargs))
        except PhalanxError as e:  # with its exit status: 130 interrupted, 1 a machine fault, 2 the rest
            self.error = ("phalanx", str(e), e.exit_code)
        except BaseException:  # reported to the driver with the coordinator's traceback
            self.error = ("crash", traceback.format_exc())
        finally:
            if self.backend is not None:
                self.utilisation = self.backend.utilisation()
                self.backend.close()
            self.done = True

    def interrupt(self, signame: str) -> None:
        """Stop the run as ``signame`` (SIGINT, SIGTERM) would stop a local one: after its current chunk it
        checkpoints what it holds and ends with one line saying how to resume (reported by :meth:`poll`)."""
        import signal

        from phalanx.runtime.faults import request_interrupt

        if self.thread is not None and self.thread.ident is not None:
            request_interrupt(self.thread.ident, signal.Signals[signame])

    def poll(self) -> dict[str, Any]:
        """``{"text": console output since the last poll, "done", "result": run dir, "error", "utilisation"}``."""
        done = self.done  # read before the text: nothing is written after done is set
        return {"text": self.buffer.take(), "done": done, "result": self.result, "error": self.error,
                "utilisation": self.utilisation if done else
                (self.backend.utilisation() if self.backend is not None else [])}


def absolute_paths(config: Any) -> Any:
    """``config`` with ``run_dir`` and ``resume`` absolute (the coordinator's working directory may differ)."""
    changes = {k: str(Path(getattr(config, k)).absolute()) for k in ("run_dir", "resume")
               if getattr(config, k, None)}
    return dataclasses.replace(config, **changes)


def coordinator_name(path: str | Path) -> str:
    """The Ray name of the coordinator of the run in ``path`` (``ray.get_actor(name)`` finds it)."""
    return f"phalanx-coordinator:{Path(path).absolute()}"


def run_remote(fn: RunFunction, config: Any, overrides: dict[str, Any] | None, console: Console, ray_config: Any,
               **kwargs: Any) -> Path:
    """Run ``fn(config, overrides, console, backend=<a RayBackend>, **kwargs)`` in a :class:`Coordinator` actor
    on this node and relay its output; return the run directory.

    ``config`` must name its run directory (``run_dir`` or ``resume``): the coordinator's working directory and
    clock are not the driver's (:func:`phalanx.runtime.launch.launch` fixes the default one first).

    Raises:
        PhalanxError: the run's own one-line errors, or the coordinator died (resume to continue).
    """
    from phalanx.runtime.ray_connect import connect, import_ray

    ray = import_ray()
    connect(ray_config.address)
    if config.resume is None and not config.run_dir:
        raise ValueError("run_remote: config names no run directory (run_dir or resume).")
    config = absolute_paths(config)
    overrides = dict(overrides or {})
    if overrides.get("run_dir"):
        overrides["run_dir"] = str(Path(overrides["run_dir"]).absolute())
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    name = coordinator_name(config.resume or config.run_dir)
    actor = ray.remote(num_cpus=0, max_restarts=0, scheduling_strategy=here, name=name)(Coordinator)
    color = console.color_system
    coordinator = actor.remote(fn, config, overrides, kwargs, ray_config, console.is_terminal, console.width,
                               color if color in ("standard", "256", "truecolor", "windows") else None)
    out, where = console.file, config.resume or config.run_dir
    interrupts = Interrupts()  # Ctrl-C / SIGTERM here: KeyboardInterrupt, passed on to the coordinator once
    interrupts.install()
    asked = False
    start = coordinator.start.remote()  # actor calls run in order: an interrupt() sent later finds the run thread
    try:
        while True:
            try:
                if start is not None:
                    ray.get(start)
                    start = None
                state = ray.get(coordinator.poll.remote())
                if state["text"]:
                    out.write(state["text"])
                    out.flush()
                if state["done"]:
                    break
                time.sleep(POLL_S)
            except KeyboardInterrupt as e:
                if asked:
                    raise
                asked = True  # the run stops after its chunk, checkpoints it and says how to resume
                ray.get(coordinator.interrupt.remote(str(e) if str(e) in ("SIGINT", "SIGTERM") else "SIGINT"))
                console.print("interrupting: the run checkpoints after its current chunk (again to stop at once)")
    except ray.exceptions.RayActorError as e:
        raise PhalanxError(f"the coordinator died ({str(e).strip().splitlines()[0]}); continue the run with "
                           f"resume={where}.") from None
    except KeyboardInterrupt:  # a second one: stop now, its workers with it
        ray.kill(coordinator)
        from phalanx.runtime.run_context import resume_command

        command = resume_command(sys.modules[fn.__module__].KIND, kwargs.get("label"))
        raise RunInterruptedError(f"interrupted twice; stopped without a new checkpoint; continue with: {command} "
                                  f"resume={where}") from None
    finally:
        interrupts.restore()
    ray.kill(coordinator)
    if state["error"] is not None:
        kind_of, text, *code = state["error"]
        if kind_of == "phalanx":
            raise {1: RunFaultError, 130: RunInterruptedError}.get(code[0] if code else 2, PhalanxError)(text)
        raise RuntimeError(f"the coordinator crashed:\n{text}")
    return Path(state["result"])


__all__ = ["POLL_S", "Coordinator", "RunFunction", "absolute_paths", "coordinator_name", "run_remote"]
