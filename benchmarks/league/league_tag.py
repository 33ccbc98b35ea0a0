"""League on Tag: does the main agent get stronger? Run a league (or read a finished one) and report.

    python benchmarks/league/league_tag.py RUN_DIR [key=value ...]  # runs `phalanx league env=tag run_dir=RUN_DIR ...`
    python benchmarks/league/league_tag.py RUN_DIR --json           # the numbers as JSON instead of Markdown

If ``RUN_DIR`` already holds a finished league (``league_final.json``) it is only analysed; an
unfinished one is resumed. The report, from the final round robin (every pair of players,
``final_games`` paired games):

* the main agent's lineage — its snapshots in order, then its final parameters — with env steps,
  Elo fitted to the round robin, and the final main agent's win rate against each;
* the targets: the fitted Elo rises along the lineage (Spearman's rank correlation with time, and
  final minus initial), and the final main agent beats every past snapshot of itself and, on average,
  every past player (win rate > 0.5);
* the league table (every player's role, env steps, online and fitted Elo, mean win rate).

The numbers are :func:`phalanx.population.lineage.lineage_report`'s (the slow league test checks the same).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from phalanx.population.lineage import lineage_report


def analyse(run_dir: str | Path, main: str = "main_0") -> dict[str, Any]:
    """The lineage of learner ``main`` and the target checks, from ``RUN_DIR/league_final.json``."""
    final = json.loads((Path(run_dir) / "league_final.json").read_text())
    return {"run_dir": str(run_dir), **lineage_report(final, main)}


def markdown(result: dict[str, Any], table: str) -> str:
    """The report as Markdown: lineage table, target checks, league table."""
    out = ["| main agent lineage | env steps | Elo (fitted) | Elo (online) | final main's win rate against it |",
           "|---|---:|---:|---:|---:|"]
    for row in result["lineage"]:
        rate = "—" if row["final_main_win_rate"] is None else f"{row['final_main_win_rate']:.3f}"
        out.append(f"| {row['player']} | {row['env_steps']:,} | {row['elo_fit']:.1f} | {row['elo_online']:.1f} "
                   f"| {rate} |")
    out += ["", f"- fitted Elo along the lineage: {result['elo_rise']:+.1f} from the initial parameters to the final "
                f"ones, Spearman ρ with time = {result['elo_spearman']:.3f}, final highest: "
                f"{result['elo_final_is_highest']}",
            f"- final main agent vs its own past snapshots: min win rate {result['min_win_rate_vs_own_snapshots']:.3f} "
            f"(beats every one: {result['beats_every_own_snapshot']})",
            f"- vs every past player (all snapshots): min {result['min_win_rate_vs_past_players']:.3f}, "
            f"mean {result['mean_win_rate_vs_past_players']:.3f} "
            f"(beats every one: {result['beats_every_past_player']})",
            f"- {result['players']} players, {result['games_per_pair']} paired games per pair; "
            f"{result['env_steps']:,} env steps, {result['wall_time_s']:.0f} s of training", "", table]
    return "\n".join(out)


def main() -> None:
    args = sys.argv[1:]
    if not args or args[0].startswith("-") or "=" in args[0]:
        print(__doc__)
        sys.exit(0 if args[:1] in (["-h"], ["--help"]) else 2)
    run_dir, rest = Path(args[0]), [a for a in args[1:] if a != "--json"]
    if not (run_dir / "league_final.json").is_file():
        from phalanx.cli import cmd_league

        if (run_dir / "config.yaml").is_file():
            cmd_league([f"resume={run_dir}"])
        else:
            cmd_league(["env=tag", f"run_dir={run_dir}", *rest])
    result = analyse(run_dir)
    if "--json" in args:
        print(json.dumps(result, indent=1))
    else:
        print(markdown(result, (run_dir / "league_table.md").read_text()))


if __name__ == "__main__":
    main()
