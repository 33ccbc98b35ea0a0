"""The run directory: where every run (``phalanx train``, ``psro``, ``selfplay``, ``league``) keeps its outputs.

::

    <run_dir>/
      config.yaml             the resolved config (what ``resume=`` reads back)          every command
      metrics.jsonl           one JSON object per log step                              every command
      events.out.tfevents.*   TensorBoard scalars                                       every command
      checkpoints/<step>/     Orbax checkpoints (the last 2)                            every command
      learning_curve.png      episode return vs env steps, per group                    train
      marl_eval.json          the run in marl-eval's raw-data format                    train
      summary.json            final, best-chunk and random play's return (at the end)   train
      payoffs.png             the meta-game's payoff table (a heat map)                 psro, selfplay, league
      exploitability.png      exact games: exploitability vs iteration and wall time    psro, selfplay
      meta_strategy.json      the latest meta-strategy per player                       psro, selfplay
      policy.json             poker: the meta-strategy mixture as an OpenSpiel policy   psro, selfplay
      elo.png                 every player's Elo                                        league
      league_final.json, league_table.md/.csv, win_rates.csv: the final round robin     league

One set of functions serves every command; what differs between commands (the config class, how it is
built from stored values, the default directory name) is a :class:`RunKind`. What ``resume=`` may change
is the config class's ``RESUME_OVERRIDABLE`` (keys or groups), said in one place per command.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from phalanx.config import to_dict, to_yaml
from phalanx.errors import ConfigError, PhalanxError
from phalanx.runtime import run_config
from phalanx.runtime.atomic import write_text
from phalanx.runtime.faults import RunLock, check_new_run_dir, check_sizes

#: Keys that say where a run lives and what executes it: a resume may give them (when its command allows),
#: but they are never written back into config.yaml (results do not depend on them).
PLACEMENT = ("resume", "run_dir", "backend", "ray")


@dataclasses.dataclass(frozen=True)
class RunDir:
    """Paths of a run's outputs (see the module docstring for which command writes which)."""

    path: Path

    @property
    def config(self) -> Path:
        """``<run>/config.yaml``, the resolved config (what ``resume=`` reads back)."""
        return self.path / "config.yaml"

    @property
    def metrics(self) -> Path:
        """``<run>/metrics.jsonl``, one JSON object per log step (a compiled chunk, an iteration, a cycle)."""
        return self.path / "metrics.jsonl"

    @property
    def checkpoints(self) -> Path:
        """``<run>/checkpoints``, the Orbax checkpoints (the last 2)."""
        return self.path / "checkpoints"

    @property
    def plot(self) -> Path:
        """``<run>/learning_curve.png``, episode return vs env steps per group (``phalanx train``)."""
        return self.path / "learning_curve.png"

    @property
    def marl_eval(self) -> Path:
        """``<run>/marl_eval.json``, the run in marl-eval's raw-data format (``phalanx train``)."""
        return self.path / "marl_eval.json"

    @property
    def summary(self) -> Path:
        """``<run>/summary.json``, the final policy's, the best training chunk's and random play's return,
        written once the run is done (``phalanx train``)."""
        return self.path / "summary.json"

    @property
    def payoffs(self) -> Path:
        """``<run>/payoffs.png``, the meta-game's payoff table as a heat map (population runs, league)."""
        return self.path / "payoffs.png"

    @property
    def exploitability(self) -> Path:
        """``<run>/exploitability.png``, exact games: exploitability vs iteration and vs wall time."""
        return self.path / "exploitability.png"

    @property
    def meta_strategy(self) -> Path:
        """``<run>/meta_strategy.json``, the latest meta-strategy per player."""
        return self.path / "meta_strategy.json"

    @property
    def policy(self) -> Path:
        """``<run>/policy.json``, poker: each player's meta-strategy mixture as an OpenSpiel-keyed tabular policy."""
        return self.path / "policy.json"

    @property
    def budget(self) -> Path:
        """``<run>/budget.json``, written when the requested env-step budget was rounded to whole updates or
        tasks: ``{"key", "requested", "actual", "why"}`` (``phalanx train``, ``phalanx league``)."""
        return self.path / "budget.json"

    @property
    def elo(self) -> Path:
        """``<run>/elo.png``, every league player's Elo against league env steps."""
        return self.path / "elo.png"


@dataclasses.dataclass(frozen=True)
class RunKind:
    """What the run directory needs to know about one command's config.

    Attributes:
        command: the command in messages (``phalanx train``, ``phalanx psro/selfplay``, ``phalanx league``).
        example: a run directory it makes, for messages (``runs/<env>-<algo>-<time>``).
        config_cls: the command's config dataclass.
        from_values: builds and validates a config from nested plain values (config.yaml's).
        default_label: the directory name's middle part when none is given (``train``: the algorithm).

    What ``resume=`` may change is the config class's own ``RESUME_OVERRIDABLE`` (keys or groups).
    """

    command: str
    example: str
    config_cls: type
    from_values: Callable[[dict[str, Any]], Any]
    default_label: Callable[[Any], str]

    @property
    def overridable(self) -> tuple[str, ...]:
        """The config keys (or groups, ``ray`` covering ``ray.address``) a resumed run may change."""
        return tuple(self.config_cls.RESUME_OVERRIDABLE)


#: ``phalanx train`` runs.
TRAIN = RunKind("phalanx train", "runs/<env>-<algo>-<time>", run_config.RunConfig, run_config.from_values,
                lambda config: config.algo)


