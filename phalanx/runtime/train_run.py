"""``phalanx train``: compiled chunks of updates, then log / checkpoint / progress, on the run skeleton
(:mod:`phalanx.runtime.run_context`).

A chunk is ``jax.jit`` of a ``lax.scan`` of ``Trainer.update`` over ``log_every`` updates
(``jax.vmap``-ped over seeds when ``num_seeds > 1``). Everything the run needs to continue
bit for bit lives in the ``TrainState`` (parameters, optimiser, envs, RNG key, counters), so
resuming restores it and runs the same chunks: the same RNG stream, the same numbers.

**On a task backend** (Ray): each seed of ``num_seeds`` is a task per chunk — :func:`train_seed_task`,
the same chunk without the seed axis, on a worker that keeps the compiled program between chunks; the
seed's ``TrainState`` travels through Ray's object store. After each chunk (one task per seed, the
"task batch") the run stacks the seeds' states on a leading seed axis and writes everything exactly
where a local run writes it: one ``metrics.jsonl`` line (seed means and ``seeds``, plus ``workers``:
per-worker tasks and busy / wall time), TensorBoard, plots, and the stacked state in
``checkpoints/<chunk>/`` — so ``phalanx eval member=k``, resume and the run directory are the same on
both backends, and a run may be resumed on either. Seed ``k`` starts from the same key as in a local
run; its numbers equal a local ``vmap``-ped run's up to float rounding (XLA compiles a batched program
differently), and are bit for bit the same on any
number of workers (``ray.num_workers=0`` runs the seed tasks in-process).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np
from rich.console import Console

from phalanx.envs.wrappers import episode_metric_names
from phalanx.errors import PhalanxError
from phalanx.runtime import run_dir as rd
from phalanx.runtime.atomic import write_json
from phalanx.runtime.checkpoint import Checkpoints
from phalanx.runtime.final_eval import EPISODES, evaluate_final
from phalanx.runtime.metrics import make_line, marl_eval, seed_entries
from phalanx.runtime.plots import learning_curve
from phalanx.runtime.run_config import RunConfig
from phalanx.runtime.run_context import RunContext, open_run
from phalanx.runtime.train_record import TrainRecorder, record_chunk, recording, with_recording
from phalanx.runtime.train_summary import summarize, summary_lines
from phalanx.runtime.vault import make_trainer

#: ``phalanx train`` run directories.
KIND = rd.TRAIN


def chunk_sizes(num_updates: int, log_every: int) -> list[int]:
    """Updates per chunk: ``log_every`` each, the remainder last."""
    q, r = divmod(num_updates, log_every)
    return [log_every] * q + ([r] if r else [])


def make_chunk(trainer: Any, length: int, num_seeds: int):
    """A jitted ``chunk(state) -> (state, metrics)`` that runs ``length`` updates in a ``lax.scan`` (metrics
    leaves ``(length, ...)``); ``vmap``-ped over a leading seed axis when ``num_seeds > 1``.
    """
    def chunk(state):
        return jax.lax.scan(lambda s, _: trainer.update(s), state, None, length=length)

    if recording(trainer):  # record=: the chunk also returns its rollout's rows (phalanx.runtime.train_record)
        chunk = record_chunk(trainer, length)

    return jax.jit(jax.vmap(chunk) if num_seeds > 1 else chunk)


def init_state(trainer: Any, config: RunConfig):
    """The jitted ``trainer.init`` from ``PRNGKey(seed)``; with ``num_seeds > 1``, ``vmap``-ped over that many
    split keys (every leaf gets a leading ``(num_seeds,)`` axis).
    """
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


def init_seed_states(trainer: Any, config: RunConfig) -> list[Any]:
    """Each seed's initial ``TrainState`` (no seed axis), from the keys :func:`init_state` uses."""
    key = jax.random.PRNGKey(config.seed)
    keys = [key] if config.num_seeds == 1 else list(jax.random.split(key, config.num_seeds))
    init = jax.jit(trainer.init)
    return [jax.device_get(init(k)) for k in keys]


def stack_seeds(states: list[Any], num_seeds: int) -> Any:
    """Per-seed states → one state with a leading seed axis (the state itself when ``num_seeds == 1``)."""
    return states[0] if num_seeds == 1 else jax.tree.map(lambda *x: np.stack(x), *states)


def unstack_seeds(state: Any, num_seeds: int) -> list[Any]:
    """The inverse of :func:`stack_seeds`."""
    state = jax.device_get(state)
    return [state] if num_seeds == 1 else [jax.tree.map(lambda x, k=k: x[k], state) for k in range(num_seeds)]


#: A worker's compiled seed programs: {(learner settings, updates): (trainer, jitted chunk)}.
_SEED_PROGRAMS: dict[tuple[str, int], Any] = {}


