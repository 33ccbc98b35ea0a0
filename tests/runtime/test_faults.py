"""Bad days, with real faults: damaged checkpoints, a held run directory, paths that cannot hold a run, a
full disk, a port that is not Ray. Each ends in one line (or a run that finishes), never a traceback."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import jax
import numpy as np
import pytest

from phalanx.cli import main
from phalanx.errors import PhalanxError
from phalanx.runtime.faults import LOCK_NAME, RunLock, check_sizes, describe, speaks_grpc
from phalanx.runtime.run_config import resolve
from phalanx.runtime.train_run import restore_final, run


def _one_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _copy(tiny_run, tmp_path: Path) -> Path:
    path = tmp_path / "run"
    shutil.copytree(tiny_run[0], path)
    return path


def _damage(path: Path, how: str, step: int = 3) -> None:
    """Damage checkpoint ``step`` of the run at ``path`` as ``how`` says (test_faults_runs.py uses it too)."""
    where = path / "checkpoints" / str(step)
    if how == "truncated progress":
        f = where / "progress" / "metadata"
        f.write_bytes(f.read_bytes()[:20])
    elif how == "truncated state file":
        # Every data file of the state, halved: which one holds the arrays depends on how the checkpoint
        # was written (the shared run may have been resumed by an earlier test), so damage them all.
        files = [p for p in (where / "state").rglob("*") if p.is_file() and p.parent.name == "d"]
        assert files
        for f in files:
            f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    elif how == "deleted state metadata":
        (where / "state" / "_METADATA").unlink()


@pytest.mark.parametrize("how", ["truncated progress", "truncated state file", "deleted state metadata"])
def test_damaged_newest_checkpoint_falls_back_and_ends_bit_exact(tiny_run, tmp_path, capsys, how):
    """The tiny run's last checkpoint (3) damaged: resume says so in one line, continues from checkpoint 2
    and ends with the same parameters as the undamaged run."""
    path = _copy(tiny_run, tmp_path)
    _damage(path, how)
    (path / "summary.json").unlink()  # the resumed run, finishing, writes it again
    assert main(["train", f"resume={path}"]) == 0
    out = capsys.readouterr().out
    assert "summary (summary.json):" in out
    assert (path / "summary.json").read_text() == (tiny_run[0] / "summary.json").read_text()
    skipped = [line for line in out.splitlines() if "checkpoint 3 is damaged" in line]
    assert len(skipped) == 1, out
    assert "resumed from checkpoint 2" in out
    assert (path / "damaged_checkpoints" / "3").is_dir()
    want, _ = restore_final(tiny_run[0])
    got, progress = restore_final(path)
    assert progress["chunks_done"] == 3
    for a, b in zip(jax.tree.leaves(want), jax.tree.leaves(got), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


_HOLDER = """
import sys, time
from pathlib import Path
from phalanx.runtime.faults import RunLock
RunLock(Path(sys.argv[1])).acquire("phalanx train")
print("locked", flush=True)
time.sleep(120)
"""


def test_a_live_lock_refuses_resume_naming_the_process(tiny_run, tmp_path, capsys):
    path = _copy(tiny_run, tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert main(["train", f"resume={path}"]) == 2
        line = _one_line(capsys.readouterr().err)
        assert f"pid {holder.pid}" in line and "in use" in line, line
    finally:
        holder.kill()
        holder.wait()
    # Its process is gone: the stale lock is taken over and the (complete) run opens.
    assert (path / LOCK_NAME).exists()
    assert main(["train", f"resume={path}"]) == 0
    assert "run already complete" in capsys.readouterr().out
    assert not (path / LOCK_NAME).exists()


def test_a_lock_of_a_killed_unreaped_process_is_taken_over(tmp_path):
    """A process killed with SIGKILL and not yet reaped (a zombie) holds nothing."""
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    holder.kill()
    time.sleep(0.5)  # dead, not reaped
    try:
        lock = RunLock(tmp_path)
        lock.acquire("phalanx train")
        assert lock.held
        lock.release()
        assert not (tmp_path / LOCK_NAME).exists()
    finally:
        holder.wait()


def test_a_live_lock_refuses_a_second_writer_of_a_new_run(tiny, tmp_path, capsys):
    path = tmp_path / "new"
    path.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert main(["train", *tiny, f"run_dir={path}"]) == 2
        line = _one_line(capsys.readouterr().err)
        assert f"pid {holder.pid}" in line, line
        assert not (path / "config.yaml").exists()
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("where", ["file", "non-run dir"])
def test_run_dir_that_cannot_hold_a_run_is_one_line_and_writes_nothing(tiny, tmp_path, capsys, where):
    target = tmp_path / "x"
    if where == "file":
        target.write_text("notes")
    else:
        target.mkdir()
        (target / "notes.md").write_text("mine")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert main(["train", *tiny, f"run_dir={target}"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert f"run_dir={target}" in line and ("is a file" in line or "not a Phalanx run" in line), line
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_total_steps_too_large_is_one_line_before_a_run_dir(tiny, tmp_path, capsys):
    assert main(["train", *tiny, "train.total_steps=1e30", f"run_dir={tmp_path / 'r'}"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "train.total_steps=1e+30 is too large" in line, line
    assert not (tmp_path / "r").exists()
    with pytest.raises(PhalanxError, match=r"a\.b=1e\+20"):
        check_sizes({"a": {"b": 10**20}})


@pytest.fixture
def tmpfs(tmp_path):
    """A mounted tmpfs (root only; skipped elsewhere): ``mount(options)`` mounts it, unmounted at the end."""
    point = tmp_path / "mnt"
    point.mkdir()
    mounted = []

    def mount(options: str) -> Path:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True)
        if r.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
        mounted.append(point)
        return point

    yield mount
    for p in mounted:
        subprocess.run(["umount", "-l", str(p)], check=False)


def test_read_only_run_dir_is_one_line(tiny, tmpfs, capsys):
    point = tmpfs("ro,size=1m")
    assert main(["train", *tiny, f"run_dir={point / 'run'}"]) in (1, 2)
    line = _one_line(capsys.readouterr().err)
    assert "read-only file system" in line, line


def test_full_disk_is_one_line_and_resume_after_freeing_space_is_bit_exact(tiny, tmpfs, tmp_path, capfd):
    """A 150 kB tmpfs fills at the first checkpoint: one line, exit 1; with the space grown, the run resumes
    and ends with the same parameters as a run on a roomy disk."""
    point = tmpfs("size=150k")
    args = [*tiny, "train.total_steps=512", "log_every=1", "checkpoint_every=1"]
    cmd = [sys.executable, "-m", "phalanx", "train", *args]
    full = subprocess.run([*cmd, f"run_dir={point / 'run'}"], capture_output=True, text=True, timeout=300)
    assert full.returncode == 1, full.stderr
    line = _one_line(full.stderr)
    assert line == f"phalanx: error: no space left on {point / 'run'}; free some space (or give run_dir= on " \
                   "another disk), then resume", line
    subprocess.run(["mount", "-o", "remount,size=20m", str(point)], check=True)
    assert main(["train", f"resume={point / 'run'}"]) == 0
    run(resolve([*args, f"run_dir={tmp_path / 'roomy'}"]))
    want, _ = restore_final(tmp_path / "roomy")
    got, _ = restore_final(point / "run")
    for a, b in zip(jax.tree.leaves(want), jax.tree.leaves(got), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_describe_finds_os_faults_in_wrapped_errors():
    try:
        try:
            raise OSError(28, "No space left on device", "/data/run/x")
        except OSError as e:
            raise ValueError("RESOURCE_EXHAUSTED: write failed") from e
    except ValueError as e:
        assert describe(e) .startswith("no space left on /data/run/x")
    assert describe(ValueError("Failed to write 9 bytes: No space left on device"), "/r").startswith(
        "no space left on /r")
    assert describe(RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 9 bytes.")) \
        .startswith("out of memory")
    assert describe(ValueError("unrelated")) is None


def _silent_server() -> tuple[socket.socket, int]:
    """A TCP server that accepts connections and never answers (not Ray)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    conns = []

    def accept() -> None:
        while True:
            try:
                conns.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    return server, server.getsockname()[1]


