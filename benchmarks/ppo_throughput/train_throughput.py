"""End-to-end IPPO training throughput (rollout + update) vs JaxMARL's ``ippo_ff_mpe``.

    python benchmarks/ppo_throughput/train_throughput.py --jaxmarl-repo PATH --jaxmarl-python PATH \\
        [--num-envs 16 1024] [--rounds 3] [--variants auto off batched-reset]

``--jaxmarl-repo`` is a clone of FLAIROx/JaxMARL (its ``baselines/IPPO/ippo_ff_mpe.py`` is
run as published, never copied here); ``--jaxmarl-python`` is an interpreter of a separate
virtual environment with ``jaxmarl``, ``distrax``, ``hydra-core`` and ``wandb`` installed
(wandb runs in disabled mode). Without them only Phalanx is measured.

Both sides use JaxMARL's ``ippo_ff_mpe`` configuration on simple_spread — rollout 128
steps, 4 epochs × 4 minibatches, 64-64 tanh actor and critic, lr 2.5e-4 annealed — at
each ``--num-envs``; each side runs a fixed number of updates as one compiled program.
Every side is compiled first (the peer in its own process, which then waits for orders on
stdin), then ``--rounds`` rounds each time every side once, in rotating order, so that
the machine's load drifts over all sides alike; the table reports per-side medians, the
median of the per-round ratios and the 1-minute load average during the rounds.

Phalanx variants (``--variants``): ``auto`` (the defaults: ``grad_chunk`` auto, the per-env
``AutoReset`` of ``wrap_for_training``), ``off`` (``train.grad_chunk=0``: one pass per
minibatch), ``batched-reset`` (auto, with ``AutoResetVecEnv``: resets computed only on steps
where an episode ended), or a number ``N`` (``train.grad_chunk=N``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import textwrap
import time
from pathlib import Path

import jax

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: benchmarks.common
from benchmarks.common.peer import PeerProcess

UPDATES = {16: 50, 1024: 3}

# Our timing harness for the peer's script (runs in the peer's virtual environment): compile,
# print "ready", then time one whole run per line read from stdin.
PEER_DRIVER = textwrap.dedent("""
    import json, sys, time
    sys.path.insert(0, sys.argv[1] + "/baselines/IPPO")
    import jax, wandb
    from omegaconf import OmegaConf
    wandb.init(mode="disabled")
    import ippo_ff_mpe
    config = OmegaConf.to_container(OmegaConf.load(sys.argv[1] + "/baselines/IPPO/config/ippo_ff_mpe.yaml"))
    num_envs, updates = int(sys.argv[2]), int(sys.argv[3])
    config.update(NUM_ENVS=num_envs, TOTAL_TIMESTEPS=num_envs * config["NUM_STEPS"] * updates)
    train = jax.jit(ippo_ff_mpe.make_train(dict(config)))
    key = jax.random.PRNGKey(0)
    jax.block_until_ready(train(key))
    print(json.dumps({"ready": True, "env_steps": num_envs * config["NUM_STEPS"] * updates}), flush=True)
    for _ in sys.stdin:
        start = time.perf_counter()
        jax.block_until_ready(train(key))
        print(json.dumps({"seconds": time.perf_counter() - start}), flush=True)
""")


def phalanx_trainer(num_envs: int, updates: int, variant: str):
    """IPPO on simple_spread with JaxMARL's ippo_ff_mpe settings; ``variant`` as in the module doc."""
    import phalanx
    from phalanx.algos.ppo import PPOConfig, make_train
    from phalanx.envs.wrappers import AutoResetVecEnv, EpisodeStatistics

    config = PPOConfig(num_envs=num_envs, num_steps=128, update_epochs=4, num_minibatches=4, lr=2.5e-4,
                       hidden=(64, 64), activation="tanh", total_steps=num_envs * 128 * updates,
                       grad_chunk=0 if variant == "off" else int(variant) if variant.isdigit() else -1)
    env = phalanx.make("simple_spread")
    trainer = make_train(config, env)
    if variant == "batched-reset":
        trainer = dataclasses.replace(trainer, env=AutoResetVecEnv(EpisodeStatistics(env), num_envs))
    return trainer


def compiled_run(trainer):
    """A zero-argument function timing one whole compiled run (compiled here, once)."""
    train = jax.jit(trainer.train)
    key = jax.random.PRNGKey(0)
    jax.block_until_ready(train(key))

    def run() -> float:
        start = time.perf_counter()
        jax.block_until_ready(train(key))
        return time.perf_counter() - start

    return run


