"""A SMAX league's main agent against the heuristic enemy and against PPO-vs-heuristic agents.

Issue 15: "Report the league's main agent against the heuristic enemy and against the PPO-vs-heuristic
agent". The league (``phalanx league env=smax env.enemy=learned ...``) trains both teams; its main
agent is one policy per side. The PPO agents are ``phalanx train env=smax algo=mappo`` runs: allies
trained against JaxMARL's heuristic enemy. Every game is greedy (each learner's deterministic
policy), from the same reset keys for every matchup (common random numbers), through the one
evaluator, :func:`phalanx.evaluation.play`:

* main (allies side) vs the heuristic enemy, and each PPO agent vs the heuristic enemy (reference);
* main (allies side) vs each PPO agent playing the enemies (:func:`phalanx.evaluation.acting_as`:
  on a symmetric map such as 3m the allies' policy reads the enemies' observations unchanged);
* each PPO agent (allies) vs main's enemies side.

A battle is won by the team standing when the other is wiped out; the rest are draws or time-outs.
Rates come with Wilson's 95 % interval over the games (:func:`phalanx.runtime.evaluate.interval`).

    python benchmarks/smax/league_report.py --league runs/league-3m --ppo runs/mappo-3m-s0 runs/mappo-3m-s1 \\
        --episodes 200 --out benchmarks/smax/league_report.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import numpy as np
import yaml

import phalanx
from phalanx.evaluation import Actor, acting_as, play
from phalanx.interop.smax import battle_state
from phalanx.runtime.evaluate import interval


def actor(policy, group: str, num_envs: int, act=None) -> Actor:
    """``group`` of a loaded policy, greedy, in ``num_envs`` envs (``act``: reuse one act, so one compile)."""
    learner = policy.learners[group]
    return Actor(act or learner.act, policy.params[group], learner.initial_hidden(num_envs)[group], greedy=True)


def wins(state, next_state) -> dict:
    """Per step of one battle: which team stands alone after it (summed over live steps: the winner)."""
    del state
    battle = battle_state(next_state)
    allies = battle.unit_alive[: battle.unit_alive.shape[0] // 2].any()  # symmetric maps only (checked below)
    enemies = battle.unit_alive[battle.unit_alive.shape[0] // 2:].any()
    return {"allies_won": allies & ~enemies, "enemies_won": enemies & ~allies}


def settings(run_dir: str) -> dict:
    """The ``env.*`` settings a run was made with (its config.yaml)."""
    return yaml.safe_load((Path(run_dir) / "config.yaml").read_text()).get("env_settings") or {}


def rate(x: np.ndarray) -> dict:
    low, high = interval(np.asarray(x, np.float64))
    return {"rate": float(np.mean(x)), "ci95": [round(low, 4), round(high, 4)], "games": int(np.size(x))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--league", required=True, help="a phalanx league run directory on smax, enemy=learned")
    parser.add_argument("--ppo", nargs="+", required=True, help="phalanx train run directories on smax (heuristic)")
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()

    main_agent = phalanx.load_policy(args.league)
    ppos = [phalanx.load_policy(p) for p in args.ppo]
    learned, heuristic = (phalanx.make("smax", **settings(run)) for run in (args.league, args.ppo[0]))
    if learned.num_allies != learned.num_enemies:
        raise SystemExit(f"--league: map {learned.scenario} is not symmetric; a PPO allies policy cannot play enemies.")
    if heuristic.scenario != learned.scenario or heuristic.enemy != "heuristic":
        raise SystemExit(f"--ppo: expected runs on smax {learned.scenario} with the heuristic enemy, got "
                         f"{heuristic.scenario} / {heuristic.enemy}.")
    n, key = args.episodes, jax.random.PRNGKey(args.seed)
    vs_heuristic = jax.jit(lambda actors, k: play(heuristic, actors, k, stat=wins))
    vs_learned = jax.jit(lambda actors, k: play(learned, actors, k, stat=wins))
    ppo_act = ppos[0].learners["allies"].act  # the same config for every seed: one act, one compile
    ppo_as_enemy = acting_as(actor(ppos[0], "allies", n, ppo_act), "allies")

    def outcome(fn, actors):
        t0 = time.perf_counter()
        out = jax.device_get(fn(actors, key))
        won = {k: np.asarray(v, bool) for k, v in out.stats.items()}
        if "win_rate" in out.metrics:  # the env's own won flag agrees with the stat on every game
            assert (np.asarray(out.metrics["win_rate"]) == won["allies_won"]).all()
        return won, time.perf_counter() - t0

    rows = []
    won, dt = outcome(vs_heuristic, {"allies": actor(main_agent, "allies", n)})
    rows.append({"matchup": "league main (allies) vs heuristic enemy", "main_win": rate(won["allies_won"]),
                 "seconds": round(dt, 1)})
    for path, ppo in zip(args.ppo, ppos, strict=True):
        won, dt = outcome(vs_heuristic, {"allies": actor(ppo, "allies", n, ppo_act)})
        rows.append({"matchup": f"PPO {Path(path).name} (allies) vs heuristic enemy",
                     "ppo_win": rate(won["allies_won"]), "seconds": round(dt, 1)})
    for path, ppo in zip(args.ppo, ppos, strict=True):
        won, dt = outcome(vs_learned, {"allies": actor(main_agent, "allies", n),
                                       "enemies": ppo_as_enemy.replace(params=ppo.params["allies"])})
        rows.append({"matchup": f"league main (allies) vs PPO {Path(path).name} (as enemies)",
                     "main_win": rate(won["allies_won"]), "ppo_win": rate(won["enemies_won"]),
                     "seconds": round(dt, 1)})
        won, dt = outcome(vs_learned, {"allies": actor(ppo, "allies", n, ppo_act),
                                       "enemies": actor(main_agent, "enemies", n)})
        rows.append({"matchup": f"PPO {Path(path).name} (allies) vs league main (enemies)",
                     "main_win": rate(won["enemies_won"]), "ppo_win": rate(won["allies_won"]),
                     "seconds": round(dt, 1)})
    report = {"map": learned.scenario, "episodes": n, "seed": args.seed, "league": args.league,
              "main_agent": main_agent.member, "league_tasks_done": main_agent.step, "ppo": args.ppo, "rows": rows}
    fmt = lambda r: "" if r is None else f"{r['rate']:.3f} [{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}]"  # noqa: E731
    print(f"| matchup ({n} greedy games each) | main agent wins | PPO agent wins |\n|---|---|---|")
    for row in rows:
        print(f"| {row['matchup']} | {fmt(row.get('main_win'))} | {fmt(row.get('ppo_win'))} |")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
