"""Where a run executes: here, or in a coordinator actor when the config says ``backend=ray`` (the default
``ray.coordinator=true``). The CLI calls :func:`launch`; run functions never look at the coordinator.
``phalanx train`` on a PettingZoo env with ``backend=ray`` learns here and steps the env in remote actors
(:mod:`phalanx.runtime.actor_run`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from rich.console import Console

from phalanx.runtime import run_dir as rd
from phalanx.runtime.backend import backend_choice
from phalanx.runtime.coordinator import RunFunction, run_remote


def launch(fn: RunFunction, kind: rd.RunKind, config: Any, overrides: dict[str, Any] | None = None,
           console: Console | None = None, label: str | None = None) -> Path:
    """Run ``fn(config, overrides, console, label=label)`` here, or in a coordinator actor
    (:func:`~phalanx.runtime.coordinator.run_remote`) when the backend (the config's, or on resume the stored
    one, with ``backend=`` / ``ray.*`` overrides on top) is ``ray`` with ``ray.coordinator=true``.

    A new run's default directory (``runs/<env>-<label>-<time>``) is fixed here, on the driver, before the
    run moves anywhere. Returns the run directory.
    """
    console = console or Console()
    stored = rd.load_config(config.resume, kind) if config.resume is not None else None
    name, ray_config = backend_choice(config, overrides, stored)
    if kind is rd.TRAIN and name == "ray" and (stored or config).env.startswith("pettingzoo:"):
        from phalanx.runtime.actor_run import run as run_actors  # the learner here, remote actors on Ray

        return run_actors(config, overrides, console, label=label)
    if name != "ray" or not ray_config.coordinator:
        return fn(config, overrides, console, label=label)
    if config.resume is None and not config.run_dir:
        config = dataclasses.replace(config, run_dir=str(rd.default_path(config, kind, label)))
    return run_remote(fn, config, overrides, console, ray_config, label=label)
