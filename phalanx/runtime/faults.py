"""Faults a run meets on a bad day, handled once for every command (the run context uses all of this).

* :class:`RunLock`: one writer per run directory. ``<run>/run.lock`` holds the writer's pid, host and
  start time; a second writer (a new run at the same ``run_dir=``, a ``resume=`` of a live run) is refused
  in one line naming that process, and a lock left by a dead process on this host is taken over.
* :func:`check_new_run_dir`: a new run's ``run_dir=`` is refused, before anything is written, when it is a
  file or a non-empty directory that is not a run (``run_dir=docs`` must not scatter a run into ``docs/``).
* :func:`check_sizes`: integers no run can reach (``train.total_steps=1e30``) in one line, before a run
  directory exists (they would overflow an index deep inside the run, after its directory was made).
* :func:`describe`: an OS-level failure (no space left, permission denied, read-only file system, out of
  memory in XLA) as one line, found anywhere in an exception's chain; Orbax and TensorStore wrap ``ENOSPC``
  in their own errors and messages, so both the ``errno`` and the text are searched.
* :func:`quiet_background_errors`: after a failed save or restore, TensorStore's worker threads report
  "Event loop is closed" once per pending write and Orbax logs each write thread's traceback (80 tracebacks
  on a full disk); those are echoes of the one error the caller reports, so they are dropped while the
  block runs.
* :class:`Interrupts`: Ctrl-C and SIGTERM both become ``KeyboardInterrupt``, except inside
  :meth:`Interrupts.deferred` blocks (a checkpoint being written), which finish first.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from phalanx.errors import ConfigError, PhalanxError

#: The lock file's name inside a run directory.
LOCK_NAME = "run.lock"

#: Integers beyond this (2**53, the largest that a float64 counts exactly) are refused in a config.
MAX_INT = 2**53


# ------------------------------------------------------------------------------------------ the lock
def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux ``/proc``), or None where unknown; with the
    pid it names a process even after the pid is reused."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(pid: int, started: str | None) -> bool:
    """Whether process ``pid`` (started at ``started``, when recorded) still runs on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    try:  # a zombie (killed, not yet reaped by its parent) is gone too
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    except (OSError, IndexError):
        pass
    now = _start_time(pid)
    return started is None or now is None or now == started


