"""Orbax checkpoints of the whole ``TrainState`` plus the host-side progress, kept atomically.

Orbax writes each step into ``<step>.orbax-checkpoint-tmp-<n>/`` and renames it to ``<step>/``
only once every file is written (and, saving synchronously, before ``save`` returns), so a
run killed mid-save leaves at most a temporary directory, which ``CheckpointManager`` neither
lists nor restores. Leaves are stored by their key path in the ``TrainState``. The last
``keep`` finalised steps are kept; the step number is the count of chunks done.

A checkpoint damaged after it was written (a truncated or deleted file, a bad disk) is found by
:meth:`Checkpoints.verify` (both items read back in full); :meth:`Checkpoints.set_aside_damaged`, which
the run context calls on resume, moves each damaged newest step to ``<run>/damaged_checkpoints/`` (kept for
inspection, out of Orbax's sight, so the run saves that step again) and says so in one line, so the
run resumes from the newest intact one.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

from phalanx.runtime.faults import quiet_background_errors


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
        self.directory = Path(directory).absolute()
        self._options = ocp.CheckpointManagerOptions(max_to_keep=keep, enable_async_checkpointing=False,
                                                     create=True)
        self.manager = ocp.CheckpointManager(self.directory, options=self._options)

    def latest_step(self) -> int | None:
        """The newest finalised step (temporary, half-written directories are never listed)."""
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        """Every finalised step still kept, oldest first."""
        return list(self.manager.all_steps())

    def save(self, step: int, state: Any, progress: dict[str, Any]) -> None:
        """Store ``state`` (any pytree) and ``progress`` (JSON-able) as ``step``; returns once it is finalised."""
        with quiet_background_errors():
            self.manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(_stored(state)),
                                                            progress=ocp.args.JsonSave(progress)))
            self.manager.wait_until_finished()

    def progress(self, step: int) -> dict[str, Any]:
        """The host-side progress stored with ``step`` (without reading the state)."""
        with quiet_background_errors():
            out = self.manager.restore(step, args=ocp.args.Composite(progress=ocp.args.JsonRestore()))
        return dict(out["progress"])

    def verify(self, step: int) -> str | None:
        """None if ``step`` reads back whole (state and progress), else why not, in a few words."""
        try:
            with quiet_background_errors():
                out = self.manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(),
                                                                         progress=ocp.args.JsonRestore()))
            if not isinstance(out["progress"], dict):
                return "its progress file is not a JSON object"
        except Exception as e:  # any failure to read it back means damaged
            text = (str(e).strip().splitlines() or [type(e).__name__])[0]
            return f"{type(e).__name__}: {text[:140]}"
        return None

    def set_aside_damaged(self, say: Callable[[str], None]) -> list[int]:
        """Move every damaged step newer than the newest intact one to ``<run>/damaged_checkpoints/``, calling
        ``say`` with one line per step (which one and why); returns the steps moved."""
        moved = []
        for step in reversed(self.all_steps()):
            why = self.verify(step)
            if why is None:
                break
            target = self.directory.parent / "damaged_checkpoints" / str(step)
            shutil.rmtree(target, ignore_errors=True)
            target.parent.mkdir(exist_ok=True)
            shutil.move(str(self.directory / str(step)), target)
            say(f"checkpoint {step} is damaged ({why}); skipped it (moved to {target}) and "
                "resuming from the one before.")
            moved.append(step)
        if moved:
            self.manager.close()
            self.manager = ocp.CheckpointManager(self.directory, options=self._options)
        return moved

    def latest_intact(self) -> int | None:
        """The newest step that reads back whole (for readers such as ``phalanx.load_policy``; nothing moved)."""
        return next((s for s in reversed(self.all_steps()) if self.verify(s) is None), None)

    def restore(self, step: int, like: Any) -> tuple[Any, dict[str, Any]]:
        """``(state, progress)`` of ``step``; ``like`` is a state of the same structure (e.g. a fresh init)."""
        with quiet_background_errors():
            out = self.manager.restore(step, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(_stored(like)), progress=ocp.args.JsonRestore()))
        saved = out["state"]
        leaves, treedef = jax.tree_util.tree_flatten_with_path(like)
        state = [saved[jax.tree_util.keystr(p)] if x.size else x for p, x in leaves]
        return jax.tree_util.tree_unflatten(treedef, state), dict(out["progress"])

    def close(self) -> None:
        """Close the underlying Orbax manager."""
        self.manager.close()
