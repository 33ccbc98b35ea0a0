"""Offline training throughput (gradient steps/s): Phalanx vs OG-MARL's own implementation, same vault, same run.

    python benchmarks/offline/ogmarl_throughput.py --vault /tmp/offline_data/lbf.vlt/Good \\
        --ogmarl-repo /tmp/peers/og-marl --ogmarl-python /tmp/peers/ogmarl-venv/bin/python \\
        [--algo iql_cql] [--steps 200] [--repeats 3] [--json out.json]

``--algo iql_cql`` times OG-MARL's PyTorch ``IQLCQLSystem`` (``og_marl/baselines/torch_systems``);
``qmix_cql`` and ``bc`` time its TF2 ``QMIXCQLSystem`` / ``DicreteActionBehaviourCloning`` (give a TensorFlow venv as
``--ogmarl-python``). The peer runs in its own interpreter (:class:`benchmarks.common.peer.PeerProcess`),
reads the Phalanx vault with its own ``FlashbaxReplayBuffer.populate_from_vault`` (through a symlink
laid out as ``<source>/<env>/<scenario>.vlt/<uid>``) and, per timed call, does ``--steps`` iterations of
its own training loop body (``buffer.sample()`` then ``system.train_step(batch)``), exactly what its
``train`` times as ``training_sps``. Its defaults: 32 sequences × 20 steps per batch, recurrent Q-network
(64 linear + 64 GRU). Phalanx: ``update`` of the offline learner with ``grad_steps_per_update = --steps``
(one evaluation env for one step, negligible), feed-forward 64-64 MLP, ``batch_size`` = 640 rows, the
peer's rows per gradient step. The two sides alternate ``--repeats`` times; compilation excluded; the
median call is reported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks.common.peer import PeerProcess

#: Runs in OG-MARL's venv: argv = repo, rel_dir, source, env, scenario, uid, algo, steps.
PEER_DRIVER = r"""
import json, sys, time
repo, rel_dir, source, env_name, scenario, uid, algo, steps = sys.argv[1:9]
sys.path.insert(0, repo)
import jax
jax.config.update("jax_platform_name", "cpu")
from flashbax.vault import Vault
from og_marl.replay_buffers import FlashbaxReplayBuffer

class Logger:
    def write(self, logs, force=False):
        pass

buffer = FlashbaxReplayBuffer(sequence_length=20, sample_period=1, seed=0)
buffer.populate_from_vault(source, env_name, scenario, uid, rel_dir=rel_dir)
exp = buffer._buffer_state.experience

class Env:  # what the systems read of an environment when they only train
    agents = [f"agent_{i}" for i in range(exp["observations"].shape[2])]
    observation_shape = (exp["observations"].shape[3],)
    num_actions = exp["infos"]["legals"].shape[3]

if algo == "iql_cql":
    import torch
    torch.set_num_threads(int(sys.argv[9]))
    from og_marl.baselines.torch_systems.offline.iql_cql import IQLCQLSystem
    system = IQLCQLSystem(Env(), Logger(), device="cpu")
elif algo == "qmix_cql":
    from og_marl.baselines.tf2_systems.offline.qmix_cql import QMIXCQLSystem
    system = QMIXCQLSystem(Env(), Logger())
else:
    from og_marl.baselines.tf2_systems.offline.discrete_bc import DicreteActionBehaviourCloning
    system = DicreteActionBehaviourCloning(Env(), Logger())

def run(n):
    for _ in range(n):
        logs = system.train_step(buffer.sample())
        system.training_step_ctr += 1
    return logs

t0 = time.perf_counter(); run(3); warm = time.perf_counter() - t0
print(json.dumps({"env_steps": int(steps), "warmup_s": warm}), flush=True)
for line in sys.stdin:
    t0 = time.perf_counter(); run(int(steps)); print(json.dumps({"seconds": time.perf_counter() - t0}), flush=True)
"""


def _phalanx_update(vault: Path, algo: str, steps: int, batch: int):
    import phalanx
    from phalanx.algos.offline import OfflineConfig, make_train
    from phalanx.runtime.vault import load_dataset, read_metadata

    env_name = read_metadata(vault)["phalanx"]["env"]
    env = phalanx.make(env_name)
    data = load_dataset(vault, env, env_name)
    config = OfflineConfig(method=algo, grad_steps=steps, grad_steps_per_update=steps, batch_size=batch,
                           num_envs=1, eval_steps=1)
    trainer = make_train(config, env, dataset=data)
    state = jax.jit(trainer.init)(jax.random.PRNGKey(0))
    update = jax.jit(trainer.update).lower(state).compile()
    jax.block_until_ready(update(state))

    def timed() -> float:
        t0 = time.perf_counter()
        jax.block_until_ready(update(state))
        return time.perf_counter() - t0

    return timed


def main() -> None:
    """Time both sides turn about on the same vault; print and (``--json``) write the table row."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--vault", required=True, help="DIR/NAME.vlt/UID written by phalanx data record")
    p.add_argument("--ogmarl-repo", required=True)
    p.add_argument("--ogmarl-python", required=True)
    p.add_argument("--algo", default="iql_cql", choices=["iql_cql", "qmix_cql", "bc"])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch", type=int, default=640, help="Phalanx rows per gradient step")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op threads (peer); 2 spin-wait badly on a loaded 2-core machine")
    p.add_argument("--json")
    a = p.parse_args()
    vault = Path(a.vault).resolve()
    load = Path("/proc/loadavg").read_text().split()[:3]
    with tempfile.TemporaryDirectory() as tmp:
        # OG-MARL reads <rel_dir>/<source>/<env>/<scenario>.vlt/<uid>: lay the Phalanx vault out so.
        (Path(tmp) / "phalanx" / "env").mkdir(parents=True)
        (Path(tmp) / "phalanx" / "env" / "data.vlt").symlink_to(vault.parent)
        peer = PeerProcess(a.ogmarl_python, PEER_DRIVER,
                           [a.ogmarl_repo, tmp, "phalanx", "env", "data", vault.name, a.algo, a.steps, a.threads],
                           "OG-MARL")
        ours = _phalanx_update(vault, a.algo, a.steps, a.batch)
        times = {"phalanx": [], "ogmarl": []}
        for _ in range(a.repeats):
            times["phalanx"].append(ours())
            times["ogmarl"].append(peer.time())
        peer.close()
    rate = {k: a.steps / statistics.median(v) for k, v in times.items()}
    row = {"algo": a.algo, "vault": str(vault), "steps_per_call": a.steps, "phalanx_batch_rows": a.batch,
           "ogmarl_batch": "32 x 20", "load_before": load, "load_after": Path("/proc/loadavg").read_text().split()[:3],
           "phalanx_grad_steps_per_s": rate["phalanx"], "ogmarl_grad_steps_per_s": rate["ogmarl"],
           "ratio": rate["phalanx"] / rate["ogmarl"], "times": times,
           "device": str(jax.devices()[0]),
           "ogmarl_commit": subprocess.run(["git", "-C", a.ogmarl_repo, "rev-parse", "--short", "HEAD"],
                                           capture_output=True, text=True).stdout.strip()}
    print(f"{a.algo}: Phalanx {rate['phalanx']:.0f} grad steps/s, OG-MARL {rate['ogmarl']:.0f} grad steps/s, "
          f"ratio {row['ratio']:.2f}x (load {' '.join(load)})", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(row, indent=1))


if __name__ == "__main__":
    main()