def train_seed_task(config: RunConfig, state: Any, updates: int) -> tuple[Any, dict[str, Any]]:
    """Backend task: ``updates`` updates of one seed's ``TrainState`` (no seed axis).

    Returns ``(new state, the chunk's UpdateMetrics as a dict of host arrays (updates, ...))``. The
    compiled chunk is kept per process, keyed by the env, algorithm and learner settings.
    """
    import phalanx

    key = (repr((config.env, sorted(config.env_settings.items()), config.algo, config.train)), updates)
    if key not in _SEED_PROGRAMS:
        trainer = make_trainer(config, phalanx.make(config.env, **config.env_settings))
        _SEED_PROGRAMS[key] = make_chunk(trainer, updates, 1)
    state, metrics = _SEED_PROGRAMS[key](state)
    return jax.device_get(state), dataclasses.asdict(jax.device_get(metrics))


#: Between checkpoints the learning curve is redrawn at most this often (seconds); always at the end.
PLOT_EVERY_S = 30.0


def write_summaries(run: RunContext, env: Any, absolute: list[dict[str, list[float]]] | None = None,
                    final: bool = False) -> None:
    """Rewrite ``marl_eval.json`` and (re)draw ``learning_curve.png`` from ``metrics.jsonl`` so far.

    ``absolute``: the final evaluation (:func:`~phalanx.runtime.final_eval.final_evaluation`), once the run
    is done. The plot is drawn at the first checkpoint, at the end (``final`` or ``absolute`` given), and in
    between only when the last one is :data:`PLOT_EVERY_S` old: drawing it costs more than a small checkpoint,
    and a killed run still has a recent curve.
    """
    lines = run.metrics.read()
    if not lines:
        return
    config = run.config
    num_agents = {g: s.num_agents for g, s in env.spec.groups.items()}
    task_name = "-".join(f"{k}={v}" for k, v in sorted(config.env_settings.items())) or "default"
    write_json(run.paths.marl_eval, marl_eval(lines, config.env, task_name, config.algo, num_agents,
                                              episode_metric_names(env), absolute))
    plot = run.paths.plot
    if final or absolute is not None or not plot.exists() or time.time() - plot.stat().st_mtime >= PLOT_EVERY_S:
        learning_curve(lines, plot, f"{config.env} {config.algo.upper()}")


def _status(line: dict[str, Any], episode_metrics: tuple[str, ...] = ()) -> str:
    returns = " ".join(f"{g}={'-' if v is None else f'{v:.3g}'}" for g, v in line["episode_return"].items())
    extra = " ".join(f"{k}={line[k]:.3g}" for k in episode_metrics if line.get(k) is not None)  # SMAX: win_rate
    return f"{line['steps_per_s']:,.0f} steps/s  return {returns}" + (f"  {extra}" if extra else "")


def _print_summary(console: Console, summary: dict[str, Any]) -> None:
    for text in summary_lines(summary):
        console.print(text, highlight=False)


def _record(run: RunContext, line: dict[str, Any]) -> None:
    """One chunk's line: metrics.jsonl and TensorBoard."""
    run.log(line)
    run.tensorboard.write(line)


def run(config: RunConfig, overrides: dict[str, Any] | None = None, console: Console | None = None,
        backend: Any = None, label: str | None = None) -> Path:
    """Train (or, with ``config.resume``, continue) a run; return its directory.

    Without ``backend``, the config's is made (``backend=local|ray``, or ``backend=`` in ``overrides``). On
    the local backend all seeds train in one ``vmap``-ped program here; on any other each chunk is a
    :func:`train_seed_task` per seed. ``label``: the default run directory's middle part (the algorithm).
    """
    console = console or Console()
    if config.env.startswith("pettingzoo:") and config.resume is None:
        return run_host(config, console)
    with open_run(KIND, config, overrides, console, backend, label) as ctx:
        return _train(ctx)


