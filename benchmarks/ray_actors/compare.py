"""Phalanx's Ray actors vs RLlib 2.60's PPO on ``mpe2.simple_spread_v3``, and both against the raw env, same run.

    python benchmarks/ray_actors/compare.py --actors 2 --envs-per-actor 4 --steps 30000 --seed 0

One invocation runs, one after the other on this machine:

1. the raw env's stepping rate (``raw_rate.py``: one process, random actions);
2. Phalanx: ``phalanx train env=pettingzoo:mpe2.simple_spread_v3 algo=ippo backend=ray ray.num_actors=N
   ray.envs_per_actor=K train.num_envs=N·K`` with ``train.num_steps``/``update_epochs``/``num_minibatches`` as
   given (a fresh local Ray; its metrics.jsonl read back);
3. RLlib: ``rllib_ppo.py`` in the peer's own interpreter (``--rllib-python``), N env runners × K envs, the
   same fragment, epochs, minibatches and env-step budget (a fresh local Ray too);
4. the raw rate again (the load drifts: both readings are reported).

Env steps/s *including learning* is each side's steady rate: env steps trained between its first and last
log line over the wall time between them (Ray start-up, compilation and the first rollout excluded on both
sides); the whole process's rate is printed beside it. Return is the mean episode return per agent
(Phalanx's ``episode_return``; RLlib's episode return over the 3 agents), compared at equal env steps: the
mean over the log lines in the last quarter of the env steps both sides reached. The peer runs as a whole
training process, not a timed call, so ``benchmarks/common/peer.py`` (one compiled call per request) does
not fit. Prints a table and one JSON line; ``--json`` appends that line to a file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ENV = "mpe2.simple_spread_v3"


def load() -> str:
    """The 1/5/15-minute load averages, as ``uptime`` prints them."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def raw_rate(seconds: float) -> dict[str, Any]:
    """``raw_rate.py`` in a fresh process of this interpreter: its JSON line."""
    out = subprocess.run([sys.executable, str(HERE / "raw_rate.py"), "--env", ENV, "--seconds", str(seconds)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def steady(points: list[tuple[int, float]]) -> float | None:
    """Env steps/s between the first and the last ``(env_steps, wall_s)`` point."""
    if len(points) < 2 or points[-1][1] <= points[0][1]:
        return None
    return (points[-1][0] - points[0][0]) / (points[-1][1] - points[0][1])


def run_phalanx(a: argparse.Namespace, run_dir: Path) -> dict[str, Any]:
    """``phalanx train`` with remote actors; its steady and whole-process rates and its return curve."""
    cmd = [sys.executable, "-m", "phalanx", "train", f"env=pettingzoo:{ENV}", "algo=ippo", "backend=ray",
           f"ray.num_actors={a.actors}", f"ray.envs_per_actor={a.envs_per_actor}",
           f"ray.num_cpus={a.cpus_per_actor}", f"train.num_envs={a.actors * a.envs_per_actor}",
           f"train.num_steps={a.fragment}", f"train.update_epochs={a.epochs}",
           f"train.num_minibatches={a.minibatches}", f"train.total_steps={a.steps}", f"log_every={a.log_every}",
           "train.anneal_lr=false",  # RLlib's learning rate is constant
           f"seed={a.seed}", f"run_dir={run_dir}"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"phalanx train failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {"cmd": " ".join(cmd[2:]), "steady": steady([(x["env_steps"], x["wall_time"]) for x in lines]),
            "whole": lines[-1]["env_steps"] / wall, "env_steps": lines[-1]["env_steps"], "wall_s": wall,
            "actor_steps_per_s": [x.get("actor_steps_per_s") for x in lines[1:]],
            "actor_utilisation": [x.get("actor_utilisation") for x in lines[1:]],
            "learner_wait_fraction": [x.get("learner_wait_fraction") for x in lines[1:]],
            "policy_lag": [x.get("policy_lag", {}).get("mean") for x in lines[1:]],
            "curve": [(x["env_steps"], x["episode_return"]["agent"]) for x in lines], "load": load()}


def run_rllib(a: argparse.Namespace) -> dict[str, Any]:
    """``rllib_ppo.py`` in the peer's interpreter; its steady and whole-process rates and its return curve."""
    cmd = [a.rllib_python, str(HERE / "rllib_ppo.py"), "--runners", str(a.actors),
           "--envs-per-runner", str(a.envs_per_actor), "--fragment", str(a.fragment), "--epochs", str(a.epochs),
           "--minibatches", str(a.minibatches), "--env-steps", str(a.rllib_steps or a.steps), "--seed", str(a.seed),
           "--cpus-per-runner", str(a.cpus_per_actor)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tempfile.gettempdir())
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"rllib_ppo.py failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    rows = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    its, summary = [r for r in rows if "iteration" in r], next(r["summary"] for r in rows if "summary" in r)
    return {"cmd": " ".join(cmd[1:]), "steady": steady([(r["env_steps"], r["wall_s"]) for r in its]),
            "whole": summary["env_steps"] / wall, "env_steps": summary["env_steps"], "wall_s": wall,
            "curve": [(r["env_steps"], r["return_per_agent"]) for r in its if r["return_per_agent"] is not None],
            "load": load()}


def tail_mean(curve: list[tuple[int, float]], upto: int) -> float | None:
    """Mean return of the points in the last quarter of ``[0, upto]`` env steps."""
    vals = [r for s, r in curve if 0.75 * upto <= s <= upto]
    return sum(vals) / len(vals) if vals else None


def plot(ph: dict[str, Any], rl: dict[str, Any], title: str, path: str) -> None:
    """Both return curves against env steps, one PNG (drawn with phalanx.runtime.plots' figure and save)."""
    from phalanx.runtime.plots import figure, save

    fig = figure(6.0, 3.6)
    ax = fig.add_subplot()
    for label, side in (("Phalanx (Ray actors)", ph), ("RLlib 2.60 PPO", rl)):
        xs, ys = zip(*side["curve"], strict=True)
        ax.plot(xs, ys, label=label)
    ax.set(xlabel="env steps", ylabel="episode return per agent", title=title)
    ax.legend()
    save(fig, path)


def fmt(x: float | None, spec: str = ",.0f") -> str:
    """``x`` formatted, or ``n/a``."""
    return "n/a" if x is None else format(x, spec)


def main() -> None:
    """Run the four measurements; print the table and a JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actors", type=int, default=2, help="Phalanx ray.num_actors = RLlib env runners")
    parser.add_argument("--envs-per-actor", type=int, default=4)
    parser.add_argument("--fragment", type=int, default=128, help="train.num_steps = rollout_fragment_length")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--minibatches", type=int, default=4)
    parser.add_argument("--steps", type=int, default=30_000, help="Phalanx's env steps")
    parser.add_argument("--rllib-steps", type=int, default=None, help="RLlib's env steps (default: --steps)")
    parser.add_argument("--cpus-per-actor", type=float, default=1.0, help="Ray CPUs per actor / env runner")
    parser.add_argument("--raw-seconds", type=float, default=10.0)
    parser.add_argument("--log-every", type=int, default=10, help="Phalanx updates per metrics line (its default)")
    parser.add_argument("--no-rllib", action="store_true", help="only the raw env and Phalanx (closeness to the limit)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rllib-python", default="/tmp/peers/rllib-venv/bin/python")
    parser.add_argument("--json", default=None, help="append the summary line here")
    parser.add_argument("--plot", default=None, help="write both return curves to this PNG")
    a = parser.parse_args()
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S')}  {os.cpu_count()} cpus  load {load()}", flush=True)
    raw0 = raw_rate(a.raw_seconds)
    print(f"raw env (1 process): {raw0['env_steps_per_s']:,.0f} env steps/s  [load {raw0['load']}]", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        ph = run_phalanx(a, Path(tmp) / "run")
    print(f"phalanx: steady {fmt(ph['steady'])} env steps/s, whole process {fmt(ph['whole'])}  [load {ph['load']}]",
          flush=True)
    if a.no_rllib:
        raw1 = raw_rate(a.raw_seconds)
        raw = (raw0["env_steps_per_s"] + raw1["env_steps_per_s"]) / 2
        print(f"raw env (1 process): {raw1['env_steps_per_s']:,.0f} env steps/s  [load {raw1['load']}]\n"
              f"N={a.actors} x K={a.envs_per_actor}: Phalanx {fmt(ph['steady'])} env steps/s = "
              f"{ph['steady'] / (a.actors * raw):.0%} of N x raw ({a.actors * raw:,.0f}); target 70 %")
        summary = {"date": time.strftime("%Y-%m-%d %H:%M"), "actors": a.actors, "envs_per_actor": a.envs_per_actor,
                   "log_every": a.log_every,
               "raw": [raw0, raw1], "phalanx": ph,
                   "of_n_raw": ph["steady"] / (a.actors * raw)}
        if a.json:
            with open(a.json, "a") as f:
                f.write(json.dumps(summary) + "\n")
        return
    rl = run_rllib(a)
    print(f"rllib:   steady {fmt(rl['steady'])} env steps/s, whole process {fmt(rl['whole'])}  [load {rl['load']}]",
          flush=True)
    raw1 = raw_rate(a.raw_seconds)
    print(f"raw env (1 process): {raw1['env_steps_per_s']:,.0f} env steps/s  [load {raw1['load']}]", flush=True)
    raw = (raw0["env_steps_per_s"] + raw1["env_steps_per_s"]) / 2
    common = min(ph["env_steps"], rl["env_steps"])
    ret_ph, ret_rl = tail_mean(ph["curve"], common), tail_mean(rl["curve"], common)
    limit = 0.7 * a.actors * raw
    print(f"\nN={a.actors} actors x K={a.envs_per_actor} envs, fragment {a.fragment}, {a.epochs} epochs x "
          f"{a.minibatches} minibatches, seed {a.seed}")
    print("| | Phalanx | RLlib 2.60 | Phalanx / RLlib |\n|---|---:|---:|---:|")
    ratio = ph["steady"] / rl["steady"] if ph["steady"] and rl["steady"] else None
    print(f"| env steps/s incl. learning (steady) | {fmt(ph['steady'])} | {fmt(rl['steady'])} | "
          f"**{fmt(ratio, '.1f')}×** |")
    print(f"| env steps/s, whole process (start-up included) | {fmt(ph['whole'])} | {fmt(rl['whole'])} | "
          f"{fmt(ph['whole'] / rl['whole'], '.1f')}× |")
    print(f"| return per agent, last quarter of {common:,} env steps | {fmt(ret_ph, '.2f')} | {fmt(ret_rl, '.2f')} | "
          f"{fmt(None if ret_ph is None or ret_rl is None else ret_ph - ret_rl, '+.2f')} |")
    print(f"\nraw env {raw0['env_steps_per_s']:,.0f} / {raw1['env_steps_per_s']:,.0f} env steps/s (before / after); "
          f"70 % of N x raw = {limit:,.0f}; Phalanx {fmt(ph['steady'])} = "
          f"{fmt(ph['steady'] / (a.actors * raw) if ph['steady'] else None, '.0%')} of N x raw")
    summary = {"date": time.strftime("%Y-%m-%d %H:%M"), "actors": a.actors, "envs_per_actor": a.envs_per_actor,
               "fragment": a.fragment, "epochs": a.epochs, "minibatches": a.minibatches, "seed": a.seed,
               "log_every": a.log_every,
               "raw": [raw0, raw1], "phalanx": ph, "rllib": rl, "ratio_steady": ratio, "common_env_steps": common,
               "return_phalanx": ret_ph, "return_rllib": ret_rl, "limit_70": limit}
    print(json.dumps({k: v for k, v in summary.items() if k not in ("phalanx", "rllib")}))
    if a.json:
        with open(a.json, "a") as f:
            f.write(json.dumps(summary) + "\n")
    if a.plot:
        plot(ph, rl, f"simple_spread, {a.actors} actors x {a.envs_per_actor} envs, seed {a.seed}", a.plot)


if __name__ == "__main__":
    main()