@dataclasses.dataclass
class RunLock:
    """The lock of one run directory, held from :meth:`acquire` to :meth:`release` (see the module docstring)."""

    path: Path
    held: bool = False

    @property
    def file(self) -> Path:
        """``<run>/run.lock``."""
        return self.path / LOCK_NAME

    def acquire(self, command: str) -> None:
        """Take the lock for this process, or raise :class:`~phalanx.errors.PhalanxError` naming its holder.

        The file is created with ``O_EXCL`` (one winner when two processes race); a lock whose process is gone
        (same host, pid dead or reused) is renamed away and the take retried once.
        """
        me = {"pid": os.getpid(), "host": socket.gethostname(), "started": _start_time(os.getpid()),
              "command": command, "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        for _ in range(2):
            try:
                fd = os.open(self.file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder()
                if holder is None or (holder.get("pid") == os.getpid() and holder.get("host") == me["host"]):
                    self._take_over()
                    continue
                if holder.get("host") == me["host"] and not _alive(int(holder["pid"]), holder.get("started")):
                    self._take_over()
                    continue
                raise PhalanxError(
                    f"{self.path} is in use by {holder.get('command', 'phalanx')} (pid {holder['pid']} on "
                    f"{holder['host']}, since {holder.get('since', '?')}); wait for it to end or stop it "
                    f"(kill {holder['pid']}), or, if that process is gone, delete {self.file}.") from None
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            self.held = True
            return
        raise PhalanxError(f"{self.path}: could not take {self.file}; another process keeps taking it.")

    def _holder(self) -> dict[str, Any] | None:
        """The lock file's content, or None when it is unreadable (half written: treated as stale)."""
        try:
            holder = json.loads(self.file.read_text())
            return holder if isinstance(holder, dict) and "pid" in holder and "host" in holder else None
        except (OSError, ValueError):
            return None

    def _take_over(self) -> None:
        """Move a stale lock out of the way (a rename, so two processes taking over do not both win)."""
        try:
            self.file.rename(self.path / f"{LOCK_NAME}.stale-{os.getpid()}")
            (self.path / f"{LOCK_NAME}.stale-{os.getpid()}").unlink(missing_ok=True)
        except FileNotFoundError:
            pass

    def release(self) -> None:
        """Drop the lock if this process holds it."""
        if self.held:
            holder = self._holder()
            if holder is not None and holder.get("pid") == os.getpid():
                self.file.unlink(missing_ok=True)
            self.held = False


# ------------------------------------------------------------------------------------------ checks
def check_new_run_dir(path: Path) -> None:
    """Refuse a new run's ``run_dir=`` that is a file, or a non-empty directory that is not a run (a run
    directory has ``config.yaml``; one holding only a stale lock counts as empty). Nothing is written."""
    if path.is_file() or (path.exists() and not path.is_dir()):
        raise PhalanxError(f"run_dir={path} is a file, not a directory; give a new directory, e.g. runs/mine.")
    if path.is_dir():
        entries = sorted(p.name for p in path.iterdir() if not p.name.startswith(LOCK_NAME))
        if entries and "config.yaml" not in entries:
            shown = ", ".join(entries[:4]) + (", ..." if len(entries) > 4 else "")
            raise PhalanxError(f"run_dir={path} is a non-empty directory that is not a Phalanx run (it holds "
                               f"{shown}); give a new or empty directory.")
    for parent in [path, *path.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise PhalanxError(f"run_dir={path}: {parent} is a file, not a directory.")
            if os.statvfs(parent).f_flag & os.ST_RDONLY:
                raise PhalanxError(f"run_dir={path}: read-only file system at {parent}; give a run_dir= on a "
                                   "writable disk.")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise PhalanxError(f"run_dir={path}: permission denied: cannot write in {parent}; give a "
                                   "run_dir= you may write to.")
            break


def check_sizes(values: dict[str, Any], prefix: str = "") -> None:
    """Refuse an integer setting beyond :data:`MAX_INT` (one line naming the key), e.g. ``train.total_steps=1e30``."""
    for key, value in values.items():
        if isinstance(value, dict):
            check_sizes(value, f"{prefix}{key}.")
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
            raise ConfigError(f"{prefix}{key}={float(value):.3g} is too large to run (at most 2**53 = "
                              f"{MAX_INT:.3g}); give a smaller value.")


# ------------------------------------------------------------------------------------------ OS faults
_OS_FAULTS = {
    errno.ENOSPC: "no space left on {where}; free some space (or give run_dir= on another disk), then resume",
    errno.EDQUOT: "disk quota exceeded on {where}; free some space, then resume",
    errno.EACCES: "permission denied: {where}; give a run_dir= you may write to",
    errno.EPERM: "operation not permitted: {where}; give a run_dir= you may write to",
    errno.EROFS: "read-only file system: {where}; give a run_dir= on a writable disk",
    errno.ENOTDIR: "not a directory: {where}; a part of the path is a file",
    errno.EISDIR: "is a directory: {where}",
}
_TEXT_FAULTS = [  # (text in a wrapped error's message, the errno it stands for)
    ("No space left on device", errno.ENOSPC), ("ENOSPC", errno.ENOSPC), ("Read-only file system", errno.EROFS),
    ("Permission denied", errno.EACCES), ("Disk quota exceeded", errno.EDQUOT),
]
_OOM_TEXT = ("RESOURCE_EXHAUSTED: Out of memory", "Out of memory while trying to allocate", "ran out of memory",
             "RESOURCE_EXHAUSTED: Failed to allocate")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def describe(exc: BaseException, where: str | Path | None = None) -> str | None:
    """One line for an OS-level failure anywhere in ``exc``'s chain, or None when it is not one.

    ``where``: the path to name when the error does not carry one (the run directory).
    """
    for e in _chain(exc):
        if isinstance(e, OSError) and e.errno in _OS_FAULTS:
            return _OS_FAULTS[e.errno].format(where=e.filename or where or "disk")
        if isinstance(e, OverflowError):
            return f"a setting is too large to run ({e}); give a smaller value"
    for e in _chain(exc):
        text = str(e)
        for needle, code in _TEXT_FAULTS:
            if needle in text:
                return _OS_FAULTS[code].format(where=where or "disk")
        if any(t in text for t in _OOM_TEXT):
            first = next((line for line in text.splitlines() if "memory" in line.lower()), text)[:160]
            return (f"out of memory ({first.strip()}); lower train.num_envs, env sizes or num_seeds, or run on a "
                    "device with more memory")
    return None


@contextmanager
def quiet_background_errors() -> Iterator[None]:
    """Drop "Event loop is closed" reports from TensorStore's threads while the block runs (see module doc)."""
    old_unraisable, old_thread = sys.unraisablehook, threading.excepthook

    def unraisable(u: Any) -> None:
        if not (isinstance(u.exc_value, RuntimeError) and "Event loop is closed" in str(u.exc_value)):
            old_unraisable(u)

    def thread(a: Any) -> None:
        if not (isinstance(a.exc_value, RuntimeError) and "Event loop is closed" in str(a.exc_value)):
            old_thread(a)

    absl = logging.getLogger("absl")  # Orbax logs each failed write thread's traceback there, then raises
    old_level = absl.level
    sys.unraisablehook, threading.excepthook = unraisable, thread
    absl.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        time.sleep(0)  # let reporting threads run while the hooks are in place
        sys.unraisablehook, threading.excepthook = old_unraisable, old_thread
        absl.setLevel(old_level)


_UNRETRIEVED = ("Future exception was never retrieved", "Task exception was never retrieved")


class _EchoFilter(logging.Filter):
    """Drops asyncio's "... exception was never retrieved" report of an OS fault (see :func:`silence_echoes`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (exc is not None and record.getMessage().startswith(_UNRETRIEVED) and describe(exc) is not None)


class _AbslEchoFilter(logging.Filter):
    """Drops Orbax's log lines of a write thread that failed with an OS fault (no space left, ...)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return describe(RuntimeError(record.getMessage())) is None


def _is_echo(exc: BaseException | None) -> bool:
    return isinstance(exc, RuntimeError) and "Event loop is closed" in str(exc)


def silence_echoes() -> None:
    """After an OS fault was reported in one line: drop the same fault's later reports for good.

    Orbax's asynchronous writes that failed with it are futures nobody retrieves once the save has failed;
    asyncio logs each one's traceback when it is collected (often at interpreter exit, after the one line),
    Python warns of its write coroutines never awaited, and TensorStore's threads report "Event loop is
    closed". Idempotent.
    """
    global _silenced
    # Every call: a test harness may have restored the warning filters since (adding it again replaces it).
    warnings.filterwarnings("ignore", message="coroutine .* was never awaited", category=RuntimeWarning)
    if _silenced:
        return
    _silenced = True
    logging.getLogger("asyncio").addFilter(_EchoFilter())
    logging.getLogger("absl").addFilter(_AbslEchoFilter())  # Orbax's write threads, after the block's quiet
    old_unraisable, old_thread = sys.unraisablehook, threading.excepthook

    def unraisable(u: Any) -> None:
        if not _is_echo(u.exc_value):
            old_unraisable(u)

    def thread(a: Any) -> None:
        if not _is_echo(a.exc_value):
            old_thread(a)

    sys.unraisablehook, threading.excepthook = unraisable, thread


_silenced = False


# ------------------------------------------------------------------------------------------ signals
#: Thread id → the signal another thread asked it to stop for (:func:`request_interrupt`).
_REQUESTS: dict[int, int] = {}


def request_interrupt(thread_id: int, signum: int) -> None:
    """Ask the run in thread ``thread_id`` to stop as if it got ``signum``: its next :meth:`Interrupts.check`
    (once per chunk, in :meth:`~phalanx.runtime.run_context.RunContext.hold`) raises ``KeyboardInterrupt``.

    Signals reach only the main thread; a run in another thread (a Ray coordinator's) is stopped this way,
    between chunks, so the state it checkpoints is whole.
    """
    _REQUESTS[thread_id] = signum


class Interrupts:
    """SIGINT and SIGTERM as ``KeyboardInterrupt`` while installed (main thread only; elsewhere a no-op: a run
    in another thread is stopped with :func:`request_interrupt`, seen by :meth:`check`).

    Inside :meth:`deferred` a signal is remembered and raised when the block ends, so a checkpoint being
    written is finished, never cut in half.
    """

    def __init__(self) -> None:
        self._old: dict[int, Any] = {}
        self._depth = 0
        self._pending: int | None = None

    def install(self) -> None:
        """Route SIGINT and SIGTERM here (the previous handlers come back with :meth:`restore`)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        """Put the previous handlers back."""
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
        self._old.clear()

    def _handle(self, signum: int, frame: Any) -> None:
        if self._depth:
            self._pending = signum
            return
        raise KeyboardInterrupt(signal.Signals(signum).name)

    def check(self) -> None:
        """Raise ``KeyboardInterrupt`` if another thread asked this one to stop (:func:`request_interrupt`)."""
        signum = _REQUESTS.pop(threading.get_ident(), None)
        if signum is not None:
            raise KeyboardInterrupt(signal.Signals(signum).name)

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Hold signals until the block ends, then raise ``KeyboardInterrupt`` if one came."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
        if not self._depth and self._pending is not None:
            signum, self._pending = self._pending, None
            raise KeyboardInterrupt(signal.Signals(signum).name)

    @contextmanager
    def ignored(self) -> Iterator[None]:
        """Hold signals until the block ends, then drop them (a second Ctrl-C while the first is handled)."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if not self._depth:
                self._pending = None


# ------------------------------------------------------------------------------------------ Ray
#: The HTTP/2 client preface and an empty SETTINGS frame: a gRPC server (Ray's GCS) answers with SETTINGS.
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def speaks_grpc(host: str, port: int, timeout: float = 5.0) -> str | None:
    """None if ``host:port`` answers like a gRPC server (Ray's GCS is one), else why not (in a few words).

    ``ray.init`` waits far longer than a user should on a port that accepts connections but is no Ray (a web
    server, a database); an HTTP/2 handshake bounded by ``timeout`` tells them apart first.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(_H2_PREFACE)
            head = b""
            while len(head) < 9:
                chunk = s.recv(9 - len(head))
                if not chunk:
                    return "it closed the connection without answering as Ray does"
                head += chunk
    except TimeoutError:
        return f"it accepts connections but gave no Ray (gRPC) answer within {timeout:g}s"
    except OSError as e:
        return str(e) or type(e).__name__
    if head[3] != 0x04:  # an HTTP/2 server's first frame is SETTINGS
        return "it answers, but not as Ray's gRPC server does"
    return None