def default_path(config: Any, kind: RunKind = TRAIN, label: str | None = None) -> Path:
    """``runs/<env>-<label>-<YYYYmmdd-HHMMSS>``, the directory a new run writes to when ``run_dir`` is unset
    (``label``: the kind's default, e.g. the algorithm for ``phalanx train``)."""
    label = label or kind.default_label(config)
    env = config.env.replace(":", "-")  # pettingzoo:mpe2.simple_spread_v3 → a portable directory name
    return Path("runs") / f"{env}-{label}-{time.strftime('%Y%m%d-%H%M%S')}"


def create(config: Any, kind: RunKind = TRAIN, label: str | None = None,
           lock: RunLock | None = None) -> tuple[RunDir, Any]:
    """Make a fresh run directory and write ``config.yaml``; the returned config records its path.

    Everything that can be refused is refused before anything is written: a directory that already holds a
    run, a file or non-empty non-run directory at ``run_dir=``, a place without write permission, an integer
    setting no run can reach. ``lock`` (a :class:`~phalanx.runtime.faults.RunLock`, taken here right after the
    directory exists) makes a second process creating the same run fail in one line.

    Raises:
        PhalanxError: the directory already holds a run (continue it with ``resume=`` instead), or one of
            the above.
    """
    path = Path(config.run_dir) if config.run_dir else default_path(config, kind, label)
    if (path / "config.yaml").exists():
        raise PhalanxError(f"run_dir={path} already holds a run; continue it with resume={path} or pick another.")
    check_new_run_dir(path)
    check_sizes(to_dict(config))
    path.mkdir(parents=True, exist_ok=True)
    if lock is not None:
        lock.path = path
        lock.acquire(kind.command)
        if (path / "config.yaml").exists():  # another process made it between the check and the lock
            raise PhalanxError(f"run_dir={path} already holds a run; continue it with resume={path} or pick "
                               "another.")
    config = dataclasses.replace(config, run_dir=str(path), resume=None)
    run = RunDir(path)
    write_text(run.config, to_yaml(config))
    return run, config


def load_config(path: str | Path, kind: RunKind = TRAIN) -> Any:
    """The config stored in a run directory of ``kind``; one-line errors when it is not one."""
    path = Path(path)
    if not path.is_dir():
        raise PhalanxError(f"resume={path}: no such directory; give the run directory {kind.command} printed, "
                           f"e.g. {kind.example}.")
    file = path / "config.yaml"
    if not file.is_file():
        raise PhalanxError(f"resume={path}: no config.yaml there; is it a {kind.command} run directory?")
    values = yaml.safe_load(file.read_text())
    names = {f.name for f in dataclasses.fields(kind.config_cls)}
    if not isinstance(values, dict) or not set(values) <= names:
        extra = sorted(set(values) - names) if isinstance(values, dict) else []
        raise PhalanxError(f"resume={path}: config.yaml is not a {kind.command} run's config"
                           + (f" (it has {', '.join(extra)})." if extra else "."))
    try:
        return kind.from_values(values)
    except ConfigError as e:
        raise PhalanxError(f"resume={path}: its config.yaml no longer validates: {e}") from None


def open_for_resume(path: str | Path, overrides: dict[str, Any], kind: RunKind = TRAIN,
                    lock: RunLock | None = None) -> tuple[RunDir, Any]:
    """Reopen a run with its stored config.

    ``overrides`` (nested ``key=value`` values) may give any key with its stored value; a different value
    is refused, in one line, unless the key or a group holding it is in the command's ``RESUME_OVERRIDABLE``
    (``ray`` covers ``ray.address``). Accepted changes other than :data:`PLACEMENT` keys are applied and
    written back into ``config.yaml`` (e.g. a raised ``iterations`` target). ``lock`` is taken before
    anything is written (a run still being written by another process is refused, naming it).
    """
    stored = load_config(path, kind)
    if lock is not None:
        lock.path = Path(path)
        lock.acquire(kind.command)
    allowed = kind.overridable
    flat = _flatten(to_dict(stored))
    missing = object()
    given = _flatten(overrides)
    conflicts = [k for k, v in given.items() if not _covered(k, allowed) and flat.get(k, missing) != v]
    if conflicts:
        shown = ", ".join(f"{k}={flat.get(k, '<unset>')!r}" for k in conflicts)
        may = [k for k in allowed if k not in ("resume", "run_dir")]
        raise PhalanxError(f"resume={path}: cannot change a resumed run's config (stored: {shown}); "
                           + (f"only {', '.join(may)} may change. " if may else "")
                           + "Drop those overrides or start a new run.")
    config = dataclasses.replace(stored, run_dir=str(path), resume=None)
    changes = {k: v for k, v in given.items() if not _covered(k, PLACEMENT) and flat.get(k, missing) != v}
    if changes:
        values = to_dict(config)
        for key, value in changes.items():
            *groups, last = key.split(".")
            node = values
            for g in groups:
                node = node.setdefault(g, {})
            node[last] = value
        config = kind.from_values(values)
        check_sizes(to_dict(config))
        write_text(Path(path) / "config.yaml", to_yaml(config))
    return RunDir(Path(path)), config


def _covered(key: str, entries: tuple[str, ...]) -> bool:
    """Whether the flattened ``key`` (``population.iterations``) is an entry or inside one (``ray`` covers
    ``ray.address``)."""
    parts = key.split(".")
    return any(".".join(parts[: i + 1]) in entries for i in range(len(parts)))


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}, "c": (2,)}`` → ``{"a.b": 1, "c": [2]}`` (an empty group gives no key)."""
    out = {}
    for k, v in values.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        elif isinstance(v, tuple | list):
            out[f"{prefix}{k}"] = list(v)
        else:
            out[f"{prefix}{k}"] = v
    return out
