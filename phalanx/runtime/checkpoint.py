"""Orbax checkpoints of the whole ``TrainState`` plus the host-side progress, kept atomically.

Orbax writes each step into ``<step>.orbax-checkpoint-tmp-<n>/`` and renames it to ``<step>/``
only once every file is written (and, saving synchronously, before ``save`` returns), so a
run killed mid-save leaves at most a temporary directory, which ``CheckpointManager`` neither
lists nor restores. Leaves are stored by their key path in the ``TrainState``. The last
``keep`` finalised steps are kept; the step number is the count of chunks done.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp


def _stored(state: Any) -> dict[str, Any]:
    """The state as ``{key path: leaf}`` without zero-size leaves (Orbax refuses them; e.g. the
    ``(E, A, 0)`` recurrent state of feed-forward policies), which restore takes from ``like``."""
    leaves = jax.tree_util.tree_flatten_with_path(state)[0]
    return {jax.tree_util.keystr(p): x for p, x in leaves if x.size}


class Checkpoints:
    """The checkpoints of a run in ``directory`` (an Orbax ``CheckpointManager``), keeping the last ``keep``.

    Each step stores the whole train state and the host-side progress dict, saved synchronously.
    """
    def __init__(self, directory: Path, keep: int = 2):
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, enable_async_checkpointing=False, create=True)
        self.manager = ocp.CheckpointManager(Path(directory).absolute(), options=options)

    def latest_step(self) -> int | None:
        """The newest finalised step (temporary, half-written directories are never listed)."""
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        """Every finalised step still kept, oldest first."""
        return list(self.manager.all_steps())

    def save(self, step: int, state: Any, progress: dict[str, Any]) -> None:
        """Store ``state`` (any pytree) and ``progress`` (JSON-able) as ``step``; returns once it is finalised."""
        self.manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(_stored(state)),
                                                        progress=ocp.args.JsonSave(progress)))
        self.manager.wait_until_finished()

    def progress(self, step: int) -> dict[str, Any]:
        """The host-side progress stored with ``step`` (without reading the state)."""
        return dict(self.manager.restore(step, args=ocp.args.Composite(progress=ocp.args.JsonRestore()))["progress"])

    def restore(self, step: int, like: Any) -> tuple[Any, dict[str, Any]]:
        """``(state, progress)`` of ``step``; ``like`` is a state of the same structure (e.g. a fresh init)."""
        out = self.manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(_stored(like)),
                                                                 progress=ocp.args.JsonRestore()))
        saved = out["state"]
        leaves, treedef = jax.tree_util.tree_flatten_with_path(like)
        state = [saved[jax.tree_util.keystr(p)] if x.size else x for p, x in leaves]
        return jax.tree_util.tree_unflatten(treedef, state), dict(out["progress"])

    def close(self) -> None:
        """Close the underlying Orbax manager."""
        self.manager.close()
