"""End-to-end IPPO training throughput (rollout + update) vs Mava's ``ff_ippo`` on LBF and RWARE.

    python benchmarks/mava/mava_throughput.py --mava-repo PATH --mava-python PATH

``--mava-repo`` is a clone of instadeepai/Mava (``mava/systems/ppo/anakin/ff_ippo.py`` is run as
published, never copied here); ``--mava-python`` is the interpreter of a separate virtual
environment with Mava's requirements installed. Without them only Phalanx is measured.

Both sides use Mava's ``ff_ippo`` defaults except where the row says otherwise — 128-128 ReLU
actor and critic, agent ids appended, lr 2.5e-4 constant, rollout 128, 4 epochs × 2 minibatches
— with ``update_batch_size=1`` on Mava's side (one learner; its default 2 runs two independent
learners, which Phalanx would do with ``num_seeds=2``) and the same ``num_envs``. Tasks: LBF
``2s-8x8-2p-2f-coop`` and RWARE ``tiny-2ag`` (Jumanji's rules on both sides).

Each side compiles a function that runs ``--updates`` PPO updates from a fixed start state,
calls it once to compile, then the two sides take turns: one timed call of Phalanx, one of
Mava, ``--repeats`` times; the median of each side is reported, and the ratio of medians.
Mava runs in a subprocess of its own venv that waits for a line on stdin before each timed call.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import textwrap
import time
from pathlib import Path

import jax

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: benchmarks.common
from benchmarks.common.peer import PeerProcess

# Our timing harness for Mava's ff_ippo (runs in Mava's venv, cwd = the Mava clone). It only composes
# Mava's Hydra config with overrides, builds Mava's learner with Mava's own learner_setup, and times it.
MAVA_DRIVER = textwrap.dedent("""
    import json, sys, time
    repo, env, scenario, num_envs, rollout, epochs, minibatches, width, updates = sys.argv[1:10]
    sys.path.insert(0, repo)
    import jax
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf
    from mava.systems.ppo.anakin import ff_ippo
    from mava.utils import make_env as environments
    overrides = [f"env={env}", f"env/scenario={scenario}", f"arch.num_envs={num_envs}",
                 f"system.rollout_length={rollout}", f"system.ppo_epochs={epochs}",
                 f"system.num_minibatches={minibatches}", "system.update_batch_size=1",
                 f"network.actor_network.pre_torso.layer_sizes=[{width},{width}]",
                 f"network.critic_network.pre_torso.layer_sizes=[{width},{width}]"]
    with initialize_config_dir(config_dir=repo + "/mava/configs/default", version_base="1.2"):
        config = compose("ff_ippo", overrides=overrides)
    OmegaConf.set_struct(config, False)
    config.system.num_updates_per_eval = int(updates)
    train_env, _ = environments.make(config)
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    learn, _, state = ff_ippo.learner_setup(train_env, tuple(keys), config)
    jax.block_until_ready(learn(state))  # compile
    steps = len(jax.devices()) * int(updates) * int(rollout) * int(num_envs)
    print(json.dumps({"ready": True, "env_steps": steps}), flush=True)
    for line in sys.stdin:
        start = time.perf_counter()
        jax.block_until_ready(learn(state))
        print(json.dumps({"seconds": time.perf_counter() - start}), flush=True)
""")

TASKS = {"lbf": ("lbf", "2s-8x8-2p-2f-coop"), "rware": ("rware", "tiny-2ag")}


def mava_side(args: argparse.Namespace, env: str, scenario: str, num_envs: int) -> PeerProcess:
    """Mava's compiled learner in its own process (its virtualenv); ``.time()`` runs one timed call."""
    argv = [args.mava_repo, env, scenario, num_envs, args.rollout, args.epochs, args.minibatches, args.width,
            args.updates]
    return PeerProcess(args.mava_python, MAVA_DRIVER, argv, "Mava", cwd=args.mava_repo, quiet=True)


class PhalanxSide:
    """Phalanx IPPO at the same settings: ``updates`` PPO updates from a fixed state, jitted."""

    def __init__(self, env_name: str, scenario: str, args: argparse.Namespace, num_envs: int):
        import phalanx
        from phalanx.algos.ppo import PPOConfig, make_train

        env = phalanx.make(env_name, scenario=scenario)
        config = PPOConfig(num_envs=num_envs, num_steps=args.rollout, update_epochs=args.epochs,
                           num_minibatches=args.minibatches, lr=2.5e-4, anneal_lr=False,
                           hidden=(args.width, args.width), activation="relu", agent_id=True,
                           total_steps=num_envs * args.rollout * args.updates)
        trainer = make_train(config, env)
        self.state = jax.jit(trainer.init)(jax.random.PRNGKey(0))
        self.run = jax.jit(lambda s: jax.lax.scan(lambda c, _: trainer.update(c), s, None, length=args.updates))
        jax.block_until_ready(self.run(self.state))  # compile
        self.env_steps = num_envs * args.rollout * args.updates

    def time(self) -> float:
        """Seconds of one timed call."""
        start = time.perf_counter()
        jax.block_until_ready(self.run(self.state))
        return time.perf_counter() - start


def measure(task: str, num_envs: int, args: argparse.Namespace) -> tuple[float, float | None]:
    """Median env steps/s of (Phalanx, Mava or None), timed turn about."""
    env, scenario = TASKS[task]
    ours = PhalanxSide(env, scenario, args, num_envs)
    theirs = mava_side(args, env, scenario, num_envs) if args.mava_repo else None
    our_times, their_times = [], []
    for _ in range(args.repeats):
        our_times.append(ours.time())
        if theirs:
            their_times.append(theirs.time())
    if theirs:
        theirs.close()
    our_rate = ours.env_steps / statistics.median(our_times)
    return our_rate, (theirs.env_steps / statistics.median(their_times) if theirs else None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mava-repo")
    parser.add_argument("--mava-python")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--num-envs", type=int, nargs="+", default=[16])
    parser.add_argument("--rollout", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--minibatches", type=int, default=2)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--updates", type=int, default=10, help="PPO updates per timed call")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if bool(args.mava_repo) != bool(args.mava_python):
        parser.error("give both --mava-repo and --mava-python, or neither")
    load = os.getloadavg()
    print(f"# IPPO training throughput vs Mava ff_ippo — jax {jax.__version__}, {jax.devices()[0].device_kind}, "
          f"rollout {args.rollout}, {args.epochs} epochs × {args.minibatches} minibatches, "
          f"{args.width}-{args.width} ReLU, {args.updates} updates per call, median of {args.repeats}, "
          f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print("| task | envs | Phalanx env steps/s | Mava env steps/s | ratio |")
    print("|---|---:|---:|---:|---:|")
    for task in args.tasks:
        for num_envs in args.num_envs:
            ours, theirs = measure(task, num_envs, args)
            label = " ".join(TASKS[task])
            if theirs is None:
                print(f"| {label} | {num_envs} | {ours:,.0f} | (not run) | |", flush=True)
            else:
                print(f"| {label} | {num_envs} | {ours:,.0f} | {theirs:,.0f} | **{ours / theirs:.2f}×** |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
