"""The run skeleton every command shares: one context owning a run's directory, backend, checkpoints,
``metrics.jsonl``, TensorBoard and progress bar.

::

    with open_run(KIND, config, overrides, console) as run:     # backend made, run dir created or reopened
        progress = run.start(restored_progress, purge_step)     # metrics.jsonl cut back to the checkpoint
        with run.progress_bar("kuhn_poker psro", total, done, "iterations") as bar:
            ...                                                 # the command's own loop
            run.log(line)                                       # metrics.jsonl (+ per-worker stats on Ray)
            run.scalars({"psro/exploitability": e}, step)       # TensorBoard
            run.save(step, state)                               # Orbax checkpoint with run.progress
            bar.update(done, status)
                                                                # closed in order on any exit

The run functions (:mod:`~phalanx.runtime.train_run`, :mod:`~phalanx.runtime.population_run`,
:mod:`~phalanx.runtime.league_run`) are its clients; none of them knows whether it runs in this process or
in a coordinator actor (:mod:`phalanx.runtime.launch` decides, :mod:`phalanx.runtime.coordinator` hosts).
A resumed run continues exactly: ``run.progress`` (what the last checkpoint stored: ``metrics_lines``,
``wall_time`` and the command's own counters) says how many metrics lines to keep and where the wall
clock stands, and TensorBoard drops events logged past the checkpoint.

**Bad days** (:mod:`phalanx.runtime.faults`), handled here once for every command: the run directory is
locked while the run writes it (a second writer gets one line naming the process); on resume, damaged newest
checkpoints are set aside with one line each and the run continues from the newest intact one; an OS-level
failure (no space left, read-only disk, permission, out of memory) ends the run with one line
(:class:`~phalanx.errors.RunFaultError`); Ctrl-C or SIGTERM checkpoints the latest state the loop handed to
:meth:`RunContext.hold` and ends with one line saying how to resume (:class:`~phalanx.errors.RunInterruptedError`).
A run loop's whole share of this is one ``run.hold(step, state)`` per chunk.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Column

from phalanx.errors import PhalanxError, RunFaultError, RunInterruptedError
from phalanx.runtime import run_dir as rd
from phalanx.runtime.atomic import write_json
from phalanx.runtime.backend import backend_choice, make_backend
from phalanx.runtime.checkpoint import Checkpoints
from phalanx.runtime.faults import Interrupts, RunLock, describe, quiet_background_errors, silence_echoes
from phalanx.runtime.metrics import MetricsLog, TensorBoard


class ProgressBar:
    """A rich progress bar of one task: ``done/total unit``, a status text, elapsed and remaining time."""

    def __init__(self, progress: Progress, task: Any):
        self._progress, self._task = progress, task

    def update(self, completed: float, status: str) -> None:
        """Move the bar to ``completed`` and show ``status`` beside it."""
        self._progress.update(self._task, completed=completed, status=status)


class RunContext:
    """One run's resources (made by :func:`open_run`, closed when its block ends).

    Attributes:
        paths: the run directory (:class:`~phalanx.runtime.run_dir.RunDir`).
        config: the run's config (a resumed run's stored one, with accepted overrides).
        console: where messages and the progress bar go.
        backend: where tasks run (:class:`~phalanx.runtime.backend.LocalBackend`, a Ray backend).
        resumed: whether the run directory existed (``resume=``).
        checkpoints: the run's :class:`~phalanx.runtime.checkpoint.Checkpoints`.
        metrics: its ``metrics.jsonl`` (:class:`~phalanx.runtime.metrics.MetricsLog`).
        progress: host-side progress stored with every checkpoint (``wall_time``, ``metrics_lines`` and the
            command's own counters); set by :meth:`start`.
    """

    def __init__(self, paths: rd.RunDir, config: Any, console: Console, backend: Any, resumed: bool,
                 interrupts: Interrupts | None = None):
        self.paths, self.config, self.console, self.backend, self.resumed = paths, config, console, backend, resumed
        self.interrupts = interrupts or Interrupts()
        self._held: tuple[int, Any, dict[str, Any], Callable[[Any, dict[str, Any]], None] | None] | None = None
        self.checkpoints = Checkpoints(paths.checkpoints)
        if resumed:  # damaged newest checkpoints out of the way, one line each: resume from an intact one
            self.checkpoints.set_aside_damaged(lambda line: console.print(line, soft_wrap=True, markup=False))
        self.metrics = MetricsLog(paths.metrics)
        self.tensorboard: TensorBoard | None = None
        self.progress: dict[str, Any] = {"wall_time": 0.0, "metrics_lines": 0}
        self._wall0 = time.perf_counter()

    @property
    def path(self) -> Path:
        """The run directory's path."""
        return self.paths.path

    def start(self, progress: dict[str, Any] | None = None, purge_step: int | None = None) -> dict[str, Any]:
        """Begin logging from ``progress`` (a checkpoint's, or None for a fresh run) and return it.

        Lines of ``metrics.jsonl`` past ``progress["metrics_lines"]`` (logged after the checkpoint) are
        dropped, TensorBoard drops its events at ``purge_step`` and later, and the wall clock continues from
        ``progress["wall_time"]``. The dict is kept (not copied) as :attr:`progress`.
        """
        if progress is not None:
            self.progress = progress
        self.progress.setdefault("wall_time", 0.0)
        self.progress.setdefault("metrics_lines", 0)
        self.metrics.truncate(self.progress["metrics_lines"])
        self.tensorboard = TensorBoard(self.path, purge_step=purge_step)
        self._wall0 = time.perf_counter() - self.progress["wall_time"]
        return self.progress

    def wall_time(self) -> float:
        """Seconds the run has run, across resumes."""
        return time.perf_counter() - self._wall0

    def note_budget(self, key: str, requested: float, actual: int, why: str) -> None:
        """Say once, when a fresh run starts, that ``key``'s requested env-step budget runs as ``actual`` steps
        (``why``: the unit it is rounded to), on the console and in ``budget.json``; nothing when they agree."""
        if self.resumed or int(requested) == actual:
            return
        self.console.print(f"{key}={int(requested):,} runs as {actual:,} env steps ({why})", soft_wrap=True)
        write_json(self.paths.budget, {"key": key, "requested": int(requested), "actual": actual, "why": why})

    def log(self, line: dict[str, Any]) -> None:
        """Append ``line`` to ``metrics.jsonl`` and count it in :attr:`progress`. On a backend that reports
        per-worker statistics (Ray) the line gains ``workers``: tasks done and busy / wall time per worker."""
        if hasattr(self.backend, "utilisation"):
            line["workers"] = self.backend.utilisation()
        self.metrics.append(line)
        self.progress["metrics_lines"] += 1

    def scalars(self, values: dict[str, Any], step: int) -> None:
        """TensorBoard scalars at ``step`` (entries that are None are left out)."""
        assert self.tensorboard is not None, "RunContext.start() opens TensorBoard"
        self.tensorboard.scalars(values, step)

    def save(self, step: int, state: Any, progress: dict[str, Any] | None = None) -> None:
        """Checkpoint ``state`` with ``progress`` (default :attr:`progress`) as ``step``; returns once final.
        Ctrl-C / SIGTERM wait until it is written."""
        with self.interrupts.deferred():
            self.checkpoints.save(step, state, self.progress if progress is None else progress)

    def hold(self, step: int, state: Any = None, progress: dict[str, Any] | None = None,
             save: Callable[[Any, dict[str, Any]], None] | None = None) -> None:
        """Remember the loop's latest consistent state: what Ctrl-C / SIGTERM checkpoint as ``step``; then, if
        another thread asked this run to stop (:func:`~phalanx.runtime.faults.request_interrupt`), stop here.

        ``state`` and a copy of ``progress`` (default :attr:`progress`, copied now: the loop goes on changing
        it) are saved with :meth:`save`; or, when the command writes its checkpoints its own way,
        ``save(state, progress)`` is called with them instead. Nothing is written now, and a step already
        checkpointed is not written again.
        """
        progress = copy.deepcopy(self.progress if progress is None else progress)
        self._held = (step, state, progress, save)
        self.interrupts.check()  # a run in a coordinator's thread is stopped here, with this state held

    def save_held(self) -> int | None:
        """Checkpoint the state last given to :meth:`hold` unless that step is already saved; returns the step
        written (None: nothing to write)."""
        if self._held is None:
            return None
        step, state, progress, save = self._held
        if step in self.checkpoints.all_steps():
            return None
        with self.interrupts.deferred():
            if save is not None:
                save(state, progress)
            else:
                self.checkpoints.save(step, state, progress)
        return step

    @contextmanager
    def progress_bar(self, description: str, total: float, completed: float, unit: str,
                     status: str = "") -> Iterator[ProgressBar]:
        """The run's progress bar, shown while the block runs.

        The description, ``done/total unit`` and the times keep their full width; the bar and then the status
        text give way on a narrow terminal (at 80 columns the numbers stay whole, the status is cut with …).
        """
        def whole() -> Column:  # a column object each: the table numbers them
            return Column(no_wrap=True)

        progress = Progress(TextColumn("[bold]{task.description}", table_column=whole()),
                            BarColumn(bar_width=None, table_column=Column(ratio=1)),
                            TextColumn(f"{{task.completed:,.0f}}/{{task.total:,.0f}} {unit}", table_column=whole()),
                            TimeElapsedColumn(table_column=whole()), TimeRemainingColumn(table_column=whole()),
                            TextColumn("{task.fields[status]}",
                                       table_column=Column(no_wrap=True, overflow="ellipsis", ratio=4)),
                            console=self.console, expand=True)  # expand: fixed columns first, ratios share the rest
        with progress:
            yield ProgressBar(progress, progress.add_task(description, total=total, completed=completed,
                                                          status=status))

    def close(self) -> None:
        """Close TensorBoard and the checkpoint manager (the backend is closed by :func:`open_run`)."""
        if self.tensorboard is not None:
            self.tensorboard.close()
        self.checkpoints.close()


@contextmanager
def open_run(kind: rd.RunKind, config: Any, overrides: dict[str, Any] | None = None,
             console: Console | None = None, backend: Any = None, label: str | None = None) -> Iterator[RunContext]:
    """Open a run of ``kind``: make its backend (unless given), create its directory (or, with
    ``config.resume``, reopen it with ``overrides`` checked against the stored config), and close
    everything when the block ends, however it ends.

    While the block runs the directory is locked (:class:`~phalanx.runtime.faults.RunLock`), Ctrl-C and
    SIGTERM raise ``KeyboardInterrupt``, and on the way out: an interrupt checkpoints what the loop last
    gave :meth:`RunContext.hold` and becomes :class:`~phalanx.errors.RunInterruptedError` (one line: how to
    resume); an OS-level failure becomes :class:`~phalanx.errors.RunFaultError` (one line).

    Args:
        kind: the command's :class:`~phalanx.runtime.run_dir.RunKind`.
        config: the run's config; with ``resume`` set, only that (and ``overrides``) is read.
        overrides: ``key=value`` values given with ``resume=``; they also choose the backend of a resumed run.
        backend: run tasks on this backend (left open); None: the one the config names (``backend=``,
            ``ray.*``), closed at the end.
        label: the default run directory's middle part (``runs/<env>-<label>-<time>``).
    """
    console = console or Console()
    own_backend = backend is None
    lock, interrupts = RunLock(Path(".")), Interrupts()
    interrupts.install()
    run: RunContext | None = None
    failing = False
    try:
        with quiet_background_errors():
            if own_backend:
                stored = rd.load_config(config.resume, kind) if config.resume is not None else None
                name, ray_config = backend_choice(config, overrides, stored)
                backend = make_backend(name, ray_config)
            resumed = config.resume is not None
            where = config.resume if resumed else config.run_dir
            try:
                if resumed:
                    paths, config = rd.open_for_resume(config.resume, overrides or {}, kind, lock=lock)
                else:
                    paths, config = rd.create(config, kind, label, lock=lock)
                where = paths.path
                run = RunContext(paths, config, console, backend, resumed, interrupts)
                yield run
            except KeyboardInterrupt:
                failing = True
                raise _interrupted(run, kind, label) from None
            except PhalanxError:
                failing = True
                raise
            except Exception as e:
                failing = True
                why = describe(e, where)
                if why is None:
                    raise
                silence_echoes()  # its failed background writes would report it again, as tracebacks
                raise RunFaultError(why) from None
            finally:
                _close(run, failing)
                if own_backend and backend is not None:
                    _close(backend, failing)
    finally:
        lock.release()
        interrupts.restore()


def _close(thing: Any, failing: bool) -> None:
    """``thing.close()``; while another error is being reported, a second one from closing is dropped."""
    if thing is None:
        return
    try:
        thing.close()
    except Exception:
        if not failing:
            raise


def resume_command(kind: rd.RunKind, label: str | None) -> str:
    """The command that continues a run of ``kind`` (``label``: sp/fsp runs are ``phalanx selfplay``'s)."""
    return "phalanx selfplay" if label in ("sp", "fsp") else kind.command.split("/")[0]


def _interrupted(run: RunContext | None, kind: rd.RunKind, label: str | None) -> RunInterruptedError:
    """Checkpoint what the loop held and say how to resume (see :func:`open_run`)."""
    command = resume_command(kind, label)
    if run is None:
        return RunInterruptedError("interrupted before the run started; nothing was written.")
    try:
        with run.interrupts.ignored():  # a second Ctrl-C while saving: the save is finished all the same
            saved = run.save_held()
            latest = run.checkpoints.latest_step()
    except Exception as e:  # the interrupt is what to report; say why nothing was saved
        why = describe(e, run.path) or f"{type(e).__name__}: {e}"
        return RunInterruptedError(f"interrupted; the checkpoint could not be written ({why}); "
                           f"continue with: {command} resume={run.path}")
    state = (f"checkpoint {saved} written" if saved is not None else
             f"latest checkpoint {latest}" if latest is not None else "no checkpoint yet")
    return RunInterruptedError(f"interrupted; {state}; continue with: {command} resume={run.path}")
