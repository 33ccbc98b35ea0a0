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


# ---------------------------------------------------------------------------------------------- actors
def test_actors_with_a_free_learner_step_at_n_times_one_actors_rate():
    # 3 actors, 2 envs x 10 steps of 1 ms (blocks of 20 steps, 20 ms), learning free: 3 blocks per 20 ms,
    # 3000 env steps/s; an instant update is published as the blocks end, so every block has lag 0.
    from phalanx.runtime.actor_sim import ActorCosts, simulate_actors

    r = simulate_actors(3, 2, 10, ActorCosts(env_step_s=0.001), updates=10)
    assert r.makespan_s == pytest.approx(0.2)
    assert r.env_steps_per_s == pytest.approx(3000.0)
    assert r.actor_utilisation == pytest.approx(1.0)
    assert r.max_lag == 0 and r.dropped_blocks == 0


def test_a_slow_learner_bounds_throughput_and_stale_blocks_are_dropped():
    # 4 actors with 1 s blocks, a 2 s update per block: the first block is in at 1 s, then one update per
    # 2 s, so 5 updates end at 11 s whatever the actors do. Unbounded lag keeps every block (lag 0..4);
    # max_lag=1 drops the stale ones, and everything sampled is either trained on or dropped.
    from phalanx.runtime.actor_sim import ActorCosts, simulate_actors

    costs = ActorCosts(env_step_s=0.1, learn_fixed_s=2.0)
    loose = simulate_actors(4, 1, 10, costs, updates=5, blocks_per_update=1, max_lag=100)
    assert loose.makespan_s == pytest.approx(11.0)
    assert loose.env_steps_per_s == pytest.approx(50 / 11.0)
    assert loose.dropped_blocks == 0 and loose.max_lag == 4
    tight = simulate_actors(4, 1, 10, costs, updates=5, blocks_per_update=1, max_lag=1)
    assert tight.max_lag <= 1 and tight.dropped_blocks > 0
    assert tight.sampled_per_s * tight.makespan_s == pytest.approx(50 + 10 * tight.dropped_blocks)


def test_sync_actors_wait_for_the_update_async_ones_overlap_it():
    # 2 actors, 1 s blocks, a 0.5 s update: synchronous (RLlib's PPO) takes 1 + 0.5 s per update, 9 s for 6;
    # overlapped, actors never wait: 6 blocks each back to back, the last update ends at 6.5 s.
    from phalanx.runtime.actor_sim import ActorCosts, simulate_actors

    costs = ActorCosts(env_step_s=0.1, learn_fixed_s=0.5)
    sync = simulate_actors(2, 1, 10, costs, updates=6, sync=True)
    overlapped = simulate_actors(2, 1, 10, costs, updates=6)
    assert sync.makespan_s == pytest.approx(9.0) and sync.max_lag == 0
    assert overlapped.makespan_s == pytest.approx(6.5) and overlapped.max_lag == 1
    assert overlapped.actor_utilisation == pytest.approx(1.0)


def test_the_simulated_curve_bends_where_the_analytic_saturation_says():
    # 10 ms blocks of 10 steps; the learner needs 0.25 ms per env step: supply meets capacity at 4 actors.
    # Below it throughput grows with the actors; above it stays at the learner's 4000 env steps/s.
    from phalanx.runtime.actor_sim import ActorCosts, saturation, simulate_actors

    costs = ActorCosts(env_step_s=0.001, learn_step_s=0.00025)
    assert saturation(costs, 1, 10) == pytest.approx(4.0)
    rates = {n: simulate_actors(n, 1, 10, costs, updates=50, max_lag=100).env_steps_per_s for n in (1, 2, 8, 16)}
    assert rates[2] == pytest.approx(2 * rates[1], rel=0.02)
    assert rates[8] == pytest.approx(4000, rel=0.02) and rates[16] == pytest.approx(4000, rel=0.02)
