"""The Ray backend's dispatch under N simulated workers: the REAL ``RayBackend`` code, Ray replaced by a clock.

The simulation itself (:class:`~phalanx.runtime.dispatch_sim.SimRay`, the ``stream`` and ``bulk``
workloads, :func:`~phalanx.runtime.dispatch_sim.simulate`) is ``phalanx/runtime/dispatch_sim.py``; this
script runs it at many worker counts, measures Ray's per-call costs on a real local Ray (``--calibrate``)
and runs the same workload on real Ray workers beside the simulation (``--validate``).

Usage::

    python benchmarks/ray/ray_dispatch_sim.py --calibrate               # Ray's per-call costs on this machine
    python benchmarks/ray/ray_dispatch_sim.py --workers 8 64 512 --task-s 2.0 --tasks-per-worker 20
    python benchmarks/ray/ray_dispatch_sim.py --validate 8 --task-s 0.2 # the same workload on real Ray, and simulated
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from phalanx.runtime.dispatch_sim import RayCosts, bulk, durations, simulate, sleep_task, stream


# ---------------------------------------------------------------------------------------------- real Ray
def calibrate(repeats: int = 300, refs: int = 512) -> RayCosts:
    """Ray's per-call costs in this process's CPU time (``time.thread_time`` of the driver's thread), on the
    real Ray this process is connected to: actor calls to a live worker, ``wait`` on 1 and on ``refs``
    references, ``get``, ``put`` of 4 KiB and of 4 MiB."""
    import ray

    from phalanx.runtime.ray_backend import Worker

    actor = ray.remote(num_cpus=0.01)(Worker).remote(0)
    ray.get(actor.describe.remote())

    def cpu(fn: Callable[[], Any], n: int = repeats) -> float:
        t0 = time.thread_time()
        for _ in range(n):
            fn()
        return (time.thread_time() - t0) / n

    ref_list: list[Any] = []
    call_s = cpu(lambda: ref_list.append(actor.run.remote(sleep_task, "noop", True, 0.0)))
    ray.get(ref_list)
    ready = [ray.put(k) for k in range(refs)]
    ray.get(ready)
    wait_1 = cpu(lambda: ray.wait(ready[:1], num_returns=1))
    wait_n = cpu(lambda: ray.wait(ready, num_returns=1), max(20, repeats // 10))
    get_s = cpu(lambda: ray.get(ref_list[0]))
    small, large = np.zeros(1024, np.float32), np.zeros(1 << 20, np.float32)
    put_small = cpu(lambda: ray.put(small), 100)
    put_large = cpu(lambda: ray.put(large), 20)
    t0 = time.perf_counter()
    ray.get([actor.run.remote(sleep_task, "noop", True, 0.0) for _ in range(50)])
    round_trip = (time.perf_counter() - t0) / 50
    ray.kill(actor)
    per_ref = max(0.0, (wait_n - wait_1) / (refs - 1))
    per_byte = max(0.0, (put_large - put_small) / (large.nbytes - small.nbytes))
    print(f"  round trip of a no-op task (wall, pipelined 50): {round_trip * 1e3:.2f} ms")
    return RayCosts(call_s=call_s, wait_s=max(0.0, wait_1 - per_ref), wait_per_ref_s=per_ref, get_s=get_s,
                    put_s=put_small, put_per_byte_s=per_byte)


def real_run(workers: int, task_s: float, tasks_per_worker: int, jitter: float = 0.2,
             workload: str = "stream") -> dict[str, Any]:
    """The same workload on real Ray actors (``num_cpus=0.01`` each, so ``workers`` sleepers fit on 2 CPUs)."""
    from phalanx.runtime.ray_backend import RayBackend

    each = durations(task_s, jitter)
    with RayBackend(workers, num_cpus=0.01) as backend:
        # every worker up (its process started) before the clock starts
        backend.gather([backend.submit(sleep_task, 0.0, name="warm") for _ in range(workers)])
        wall0, cpu0 = time.perf_counter(), time.process_time()
        futures = stream(backend, workers, tasks_per_worker, each) if workload == "stream" else \
            bulk(backend, workers * tasks_per_worker, lambda k, _: each(k, 0))
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    busy = sum(f.meta["busy_s"] for f in futures)
    ideal = max(sum(each(i, k) for k in range(tasks_per_worker)) for i in range(workers)) \
        if workload == "stream" else busy / workers
    return {"workers": workers, "tasks": len(futures), "makespan_s": wall, "ideal_s": ideal,
            "throughput": len(futures) / wall, "utilisation": busy / (workers * wall),
            "coord_cpu_per_task_s": cpu / len(futures)}


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[8, 64, 512])
    parser.add_argument("--task-s", type=float, default=2.0, help="mean task duration (virtual seconds)")
    parser.add_argument("--tasks-per-worker", type=int, default=20)
    parser.add_argument("--workload", choices=["stream", "bulk"], default="stream")
    parser.add_argument("--payload-mb", type=float, default=0.0, help="parameter bytes sent with every task")
    parser.add_argument("--fresh-payload", action="store_true", help="a new payload object per task (put each time)")
    parser.add_argument("--jitter", type=float, default=0.2, help="task durations uniform in mean * (1 +- jitter)")
    parser.add_argument("--costs", default=None, help="RayCosts as JSON (from --calibrate); default: zero")
    parser.add_argument("--calibrate", action="store_true", help="measure Ray's per-call costs on a local Ray")
    parser.add_argument("--validate", type=int, default=0, help="run N real sleep workers on Ray, then simulate")
    parser.add_argument("--json", default=None, help="append results here (JSON lines)")
    args = parser.parse_args()
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S')}  {platform.node()}  {os.cpu_count()} cpus  load {_load()}")
    costs = RayCosts(**json.loads(args.costs)) if args.costs else RayCosts()
    rows: list[dict[str, Any]] = []
    if args.calibrate or args.validate:
        import ray

        os.environ.setdefault("RAY_raylet_start_wait_time_s", "300")
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        if args.calibrate:
            costs = calibrate()
            print("costs (s):", json.dumps(dataclasses.asdict(costs)))
            rows.append({"calibration": dataclasses.asdict(costs), "load": _load()})
        if args.validate:
            real = real_run(args.validate, args.task_s, args.tasks_per_worker, workload=args.workload)
            print("real ray:", json.dumps({k: round(v, 5) for k, v in real.items()}), f"load {_load()}")
            rows.append({"real": real, "task_s": args.task_s, "load": _load()})
            args.workers = [args.validate]
        ray.shutdown()
    for n in args.workers:
        r = simulate(n, args.task_s, args.tasks_per_worker, args.workload, costs, args.jitter,
                     payload_bytes=int(args.payload_mb * 2**20), fresh_payload=args.fresh_payload)
        print(f"sim {r.workload:6s} N={n:5d} tasks={r.tasks:6d} task {r.task_s:g}s: makespan {r.makespan_s:8.2f}s "
              f"(ideal {r.ideal_s:7.2f}s)  {r.throughput:8.1f} tasks/s  utilisation {r.utilisation:.3f}  "
              f"coordinator busy {r.coord_busy:.3f}, {r.coord_per_task_s * 1e3:.3f} ms/task "
              f"(python {r.python_per_task_s * 1e3:.3f})  [{r.sim_wall_s:.1f}s real, load {_load()}]", flush=True)
        rows.append({**dataclasses.asdict(r), "costs": dataclasses.asdict(costs), "load": _load()})
    if args.json:
        with open(args.json, "a") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
