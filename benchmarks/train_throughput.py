"""End-to-end IPPO training throughput (rollout + update) vs JaxMARL's ``ippo_ff_mpe``.

    python benchmarks/train_throughput.py --jaxmarl-repo PATH --jaxmarl-python PATH

``--jaxmarl-repo`` is a clone of FLAIROx/JaxMARL (its ``baselines/IPPO/ippo_ff_mpe.py`` is
run as published, never copied here); ``--jaxmarl-python`` is an interpreter of a separate
virtual environment with ``jaxmarl``, ``distrax``, ``hydra-core`` and ``wandb`` installed
(wandb runs in disabled mode). Without them only Phalanx is measured.

Both sides use JaxMARL's ``ippo_ff_mpe`` configuration on simple_spread — rollout 128
steps, 4 epochs × 4 minibatches, 64-64 tanh actor and critic, lr 2.5e-4 annealed — at
each ``--num-envs``; each side runs a fixed number of updates as one compiled program,
once to compile and then ``--repeats`` timed times (median reported).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap

import jax

from phalanx.bench import time_median

UPDATES = {16: 50, 1024: 3}

# Our timing harness for the peer's script (runs in the peer's virtual environment).
PEER_DRIVER = textwrap.dedent("""
    import json, statistics, sys, time
    sys.path.insert(0, sys.argv[1] + "/baselines/IPPO")
    import jax, wandb
    from omegaconf import OmegaConf
    wandb.init(mode="disabled")
    import ippo_ff_mpe
    config = OmegaConf.to_container(OmegaConf.load(sys.argv[1] + "/baselines/IPPO/config/ippo_ff_mpe.yaml"))
    num_envs, updates, repeats = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    config.update(NUM_ENVS=num_envs, TOTAL_TIMESTEPS=num_envs * config["NUM_STEPS"] * updates)
    train = jax.jit(ippo_ff_mpe.make_train(dict(config)))
    key = jax.random.PRNGKey(0)
    jax.block_until_ready(train(key))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(train(key))
        times.append(time.perf_counter() - start)
    print(json.dumps({"seconds": statistics.median(times), "env_steps": num_envs * config["NUM_STEPS"] * updates}))
""")


def phalanx_rate(num_envs: int, updates: int, repeats: int) -> float:
    import phalanx
    from phalanx.algos.ppo import PPOConfig, make_train

    config = PPOConfig(num_envs=num_envs, num_steps=128, update_epochs=4, num_minibatches=4, lr=2.5e-4,
                       hidden=(64, 64), activation="tanh", total_steps=num_envs * 128 * updates)
    return num_envs * 128 * updates / _time_run(make_train(config, phalanx.make("simple_spread")), repeats)


def _time_run(trainer, repeats: int) -> float:
    """Median seconds of a whole compiled run (after one compiling call)."""
    train = jax.jit(trainer.train)
    key = jax.random.PRNGKey(0)
    jax.block_until_ready(train(key))
    return time_median(lambda: train(key), repeats)


def phalanx_tag_rate(num_envs: int, updates: int, repeats: int) -> tuple[float, int]:
    """IPPO on Tag with 1000 agents (100 taggers, 900 runners, 10 nearest observed)."""
    import phalanx
    from phalanx.algos.ppo import PPOConfig, make_train

    env = phalanx.make("tag", num_taggers=100, num_runners=900, use_full_observation=False,
                       num_other_agents_observed=10)
    config = PPOConfig(num_envs=num_envs, num_steps=32, update_epochs=2, num_minibatches=2,
                       total_steps=num_envs * 32 * updates)
    return num_envs * 32 * updates / _time_run(make_train(config, env), repeats), env.spec.num_agents


def jaxmarl_rate(repo: str, python: str, num_envs: int, updates: int, repeats: int) -> float:
    out = subprocess.run([python, "-c", PEER_DRIVER, repo, str(num_envs), str(updates), str(repeats)],
                         capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["env_steps"] / result["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jaxmarl-repo")
    parser.add_argument("--jaxmarl-python")
    parser.add_argument("--num-envs", type=int, nargs="+", default=[16, 1024])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tag", action="store_true", help="also time IPPO on 1000-agent Tag")
    args = parser.parse_args()
    print(f"# IPPO training throughput, simple_spread — jax {jax.__version__}, {jax.devices()[0].device_kind}")
    print("| envs | updates timed | Phalanx env steps/s | JaxMARL env steps/s | ratio |")
    print("|---:|---:|---:|---:|---:|")
    for num_envs in args.num_envs:
        updates = UPDATES.get(num_envs, max(1, 400_000 // (num_envs * 128)))
        ours = phalanx_rate(num_envs, updates, args.repeats)
        if args.jaxmarl_repo and args.jaxmarl_python:
            theirs = jaxmarl_rate(args.jaxmarl_repo, args.jaxmarl_python, num_envs, updates, args.repeats)
            print(f"| {num_envs} | {updates} | {ours:,.0f} | {theirs:,.0f} | **{ours / theirs:.2f}×** |", flush=True)
        else:
            print(f"| {num_envs} | {updates} | {ours:,.0f} | (not run) | |", flush=True)
    if args.tag:
        rate, agents = phalanx_tag_rate(num_envs=8, updates=2, repeats=args.repeats)
        print(f"\nIPPO on Tag, 8 envs × {agents} agents (k=10 nearest), rollout 32, 2 epochs × 2 minibatches: "
              f"{rate:,.0f} env steps/s = {rate * agents:,.0f} agent steps/s")


if __name__ == "__main__":
    sys.exit(main())
