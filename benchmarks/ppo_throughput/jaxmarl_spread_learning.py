"""Run JaxMARL's published ``baselines/IPPO/ippo_ff_mpe.py`` (one seed, wandb disabled) for the
learning-target comparison in this folder's README. Run it with the interpreter of JaxMARL's virtualenv:

    PEER_PYTHON benchmarks/ppo_throughput/jaxmarl_spread_learning.py JAXMARL_REPO OUT.json [TOTAL_STEPS]

Times ``jit(make_train(config))(key)`` end to end including compilation, and writes the per-update
``returned_episode_returns`` (MPELogWrapper: per-agent reward × num_agents, summed over the episode,
averaged over agents, envs and the update's steps) to OUT.json. Nothing of JaxMARL is copied here.
"""

import json
import sys
import time

start = time.perf_counter()
sys.path.insert(0, sys.argv[1] + "/baselines/IPPO")
import jax  # noqa: E402
import wandb  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

wandb.init(mode="disabled")
import ippo_ff_mpe  # noqa: E402

config = OmegaConf.to_container(OmegaConf.load(sys.argv[1] + "/baselines/IPPO/config/ippo_ff_mpe.yaml"))
if len(sys.argv) > 3:
    config["TOTAL_TIMESTEPS"] = float(sys.argv[3])
t0 = time.perf_counter()
out = jax.block_until_ready(jax.jit(ippo_ff_mpe.make_train(dict(config)))(jax.random.PRNGKey(config["SEED"])))
seconds = time.perf_counter() - t0
returns = [float(x) for x in out["metrics"]["returned_episode_returns"]]
n = max(1, len(returns) // 20)
result = {"train_seconds_incl_compile": seconds, "process_seconds": time.perf_counter() - start,
          "updates": len(returns), "env_steps": len(returns) * config["NUM_ENVS"] * config["NUM_STEPS"],
          "final_return_last5pct": sum(returns[-n:]) / n, "returns": returns}
with open(sys.argv[2], "w") as f:
    json.dump(result, f)
print(json.dumps({k: v for k, v in result.items() if k != "returns"}))
