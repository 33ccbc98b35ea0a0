"""IQL / VDN / QMIX on level-based foraging ``2s-8x8-2p-2f-coop``: returns vs steps, wall time, random baseline.

    python benchmarks/value_based/value_based_lbf.py [--algos iql vdn qmix] [--steps 3e5] [--seed 0]
                                         [--time-limit 50] [--eval-episodes 1000] [--json out.json]
    python benchmarks/value_based/value_based_lbf.py --replay-vs-flashbax

Each learner is built exactly as ``phalanx train env=lbf algo=NAME env.scenario=2s-8x8-2p-2f-coop
env.team_reward=true env.time_limit=50 train.total_steps=STEPS`` builds it (the same config
resolution, so the per-env defaults the CLI uses are the ones measured), then trained in compiled
chunks of ``--chunk`` updates. Reported per learner:

* ``train_return``: mean episode return of the training episodes (ε-greedy) in the last 10 % of
  env steps — what ``metrics.jsonl`` logs;
* ``greedy_return``: ``--eval-episodes`` fresh episodes with greedy actions (ε = 0), with a 95 %
  confidence interval, and the uniform random policy on the same start states;
* ``compile_s`` and ``train_s`` (wall time of the chunks, compile excluded), env steps/s.

Settings mirror EPyMARL's benchmark of this task (Papoudakis et al., 2021: ``Foraging-2s-8x8-2p-2f-coop``,
``time_limit=50``, common reward = the sum of the agents' rewards): ``env.team_reward=true`` gives
every agent that sum, so an episode's return is 1 when both food items are eaten.

``--replay-vs-flashbax`` instead times :class:`phalanx.algos.replay.ReplayBuffer` (flashbax's
trajectory buffer behind the learners' time-major calls since 2026-11-22; before, our own packed
buffer) against flashbax's trajectory buffer called directly, on the learner's traffic (process
CPU time): rollouts of 8 steps × 16 envs of LBF-sized steps added, two
batches of 32 windows of 30 steps sampled per update, ``lax.scan`` over 100 updates in one jitted
function, both buffers alternating in one process.
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

import phalanx
from phalanx.algos.registry import get_algorithm
from phalanx.runtime.evaluate import episode_returns, summarize
from phalanx.runtime.run_config import from_values

SCENARIO = "2s-8x8-2p-2f-coop"


def run(algo: str, steps: int, seed: int, time_limit: int, eval_episodes: int, chunk: int,
        overrides: dict | None = None) -> dict:
    """Train ``algo`` for ``steps`` env steps and evaluate it; a dict of the numbers above."""
    env_settings = {"scenario": SCENARIO, "team_reward": True, "time_limit": time_limit}
    config = from_values({"env": "lbf", "algo": algo, "seed": seed,
                          "train": {"total_steps": steps, **(overrides or {})}}, env_settings)
    env = phalanx.make("lbf", **env_settings)
    trainer = get_algorithm(algo).make_train(config.train, env)

    t0 = time.perf_counter()
    state = jax.jit(trainer.init)(jax.random.PRNGKey(seed))
    step = jax.jit(lambda s: jax.lax.scan(lambda c, _: trainer.update(c), s, None, length=chunk))
    compiled = step.lower(state).compile()
    compile_s = time.perf_counter() - t0

    curve, train_s, done = [], 0.0, 0
    while done < trainer.num_updates:
        t0 = time.perf_counter()
        state, metrics = compiled(state)
        jax.block_until_ready(state.params)
        train_s += time.perf_counter() - t0
        done += chunk
        ret = np.asarray(metrics.episode_return_sum["agents"])
        count = np.asarray(metrics.episode_count)
        curve.append((int(state.env_steps), float(ret.sum() / max(count.sum(), 1.0)), float(count.sum())))
        print(f"  {algo} {curve[-1][0]:>8,} env steps  {train_s:6.1f}s  train return {curve[-1][1]:.3f}", flush=True)

    env_steps = int(state.env_steps)
    tail = [c for c in curve if c[0] > 0.9 * env_steps]
    train_return = sum(r * n for _, r, n in tail) / max(sum(n for _, _, n in tail), 1.0)
    trained, random = episode_returns(env, trainer, state, eval_episodes, seed=seed + 1000, greedy=True,
                                      max_steps=time_limit)
    greedy, rand = summarize(trained["agents"]), summarize(random["agents"])
    return {
        "algo": algo, "env_steps": env_steps, "compile_s": round(compile_s, 1), "train_s": round(train_s, 1),
        "steps_per_s": round(env_steps / train_s), "train_return": round(train_return, 3),
        "greedy_return": round(greedy.mean, 3), "greedy_ci95": round(greedy.ci95, 3),
        "random_return": round(rand.mean, 4), "random_ci95": round(rand.ci95, 4),
        "curve": curve, "config": {k: v for k, v in vars(config.train).items()},
    }


def _lbf_steps(t: int, e: int) -> dict:
    """A pytree of ``(t, e, ...)`` leaves shaped like the learner's stored LBF step (2 agents, GRU 64)."""
    f32, i32 = jnp.float32, jnp.int32
    shapes = {"obs": ((2, 12), f32), "action": ((2,), i32), "reward": ((2,), f32), "terminated": ((2,), bool),
              "active": ((2,), bool), "next_obs": ((2, 12), f32), "next_mask": ((2, 6), bool),
              "episode_end": ((), bool), "resets": ((), bool), "hidden": ((2, 64), f32), "state": ((24,), f32),
              "next_state": ((24,), f32)}
    return {k: jnp.ones((t, e, *shape), dtype) for k, (shape, dtype) in shapes.items()}


