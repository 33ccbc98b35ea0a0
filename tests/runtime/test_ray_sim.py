"""The dispatch simulation (phalanx/runtime/dispatch_sim.py) and the task timeline arithmetic.

The simulation runs the real ``RayBackend`` on a virtual clock; these tests check it against timelines
worked out by hand (makespans, utilisation, retries after a worker dies), so the numbers in docs/scaling.md
rest on something checked. No Ray is started.
"""

from __future__ import annotations

import numpy as np
import pytest

from phalanx.runtime import dispatch_sim as sim_mod
from phalanx.runtime import task_timeline

# The coordinator's real CPU time is charged to the virtual clock: allow a little of it per task.
SLACK = 0.05


def test_free_coordinator_bulk_makespan_is_rounds_times_duration():
    # 8 workers, 40 equal 1 s tasks, Ray costs zero: 5 rounds of 1 s, every worker always busy.
    r = sim_mod.simulate(8, task_s=1.0, tasks_per_worker=5, workload="bulk", jitter=0.0)
    assert r.tasks == 40
    assert r.makespan_s == pytest.approx(5.0, abs=SLACK)
    assert r.utilisation == pytest.approx(1.0, abs=0.01)


def test_coordinator_bound_dispatch_serialises_on_call_cost():
    # A 0.1 s actor call and 0.01 s tasks on 8 workers: the coordinator starts one task per 0.1 s,
    # so 16 tasks end at 16 * 0.1 + 0.01 = 1.61 s and each worker is busy 0.02 s of it.
    costs = sim_mod.RayCosts(call_s=0.1)
    r = sim_mod.simulate(8, task_s=0.01, tasks_per_worker=2, workload="bulk", costs=costs, jitter=0.0)
    assert r.makespan_s == pytest.approx(1.61, abs=SLACK)
    assert r.throughput == pytest.approx(16 / 1.61, rel=0.03)
    assert r.coord_busy == pytest.approx(1.6 / 1.61, abs=0.03)
    assert r.utilisation == pytest.approx(0.16 / (8 * 1.61), rel=0.05)


def test_round_robin_waiting_idles_the_fast_learner():
    # Learner 0's tasks take 1 s, learner 1's 3 s; results are processed in turn 0, 1, 0, 1, ...
    # L0: [0,1] processed at 1 -> [1,2]; L1 processed at 3 -> [3,6]; L0's 2nd processed at 3 -> [3,4];
    # L1 processed at 6 -> [6,9]; L0 is done. Makespan 9, 12 of 2 * 9 worker-seconds busy: L0's
    # 2nd task was done at 2 but its 3rd started at 3, when L1's result was processed.
    from phalanx.runtime.ray_backend import RayBackend

    sim = sim_mod.SimRay(2)
    with sim_mod.simulated(sim):
        backend = RayBackend(2)
        futures = sim_mod.stream(backend, 2, 3, lambda i, k: 1.0 if i == 0 else 3.0)
    assert len(futures) == 6
    assert sim.now == pytest.approx(9.0, abs=SLACK)
    # the learners' tasks go to whichever worker is idle (lowest index first), so only totals are fixed
    assert sum(a.busy_s for a in sim.actors) == pytest.approx(12.0)
    assert sum(s["tasks"] for s in backend.utilisation()) == 6


def test_worker_death_is_retried_elsewhere_with_exact_counts():
    # 2 workers, six 1 s tasks; worker 0 dies halfway through its 2nd task (t = 1.5) and is back at 2.5.
    # Task 2 goes back to the front of the queue and runs on worker 1 at 2 (after task 3); worker 0 takes
    # task 4 at 2.5, worker 1 task 5 at 3: every task done once, 7 attempts, makespan 4.
    from phalanx.runtime.ray_backend import RayBackend

    sim = sim_mod.SimRay(2, deaths={0: [2]}, restart_s=1.0)
    with sim_mod.simulated(sim):
        backend = RayBackend(2)
        futures = sim_mod.bulk(backend, 6, lambda k, _: 1.0)
    assert [f.result for f in futures] == [1.0] * 6
    assert [f.error for f in futures] == [None] * 6
    assert backend.attempts == 7
    assert [s.restarts for s in backend.stats] == [1, 0]
    assert futures[2].meta["worker"] == 1 and futures[2].meta["attempts"] == 2
    assert sim.now == pytest.approx(4.0, abs=SLACK)


def test_payload_is_put_once_and_fetch_time_added():
    # A 4 MiB population sent with all 16 tasks travels to the store once (the backend's put cache);
    # each task also fetches it: 1 s + 4 MiB * 1e-7 s/B = 1.419 s, 2 rounds on 8 workers.
    nbytes = 4 * 2**20
    r = sim_mod.simulate(8, task_s=1.0, tasks_per_worker=2, workload="bulk", jitter=0.0, payload_bytes=nbytes,
                         fetch_per_byte_s=1e-7)
    assert r.bytes_put == nbytes
    assert r.makespan_s == pytest.approx(2 * (1.0 + nbytes * 1e-7), abs=SLACK)


def test_timeline_splits_dispatch_task_and_return():
    # Worker 0: task a submitted at 0, runs [1, 3], seen at 3.5; task b submitted at 0.5 (queued behind a),
    # runs [3.25, 4], seen at 4.5. Worker 1: task c submitted at 4, runs [5, 6], seen at 6. Run [0, 7].
    tasks = [{"name": "train a", "submitted": 0.0, "start": 1.0, "end": 3.0, "seen": 3.5, "worker": 0},
             {"name": "evaluate a", "submitted": 0.5, "start": 3.25, "end": 4.0, "seen": 4.5, "worker": 0},
             {"name": "train b", "submitted": 4.0, "start": 5.0, "end": 6.0, "seen": 6.0, "worker": 1}]
    t = task_timeline.timeline(tasks, 0.0, 7.0)
    # dispatch: 1, 0.25 (from the end of a), 1; return: 0.5, 0.5, 0; task time 2, 0.75, 1.
    assert t["dispatch_s_mean"] == pytest.approx(2.25 / 3)
    assert t["return_s_mean"] == pytest.approx(1.0 / 3)
    assert t["overhead_share"] == pytest.approx(3.25 / 3.75)
    assert t["busy_s"] == pytest.approx(3.75)
    # no task runs during [0, 1], [3, 3.25], [4, 5] and [6, 7]
    assert t["serial_s"] == pytest.approx(3.25)
    assert t["task_s_by_kind"] == {"evaluate": pytest.approx(0.75), "train": pytest.approx(1.5)}


def test_recorder_returns_the_tasks_values_on_the_local_backend():
    from phalanx.runtime.backend import LocalBackend

    recorder = task_timeline.Recorder(LocalBackend())
    futures = [recorder.submit(np.add, k, 1, name=f"add {k}") for k in range(3)]
    assert recorder.gather(futures) == [1, 2, 3]
    assert [t["name"] for t in recorder.tasks] == ["add 0", "add 1", "add 2"]
    assert all(t["submitted"] <= t["start"] <= t["end"] <= t["seen"] for t in recorder.tasks)
    assert not hasattr(recorder, "utilisation")  # as the local backend: run loops see the same attributes


def test_a_new_payload_per_task_is_put_every_time():
    # The league's shape: every train task carries a newly stacked opponent mixture, so nothing is cached.
    r = sim_mod.simulate(4, task_s=1.0, tasks_per_worker=3, payload_bytes=1 << 16, fresh_payload=True, jitter=0.0)
    assert r.tasks == 12
    assert r.bytes_put == 12 * (1 << 16)
    assert r.makespan_s == pytest.approx(3.0, abs=SLACK)
