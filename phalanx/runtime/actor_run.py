"""``phalanx train env=pettingzoo:<module> algo=A backend=ray ray.num_actors=N [ray.envs_per_actor=K]``: remote
actors step the env, the learner learns here (PPO: ``ippo``/``mappo``; replay: ``iql``/``vdn``/``qmix``).

The learner (this process, on its accelerator when there is one) owns the PPO ``TrainState``. It publishes
the acting part of it (parameters and normalisation statistics: ``ray.put`` once per update) and keeps one
rollout in flight on each :class:`~phalanx.runtime.ray_actors.RolloutActor`. An update learns from
``train.num_envs / K`` blocks (``(T, K, ...)`` each, first finished first, joined along the env axis into the
``(T, train.num_envs, ...)`` rollout the compiled trainer's own ``learn`` consumes: GAE, epochs, minibatches,
the same losses); an actor gets its next rollout, with the latest policy, as soon as its block arrives.

**Staleness.** A block acted with the policy of update ``v`` and learnt at update ``u`` has policy lag
``u - v``. Overlapping acting with learning makes it about 1; blocks older than ``ray.max_policy_lag`` are
dropped (counted in ``dropped_env_steps``), and ``ray.max_policy_lag=0`` makes actors wait for every update
(on-policy, no overlap). What remains is corrected by PPO itself: every block carries the log-probabilities
of the actions under the policy that chose them, so PPO's ratio is taken against the behaviour policy and
clipped, which bounds the step a stale sample can cause. We use that instead of V-trace because with the lag
held to one or two updates the clipped ratio already is a truncated importance weight per sample, the values
and GAE are recomputed with the learner's current critic (feed-forward critics) at learn time, and the learner
stays the one PPO implementation every other path uses; V-trace's truncated multi-step correction pays off
at the long lags (tens of updates) this design does not allow.

**Replay learners** (the Ape-X shape): the actors step ε-greedily with the latest Q-network (ε from the
learner's env-step count, sent with each rollout), or — continuous learners (ISAC, MASAC, MADDPG) — with the
latest actor network and its exploration noise (uniform actions during warm-up), and their blocks are the steps
the learner's replay buffer stores; the learner adds ``train.num_envs / K`` blocks per update and takes its
usual gradient steps, through its own ``learn``. Lag is bounded the same way; these learners are off-policy,
so no correction is needed.

**Accounting** (each ``metrics.jsonl`` line, beside the usual ones): ``actors``, ``envs_per_actor``,
``actor_utilisation`` (mean over actors of time in rollouts / chunk wall time; a block counts in the chunk it
arrives in), ``learner_wait_s`` and
``learner_wait_fraction`` (time the learner waited for blocks), ``policy_lag`` (mean and max over the chunk's
blocks), ``actor_steps_per_s`` (env steps delivered by actors), and, since the start, ``lost_env_steps``
(blocks lost with a dead or failed actor), ``dropped_env_steps`` (blocks past the lag limit) and
``actors_replaced``; ``workers`` has each actor's record. The progress bar shows lag, utilisation and wait.

**Checkpoints and resume** are a local run's: the ``TrainState`` and progress every ``checkpoint_every``
chunks; ``resume=`` restores them and starts fresh actors (episodes in flight at the checkpoint restart).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from rich.console import Console

from phalanx.algos.common.normalize import RunningStats
from phalanx.algos.ppo.config import PPOConfig
from phalanx.algos.ppo.sebulba import Learner as Policy
from phalanx.algos.registry import get_algorithm
from phalanx.errors import PhalanxError
from phalanx.runtime import run_dir as rd
from phalanx.runtime.atomic import write_json
from phalanx.runtime.backend import RayConfig, backend_choice
from phalanx.runtime.metrics import make_line, seed_entries
from phalanx.runtime.ray_actors import ActorPool, Block
from phalanx.runtime.run_context import RunContext, open_run
from phalanx.runtime.train_run import KIND, _record, _status, chunk_sizes, write_summaries
from phalanx.runtime.train_summary import summary_lines


def actor_sizes(ray: RayConfig, num_envs: int, cluster_cpus: float) -> tuple[int, int]:
    """``(num_actors, envs_per_actor)`` of a run (``train.num_envs``): ``ray``'s, or defaults the cluster allows."""
    n = ray.num_actors if ray.num_actors is not None else max(1, int(cluster_cpus // ray.num_cpus) - 1)
    if n * ray.num_cpus > cluster_cpus:  # the extra actors would never start
        raise PhalanxError(f"ray.num_actors={n} x ray.num_cpus={ray.num_cpus} needs {n * ray.num_cpus:g} CPUs and "
                           f"the Ray cluster has {cluster_cpus:g}; use fewer actors or fewer CPUs each, or add nodes.")
    k = ray.envs_per_actor if ray.envs_per_actor is not None else num_envs // n
    if k < 1 or num_envs % k:
        raise PhalanxError(f"ray.num_actors={n}: train.num_envs={num_envs} does not split into whole actor blocks; "
                           "set ray.envs_per_actor= to a divisor of train.num_envs.")
    return n, k


def fold_block_stats(current: RunningStats, sent: RunningStats, after: RunningStats) -> RunningStats:
    """``current`` with the samples an actor folded into its copy of the statistics (``sent`` → ``after``).

    The actor's batch is recovered from the two states (count, mean and variance of what it added) and merged
    into the learner's statistics as :meth:`RunningStats.update` merges a batch; computed in float64.
    """
    n0, n1 = float(sent.count), float(after.count)
    n = n1 - n0
    if n <= 0:
        return current
    m0, v0 = np.float64(sent.mean), np.float64(sent.var)
    m1, v1 = np.float64(after.mean), np.float64(after.var)
    mean_b = (n1 * m1 - n0 * m0) / n
    var_b = np.maximum((n1 * v1 - n0 * v0 - (mean_b - m0) ** 2 * n0 * n / n1) / n, 0.0)
    c, mc, vc = float(current.count), np.float64(current.mean), np.float64(current.var)
    total = c + n
    delta = mean_b - mc
    mean = mc + delta * n / total
    m2 = vc * c + var_b * n + delta**2 * c * n / total
    return RunningStats(jnp.asarray(mean, jnp.float32), jnp.asarray(m2 / total, jnp.float32), jnp.float32(total))


def _fold_all(state: Any, blocks: list[Block]) -> Any:
    """The learner's observation statistics with every block's samples folded in (``normalize_obs``)."""
    obs_stats, state_stats = state.obs_stats, state.state_stats
    for b in blocks:
        (sent_obs, sent_state), (after_obs, after_state) = b.data["stats"]
        obs_stats = {g: fold_block_stats(s, sent_obs[g], after_obs[g]) for g, s in obs_stats.items()}
        if state_stats is not None:
            state_stats = fold_block_stats(state_stats, sent_state, after_state)
    return state.replace(obs_stats=obs_stats, state_stats=state_stats)


def _concat(trees: list[Any], axis: int) -> Any:
    return jax.tree.map(lambda *xs: np.concatenate(xs, axis=axis), *trees)


def _ppo_update(learn: Any) -> Any:
    """``update(state, blocks, steps)``: the blocks joined into one rollout ``(T, B·K, ...)`` (start states
    ``(B·K, ...)``) for PPO's ``learn``, the blocks' observation statistics folded in first."""
    def update(state: Any, blocks: list[Block], steps: int) -> tuple[Any, Any]:
        traj = _concat([b.data["traj"] for b in blocks], 1)
        start_hidden = _concat([b.data["start_hidden"] for b in blocks], 0)
        if state.obs_stats is not None:
            state = _fold_all(state, blocks)
        key, _, k_learn = jax.random.split(state.key, 3)  # a host rollout's split (its middle: acting)
        return learn(state.replace(key=key, env_steps=state.env_steps + steps), traj, start_hidden, k_learn)

    return update


def _replay_update(learn: Any, c: Any) -> Any:
    """``update(state, blocks, steps)``: the blocks' steps ``(T, B·K, ...)`` into a replay learner's buffer and
    its gradient steps (its ``learn``); a Q-learner's ε reported is the schedule's at the learner's count."""
    from phalanx.algos.value_based.config import QLearningConfig
    from phalanx.algos.value_based.targets import linear_epsilon

    def update(state: Any, blocks: list[Block], steps: int) -> tuple[Any, Any]:
        batch = _concat([b.data["steps"] for b in blocks], 1)
        sums = jax.tree.map(lambda *xs: sum(xs), *[b.data["sums"] for b in blocks])
        key, _, k_learn = jax.random.split(state.key, 3)
        state = state.replace(key=key, env_steps=state.env_steps + steps)
        if isinstance(c, QLearningConfig):
            epsilon = linear_epsilon(state.env_steps - steps, c.eps_start, c.eps_finish, c.eps_decay_steps)
            return learn(state, batch, sums, epsilon, k_learn)
        return learn(state, batch, sums, k_learn)  # continuous: exploration noise is the actor's own

    return update


def run(config: Any, overrides: dict[str, Any] | None = None, console: Console | None = None,
        label: str | None = None) -> Path:
    """Train (or, with ``config.resume``, continue) a PettingZoo run on remote actors; return its directory."""
    console = console or Console()
    stored = rd.load_config(config.resume, KIND) if config.resume is not None else None
    _, ray_config = backend_choice(config, overrides, stored)  # a resumed run may change its ray.* settings
    pool = ActorPool()
    try:
        # Ray joined and the actors sized before the run directory exists: a wrong address or too few CPUs
        # is one line with nothing written.
        actors = actor_sizes(ray_config, (stored or config).train.num_envs, pool.connect(ray_config.address))
        with open_run(KIND, config, overrides, console, backend=pool, label=label) as ctx:
            return _train(ctx, pool, ray_config, actors)
    finally:
        pool.close()


def _policy(state: Any) -> Any:
    """The acting part of the learner's state, on the host (what actors receive): PPO's parameters and
    statistics, a replay learner's parameters."""
    if hasattr(state, "obs_stats"):
        return jax.device_get(Policy(state.params, state.obs_stats, state.state_stats, state.value_stats))
    return jax.device_get(state.params)


def _train(run: RunContext, pool: ActorPool, ray_config: RayConfig, actors: tuple[int, int]) -> Path:
    from phalanx.runtime.host_envs import spec_env

    config, console = run.config, run.console
    c = config.train
    env = spec_env(config.env, config.env_settings)
    trainer = get_algorithm(config.algo).make_train(c, env)
    sizes = chunk_sizes(c.num_updates, config.log_every)
    state = jax.jit(trainer.init)(jax.random.PRNGKey(config.seed))
    progress = {"chunks_done": 0, "updates_done": 0, "env_steps": 0, "wall_time": 0.0, "metrics_lines": 0,
                "lost_env_steps": 0, "dropped_env_steps": 0, "actors_replaced": 0}
    step = run.checkpoints.latest_step() if run.resumed else None
    if step is not None:
        state, progress = run.checkpoints.restore(step, state)
        if progress["chunks_done"] >= len(sizes):
            console.print(f"run already complete ({c.num_updates} updates); run dir: {run.path}")
            return run.path
        console.print(f"resumed from checkpoint {step}: {progress['env_steps']:,} env steps done")
    progress = run.start(progress, purge_step=progress["env_steps"] + 1 if progress["chunks_done"] else None)
    num_actors, k = actors
    pool.start(config.env, config.env_settings, config.algo, c, num_actors=num_actors, envs_per_actor=k,
               seed=config.seed, num_cpus=ray_config.num_cpus)
    base_lost, base_dropped, base_replaced = (progress["lost_env_steps"], progress["dropped_env_steps"],
                                              progress["actors_replaced"])
    console.print(f"[bold]phalanx train[/bold] run dir: {run.path}  ({num_actors} Ray actor(s) x {k} envs)")
    per_update, max_lag = c.num_envs // k, ray_config.max_policy_lag
    learn = jax.jit(trainer.learn)
    update = _ppo_update(learn) if isinstance(c, PPOConfig) else _replay_update(learn, c)
    version, learnt = int(state.update_step), int(state.env_steps)
    policy = pool.publish(_policy(state))
    for a in range(num_actors):
        pool.issue(a, policy, version, learnt)
    dropped = 0
    summary: dict[str, Any] = {}  # summary.json's object, made after the last chunk
    with run.progress_bar(f"{config.env} {config.algo}", c.num_updates * c.steps_per_update, progress["env_steps"],
                          "env steps") as bar:
        for chunk_index in range(progress["chunks_done"], len(sizes)):
            t0, wait0, metrics, lags, busy, delivered = time.perf_counter(), pool.wait_s, [], [], 0.0, 0
            for _ in range(sizes[chunk_index]):
                blocks, deferred = [], []
                while len(blocks) < per_update:
                    block = pool.next_block(policy, version, learnt)
                    busy += block.busy_s
                    delivered += pool.block_steps
                    if version - block.version > max_lag:  # too stale: dropped, the actor goes on
                        dropped += pool.block_steps
                        pool.issue(block.actor, policy, version, learnt)
                        continue
                    blocks.append(block)
                    lags.append(version - block.version)
                    if max_lag:
                        pool.issue(block.actor, policy, version, learnt)
                    else:  # on-policy: the actor waits for this update's policy
                        deferred.append(block.actor)
                state, m = update(state, blocks, per_update * pool.block_steps)
                metrics.append(m)
                version, learnt = version + 1, learnt + per_update * pool.block_steps
                policy = pool.publish(_policy(state))
                for a in deferred:
                    pool.issue(a, policy, version, learnt)
            jax.block_until_ready(state.params)
            dt = time.perf_counter() - t0
            n = sizes[chunk_index]
            progress.update(updates_done=progress["updates_done"] + n, chunks_done=chunk_index + 1,
                            env_steps=int(state.env_steps), wall_time=run.wall_time(),
                            lost_env_steps=base_lost + pool.lost_env_steps, dropped_env_steps=base_dropped + dropped,
                            actors_replaced=base_replaced + pool.replaced)
            stacked = jax.tree.map(lambda *x: np.stack(x), *jax.device_get(metrics))
            line = make_line(chunk_index, progress["updates_done"], progress["env_steps"], progress["wall_time"],
                             n * c.steps_per_update / dt, seed_entries(dataclasses.asdict(stacked), 1))
            wait = pool.wait_s - wait0
            utilisation = min(busy / (num_actors * dt), 1.0)
            line.update(actors=num_actors, envs_per_actor=k, actor_utilisation=round(utilisation, 4),
                        learner_wait_s=round(wait, 4), learner_wait_fraction=round(wait / dt, 4),
                        policy_lag={"mean": float(np.mean(lags)), "max": int(np.max(lags))},
                        actor_steps_per_s=round(delivered / dt, 1),
                        **{key: progress[key] for key in ("lost_env_steps", "dropped_env_steps", "actors_replaced")})
            _record(run, line)
            run.hold(chunk_index + 1, state)
            last = chunk_index + 1 == len(sizes)
            if last or (chunk_index + 1) % config.checkpoint_every == 0:
                absolute = None
                if last:  # the final policy and random play on host envs here, as a PettingZoo host run's
                    absolute, summary = _final_summary(run, trainer, state)
                write_summaries(run, env, absolute, final=last)
                if summary:  # before the last checkpoint: a finished run always has it
                    write_json(run.paths.summary, summary)
                run.save(chunk_index + 1, state)
            bar.update(progress["env_steps"], f"{_status(line)}  lag {line['policy_lag']['mean']:.2g}  actors "
                       f"{line['actor_utilisation']:.0%} busy  learner waits {line['learner_wait_fraction']:.0%}")
    console.print(f"done: {progress['env_steps']:,} env steps in {progress['wall_time']:.1f}s "
                  f"({progress['lost_env_steps']:,} lost with {progress['actors_replaced']} replaced actor(s)); "
                  f"run dir: {run.path}")
    if summary:
        for text in summary_lines(summary):
            console.print(text)
    return run.path


def _final_summary(run: RunContext, trainer: Any, state: Any) -> tuple[list[dict[str, list[float]]], dict[str, Any]]:
    """The final evaluation (greedy final policy, then random play from the same reset seeds) on host envs in
    this process, and summary.json's object, as :func:`phalanx.runtime.train_run.run_host` makes them."""
    from phalanx.interop.pettingzoo_in import pettingzoo_factory
    from phalanx.runtime.final_eval import EPISODES, host_final_evaluation
    from phalanx.runtime.host_envs import from_pettingzoo
    from phalanx.runtime.train_summary import summarize

    config = run.config
    factory = pettingzoo_factory(config.env, **config.env_settings)
    with from_pettingzoo(factory, min(EPISODES, config.train.num_envs), num_workers=0) as venv:
        absolute, random = host_final_evaluation(run.console, venv, trainer, state, config.seed)
        return absolute, summarize(venv, run.metrics.read(), absolute, config.seed, EPISODES, random)


__all__ = ["actor_sizes", "fold_block_stats", "run"]