def test_ray_address_that_is_not_ray_is_one_line_in_bounded_time(tiny, capsys):
    server, port = _silent_server()
    try:
        t0 = time.monotonic()
        assert main(["train", *tiny, "backend=ray", f"ray.address=127.0.0.1:{port}"]) == 2
        assert time.monotonic() - t0 < 15
    finally:
        server.close()
    line = _one_line(capsys.readouterr().err)
    assert f"ray.address=127.0.0.1:{port}" in line and "gave no Ray (gRPC) answer" in line, line


def test_speaks_grpc_accepts_a_grpc_server():
    """The probe says yes to a real gRPC server (Ray's GCS is one), so real clusters are not refused."""
    grpc = pytest.importorskip("grpc")
    from concurrent import futures

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        assert speaks_grpc("127.0.0.1", port, timeout=5) is None
    finally:
        server.stop(0)


def test_after_a_reported_fault_its_unretrieved_echoes_are_dropped_and_nothing_else():
    """A failed Orbax save leaves futures that asyncio reports, traceback and all, when they are collected (at
    exit, after the one line); silence_echoes drops those reports of an OS fault and lets every other through."""
    import errno as errno_
    import logging

    from phalanx.runtime.faults import silence_echoes

    def record(message: str, exc: BaseException) -> logging.LogRecord:
        return logging.LogRecord("asyncio", logging.ERROR, __file__, 1, message, None, (type(exc), exc, None))

    silence_echoes()
    silence_echoes()  # idempotent: one filter
    log = logging.getLogger("asyncio")
    assert len(log.filters) == 1
    full = OSError(errno_.ENOSPC, "No space left on device")
    assert not log.filters[0].filter(record("Future exception was never retrieved\nfuture: <Future>", full))
    assert not log.filters[0].filter(record("Task exception was never retrieved", full))
    assert log.filters[0].filter(record("Future exception was never retrieved", ValueError("a real bug")))
    assert log.filters[0].filter(record("Unclosed client session", full))
    absl = logging.getLogger("absl")  # Orbax's write threads log their failure there
    assert not any(f.filter(record("RESOURCE_EXHAUSTED: ... No space left on device [os_error_code='28']", full))
                   for f in absl.filters)
    assert all(f.filter(record("a checkpoint was written", full)) for f in absl.filters)
    with warnings.catch_warnings(record=True) as caught:  # the filter silence_echoes added, kept by the block
        warnings.warn("coroutine 'write_fragment' was never awaited", RuntimeWarning, stacklevel=1)
        warnings.warn("another warning", RuntimeWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["another warning"]
