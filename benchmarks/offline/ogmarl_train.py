"""OG-MARL's own training loop on a Phalanx vault: its loader, its system, its ``train`` (with evaluation).

    python benchmarks/offline/ogmarl_train.py --vault /tmp/h17/lbf.vlt/Random \\
        --ogmarl-repo /tmp/peers/og-marl --ogmarl-python /tmp/peers/ogmarl-venv/bin/python \\
        [--system iql_cql|iddpg_bc|qmix_cql|bc] [--steps 20] [--eval-episodes 1]

Runs in OG-MARL's interpreter (its venv, its clone; nothing of it is imported here): OG-MARL's
``FlashbaxReplayBuffer.populate_from_vault`` opens the vault (through a symlink laid out as OG-MARL's
``<source>/<env>/<scenario>.vlt/<uid>``), one of its systems is built on the vault's shapes, and its
``BaseOfflineSystem.train(buffer, training_steps=--steps)`` runs: ``buffer.sample()`` + ``train_step``
per step, then its final evaluation (``10 × --eval-episodes`` episodes). The evaluation env is the
vault's Phalanx env seen through OG-MARL's environment interface (dicts of numpy arrays per agent,
``infos["legals"]`` on discrete envs), built by the few lines in ``DRIVER`` from the vault's metadata,
with the Phalanx checkout on ``PYTHONPATH``. ``iql_cql``/``iddpg_bc``: OG-MARL's PyTorch systems;
``qmix_cql``/``bc``: its TF2 ones (give a TensorFlow venv). Prints OG-MARL's last training logs and
evaluation, and one JSON line.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

#: Runs in OG-MARL's venv: argv = repo, rel_dir, uid, system, steps, eval_episodes.
DRIVER = r"""
import json, sys
repo, rel_dir, uid, system_name, steps, eval_episodes = sys.argv[1:7]
sys.path.insert(0, repo)
import jax
jax.config.update("jax_platform_name", "cpu")
import numpy as np
from og_marl.replay_buffers import FlashbaxReplayBuffer
from og_marl.wrapped_environments.base import BaseEnvironment

buffer = FlashbaxReplayBuffer(sequence_length=20, sample_period=1, seed=0)
buffer.populate_from_vault("phalanx", "env", "data", uid, rel_dir=rel_dir)
exp = buffer._buffer_state.experience
meta = json.load(open(f"{rel_dir}/phalanx/env/data.vlt/{uid}/metadata.json"))["phalanx"]
print("vault:", jax.tree.map(lambda x: tuple(x.shape), exp), flush=True)

import phalanx  # the Phalanx checkout, for the evaluation env only
from phalanx.envs.spaces import Box

class PhalanxEnv(BaseEnvironment):  # OG-MARL's environment interface over the recorded Phalanx env
    def __init__(self):
        self.env = phalanx.make(meta["env"], **meta.get("env_settings", {}))
        (self.group, spec), = self.env.spec.groups.items()
        self.agents = [f"agent_{i}" for i in range(spec.num_agents)]
        self.observation_shape = spec.observation.shape
        self.state_shape = self.env.spec.global_state.shape
        self.continuous = isinstance(spec.action, Box)
        self.space = spec.action
        self.num_actions = spec.action.shape[0] if self.continuous else spec.action.mask_size
        self._reset, self._step = jax.jit(self.env.reset), jax.jit(self.env.step)
        self.key = jax.random.PRNGKey(1)

    def _out(self, ts):
        obs = {a: np.asarray(ts.obs[self.group][i]).reshape(-1) for i, a in enumerate(self.agents)}
        infos = {"state": np.asarray(ts.global_state)}
        if not self.continuous:
            mask = ts.action_mask.get(self.group)
            infos["legals"] = {a: np.ones(self.num_actions, np.float32) if mask is None else np.asarray(mask[i])
                               for i, a in enumerate(self.agents)}
        return obs, infos

    def reset(self):
        self.key, k = jax.random.split(self.key)
        self.state, ts = self._reset(k)
        return self._out(ts)

    def step(self, actions):
        act = np.stack([np.asarray(actions[a]) for a in self.agents])
        act = (np.clip(act, self.space.low, self.space.high).astype(np.float32) if self.continuous
               else act.astype(np.int32))
        self.key, k = jax.random.split(self.key)
        self.state, ts = self._step(k, self.state, {self.group: act})
        obs, infos = self._out(ts)
        rew = {a: float(ts.reward[self.group][i]) for i, a in enumerate(self.agents)}
        term = {a: bool(ts.terminated[self.group][i]) for i, a in enumerate(self.agents)}
        trunc = {a: bool(ts.truncated) for a in self.agents}
        return obs, rew, term, trunc, infos

class Logger:
    def __init__(self):
        self.last, self.eval = {}, {}
    def write(self, logs, force=False):
        (self.eval if any(k.startswith("evaluation/") for k in logs) else self.last).update(logs)

env, logger = PhalanxEnv(), Logger()
if system_name == "iql_cql":
    from og_marl.baselines.torch_systems.offline.iql_cql import IQLCQLSystem
    system = IQLCQLSystem(env, logger, device="cpu")
elif system_name == "iddpg_bc":
    from og_marl.baselines.torch_systems.offline.iddpg_bc import IDDPGBCSystem
    system = IDDPGBCSystem(env, logger, device="cpu")
elif system_name == "qmix_cql":
    from og_marl.baselines.tf2_systems.offline.qmix_cql import QMIXCQLSystem
    system = QMIXCQLSystem(env, logger)
else:
    from og_marl.baselines.tf2_systems.offline.discrete_bc import DicreteActionBehaviourCloning
    system = DicreteActionBehaviourCloning(env, logger)
system.train(buffer, training_steps=int(steps), evaluation_every=None, num_eval_episodes=int(eval_episodes))
train = {k: float(v) for k, v in logger.last.items() if not k.startswith("time")}
print(json.dumps({"system": system_name, "train": train, "evaluation": {k: float(v) for k, v in logger.eval.items()}}))
"""


def main() -> None:
    """Lay the vault out as OG-MARL names its datasets and run the driver in OG-MARL's interpreter."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--vault", required=True, help="DIR/NAME.vlt/UID written by phalanx data record or record=")
    p.add_argument("--ogmarl-repo", required=True)
    p.add_argument("--ogmarl-python", required=True)
    p.add_argument("--system", default="iql_cql", choices=["iql_cql", "iddpg_bc", "qmix_cql", "bc"])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--eval-episodes", type=int, default=1, help="OG-MARL's final evaluation runs 10x this")
    a = p.parse_args()
    vault = Path(a.vault).resolve()
    repo_root = str(Path(__file__).resolve().parents[2])
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "phalanx" / "env").mkdir(parents=True)
        (Path(tmp) / "phalanx" / "env" / "data.vlt").symlink_to(vault.parent)
        env = {**os.environ, "PYTHONPATH": repo_root}
        rc = subprocess.run([a.ogmarl_python, "-c", DRIVER, a.ogmarl_repo, tmp, vault.name, a.system,
                             str(a.steps), str(a.eval_episodes)], env=env).returncode
    sys.exit(rc)


if __name__ == "__main__":
    main()
