"""The ray backend on a real local Ray (2 CPUs): results, errors as values, faults, PSRO, resume, train.

One Ray for the module (``ray.init(address="local", num_cpus=2)``, shut down at the end): a new one even when
another process on the machine runs a Ray (an xdist worker in test_ray_actors). Every comparison is with the
local backend running the same run in this process.
"""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
import threading
import time

import jax
import numpy as np
import pytest
from rich.console import Console

from phalanx.cli import main
from phalanx.runtime.population_config import PopulationConfig, resolve
from phalanx.runtime.population_run import restore_final, run
from phalanx.runtime.train_run import restore_final as restore_train

ray = pytest.importorskip("ray")

KUHN = ["env=kuhn_poker", "population.oracle=exact", "population.meta_solver=nash"]
# A tiny simple_spread run (as in tests/runtime/conftest.py): 4 updates of 128 env steps in chunks of 2.
TRAIN = ["env=simple_spread", "env.N=2", "train.num_envs=4", "train.num_steps=32", "train.update_epochs=1",
        "train.num_minibatches=2", "train.hidden=[16]", "train.total_steps=512", "log_every=2", "num_seeds=2",
        "seed=1"]
ITERATIONS = 3


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    os.environ.setdefault("RAY_raylet_start_wait_time_s", "300")  # a loaded 2-core machine starts Ray slowly
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def quiet() -> Console:
    return Console(file=io.StringIO(), width=120)


def lines_of(path) -> list[dict]:
    return [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]


def backend_free(line: dict) -> dict:
    """A metrics line without timings and worker statistics (they differ between runs and backends)."""
    return {k: v for k, v in line.items() if not k.endswith("time") and k != "workers"}


def assert_same_psro(a, b) -> None:
    assert [backend_free(x) for x in lines_of(a)] == [backend_free(x) for x in lines_of(b)]
    (sa, _), (sb, _) = restore_final(a), restore_final(b)
    assert sa.iteration == sb.iteration
    for p in (0, 1):
        for key in sa.populations[p]:
            np.testing.assert_array_equal(sa.populations[p][key], sb.populations[p][key])
    np.testing.assert_array_equal(sa.table.payoffs, sb.table.payoffs)


@pytest.fixture(scope="module")
def local_psro(tmp_path_factory):
    path = tmp_path_factory.mktemp("local") / "kuhn"
    run(resolve([*KUHN, f"population.iterations={ITERATIONS}", f"run_dir={path}"]), console=quiet())
    return path


# ---------------------------------------------------------------------------------------------- the backend alone
def test_results_errors_nan_and_utilisation():
    from phalanx.runtime.ray_backend import RayBackend, TaskFailedError

    big = np.arange(10_000, dtype=np.float64)
    with RayBackend(2) as backend:
        futures = [backend.submit(np.sum, big, name=f"sum {k}") for k in range(3)]
        futures.append(backend.submit(math.pow, 2.0, 10.0, name="pow"))
        # One big argument, one object-store reference shared by every task that takes it.
        assert len({id(f.handle.args[0]) for f in futures[:3]}) == 1
        assert isinstance(futures[0].handle.args[0], ray.ObjectRef)
        assert backend.gather(futures) == [big.sum()] * 3 + [1024.0]
        assert all(f.meta["wall_s"] >= f.meta["busy_s"] >= 0 for f in futures)
        slow, fast = backend.submit(time.sleep, 1.5, name="slow"), backend.submit(time.sleep, 0.0, name="fast")
        assert [f.name for f in backend.as_completed([slow, fast])] == ["fast", "slow"]  # both run at once

        bad = backend.submit(math.sqrt, -1.0, name="sqrt of -1")
        with pytest.raises(TaskFailedError) as info:
            backend.gather([bad])
        message = str(info.value)
        assert "'sqrt of -1' failed 2 times" in message and "ValueError: math domain error" in message
        assert "worker" in message and "pid" in message and "\n" not in message
        assert bad.meta["attempts"] == 2 and len(set(bad.handle.tried)) == 2  # tried once more, elsewhere

        nan = backend.submit(np.divide, 0.0, 0.0, name="0/0")
        backend.wait([nan])  # errors are values until gathered
        assert isinstance(nan.error, TaskFailedError) and "NaN" in str(nan.error)

        stats = backend.utilisation()
        assert sum(s["tasks"] for s in stats) == 6
        assert sum(s["failures"] for s in stats) == 4  # 2 tries of each failing task
        assert all(0.0 <= s["utilisation"] <= 1.0 and s["restarts"] == 0 for s in stats)
        assert backend.tasks_submitted == 8 and backend.attempts == 10