def _train(run: RunContext) -> Path:
    import phalanx

    config, console = run.config, run.console
    if config.env.startswith("pettingzoo:"):
        raise PhalanxError(f"resume={run.path}: PettingZoo runs cannot resume (their envs live in worker "
                           "processes); start a new run.")
    console.print(f"[bold]phalanx train[/bold] run dir: {run.path}")
    env = phalanx.make(config.env, **config.env_settings)
    trainer = make_trainer(config, env)
    if config.record:  # every step of the training rollout into a vault
        trainer = with_recording(trainer, env)
    sizes = chunk_sizes(trainer.num_updates, config.log_every)
    spu = config.train.steps_per_update
    run.note_budget("train.total_steps", config.train.total_steps, trainer.num_updates * spu,
                    f"whole updates of train.num_envs x train.num_steps = {spu:,} env steps")
    ckpt = run.checkpoints
    step = ckpt.latest_step() if run.resumed else None
    if step is not None and ckpt.progress(step)["chunks_done"] >= len(sizes):
        console.print(f"run already complete ({trainer.num_updates} updates); run dir: {run.path}")
        if run.paths.summary.is_file():
            _print_summary(console, json.loads(run.paths.summary.read_text()))
        return run.path
    num_seeds = config.num_seeds
    in_process = run.backend.name == "local"  # else: a task per seed per chunk
    if in_process:
        state = shard_seeds(init_state(trainer, config), num_seeds)
    else:
        state = stack_seeds(init_seed_states(trainer, config), num_seeds)
    progress = {"chunks_done": 0, "updates_done": 0, "env_steps": 0, "wall_time": 0.0, "metrics_lines": 0}
    if step is not None:
        state, progress = ckpt.restore(step, state)
        if in_process:
            state = shard_seeds(state, num_seeds)
        console.print(f"resumed from checkpoint {step}: {progress['env_steps']:,} env steps done")
    progress = run.start(progress, purge_step=progress["env_steps"] + 1 if progress["chunks_done"] else None)
    recorder = TrainRecorder.open(run, config, env, trainer, progress) if config.record else None

    steps_per_update = config.train.steps_per_update
    metric_names = episode_metric_names(env)
    compiled: dict[int, Any] = {}

    def advance(state: Any, chunk_index: int, n: int) -> tuple[Any, list[dict[str, Any]]]:
        """``n`` updates of every seed → (state, per-seed metric entries)."""
        if in_process:
            state, metrics, *rows = compiled[n](state)
            if recorder is not None:  # between chunks: the rows to the vault (timed with the chunk)
                recorder.add(*jax.device_get(rows[0]))
                if chunk_index + 1 == len(sizes):
                    recorder.finish()
            state = shard_seeds(state, num_seeds)  # XLA may hand empty leaves back unsharded
            return state, seed_entries(dataclasses.asdict(jax.device_get(metrics)), num_seeds)
        futures = [run.backend.submit(train_seed_task, config, s, n, name=f"train seed {k} chunk {chunk_index}")
                   for k, s in enumerate(unstack_seeds(state, num_seeds))]
        results = run.backend.gather(futures)
        entries = [seed_entries(m, 1)[0] for _, m in results]
        return stack_seeds([s for s, _ in results], num_seeds), entries

    summary = None  # summary.json's object, made after the last chunk
    with run.progress_bar(f"{config.env} {config.algo}", trainer.num_updates * steps_per_update,
                          progress["env_steps"], "env steps") as bar:
        for chunk_index in range(progress["chunks_done"], len(sizes)):
            n = sizes[chunk_index]
            if in_process and n not in compiled:  # compiled outside the timed step
                compiled[n] = make_chunk(trainer, n, num_seeds).lower(state).compile()
            t0 = time.perf_counter()
            state, entries = advance(state, chunk_index, n)
            dt = time.perf_counter() - t0
            progress["updates_done"] += n
            progress["env_steps"] = progress["updates_done"] * steps_per_update
            progress["chunks_done"] = chunk_index + 1
            progress["wall_time"] = run.wall_time()
            line = make_line(chunk_index, progress["updates_done"], progress["env_steps"], progress["wall_time"],
                             n * steps_per_update * num_seeds / dt, entries)
            _record(run, line)
            if recorder is not None:
                recorder.mark(chunk_index + 1, progress, ckpt.all_steps())
            run.hold(chunk_index + 1, state)  # what Ctrl-C / SIGTERM checkpoint
            if chunk_index + 1 == len(sizes) or (chunk_index + 1) % config.checkpoint_every == 0:
                # Plot and marl-eval file first: a run killed after this checkpoint still has them.
                last = chunk_index + 1 == len(sizes)  # then the final policy is evaluated for marl_eval.json
                absolute = evaluate_final(console, env, trainer, state, num_seeds, config.seed) if last else None
                write_summaries(run, env, absolute)
                if last:  # before the last checkpoint: a finished run always has it
                    summary = summarize(env, run.metrics.read(), absolute, config.seed, EPISODES)
                    write_json(run.paths.summary, summary)
                if recorder is not None:
                    recorder.wait()  # the checkpoint counts the vault's rows: they are written first
                run.save(chunk_index + 1, state)
            bar.update(progress["env_steps"], _status(line, metric_names))
    console.print(f"done: {progress['env_steps']:,} env steps per seed in {progress['wall_time']:.1f}s; "
                  f"run dir: {run.path}")
    if summary is not None:
        _print_summary(console, summary)
    return run.path


