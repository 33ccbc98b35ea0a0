"""The name ``smax`` and its training settings; the env is an adapter, :mod:`phalanx.interop.smax`.

SMAX is JaxMARL's env, so it lives with the adapters (one layer up) and is registered here by its
path, imported on first use: ``import phalanx.envs`` needs no JaxMARL.

The settings are JaxMARL's SMAX baselines, the same on every map (as JaxMARL runs them):
recurrent IPPO and MAPPO as ``ippo_rnn_smax.yaml`` / ``mappo_homogenous_rnn_smax.yaml`` (128 envs
x 128 steps, a 128-wide layer and GRU, ReLU, 4 epochs x 4 minibatches, grad norm 0.25, annealed lr;
IPPO lr 0.004, clip 0.05, entropy 0.01; MAPPO lr 0.002, clip 0.2, entropy 0, agent ids), and QMIX
as ``qmix_rnn_smax.yaml`` (16 envs x 128 steps, a 512-wide GRU agent, mixer 64 / hypernet 256,
8 gradient steps per update, lr 5e-5, ε 1 → 0.05 over the first 10 % of 1e7 steps, a hard target
copy every 10 updates). JaxMARL's QMIX replays 5000 whole 128-step trajectories (640k steps);
here the buffer holds 100k env steps, which keeps the large maps in this machine's memory.
"""

from __future__ import annotations

from phalanx.envs.registry import register

_PPO = {"train.total_steps": 10_000_000, "train.num_envs": 128, "train.num_steps": 128, "train.update_epochs": 4,
        "train.num_minibatches": 4, "train.gamma": 0.99, "train.gae_lambda": 0.95, "train.vf_coef": 0.5,
        "train.max_grad_norm": 0.25, "train.activation": "relu", "train.hidden": (128,),
        "train.recurrent_size": 128, "train.anneal_lr": True}

SMAX_ALGO_DEFAULTS = {
    "ippo": {**_PPO, "train.lr": 0.004, "train.clip_eps": 0.05, "train.value_clip_eps": 0.05,
             "train.ent_coef": 0.01},
    "mappo": {**_PPO, "train.lr": 0.002, "train.clip_eps": 0.2, "train.value_clip_eps": 0.2, "train.ent_coef": 0.0,
              "train.agent_id": True},
    "qmix": {"train.total_steps": 10_000_000, "train.num_envs": 16, "train.num_steps": 128,
             "train.gradient_steps": 8, "train.batch_size": 32, "train.buffer_size": 100_000,
             "train.learning_starts": 10_000, "train.lr": 5e-5, "train.max_grad_norm": 10.0, "train.gamma": 0.99,
             "train.eps_start": 1.0, "train.eps_finish": 0.05, "train.eps_decay_steps": 1_000_000,
             "train.target_update_every": 80, "train.tau": 1.0, "train.hidden": (512,),
             "train.recurrent_size": 512, "train.mixer_embed": 64, "train.hypernet_embed": 256,
             "train.agent_id": True},
}

register("smax", "phalanx.interop.smax:SMAX", algo_defaults=SMAX_ALGO_DEFAULTS)