@pytest.mark.filterwarnings("ignore:invalid value encountered in divide")  # the 0/0 task, on purpose
def test_zero_workers_run_in_process():
    from phalanx.runtime.ray_backend import RayBackend, TaskFailedError

    backend = RayBackend(0)
    assert not backend.remote
    futures = [backend.submit(os.getpid), backend.submit(math.pow, 3.0, 2.0)]
    assert backend.gather(futures) == [os.getpid(), 9.0]
    assert backend.utilisation()[0]["tasks"] == 2
    with pytest.raises(TaskFailedError, match="'0/0' failed in this process: its result contains NaN"):
        backend.submit(np.divide, 0.0, 0.0, name="0/0")


def test_progress_reports_of_tasks_on_workers_reach_this_process():
    """``relay_progress``: what a task reports on its worker (through the learned oracle's report function) is handed
    to the receiver here, each report before its task's result; tasks submitted after it is turned off report
    nowhere."""
    from phalanx.population import oracles
    from phalanx.runtime.ray_backend import RayBackend

    got: list[tuple] = []
    with RayBackend(2) as backend:
        backend.relay_progress(oracles.set_progress, lambda *report: got.append(report))
        futures = [backend.submit(oracles._report, p, k, 4, name=f"report {p} {k}") for p in (0, 1) for k in (1, 4)]
        for future in backend.as_completed(futures):
            p, k = (int(x) for x in future.name.split()[1:])
            assert (p, k, 4) in got, (future.name, got)  # delivered before its task counts as done
        assert sorted(got) == [(0, 1, 4), (0, 4, 4), (1, 1, 4), (1, 4, 4)]
        backend.relay_progress(None)
        backend.gather([backend.submit(oracles._report, 0, 2, 4)])
        assert len(got) == 4


@pytest.mark.slow
def test_learned_psro_on_workers_shows_progress_within_the_iteration(tmp_path, capsys):
    """``phalanx psro population.oracle=learned backend=ray``: the best responses train on the workers and their
    reports (a quarter of the updates each) appear here, as in a local run."""
    args = ["psro", "env=rock_paper_scissors", "population.oracle=learned", "population.iterations=1",
            "train.total_steps=1024", "population.compiler_options.xla_backend_optimization_level=0",
            "backend=ray", "ray.num_workers=2", f"run_dir={tmp_path / 'psro'}"]
    assert main(args) == 0
    out = capsys.readouterr().out  # not a terminal: a line per report
    for player in ("player_0", "player_1"):
        reports = [ln.split()[-2] for ln in out.splitlines() if ln.startswith(f"iteration 1: best response {player} ")]
        assert reports == ["2/8", "4/8", "6/8", "8/8"], out


