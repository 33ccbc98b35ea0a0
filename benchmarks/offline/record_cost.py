"""What ``record=PATH`` costs ``phalanx train``: env steps/s with and without it, in the same process.

The same learner is built twice from one ``phalanx train`` config — plain, and with ``record=`` (its
env wrapped by :func:`phalanx.runtime.train_record.with_recording`) — and both compiled chunks
(``train_run.make_chunk``, ``log_every`` updates each) run here, alternating in blocks of ``--block``
chunks. A recording block does what ``phalanx train record=`` does per chunk: the chunk, its rows to
the host, :meth:`TrainRecorder.add` (whole episodes queued for the background vault writer) and
:meth:`TrainRecorder.mark` (the pending-episodes file), then waits for the vault writes before the
block's clock stops, so every write is paid inside its block. Each pair of blocks, measured back to
back, gives a ratio recorded / plain; the table reports the medians (steps/s and the ratio). Each block
also takes the process's CPU time (every thread: XLA's, the vault writer's), so a second ratio, plain /
recorded CPU seconds per env step, tells the work recording adds apart from what other jobs on a loaded
machine take from the wall clock. The first pair is dropped (warm-up). Compilation is outside the clocks.

    python benchmarks/offline/record_cost.py [--pairs 8] [--block 3] [--json out.json] [phalanx train args]
    (default args: env=simple_spread algo=ippo, the learner's defaults, log_every=10)
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import jax

import phalanx
from phalanx.runtime.run_config import resolve
from phalanx.runtime.train_record import CHUNK_ROWS, COMPRESSION, TrainRecorder, with_recording
from phalanx.runtime.train_run import init_state, make_chunk
from phalanx.runtime.vault import VaultWriter, make_trainer


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=8)
    p.add_argument("--block", type=int, default=3)
    p.add_argument("--json")
    opts, args = p.parse_known_args()
    config = resolve(["env=simple_spread", "log_every=10", *args])
    env = phalanx.make(config.env, **config.env_settings)
    plain = make_trainer(config, env)
    recorded = with_recording(plain, env)
    n = config.log_every
    steps = n * config.train.steps_per_update * config.num_seeds  # env steps per chunk
    programs, states = {}, {}
    for name, trainer in (("plain", plain), ("record", recorded)):
        state = init_state(trainer, config)
        programs[name] = make_chunk(trainer, n, config.num_seeds).lower(state).compile()
        states[name] = state
    tmp = Path(tempfile.mkdtemp())
    recorder = TrainRecorder(VaultWriter(tmp / "d.vlt" / "Replay", env, {}, COMPRESSION, CHUNK_ROWS), tmp,
                             config.num_seeds, recorded.env.capacity)
    progress: dict = {}
    chunks = 0

    def block(name: str) -> tuple[float, float]:
        nonlocal chunks
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(opts.block):
            out = programs[name](states[name])
            states[name] = out[0]
            if name == "record":
                recorder.add(*jax.device_get(out[2]))
                chunks += 1
                recorder.mark(chunks, progress, [])
            else:
                jax.block_until_ready(out)
        if name == "record":
            recorder.wait()
        return opts.block * steps / (time.perf_counter() - t0), (time.process_time() - c0) / (opts.block * steps)

    rates: dict[str, list[float]] = {"plain": [], "record": []}
    cpu: dict[str, list[float]] = {"plain": [], "record": []}  # CPU seconds per env step
    for pair in range(opts.pairs + 1):
        order = ("plain", "record") if pair % 2 == 0 else ("record", "plain")
        got = {name: block(name) for name in order}
        if pair:
            for name, (r, c) in got.items():
                rates[name].append(r)
                cpu[name].append(c)
    recorder.finish()
    ratios = [r / q for r, q in zip(rates["record"], rates["plain"], strict=True)]
    cpu_ratios = [q / r for r, q in zip(cpu["record"], cpu["plain"], strict=True)]
    plain_rate, record_rate, ratio = (statistics.median(x) for x in (rates["plain"], rates["record"], ratios))
    train = " ".join(a for a in args) or "defaults"
    print(f"| {config.env} | {config.algo} | {train} | {steps:,} | {plain_rate:,.0f} | {record_rate:,.0f} | "
          f"{ratio:.2f} ({min(ratios):.2f}–{max(ratios):.2f}) | {statistics.median(cpu_ratios):.2f} "
          f"({min(cpu_ratios):.2f}–{max(cpu_ratios):.2f}) | {recorder.rows:,} |")
    if opts.json:
        Path(opts.json).write_text(json.dumps({"args": args, "rates": rates, "ratios": ratios, "ratio": ratio,
                                               "cpu_per_step": cpu, "cpu_ratios": cpu_ratios,
                                               "rows": recorder.rows}, indent=1))


if __name__ == "__main__":
    main()
