"""The run skeleton: ``open_run`` makes the backend and run directory and closes everything however the block
ends; ``start`` cuts ``metrics.jsonl`` back to a checkpoint; Ray-style backends add per-worker statistics."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from rich.console import Console

from phalanx.errors import RunInterruptedError
from phalanx.runtime import run_context
from phalanx.runtime import run_dir as rd
from phalanx.runtime.run_config import RunConfig


class FakeBackend:
    """A backend that reports per-worker statistics (as Ray's does) and records being closed."""

    name = "fake"

    def __init__(self) -> None:
        self.closed = False

    def utilisation(self) -> list[dict]:
        return [{"worker": 0, "tasks": 1}]

    def close(self) -> None:
        self.closed = True


def quiet() -> Console:
    return Console(file=io.StringIO(), width=120)


def test_a_killed_run_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    backend = FakeBackend()
    monkeypatch.setattr(run_context, "make_backend", lambda name, ray: backend)
    path = tmp_path / "run"
    # Ctrl-C: one line (RunInterruptedError) naming the newest checkpoint; nothing was held for it to save.
    with pytest.raises(RunInterruptedError, match="latest checkpoint 2"), \
            run_context.open_run(rd.TRAIN, RunConfig(run_dir=str(path)), console=quiet()) as run:
        assert not run.resumed and run.path == path and (path / "config.yaml").is_file()
        progress = run.start()
        with run.progress_bar("test", 3, 0, "steps") as bar:
            for step in (1, 2, 3):
                run.log({"step": step})
                run.scalars({"x": float(step), "skipped": None}, step)
                bar.update(step, f"step {step}")
                if step == 2:
                    run.save(step, {"w": np.arange(3.0) * step})
        raise KeyboardInterrupt  # killed after logging step 3, before its checkpoint
    assert backend.closed  # the backend open_run made is closed, however the block ends
    assert len(run.metrics.read()) == 3 and run.metrics.read()[0]["workers"] == [{"worker": 0, "tasks": 1}]
    assert progress["metrics_lines"] == 3

    given = FakeBackend()
    with run_context.open_run(rd.TRAIN, RunConfig(resume=str(path)), console=quiet(), backend=given) as run:
        assert run.resumed and run.config.run_dir == str(path)
        state, progress = run.checkpoints.restore(run.checkpoints.latest_step(), {"w": np.zeros(3)})
        np.testing.assert_array_equal(state["w"], [0.0, 2.0, 4.0])
        run.start(progress, purge_step=3)
        assert [line["step"] for line in run.metrics.read()] == [1, 2]  # the line after the checkpoint is gone
        assert run.progress is progress and run.wall_time() >= progress["wall_time"]
    assert not given.closed  # a backend handed in stays open
    assert list(path.glob("events.out.tfevents.*"))
    assert json.loads((path / "metrics.jsonl").read_text().splitlines()[-1])["step"] == 2


def test_a_resume_that_is_refused_leaves_no_open_backend(tmp_path, monkeypatch):
    backend = FakeBackend()
    monkeypatch.setattr(run_context, "make_backend", lambda name, ray: backend)
    rd.create(RunConfig(run_dir=str(tmp_path / "run")))
    with pytest.raises(Exception, match="cannot change a resumed run's config"), run_context.open_run(
            rd.TRAIN, RunConfig(resume=str(tmp_path / "run")), {"seed": 9}, console=quiet()):
        pass
    assert backend.closed


def test_launch_runs_here_or_hands_the_run_function_to_a_coordinator(tmp_path, monkeypatch):
    from phalanx.runtime import launch as launch_module
    from phalanx.runtime.backend import RayConfig

    calls = []

    def fn(config, overrides, console, backend=None, label=None):
        calls.append(("here", config, label))
        return tmp_path

    def run_remote(fn_, config, overrides, console, ray_config, **kwargs):
        calls.append(("coordinator", fn_, config, kwargs))
        return tmp_path

    monkeypatch.setattr(launch_module, "run_remote", run_remote)
    monkeypatch.chdir(tmp_path)
    launch_module.launch(fn, rd.TRAIN, RunConfig(), console=quiet(), label="x")
    launch_module.launch(fn, rd.TRAIN, RunConfig(backend="ray", ray=RayConfig(coordinator=False)), console=quiet())
    assert [c[0] for c in calls] == ["here", "here"] and calls[0][2] == "x"
    launch_module.launch(fn, rd.TRAIN, RunConfig(backend="ray"), console=quiet(), label="x")
    kind, fn_, config, kwargs = calls[-1]
    assert kind == "coordinator" and fn_ is fn and kwargs == {"label": "x"}
    assert config.run_dir.startswith("runs/simple_spread-x-")  # fixed on the driver, before the run moves


def test_the_progress_bar_keeps_its_numbers_whole_at_80_columns(tmp_path):
    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=True, color_system=None)
    with run_context.open_run(rd.TRAIN, RunConfig(run_dir=str(tmp_path / "run")), console=console) as run:
        run.start()
        with run.progress_bar("simple_spread ippo", 2_000_000, 0, "env steps") as bar:
            bar.update(1_234_567, "12,345 steps/s  return agents=-12.3 adversary=4.56 win_rate=0.25")
    last = out.getvalue().split("\r")[-1].replace("\x1b[2K", "").split("\n")[0]
    assert len(last) <= 80, last
    assert "simple_spread ippo" in last and "1,234,567/2,000,000 env steps" in last, last
    assert "12,345" in last and last.rstrip().endswith("…"), last  # the status gives way, cut visibly


def test_a_run_in_another_thread_stops_at_its_next_hold_and_checkpoints_it(tmp_path):
    """What a Ray coordinator does on the driver's Ctrl-C / SIGTERM (request_interrupt), without Ray: the run's
    thread gets no signal; its next hold() stops it, and what it held is checkpointed with one line."""
    import signal
    import threading

    from phalanx.runtime.faults import request_interrupt

    path, result = tmp_path / "run", {}
    at_three, asked = threading.Event(), threading.Event()

    def body() -> None:
        try:
            with run_context.open_run(rd.TRAIN, RunConfig(run_dir=str(path)), console=quiet()) as run:
                run.start()
                for step in range(1, 100):
                    run.hold(step, {"w": np.full(3, float(step))})
                    if step == 3:
                        at_three.set()
                        asked.wait(60)
            result["done"] = True
        except RunInterruptedError as e:
            result["error"] = str(e)

    thread = threading.Thread(target=body)
    thread.start()
    assert at_three.wait(120)
    request_interrupt(thread.ident, signal.SIGTERM)
    asked.set()
    thread.join(120)
    assert result == {"error": f"interrupted; checkpoint 4 written; continue with: phalanx train resume={path}"}
    ckpt = run_context.Checkpoints(path / "checkpoints")
    try:
        state, _ = ckpt.restore(4, {"w": np.zeros(3)})
        assert ckpt.all_steps() == [4]
    finally:
        ckpt.close()
    np.testing.assert_array_equal(state["w"], [4.0, 4.0, 4.0])