def test_missing_ray_and_unreachable_address_are_one_line_errors(tmp_path):
    """In fresh processes: Ray hidden (``import ray`` fails), and an address where no cluster listens. The
    local backend never imports Ray."""
    hidden = (f"import sys; sys.modules['ray'] = None; from phalanx.cli import main; "
              f"sys.exit(main(['psro', 'env=kuhn_poker', 'backend=ray', 'run_dir={tmp_path / 'a'}']))")
    address = (f"import sys; from phalanx.cli import main; sys.exit(main(['psro', 'env=kuhn_poker', 'backend=ray', "
               f"'ray.address=127.0.0.1:9', 'run_dir={tmp_path / 'b'}']))")
    local = ("import sys; from phalanx.runtime.backend import make_backend; from phalanx.runtime import "
             "population_run, league_run, train_run; b = make_backend('local'); print('ray' in sys.modules)")
    procs = [subprocess.Popen([sys.executable, "-c", c], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for c in (hidden, address, local)]
    (_, err_h), (_, err_a), (out_l, err_l) = (p.communicate(timeout=120) for p in procs)
    assert procs[0].returncode == 2, err_h
    assert err_h.strip().count("\n") == 0 and 'pip install -e ".[ray]"' in err_h
    assert procs[1].returncode == 2, err_a
    assert err_a.strip().count("\n") == 0 and "ray.address=127.0.0.1:9: no Ray cluster reachable" in err_a
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    assert procs[2].returncode == 0 and out_l.strip() == "False", err_l


# ---------------------------------------------------------------------------------------------- PSRO on Ray
def test_worker_killed_during_its_second_task(local_psro, tmp_path):
    """Worker 0 exits (as if killed) when its 2nd task starts — iteration 1's first best response. Ray restarts
    it, the task runs again, and the run is the local one: one death, one extra try, every task done once."""
    from phalanx.runtime.ray_backend import RayBackend

    marker = tmp_path / "crashed"
    path = tmp_path / "kuhn"
    backend = RayBackend(2, crash={0: (2, str(marker))})
    run(resolve([*KUHN, f"population.iterations={ITERATIONS}", f"run_dir={path}"]), console=quiet(), backend=backend)
    tasks = 1 + 5 * ITERATIONS  # an evaluation, then 2 best responses and 3 evaluation blocks per iteration
    assert marker.exists()
    assert (backend.tasks_submitted, backend.tasks_done, backend.attempts) == (tasks, tasks, tasks + 1)
    stats = backend.utilisation()
    assert [s["restarts"] for s in stats] == [1, 0] and sum(s["tasks"] for s in stats) == tasks
    backend.close()
    assert_same_psro(local_psro, path)
    workers = lines_of(path)[-1]["workers"]  # per-worker utilisation in metrics.jsonl
    assert [w["worker"] for w in workers] == [0, 1] and sum(w["tasks"] for w in workers) == tasks


def test_coordinator_killed_then_resumed_equals_local(local_psro, tmp_path):
    """``phalanx psro backend=ray``: the coordinator actor runs the loop. It is killed once iteration 2 is
    logged (iteration 1 is checkpointed by then); the resumed run only does the iterations after its last
    checkpoint, and the whole run equals the local backend's (exploitability trajectory, populations, payoffs)."""
    from phalanx.runtime.coordinator import coordinator_name

    path = tmp_path / "kuhn"
    args = ["psro", *KUHN, f"population.iterations={ITERATIONS}", f"run_dir={path}", "backend=ray", "ray.num_workers=2"]
    status = {}
    thread = threading.Thread(target=lambda: status.setdefault("code", main(args)))
    thread.start()
    deadline = time.time() + 120
    metrics = path / "metrics.jsonl"
    while time.time() < deadline:  # iteration 2 logged: iteration 1 is checkpointed, iteration 3 not done
        if metrics.is_file() and len(metrics.read_text().splitlines()) >= 3:
            break
        time.sleep(0.02)
    ray.kill(ray.get_actor(coordinator_name(path)))
    thread.join(60)
    assert status["code"] == 2  # "the coordinator died ...; continue the run with resume=..."
    done = restore_final(path)[0].iteration
    assert 1 <= done < ITERATIONS
    assert main(["psro", f"resume={path}", "backend=ray", "ray.num_workers=2"]) == 0
    assert_same_psro(local_psro, path)
    lines = lines_of(path)
    assert [ln["exploitability"] for ln in lines] == [ln["exploitability"] for ln in lines_of(local_psro)]
    # The resumed run's workers did only iterations done+1..ITERATIONS: 5 tasks each.
    assert sum(w["tasks"] for w in lines[-1]["workers"]) == 5 * (ITERATIONS - done)


def test_resume_of_a_finished_run_keeps_it(local_psro):
    out = io.StringIO()
    run(PopulationConfig(resume=str(local_psro)), {"backend": "ray", "ray": {"num_workers": 0}},
        console=Console(file=out))
    assert "already complete" in out.getvalue()


# ---------------------------------------------------------------------------------------------- phalanx train
@pytest.mark.slow  # the coordinator-killed test below also compares a ray train run with the local one
def test_two_seeds_on_two_workers_equal_the_local_run(tmp_path):
    local, remote = tmp_path / "local", tmp_path / "ray"
    assert main(["train", *TRAIN, f"run_dir={local}"]) == 0
    assert main(["train", *TRAIN, f"run_dir={remote}", "backend=ray", "ray.num_workers=2"]) == 0
    (a, pa), (b, pb) = restore_train(local), restore_train(remote)
    assert pa["env_steps"] == pb["env_steps"] == 512 and pa["chunks_done"] == pb["chunks_done"] == 2
    # The same seeds from the same keys; a vmap-ped (local) and an unbatched (ray) program round differently.
    for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params), strict=True):
        assert x.shape == y.shape and x.shape[0] == 2  # the checkpoint keeps the seed axis
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5)
    la, lb = lines_of(local), lines_of(remote)
    assert [ln["env_steps"] for ln in la] == [ln["env_steps"] for ln in lb] == [256, 512]
    for x, y in zip(la, lb, strict=True):
        for s, t in zip(x["seeds"], y["seeds"], strict=True):
            assert s["episodes"] == t["episodes"]
            np.testing.assert_allclose(s["episode_return"]["agents"], t["episode_return"]["agents"], rtol=1e-4)
    workers = lb[-1]["workers"]  # two seeds × two chunks, one task per seed per chunk
    assert len(workers) == 2 and sum(w["tasks"] for w in workers) == 4
    assert all(w["tasks"] == 2 for w in workers)  # both workers busy in every chunk


