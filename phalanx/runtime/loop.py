"""The host loop of ``phalanx train``: compiled chunks of updates, then log / checkpoint / progress.

A chunk is ``jax.jit`` of a ``lax.scan`` of ``Trainer.update`` over ``log_every`` updates
(``jax.vmap``-ped over seeds when ``num_seeds > 1``). Everything the run needs to continue
bit for bit lives in the ``TrainState`` (parameters, optimiser, envs, RNG key, counters), so
resuming restores it and runs the same chunks: the same RNG stream, the same numbers.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from phalanx.errors import PhalanxError
from phalanx.runtime import run_dir as rd
from phalanx.runtime.checkpoint import Checkpoints
from phalanx.runtime.metrics import MetricsLog, TensorBoard, make_line, marl_eval, seed_entries, write_json
from phalanx.runtime.plots import learning_curve
from phalanx.runtime.run_config import RunConfig


def chunk_sizes(num_updates: int, log_every: int) -> list[int]:
    """Updates per chunk: ``log_every`` each, the remainder last."""
    q, r = divmod(num_updates, log_every)
    return [log_every] * q + ([r] if r else [])


def make_chunk(trainer: Any, length: int, num_seeds: int):
    def chunk(state):
        return jax.lax.scan(lambda s, _: trainer.update(s), state, None, length=length)

    return jax.jit(jax.vmap(chunk) if num_seeds > 1 else chunk)


def init_state(trainer: Any, config: RunConfig):
    key = jax.random.PRNGKey(config.seed)
    if config.num_seeds > 1:
        return jax.jit(jax.vmap(trainer.init))(jax.random.split(key, config.num_seeds))
    return jax.jit(trainer.init)(key)


def shard_seeds(state: Any, num_seeds: int) -> Any:
    """Spread the seed axis over all local devices when there are several and they divide it.

    Seeds are independent, so XLA partitions the ``vmap``-ped chunk along that axis with no
    communication: each device (GPU, or a CPU device from
    ``XLA_FLAGS=--xla_force_host_platform_device_count=N``) trains its own seeds.
    """
    devices = jax.local_devices()
    if num_seeds < 2 or len(devices) < 2 or num_seeds % len(devices):
        return state
    mesh = jax.sharding.Mesh(np.asarray(devices), ("seeds",))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("seeds"))
    return jax.device_put(state, sharding)


def write_summaries(run_dir: Any, config: RunConfig, env: Any, log: MetricsLog) -> None:
    """(Re)write ``learning_curve.png`` and ``marl_eval.json`` from ``metrics.jsonl`` so far."""
    lines = log.read()
    if not lines:
        return
    num_agents = {g: s.num_agents for g, s in env.spec.groups.items()}
    task_name = "-".join(f"{k}={v}" for k, v in sorted(config.env_settings.items())) or "default"
    write_json(run_dir.marl_eval, marl_eval(lines, config.env, task_name, config.algo, num_agents))
    learning_curve(lines, run_dir.plot, f"{config.env} {config.algo.upper()} ({config.num_seeds} seed(s))")


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f} env steps"),
        TextColumn("{task.fields[sps]} steps/s"), TextColumn("return {task.fields[ret]}"),
        TimeRemainingColumn(), console=console,
    )


def _fmt_return(line: dict[str, Any]) -> str:
    return " ".join(f"{g}={'-' if v is None else f'{v:.3g}'}" for g, v in line["episode_return"].items())


def run(config: RunConfig, overrides: dict[str, Any] | None = None, console: Console | None = None) -> Path:
    """Train (or, with ``config.resume``, continue) a run; return its directory."""
    import phalanx
    from phalanx.algos.registry import get_algorithm

    console = console or Console()
    if config.env.startswith("pettingzoo:"):
        return run_host(config, console)
    resuming = config.resume is not None
    if resuming:
        run_dir, config = rd.open_for_resume(config.resume, overrides or {})
    else:
        run_dir, config = rd.create(config)
    console.print(f"[bold]phalanx train[/bold] run dir: {run_dir.path}")

    env = phalanx.make(config.env, **config.env_settings)
    trainer = get_algorithm(config.algo).make_train(config.train, env)
    sizes = chunk_sizes(trainer.num_updates, config.log_every)
    ckpt = Checkpoints(run_dir.checkpoints)
    if resuming and (step := ckpt.latest_step()) is not None and ckpt.progress(step)["chunks_done"] >= len(sizes):
        ckpt.close()
        console.print(f"run already complete ({trainer.num_updates} updates); run dir: {run_dir.path}")
        return run_dir.path
    state = shard_seeds(init_state(trainer, config), config.num_seeds)
    log = MetricsLog(run_dir.metrics)
    progress = {"chunks_done": 0, "updates_done": 0, "env_steps": 0, "wall_time": 0.0, "metrics_lines": 0}
    if resuming and (step := ckpt.latest_step()) is not None:
        state, progress = ckpt.restore(step, state)
        state = shard_seeds(state, config.num_seeds)
        console.print(f"resumed from checkpoint {step}: {progress['env_steps']:,} env steps done")
    log.truncate(progress["metrics_lines"])  # drop lines logged after the checkpoint
    tb = TensorBoard(run_dir.path, purge_step=progress["env_steps"] + 1 if progress["chunks_done"] else None)

    steps_per_update = config.train.steps_per_update
    total_steps = trainer.num_updates * steps_per_update
    compiled: dict[int, Any] = {}
    wall0 = time.perf_counter() - progress["wall_time"]
    try:
        with _progress(console) as bar:
            task = bar.add_task(f"{config.env} {config.algo}", total=total_steps, completed=progress["env_steps"],
                                sps="-", ret="-")
            for chunk_index in range(progress["chunks_done"], len(sizes)):
                n = sizes[chunk_index]
                if n not in compiled:
                    compiled[n] = make_chunk(trainer, n, config.num_seeds).lower(state).compile()
                t0 = time.perf_counter()
                state, metrics = compiled[n](state)
                state = shard_seeds(state, config.num_seeds)  # XLA may hand empty leaves back unsharded
                metrics = dataclasses.asdict(jax.device_get(metrics))
                dt = time.perf_counter() - t0
                progress["updates_done"] += n
                progress["env_steps"] = progress["updates_done"] * steps_per_update
                progress["chunks_done"] = chunk_index + 1
                progress["wall_time"] = time.perf_counter() - wall0
                line = make_line(chunk_index, progress["updates_done"], progress["env_steps"], progress["wall_time"],
                                 n * steps_per_update * config.num_seeds / dt, seed_entries(metrics, config.num_seeds))
                log.append(line)
                progress["metrics_lines"] += 1
                tb.write(line)
                last = chunk_index + 1 == len(sizes)
                if last or (chunk_index + 1) % config.checkpoint_every == 0:
                    # Plot and marl-eval file first: a run killed after this checkpoint still has them.
                    write_summaries(run_dir, config, env, log)
                    ckpt.save(chunk_index + 1, state, progress)
                bar.update(task, completed=progress["env_steps"], sps=f"{line['steps_per_s']:,.0f}",
                           ret=_fmt_return(line))
    finally:
        tb.close()
        ckpt.close()

    write_summaries(run_dir, config, env, log)
    console.print(f"done: {progress['env_steps']:,} env steps per seed in {progress['wall_time']:.1f}s; "
                  f"run dir: {run_dir.path}")
    return run_dir.path


def run_host(config: RunConfig, console: Console) -> Path:
    """``phalanx train env=pettingzoo:<module>``: PPO with the env in worker processes (Sebulba shape).

    Same outputs as :func:`run` (config, metrics.jsonl, TensorBoard, plot, marl-eval file) and a
    final checkpoint of the learner; no resume (the envs' state lives in the worker processes).
    """
    from phalanx.algos.ppo.sebulba import default_splits, train_host
    from phalanx.envs.pettingzoo_in import from_pettingzoo, pettingzoo_factory

    if config.resume is not None:
        raise PhalanxError(f"resume={config.resume}: PettingZoo runs cannot resume (their envs live in worker "
                           "processes); start a new run.")
    factory = pettingzoo_factory(config.env, **config.env_settings)
    c = config.train
    splits = default_splits(c.num_envs, config.num_workers)
    with from_pettingzoo(factory, c.num_envs, config.num_workers, splits) as venv:
        run_dir, config = rd.create(config)
        console.print(f"[bold]phalanx train[/bold] run dir: {run_dir.path}  ({config.num_workers} env worker(s))")
        log, tb, ckpt = MetricsLog(run_dir.metrics), TensorBoard(run_dir.path), Checkpoints(run_dir.checkpoints)
        log.truncate(0)
        try:
            with _progress(console) as bar:
                task = bar.add_task(f"{config.env} {config.algo}", total=c.num_updates * c.steps_per_update,
                                    completed=0, sps="-", ret="-")

                def on_line(state: Any, line: dict[str, Any]) -> None:
                    log.append(line)
                    tb.write(line)
                    if (line["chunk"] + 1) % config.checkpoint_every == 0:
                        write_summaries(run_dir, config, venv, log)
                    bar.update(task, completed=line["env_steps"], sps=f"{line['steps_per_s']:,.0f}",
                               ret=_fmt_return(line))

                state, lines = train_host(c, seed=config.seed, venv=venv, log_every=config.log_every,
                                          callback=on_line)
            progress = {"chunks_done": len(lines), "updates_done": lines[-1]["update"],
                        "env_steps": lines[-1]["env_steps"], "wall_time": lines[-1]["wall_time"],
                        "metrics_lines": len(lines)}
            ckpt.save(len(lines), state, progress)
        finally:
            tb.close()
            ckpt.close()
        write_summaries(run_dir, config, venv, log)
    console.print(f"done: {progress['env_steps']:,} env steps in {progress['wall_time']:.1f}s; run dir: {run_dir.path}")
    return run_dir.path


def restore_final(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """``(state, progress)`` from a run directory's newest checkpoint (for tests and analysis)."""
    import phalanx
    from phalanx.algos.registry import get_algorithm

    config = rd.load_config(path)
    trainer = get_algorithm(config.algo).make_train(config.train, phalanx.make(config.env, **config.env_settings))
    ckpt = Checkpoints(Path(path) / "checkpoints")
    step = ckpt.latest_step()
    if step is None:
        raise PhalanxError(f"{path}: no finalised checkpoint.")
    try:
        return ckpt.restore(step, init_state(trainer, config))
    finally:
        ckpt.close()
