"""The run directory: where one ``phalanx train`` run keeps its outputs.

::

    <run_dir>/
      config.yaml          the resolved RunConfig (what ``resume=`` reads back)
      metrics.jsonl        one JSON object per log step (per compiled chunk)
      events.out.tfevents.*  TensorBoard scalars
      learning_curve.png   episode return vs env steps, per group (band over seeds)
      marl_eval.json       the run in marl-eval's raw-data format
      checkpoints/<chunk>/ Orbax checkpoints (the last 2): TrainState + host progress
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import yaml

from phalanx.config import to_yaml
from phalanx.errors import PhalanxError
from phalanx.runtime.run_config import RunConfig, from_values, to_values


@dataclasses.dataclass(frozen=True)
class RunPaths:
    """The files every run directory has (``phalanx train``, ``psro``, ``selfplay``, ``league``)."""

    path: Path

    @property
    def config(self) -> Path:
        """``<run>/config.yaml``, the resolved config (what ``resume=`` reads back)."""
        return self.path / "config.yaml"

    @property
    def metrics(self) -> Path:
        """``<run>/metrics.jsonl``, one JSON object per log step (a compiled chunk, or an iteration)."""
        return self.path / "metrics.jsonl"

    @property
    def checkpoints(self) -> Path:
        """``<run>/checkpoints``, the Orbax checkpoints (the last 2)."""
        return self.path / "checkpoints"


@dataclasses.dataclass(frozen=True)
class RunDir(RunPaths):
    """Paths of a ``phalanx train`` run's outputs."""

    @property
    def plot(self) -> Path:
        """``<run>/learning_curve.png``, episode return vs env steps per group."""
        return self.path / "learning_curve.png"

    @property
    def marl_eval(self) -> Path:
        """``<run>/marl_eval.json``, the run in marl-eval's raw-data format."""
        return self.path / "marl_eval.json"


def default_path(config: RunConfig) -> Path:
    """``runs/<env>-<algo>-<YYYYmmdd-HHMMSS>`` (``:`` in the env name becomes ``-``), the directory a new
    run writes to by default.
    """
    env = config.env.replace(":", "-")  # pettingzoo:mpe2.simple_spread_v3 → a portable directory name
    return Path("runs") / f"{env}-{config.algo}-{time.strftime('%Y%m%d-%H%M%S')}"


def create(config: RunConfig) -> tuple[RunDir, RunConfig]:
    """Make a fresh run directory and write ``config.yaml``; the config records its path."""
    path = Path(config.run_dir) if config.run_dir else default_path(config)
    if (path / "config.yaml").exists():
        raise PhalanxError(f"run_dir={path} already holds a run; continue it with resume={path} or pick another.")
    path.mkdir(parents=True, exist_ok=True)
    config = dataclasses.replace(config, run_dir=str(path), resume=None)
    run = RunDir(path)
    run.config.write_text(to_yaml(config))
    return run, config


def load_config(path: str | Path) -> RunConfig:
    """The :class:`RunConfig` stored in a run directory."""
    file = Path(path) / "config.yaml"
    if not Path(path).is_dir():
        raise PhalanxError(f"resume={path}: no such directory; give the run directory phalanx train printed, "
                           "e.g. runs/<env>-<algo>-<time>.")
    if not file.is_file():
        raise PhalanxError(f"resume={path}: no config.yaml there; is it a phalanx run directory?")
    return from_values(yaml.safe_load(file.read_text()))


def open_for_resume(path: str | Path, overrides: dict) -> tuple[RunDir, RunConfig]:
    """Reopen a run; reject overrides that would change its stored config."""
    stored = load_config(path)
    conflicts = [k for k, v in _flatten(overrides).items()
                 if k not in ("resume", "run_dir") and _flatten(to_values(stored)).get(k, object()) != v]
    if conflicts:
        flat = _flatten(to_values(stored))
        shown = ", ".join(f"{k}={flat.get(k, '<unset>')!r}" for k in conflicts)
        raise PhalanxError(f"resume={path}: cannot change a resumed run's config (stored: {shown}); "
                           "drop those overrides or start a new run.")
    return RunDir(Path(path)), dataclasses.replace(stored, run_dir=str(path), resume=None)


def _flatten(values: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in values.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        elif isinstance(v, tuple | list):
            out[f"{prefix}{k}"] = list(v)
        else:
            out[f"{prefix}{k}"] = v
    return out
