"""Recurrent MAPPO on SMAX end to end (rollout + learning, env steps/s): Phalanx vs JaxMARL's ``mappo_rnn_smax.py``.

    python benchmarks/smax/mappo_rnn_vs_jaxmarl.py --jaxmarl-repo PATH --jaxmarl-python PATH \\
        [--maps 3m 3s5z] [--updates 4] [--rounds 3] [--variants auto 0] [--split]

``--jaxmarl-repo`` is a clone of FLAIROx/JaxMARL: its ``baselines/MAPPO/mappo_rnn_smax.py`` is imported
there, from its own virtualenv (``--jaxmarl-python``, with JaxMARL's ``algs`` extra), never copied here.
The peer runs with its own config ``config/mappo_homogenous_rnn_smax.yaml`` (128 envs × 128 steps,
4 epochs × 4 minibatches, 128-wide layer and GRU, lr 0.002 annealed, wandb disabled) with only
``MAP_NAME`` and ``TOTAL_TIMESTEPS`` changed: ``--updates`` updates, the same budget on both sides.

The Phalanx side is what ``phalanx train env=smax env.scenario=MAP algo=mappo`` resolves to (the
settings registered with ``smax`` for ``mappo``, the same numbers as the peer's yaml), with the same
``total_steps``, run as one compiled program: ``jax.jit(make_train(config, env).train)``, as the peer
runs ``jax.jit(make_train(config))``. Both whole programs include init, every update and, on the
peer's side, its per-update metrics callback into (disabled) wandb.

Each side is compiled once (compile time reported apart), then ``--rounds`` rounds time every side
once in rotating order; the ratio is the median of the same-round ratios. Phalanx variants:
``auto`` (the registered settings), or a number ``N`` (``train.grad_chunk=N``; ``0`` = one pass per
minibatch). ``--split`` also times Phalanx's rollout and learning half apart (one update each).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import textwrap
import time
from pathlib import Path

import jax

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: benchmarks.common
from benchmarks.common.peer import PeerProcess

# Our timing harness around the peer's own script (runs in the peer's virtualenv): build its config,
# compile its make_train, report steps and compile time, then time one whole run per stdin line.
PEER_DRIVER = textwrap.dedent("""
    import json, sys, time
    repo, map_name, updates = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sys.path.insert(0, repo + "/baselines/MAPPO")
    import jax, wandb
    from omegaconf import OmegaConf
    wandb.init(mode="disabled")
    import mappo_rnn_smax
    config = OmegaConf.to_container(OmegaConf.load(repo + "/baselines/MAPPO/config/mappo_homogenous_rnn_smax.yaml"))
    steps = config["NUM_ENVS"] * config["NUM_STEPS"] * updates
    config.update(MAP_NAME=map_name, TOTAL_TIMESTEPS=steps)
    key = jax.random.PRNGKey(0)
    start = time.perf_counter()
    train = jax.jit(mappo_rnn_smax.make_train(config)).lower(key).compile()
    compile_s = time.perf_counter() - start
    jax.block_until_ready(train(key))  # warm-up run, untimed
    print(json.dumps({"env_steps": steps, "compile_s": compile_s, "num_envs": config["NUM_ENVS"],
                      "num_steps": config["NUM_STEPS"], "epochs": config["UPDATE_EPOCHS"],
                      "minibatches": config["NUM_MINIBATCHES"]}), flush=True)
    for _ in sys.stdin:
        start = time.perf_counter()
        jax.block_until_ready(train(key))
        print(json.dumps({"seconds": time.perf_counter() - start}), flush=True)
""")


def phalanx_config(updates: int, variant: str):
    """What ``phalanx train env=smax algo=mappo`` resolves to, for ``updates`` updates (``variant``: grad_chunk)."""
    from phalanx.algos.ppo import PPOConfig
    from phalanx.envs.registry import command_defaults

    settings = {k.removeprefix("train."): v for k, v in command_defaults("smax", "train", "mappo").items()}
    config = PPOConfig(critic="mappo", **settings)
    config = dataclasses.replace(config, total_steps=config.steps_per_update * updates)
    if variant != "auto":
        config = dataclasses.replace(config, grad_chunk=int(variant))
    return config


class PhalanxSide:
    """``jax.jit(trainer.train)`` compiled once; ``time()`` runs it once."""

    def __init__(self, map_name: str, updates: int, variant: str):
        import phalanx
        from phalanx.algos.ppo import make_train

        self.trainer = make_train(phalanx_config(updates, variant), phalanx.make("smax", scenario=map_name))
        self.key = jax.random.PRNGKey(0)
        start = time.perf_counter()
        self.train = jax.jit(self.trainer.train).lower(self.key).compile()
        self.compile_s = time.perf_counter() - start
        jax.block_until_ready(self.train(self.key))  # warm-up run, untimed
        self.env_steps = self.trainer.config.steps_per_update * updates

    def time(self) -> float:
        """Seconds of one whole run."""
        start = time.perf_counter()
        jax.block_until_ready(self.train(self.key))
        return time.perf_counter() - start


def split_times(map_name: str, repeats: int = 3) -> tuple[float, float]:
    """Median seconds of Phalanx's rollout (``num_steps`` env steps of every env) and of its learning half."""
    import phalanx
    from phalanx.algos.ppo import make_train
    from phalanx.algos.ppo.rollout import env_step

    trainer = make_train(phalanx_config(1, "auto"), phalanx.make("smax", scenario=map_name))
    state = jax.jit(trainer.init)(jax.random.PRNGKey(0))
    keys = jax.random.split(jax.random.PRNGKey(1), trainer.config.num_steps)
    rollout = jax.jit(lambda s: jax.lax.scan(lambda c, k: env_step(trainer, c, k), s, keys))
    start_hidden = {"actor": state.actor_hidden, "critic": state.critic_hidden}
    after, traj = jax.block_until_ready(rollout(state))
    learn = jax.jit(lambda s, t: trainer.learn(s, t, start_hidden, jax.random.PRNGKey(2)))
    jax.block_until_ready(learn(after, traj))
    roll_t, learn_t = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(rollout(state))
        roll_t.append(time.perf_counter() - start)
        start = time.perf_counter()
        jax.block_until_ready(learn(after, traj))
        learn_t.append(time.perf_counter() - start)
    return statistics.median(roll_t), statistics.median(learn_t)


