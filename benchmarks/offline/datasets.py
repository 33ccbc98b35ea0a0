"""Record Good / Medium / Poor datasets on simple_spread, LBF and RWARE tiny-2ag from Phalanx's own checkpoints.

    python benchmarks/offline/datasets.py [--out /tmp/offline_data] [--envs simple_spread lbf rware]
                                          [--scale 1.0] [--episodes 500]

For each env, two ``phalanx train`` runs of the same recipe (IPPO, MAPPO on RWARE, the env's defaults
otherwise) that differ only in ``train.total_steps``, then ``phalanx data record`` from a run's last
checkpoint:

* ``Good``: the full-budget run (``FULL`` below × ``--scale``), ε = 0, acting the way it scores better
  (``GOOD_GREEDY``): greedy on simple_spread; sampled on LBF and RWARE, where the greedy PPO policy
  gets stuck (LBF: 0.26 greedy vs 0.49 sampled per agent).
* ``Medium``: the same policy and mode with ε = 0.5 (each agent's action replaced by a uniformly random
  legal one with probability ½).
* ``Poor``: the same recipe after one update (2,048 env steps: an all but untrained policy), its
  sampled actions with ε = 0.5: mostly random play.

Everything goes under ``--out`` (run dirs ``runs/<env>-<quality>``, vaults ``<env>.vlt/<Quality>``); a
step whose output exists is skipped, so the script can be re-run after an interruption. It prints and
writes (``<out>/datasets.json``) each dataset's episodes, rows and mean / std / min / max return
(summed rewards averaged over the agents, as OG-MARL reports them).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

#: Full training budget (env steps) and algorithm per env: LBF learns in 1e6 (benchmarks/mava); RWARE
#: needs ~2e7 to reach Mava's returns, more than this shared 2-core machine affords, so it gets 4e6.
FULL = {"simple_spread": (1e6, "ippo"), "lbf": (1e6, "ippo"), "rware": (4e6, "mappo")}
#: quality: (training budget: "full" or env steps, greedy (None: GOOD_GREEDY), epsilon)
QUALITIES = {"Good": ("full", None, 0.0), "Medium": ("full", None, 0.5), "Poor": (2048, False, 0.5)}
#: Good's action mode per env (None in QUALITIES): greedy or the policy's own sampling.
GOOD_GREEDY = {"simple_spread": True, "lbf": False, "rware": False}
EPISODES = {"simple_spread": 500, "lbf": 500, "rware": 100}


def _run(cmd: list[str]) -> None:
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def main() -> None:
    """Train, record and summarise every (env, quality)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="/tmp/offline_data")
    p.add_argument("--envs", nargs="+", default=list(FULL))
    p.add_argument("--scale", type=float, default=1.0, help="multiplies every full budget")
    p.add_argument("--episodes", type=int, default=None, help="episodes per dataset (default per env)")
    a = p.parse_args()
    out = Path(a.out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    summary_path = out / "datasets.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    for env in a.envs:
        budget, algo = FULL[env]
        for quality, (frac, greedy, eps) in QUALITIES.items():
            greedy = GOOD_GREEDY[env] if greedy is None else greedy
            steps = int(budget * a.scale) if frac == "full" else int(frac)
            run_dir = out / "runs" / f"{env}-{steps}"
            if not (run_dir / "checkpoints").exists():
                t0 = time.perf_counter()
                _run(["phalanx", "train", f"env={env}", f"algo={algo}", f"train.total_steps={steps}",
                      f"run_dir={run_dir}", "seed=0"])
                print(f"trained {run_dir} ({steps} steps) in {time.perf_counter() - t0:.0f} s", flush=True)
            vault = out / f"{env}.vlt"
            if not (vault / quality).exists():
                _run(["phalanx", "data", "record", f"policy={run_dir}", f"episodes={a.episodes or EPISODES[env]}",
                      f"epsilon={eps}", f"greedy={str(greedy).lower()}", f"quality={quality}", f"out={vault}"])
            from phalanx.runtime.vault import read_metadata

            meta = read_metadata(vault / quality)["phalanx"]
            r = np.asarray(meta["episode_returns"], float)
            summary[f"{env}/{quality}"] = {"path": str(vault / quality), "run_dir": str(run_dir),
                                           "train_steps": steps, "algo": algo, "greedy": greedy, "epsilon": eps,
                                           "episodes": len(r),
                                           "return_mean": float(r.mean()), "return_std": float(r.std()),
                                           "return_min": float(r.min()), "return_max": float(r.max())}
            print(f"{env:14s} {quality:7s} {len(r):4d} episodes  return {r.mean():8.3f} ± {r.std():.3f}",
                  flush=True)
            summary_path.write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    sys.exit(main())