def run_host(config: RunConfig, console: Console) -> Path:
    """``phalanx train env=pettingzoo:<module> algo=A``: any learner with the env in worker processes.

    The learner's own compiled ``update`` steps the pool through host callbacks
    (:mod:`phalanx.algos.common.host`); PPO with an even number (>= 2) of workers takes that path's
    overlap option instead, acting on one half of the envs while the workers step the other
    (:mod:`phalanx.algos.ppo.sebulba`). The same run skeleton and outputs as :func:`run` (config,
    metrics.jsonl lines in the same format, TensorBoard, plot, marl-eval file, checkpoints every
    ``checkpoint_every`` chunks and at the end); no resume (the envs' state lives in the worker processes).
    After the last chunk the final policy plays greedy episodes on the same host envs, and random play the same
    starts (:func:`~phalanx.runtime.final_eval.host_final_evaluation`): marl_eval.json's absolute metrics and
    summary.json, printed as a local run's summary.
    """
    from phalanx.algos.common.host import SpecEnv, train_host
    from phalanx.algos.ppo.config import PPOConfig
    from phalanx.algos.ppo.sebulba import default_splits, train_overlapped
    from phalanx.algos.registry import get_algorithm
    from phalanx.interop.pettingzoo_in import pettingzoo_factory
    from phalanx.runtime.final_eval import host_final_evaluation
    from phalanx.runtime.host_envs import from_pettingzoo

    factory = pettingzoo_factory(config.env, **config.env_settings)
    c = config.train
    chunks = len(chunk_sizes(c.num_updates, config.log_every))
    splits = default_splits(c.num_envs, config.num_workers) if isinstance(c, PPOConfig) else 1

    def line(chunk: int, update: int, metrics: list[Any], wall_time: float, steps_per_s: float) -> dict[str, Any]:
        stacked = jax.tree.map(lambda *x: np.stack(x), *metrics)
        return make_line(chunk, update, int(stacked.env_steps[-1]), wall_time, steps_per_s,
                         seed_entries(dataclasses.asdict(stacked), 1))

    with from_pettingzoo(factory, c.num_envs, config.num_workers, splits) as venv, \
            open_run(KIND, config, console=console) as run:
        console.print(f"[bold]phalanx train[/bold] run dir: {run.path}  ({config.num_workers} env worker(s))")
        progress = run.start({"chunks_done": 0, "updates_done": 0, "env_steps": 0, "wall_time": 0.0,
                              "metrics_lines": 0})
        summary: dict[str, Any] = {}  # summary.json's object, made after the last chunk
        with run.progress_bar(f"{config.env} {config.algo}", c.num_updates * c.steps_per_update, 0,
                              "env steps") as bar:

            def on_line(state: Any, line: dict[str, Any]) -> None:
                _record(run, line)
                done = line["chunk"] + 1
                progress.update(chunks_done=done, updates_done=line["update"], env_steps=line["env_steps"],
                                wall_time=line["wall_time"])
                if done == chunks or done % config.checkpoint_every == 0:
                    absolute = None
                    if done == chunks:  # the final policy on the host envs (the learner as built on their spec)
                        learner = get_algorithm(config.algo).make_train(c, SpecEnv(venv.spec))
                        absolute, random = host_final_evaluation(console, venv, learner, state, config.seed)
                        summary.update(summarize(venv, run.metrics.read(), absolute, config.seed, EPISODES, random))
                    write_summaries(run, venv, absolute, final=done == chunks)
                    if summary:  # before the last checkpoint: a finished run always has it
                        write_json(run.paths.summary, summary)
                    run.save(done, state)
                bar.update(line["env_steps"], _status(line))

            if splits > 1:
                train_overlapped(c, venv, seed=config.seed, log_every=config.log_every, callback=on_line, line=line)
            else:
                train_host(c, venv, make_train=get_algorithm(config.algo).make_train, seed=config.seed,
                           log_every=config.log_every, callback=on_line, line=line)
    console.print(f"done: {progress['env_steps']:,} env steps in {progress['wall_time']:.1f}s; run dir: {run.path}")
    if summary:
        _print_summary(console, summary)
    return run.path


def restore_final(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """``(state, progress)`` from a run directory's newest checkpoint (for tests and analysis)."""
    import phalanx
    from phalanx.algos.registry import get_algorithm

    config = rd.load_config(path, KIND)
    trainer = get_algorithm(config.algo).make_train(config.train, phalanx.make(config.env, **config.env_settings))
    ckpt = Checkpoints(Path(path) / "checkpoints")
    step = ckpt.latest_step()
    if step is None:
        raise PhalanxError(f"{path}: no finalised checkpoint.")
    try:
        return ckpt.restore(step, init_state(trainer, config))
    finally:
        ckpt.close()