def compare(map_name: str, args: argparse.Namespace) -> dict:
    """Every side compiled, then rounds of one timed run each in rotating order."""
    sides: dict = {}
    compile_s: dict[str, float] = {}
    for v in args.variants:
        side = PhalanxSide(map_name, args.updates, v)
        sides[f"phalanx-{v}"], compile_s[f"phalanx-{v}"], env_steps = side.time, side.compile_s, side.env_steps
        print(f"# {map_name}: phalanx-{v} compiled in {side.compile_s:.1f} s", flush=True)
    if args.jaxmarl_repo:
        peer = PeerProcess(args.jaxmarl_python, PEER_DRIVER, [args.jaxmarl_repo, map_name, args.updates], "JaxMARL",
                           cwd=args.jaxmarl_repo)
        assert peer.env_steps == env_steps, (peer.env_steps, env_steps)
        sides["jaxmarl"], compile_s["jaxmarl"] = peer.time, peer.ready["compile_s"]
        print(f"# {map_name}: jaxmarl compiled in {peer.ready['compile_s']:.1f} s ({peer.ready})", flush=True)
    names = list(sides)
    times: dict[str, list[float]] = {n: [] for n in names}
    loads = []
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            times[name].append(sides[name]())
        loads.append(os.getloadavg()[0])
        print(f"# {map_name}, round {r + 1}: " + ", ".join(f"{n} {t[-1]:.2f} s" for n, t in times.items())
              + f"; load {loads[-1]:.1f}", flush=True)
    if args.jaxmarl_repo:
        peer.close()
    rates = {n: env_steps / statistics.median(t) for n, t in times.items()}
    ratios = {n: statistics.median(j / o for o, j in zip(times[n], times["jaxmarl"], strict=True))
              for n in names if n != "jaxmarl" and "jaxmarl" in times}
    return {"map": map_name, "env_steps": env_steps, "rates": rates, "ratios": ratios, "compile_s": compile_s,
            "loads": loads}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jaxmarl-repo")
    parser.add_argument("--jaxmarl-python")
    parser.add_argument("--maps", nargs="+", default=["3m"])
    parser.add_argument("--updates", type=int, default=4, help="updates per timed run (128 × 128 env steps each)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", nargs="+", default=["auto"], help="auto, or a train.grad_chunk value")
    parser.add_argument("--split", action="store_true", help="also time Phalanx's rollout and learning apart")
    args = parser.parse_args()
    if bool(args.jaxmarl_repo) != bool(args.jaxmarl_python):
        parser.error("give both --jaxmarl-repo and --jaxmarl-python, or neither")
    load = os.getloadavg()
    print(f"# recurrent MAPPO on SMAX, end to end — jax {jax.__version__}, {jax.devices()[0].device_kind}, "
          f"{args.updates} updates per run, {args.rounds} rounds, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
          flush=True)
    results = [compare(m, args) for m in args.maps]
    names = list(results[0]["rates"])
    ratio_names = list(results[0]["ratios"])
    columns = [f"{n} env steps/s" for n in names] + [f"{n} / jaxmarl" for n in ratio_names]
    print("| map | env steps per run | " + " | ".join(columns) + " | compile s (" + ", ".join(names) + ") | load |")
    print("|---|---:|" + "---:|" * len(columns) + "---|---|")
    for r in results:
        cells = [f"{v:,.0f}" for v in r["rates"].values()] + [f"**{v:.2f}×**" for v in r["ratios"].values()]
        print(f"| {r['map']} | {r['env_steps']:,} | " + " | ".join(cells) + " | "
              + ", ".join(f"{v:.0f}" for v in r["compile_s"].values())
              + f" | {min(r['loads']):.1f}–{max(r['loads']):.1f} |", flush=True)
    if args.split:
        for m in args.maps:
            roll, learn = split_times(m)
            print(f"# {m}: Phalanx one update = rollout {roll:.2f} s + learning {learn:.2f} s "
                  f"(rollout {roll / (roll + learn):.0%})", flush=True)


if __name__ == "__main__":
    sys.exit(main())
