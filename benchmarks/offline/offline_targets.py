"""Offline learners on the Good / Medium / Poor datasets of ``datasets.py``: greedy return vs the dataset's.

    python benchmarks/offline/offline_targets.py [--data /tmp/offline_data] [--envs simple_spread lbf rware]
        [--qualities Good Medium Poor] [--algos bc iql_cql qmix_cql] [--seeds 0] [--episodes 256]
        [--set KEY=VALUE ...] [--json out.json]

For each (env, dataset, learner, seed): an offline learner with ``OfflineConfig``'s defaults (``--set``
overrides a field for every run alike) trained from the vault exactly as ``phalanx train env=E
algo=A data=PATH`` trains it, then its greedy policy plays ``--episodes`` fresh episodes
(:func:`phalanx.evaluation.play`, greedy; BC also sampling its softmax, as OG-MARL evaluates BC);
"learned" is their mean return (summed rewards averaged over the
agents, the vault's own measure). The in-training evaluation is cut to one env step per update so the
gradient steps/s column is the learner's. Targets (issue 17): learned ≥ dataset mean on Medium and
Poor, ≥ 90 % of it on Good (for negative returns: within 10 % of it), and the CQL learners above BC on
Poor.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import jax
import numpy as np

import phalanx
from phalanx.algos.offline import OfflineConfig, make_train
from phalanx.evaluation import play, state_actors
from phalanx.runtime.vault import load_dataset, read_metadata


def _parse(settings: list[str]) -> dict:
    types = {f.name: f.type for f in dataclasses.fields(OfflineConfig)}
    out = {}
    for s in settings:
        k, v = s.split("=", 1)
        out[k] = tuple(int(x) for x in v.split(",")) if k == "hidden" else (
            v if "Literal" in str(types[k]) else (v.lower() == "true" if types[k] in ("bool", bool) else
                                                  (int(v) if types[k] in ("int", int) else float(v))))
    return out


def run_one(env_name: str, vault: str, algo: str, seed: int, episodes: int, overrides: dict) -> dict:
    """Train one offline learner on ``vault``; return its greedy return and gradient steps/s."""
    env = phalanx.make(env_name)
    data = load_dataset(vault, env, env_name)
    config = dataclasses.replace(OfflineConfig(method=algo, num_envs=1, eval_steps=1), **overrides)
    trainer = make_train(config, env, dataset=data)
    state = jax.jit(trainer.init)(jax.random.PRNGKey(seed))
    update = jax.jit(trainer.update).lower(state).compile()
    t0 = time.perf_counter()
    for _ in range(trainer.num_updates):
        state, _ = update(state)
    jax.block_until_ready(state)
    wall = time.perf_counter() - t0
    evaluate = jax.jit(lambda a, k: play(env, a, k))

    def mean_return(greedy: bool) -> np.ndarray:
        outcome = evaluate(state_actors(trainer, state, episodes, greedy), jax.random.PRNGKey(10_000 + seed))
        return np.mean([np.asarray(r) for r in outcome.returns.values()], axis=0)

    returns = mean_return(True)
    # BC is a softmax policy: also its sampled return (OG-MARL evaluates BC so); Q-learners act greedily.
    sampled = float(mean_return(False).mean()) if algo == "bc" else None
    return {"learned_return": float(returns.mean()), "learned_std": float(returns.std()), "sampled_return": sampled,
            "grad_steps": trainer.num_updates * config.grad_steps_per_update,
            "grad_steps_per_s": trainer.num_updates * config.grad_steps_per_update / wall}


def main() -> None:
    """Every (env, quality, algo, seed) of the selection; a table per env and ``--json``."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="/tmp/offline_data")
    p.add_argument("--envs", nargs="+", default=["simple_spread", "lbf", "rware"])
    p.add_argument("--qualities", nargs="+", default=["Good", "Medium", "Poor"])
    p.add_argument("--algos", nargs="+", default=["bc", "iql_cql", "qmix_cql"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--episodes", type=int, default=256)
    p.add_argument("--set", nargs="*", default=[], help="OfflineConfig overrides, e.g. grad_steps=5000")
    p.add_argument("--json")
    a = p.parse_args()
    overrides = _parse(a.set)
    datasets = json.loads((Path(a.data) / "datasets.json").read_text())
    rows = []
    load = Path("/proc/loadavg").read_text().split()[:3]
    for env_name in a.envs:
        for quality in a.qualities:
            d = datasets[f"{env_name}/{quality}"]
            assert read_metadata(d["path"])["phalanx"]["quality"] == quality
            for algo in a.algos:
                for seed in a.seeds:
                    r = run_one(env_name, d["path"], algo, seed, a.episodes, overrides)
                    rows.append({"env": env_name, "quality": quality, "algo": algo, "seed": seed,
                                 "dataset_return": d["return_mean"], **r})
                    print(f"{env_name:14s} {quality:7s} data {d['return_mean']:8.3f}  {algo:9s} seed {seed} "
                          f"{r['learned_return']:8.3f}  {r['grad_steps_per_s']:6.0f} grad steps/s"
                          + (f"  (sampled {r['sampled_return']:.3f})" if r["sampled_return"] is not None else ""),
                          flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps({"device": str(jax.devices()[0]), "load_before": load,
                                            "load_after": Path("/proc/loadavg").read_text().split()[:3],
                                            "overrides": a.set, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
