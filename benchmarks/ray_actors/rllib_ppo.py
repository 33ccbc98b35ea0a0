"""The RLlib peer: RLlib 2.60's PPO (new API stack) on PettingZoo's ``mpe2.simple_spread_v3``.

Run by the peer's own interpreter (never Phalanx's; it imports neither Phalanx nor anything of
this repository), normally through ``compare.py``::

    /tmp/peers/rllib-venv/bin/python benchmarks/ray_actors/rllib_ppo.py --runners 2 --envs-per-runner 4 \
        --fragment 128 --epochs 4 --minibatches 4 --env-steps 20000

Settings chosen to match Phalanx's ``algo=ippo`` with ``ray.num_actors=N ray.envs_per_actor=K``:
``N`` env runners with ``K`` envs each, rollout fragments of ``--fragment`` steps, so one training
batch is ``N × K × fragment`` env steps, cut into ``--minibatches`` minibatches for ``--epochs``
passes; one policy shared by every agent (Phalanx's IPPO shares the group's parameters), a 64-64
tanh MLP for actor and critic (separate), Adam 2.5e-4, γ 0.99, λ 0.95, clip 0.2, entropy 0.01,
value coefficient 0.5, gradient norm 0.5. The learner runs in the driver (``num_learners=0``), on
the CPU, as Phalanx's learner does on a machine without an accelerator.

Prints JSON lines: one per training iteration (``env_steps``, ``wall_s`` since the first sample,
``return_per_agent``: RLlib's smoothed mean episode return divided by the number of agents, which is
Phalanx's ``episode_return``), then a summary line ``{"summary": ...}`` with env steps/s including
learning, over the whole run and after the first iteration (Ray's start-up and the first sampling
excluded, as Phalanx's steady rate excludes compilation).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any


def build(args: argparse.Namespace) -> Any:
    """The PPO algorithm, configured as the module docstring says."""
    from mpe2 import simple_spread_v3
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec
    from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv
    from ray.tune.registry import register_env

    register_env("simple_spread", lambda cfg: ParallelPettingZooEnv(simple_spread_v3.parallel_env(**cfg)))
    agents = len(simple_spread_v3.parallel_env().possible_agents)
    batch = args.runners * args.envs_per_runner * args.fragment  # env steps per training iteration
    config = (
        PPOConfig()
        .api_stack(enable_rl_module_and_learner=True, enable_env_runner_and_connector_v2=True)
        .environment("simple_spread", env_config={})
        .framework("torch")
        .env_runners(num_env_runners=args.runners, num_envs_per_env_runner=args.envs_per_runner,
                     rollout_fragment_length=args.fragment, num_cpus_per_env_runner=args.cpus_per_runner)
        .multi_agent(policies={"shared"}, policy_mapping_fn=lambda agent_id, *a, **kw: "shared")
        .rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs={"shared": RLModuleSpec()}),
                   model_config={"fcnet_hiddens": [64, 64], "fcnet_activation": "tanh",
                                 "vf_share_layers": False})
        .learners(num_learners=0)
        .training(train_batch_size_per_learner=batch,
                  # the shared module sees every agent's rows: minibatches of agent steps
                  minibatch_size=batch * agents // args.minibatches, num_epochs=args.epochs,
                  lr=2.5e-4, gamma=0.99, lambda_=0.95, clip_param=0.2, vf_clip_param=10.0, entropy_coeff=0.01,
                  vf_loss_coeff=0.5, grad_clip=0.5, grad_clip_by="global_norm", shuffle_batch_per_epoch=True)
        .debugging(seed=args.seed, log_level="ERROR")
    )
    return config.build_algo(), agents


def pick(result: dict[str, Any], *path: str) -> Any:
    """``result[path[0]][path[1]]...`` or None when any key is missing."""
    for key in path:
        if not isinstance(result, dict) or key not in result:
            return None
        result = result[key]
    return result


def _num(x: Any) -> float | None:
    return None if x is None else float(x)


def main() -> None:
    """Train until ``--env-steps`` env steps; print one JSON line per iteration and a summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runners", type=int, default=2, help="env runners (Phalanx: ray.num_actors)")
    parser.add_argument("--envs-per-runner", type=int, default=4, help="Phalanx: ray.envs_per_actor")
    parser.add_argument("--fragment", type=int, default=128, help="rollout fragment length (Phalanx: train.num_steps)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--minibatches", type=int, default=4)
    parser.add_argument("--env-steps", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cpus-per-runner", type=float, default=1.0)
    parser.add_argument("--num-cpus", type=int, default=None, help="ray.init(num_cpus=...) (default: runners + 1)")
    parser.add_argument("--address", default=None, help="an existing Ray cluster (default: a new local one)")
    args = parser.parse_args()

    import ray

    if args.address:
        ray.init(address=args.address, log_to_driver=False)
    else:
        ray.init(num_cpus=args.num_cpus or args.runners + 1, include_dashboard=False, log_to_driver=False)
    t_build = time.perf_counter()
    algo, agents = build(args)
    build_s = time.perf_counter() - t_build
    start = time.perf_counter()
    first: tuple[int, float] | None = None
    steps = 0
    while steps < args.env_steps:
        result = algo.train()
        wall = time.perf_counter() - start
        steps = int(pick(result, "env_runners", "num_env_steps_sampled_lifetime") or 0)
        ret = pick(result, "env_runners", "episode_return_mean")
        line = {"iteration": int(result.get("training_iteration", 0)), "env_steps": steps, "wall_s": round(wall, 3),
                "return_per_agent": None if ret is None else float(ret) / agents,
                "agent_steps_trained": _num(pick(result, "learners", "shared", "num_module_steps_trained")),
                "load": " ".join(f"{x:.2f}" for x in os.getloadavg())}
        print(json.dumps(line), flush=True)
        if first is None:
            first = (steps, wall)
    wall = time.perf_counter() - start
    steady = (steps - first[0]) / (wall - first[1]) if wall > first[1] else None
    print(json.dumps({"summary": {
        "peer": "rllib", "ray": ray.__version__, "runners": args.runners, "envs_per_runner": args.envs_per_runner,
        "fragment": args.fragment, "epochs": args.epochs, "minibatches": args.minibatches, "agents": agents,
        "env_steps": steps, "wall_s": wall, "build_s": build_s, "env_steps_per_s": steps / wall,
        "steady_env_steps_per_s": steady, "load": " ".join(f"{x:.2f}" for x in os.getloadavg())}}), flush=True)
    algo.stop()
    ray.shutdown()


if __name__ == "__main__":
    main()