# ---------------------------------------------------------------------------------------------- the league
@pytest.mark.slow
def test_league_on_two_workers_equals_local_and_keeps_both_busy(tmp_path, tiny_league):
    """The shared tiny league (conftest.TINY_LEAGUE, local backend): every learner's task in flight at once on 2
    workers, and the same league (metrics lines, final table)."""
    from conftest import TINY_LEAGUE as LEAGUE

    local, remote = tiny_league, tmp_path / "ray"
    assert main(["league", *LEAGUE, f"run_dir={remote}", "backend=ray", "ray.num_workers=2"]) == 0
    assert [backend_free(x) for x in lines_of(local)] == [backend_free(x) for x in lines_of(remote)]
    a, b = (json.loads((p / "league_final.json").read_text()) for p in (local, remote))
    assert {k: v for k, v in a.items() if k != "wall_time"} == {k: v for k, v in b.items() if k != "wall_time"}
    workers = lines_of(remote)[-1]["workers"]
    assert all(w["tasks"] >= 3 for w in workers)  # 12 train/evaluate tasks before the last line, shared


def test_more_workers_than_cpus_is_a_clear_error():
    from phalanx.errors import PhalanxError
    from phalanx.runtime.ray_backend import RayBackend

    with pytest.raises(PhalanxError, match=r"num_workers=3 x ray.num_cpus=1 needs 3 CPUs and the Ray cluster has 2"):
        RayBackend(3)


@pytest.mark.slow
def test_nan_best_responses_stop_the_run_with_one_line(tmp_path, capsys):
    """A learned PPO oracle at an absurd learning rate diverges to NaN: a deterministic failure. Each best response is
    tried twice (on both workers), then ``phalanx psro`` exits with status 2 and one line naming task and worker."""
    args = ["psro", "env=kuhn_poker", "population.oracle=learned", "population.iterations=1", "train.lr=1e30",
            "population.compiler_options.xla_backend_optimization_level=0", "backend=ray", "ray.num_workers=2",
            f"run_dir={tmp_path / 'nan'}"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "task 'best_response/player_" in err and "failed 2 times, last on worker" in err
    assert "the task's result contains NaN" in err
    assert len(lines_of(tmp_path / "nan")) == 1  # iteration 0 only
