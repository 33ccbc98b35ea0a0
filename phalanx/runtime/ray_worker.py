"""The task backend's worker actor: runs tasks and reports each one's outcome (value or error) as a value.

:class:`~phalanx.runtime.ray_backend.RayBackend` creates ``num_workers`` of these as Ray actors; the
outcome travels back as a dict so a task's own error (or a NaN result) never looks like a lost worker.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np


def has_nan(value: Any) -> bool:
    """Whether any float leaf of ``value`` (a pytree of arrays and numbers) is NaN."""
    import jax

    for leaf in jax.tree_util.tree_leaves(value):
        if isinstance(leaf, float) and leaf != leaf:
            return True
        if isinstance(leaf, np.ndarray | np.generic) and np.issubdtype(leaf.dtype, np.floating) and \
                np.isnan(leaf).any():
            return True
    return False


class Worker:
    """A worker process (a Ray actor): runs tasks and reports each one's outcome as a value.

    Args:
        index: the worker's index in its pool (for messages and statistics).
        crash: test hook ``(nth_task, marker_file)``: the process exits (``os._exit``, as if killed) when
            it starts its ``nth_task``-th task and ``marker_file`` does not exist yet (it is created first,
            so the restarted worker does not crash again).
    """

    def __init__(self, index: int, crash: tuple[int, str] | None = None):
        self.index, self.crash, self.tasks = index, crash, 0

    def describe(self) -> dict[str, Any]:
        """``{"index", "pid", "node"}``: where this worker runs (its node's IP address)."""
        import ray

        return {"index": self.index, "pid": os.getpid(), "node": ray.util.get_node_ip_address()}

    def run(self, fn: Callable[..., Any], name: str, check_nan: bool, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """``fn(*args, **kwargs)`` → ``{"ok", "value" | "error" + "traceback", "busy", "pid", "node"}``."""
        import ray

        self.tasks += 1
        if self.crash is not None and self.tasks == self.crash[0] and not os.path.exists(self.crash[1]):
            open(self.crash[1], "w").close()
            os._exit(1)  # the test's "killed worker": no cleanup, no reply
        out: dict[str, Any] = {"pid": os.getpid(), "node": ray.util.get_node_ip_address()}
        t0 = time.perf_counter()
        try:
            value = fn(*args, **kwargs)
            if check_nan and has_nan(value):
                raise FloatingPointError("the task's result contains NaN")
            out.update(ok=True, value=value)
        except Exception as e:  # returned as a value, raised by the coordinator
            out.update(ok=False, error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
            print(f"phalanx: task {name!r} failed on worker {self.index}:\n{out['traceback']}", file=sys.stderr)
        out["busy"] = time.perf_counter() - t0
        return out


__all__ = ["Worker", "has_nan"]