def replay_vs_flashbax(rounds: int = 9, updates: int = 100) -> dict:
    """CPU time of ``updates`` × (add one rollout, sample two batches) for both buffers: the median over
    ``rounds`` alternating runs, in ms per update, and compile CPU times (flashbax's compiled first)."""
    import flashbax

    from phalanx.algos.replay import ReplayBuffer

    t, e, batch, length, slots = 8, 16, 32, 30, 100_000 // 16
    ours = ReplayBuffer(slots)
    theirs = flashbax.make_trajectory_buffer(add_batch_size=e, sample_batch_size=batch, sample_sequence_length=length,
                                             period=1, min_length_time_axis=length, max_size=slots * e)
    rollout = _lbf_steps(t, e)
    checksum = lambda x: sum(jnp.sum(v.astype(jnp.float32)) for v in jax.tree.leaves(x))  # noqa: E731

    def ours_update(carry, key):
        state, acc = carry
        state = ours.add(state, rollout)
        for k in jax.random.split(key, 2):
            acc = acc + checksum(ours.sample(state, k, batch, length))
        return (state, acc), None

    def theirs_update(carry, key):
        state, acc = carry
        state = theirs.add(state, jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), rollout))  # flashbax: (E, T, ...)
        for k in jax.random.split(key, 2):
            acc = acc + checksum(theirs.sample(state, k).experience)
        return (state, acc), None

    def program(update, state):
        def run(state, key):
            return jax.lax.scan(update, (state, jnp.float32(0)), jax.random.split(key, updates))[0]
        return run

    one = jax.tree.map(lambda x: x[0, 0], rollout)
    ours_state = ours.add(ours.init(jax.tree.map(lambda x: x[0], rollout)), _lbf_steps(64, e))
    theirs_state = theirs.add(theirs.init(one), jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), _lbf_steps(64, e)))
    out = {}
    for name, update, state in (("flashbax", theirs_update, theirs_state), ("phalanx", ours_update, ours_state)):
        t0 = time.process_time()
        out[name] = {"fn": jax.jit(program(update, state)).lower(state, jax.random.PRNGKey(0)).compile(),
                     "state": state, "compile_s": time.process_time() - t0, "run_s": []}
    for r in range(rounds):  # alternate, so both see the same machine load
        for name in ("phalanx", "flashbax"):
            # CPU time of this process (all its threads): far less sensitive than wall time to other
            # processes sharing the cores.
            t0 = time.process_time()
            jax.block_until_ready(out[name]["fn"](out[name]["state"], jax.random.PRNGKey(r)))
            out[name]["run_s"].append(time.process_time() - t0)
    return {name: {"compile_s": round(v["compile_s"], 2),
                   "ms_per_update": round(1e3 * float(np.median(v["run_s"])) / updates, 3),
                   "ms_per_update_all": [round(1e3 * x / updates, 3) for x in v["run_s"]]} for name, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", nargs="+", default=["iql", "vdn", "qmix"])
    parser.add_argument("--steps", type=float, default=3e5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time-limit", type=int, default=50)
    parser.add_argument("--eval-episodes", type=int, default=1000)
    parser.add_argument("--chunk", type=int, default=50, help="updates per compiled chunk")
    parser.add_argument("--json", default=None)
    parser.add_argument("--replay-vs-flashbax", action="store_true")
    args = parser.parse_args()
    if args.replay_vs_flashbax:
        print(json.dumps(replay_vs_flashbax()))
        return
    results = []
    for algo in args.algos:
        results.append(run(algo, int(args.steps), args.seed, args.time_limit, args.eval_episodes, args.chunk))
        r = results[-1]
        print(f"{algo}: {r['env_steps']:,} steps in {r['train_s']}s (+{r['compile_s']}s compile, "
              f"{r['steps_per_s']:,} steps/s); train return {r['train_return']}, greedy {r['greedy_return']} "
              f"± {r['greedy_ci95']}, random {r['random_return']}", flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1, default=str)


if __name__ == "__main__":
    main()