def phalanx_tag_rate(num_envs: int, updates: int) -> tuple[float, int]:
    """IPPO on Tag with 1000 agents (100 taggers, 900 runners, 10 nearest observed)."""
    import phalanx
    from phalanx.algos.ppo import PPOConfig, make_train

    env = phalanx.make("tag", num_taggers=100, num_runners=900, use_full_observation=False,
                       num_other_agents_observed=10)
    config = PPOConfig(num_envs=num_envs, num_steps=32, update_epochs=2, num_minibatches=2,
                       total_steps=num_envs * 32 * updates)
    return num_envs * 32 * updates / compiled_run(make_train(config, env))(), env.spec.num_agents


def compare(num_envs: int, variants: list[str], rounds: int, repo: str | None, python: str | None) -> dict:
    """Rounds of every side once each (rotating order); returns per-side times, ratios and loads."""
    updates = UPDATES.get(num_envs, max(1, 400_000 // (num_envs * 128)))
    env_steps = num_envs * 128 * updates
    sides = {f"phalanx-{v}": compiled_run(phalanx_trainer(num_envs, updates, v)) for v in variants}
    peer = PeerProcess(python, PEER_DRIVER, [repo, num_envs, updates], "JaxMARL") if repo and python else None
    if peer is not None:
        assert peer.env_steps == env_steps, (peer.env_steps, env_steps)
        sides["jaxmarl"] = peer.time
    names = list(sides)
    times: dict[str, list[float]] = {n: [] for n in names}
    loads = []
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            times[name].append(sides[name]())
        loads.append(os.getloadavg()[0])
        print(f"# {num_envs} envs, round {r + 1}: " + ", ".join(f"{n} {t[-1]:.2f} s" for n, t in times.items())
              + f"; load {loads[-1]:.1f}", flush=True)
    if peer is not None:
        peer.close()
    rates = {n: env_steps / statistics.median(t) for n, t in times.items()}
    ratios = {}
    for n in names:
        if n != "jaxmarl" and "jaxmarl" in times:
            ratios[n] = statistics.median(j / o for o, j in zip(times[n], times["jaxmarl"], strict=True))
    return {"num_envs": num_envs, "updates": updates, "env_steps": env_steps, "times": times, "rates": rates,
            "ratios_vs_jaxmarl": ratios, "load_1min": loads}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jaxmarl-repo")
    parser.add_argument("--jaxmarl-python")
    parser.add_argument("--num-envs", type=int, nargs="+", default=[16, 1024])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", nargs="+", default=["auto"],
                        help="auto, off, batched-reset, or a number: that train.grad_chunk")
    parser.add_argument("--json", help="also write the raw results here")
    parser.add_argument("--tag", action="store_true", help="also time IPPO on 1000-agent Tag")
    args = parser.parse_args()
    print(f"# IPPO training throughput, simple_spread — jax {jax.__version__}, {jax.devices()[0].device_kind}")
    results = []
    for num_envs in args.num_envs:
        results.append(compare(num_envs, args.variants, args.rounds, args.jaxmarl_repo, args.jaxmarl_python))
    names = list(results[0]["rates"])
    print("| envs | updates timed | " + " | ".join(f"{n} env steps/s" for n in names)
          + " | " + " | ".join(f"{n} / jaxmarl" for n in results[0]["ratios_vs_jaxmarl"]) + " | load |")
    print("|---:" * (3 + len(names) + len(results[0]["ratios_vs_jaxmarl"])) + "|")
    for r in results:
        print(f"| {r['num_envs']} | {r['updates']} | " + " | ".join(f"{v:,.0f}" for v in r["rates"].values())
              + " | " + " | ".join(f"**{v:.2f}×**" for v in r["ratios_vs_jaxmarl"].values())
              + f" | {min(r['load_1min']):.1f}–{max(r['load_1min']):.1f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    if args.tag:
        rate, agents = phalanx_tag_rate(num_envs=8, updates=2)
        print(f"\nIPPO on Tag, 8 envs × {agents} agents (k=10 nearest), rollout 32, 2 epochs × 2 minibatches: "
              f"{rate:,.0f} env steps/s = {rate * agents:,.0f} agent steps/s")


if __name__ == "__main__":
    sys.exit(main())
