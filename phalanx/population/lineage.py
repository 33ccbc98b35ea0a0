"""Does a league learner get stronger? Its lineage read off the league's final round robin.

A learner's *lineage* is its snapshots in the order they were taken, then its final parameters. The
final round robin (every pair of players) gives a fitted Elo and a win rate for each pair; a learner
improves when its fitted Elo rises along the lineage and its final parameters beat its own past
snapshots. :func:`lineage_report` states both from the round robin alone, so a test and a benchmark
read the same numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def lineage_report(final: dict[str, Any], main: str = "main_0") -> dict[str, Any]:
    """The lineage of learner ``main`` and the checks on it, from a league's final round robin.

    Args:
        final: the league's final result (``league_final.json``): ``names``, ``players`` (each with
            ``parent``, the index of the learner it is a snapshot of, or None, and ``steps``),
            ``win_rates`` (row beats column), ``elo_fit``, ``elo_online``, ``games_per_pair``,
            ``env_steps`` and ``wall_time``.
        main: the learner whose lineage is read.

    Returns:
        The lineage rows (player, env steps, fitted and online Elo, the final ``main``'s win rate
        against it), ``elo_rise`` (fitted Elo of the final parameters minus that of the first snapshot),
        ``elo_spearman`` (rank correlation of fitted Elo with time; NaN for fewer than 3 points),
        ``elo_final_is_highest``, the final ``main``'s minimum win rate against its own snapshots and
        minimum and mean win rates against every snapshot in the league, with ``beats_every_*`` flags.
    """
    from scipy.stats import spearmanr

    names = final["names"]
    win = np.asarray(final["win_rates"])
    me = names.index(main)
    lineage = [i for i, p in enumerate(final["players"]) if p["parent"] == me] + [me]  # snapshots are in order
    past = [i for i, p in enumerate(final["players"]) if p["parent"] is not None]  # every snapshot in the league
    fitted = np.asarray(final["elo_fit"])[lineage]
    rho = float(spearmanr(np.arange(len(lineage)), fitted).statistic) if len(lineage) > 2 else float("nan")
    own = [i for i in lineage if i != me]
    return {
        "lineage": [{"player": names[i], "env_steps": final["players"][i]["steps"],
                     "elo_fit": round(final["elo_fit"][i], 1), "elo_online": round(final["elo_online"][i], 1),
                     "final_main_win_rate": None if i == me else round(float(win[me, i]), 3)} for i in lineage],
        "elo_rise": round(float(fitted[-1] - fitted[0]), 1),
        "elo_spearman": round(rho, 3),
        "elo_final_is_highest": bool(fitted[-1] == fitted.max()),
        "min_win_rate_vs_own_snapshots": round(float(win[me, own].min()), 3),
        "min_win_rate_vs_past_players": round(float(win[me, past].min()), 3),
        "mean_win_rate_vs_past_players": round(float(win[me, past].mean()), 3),
        "beats_every_own_snapshot": bool(win[me, own].min() > 0.5),
        "beats_every_past_player": bool(win[me, past].min() > 0.5),
        "players": len(names), "games_per_pair": final["games_per_pair"], "env_steps": final["env_steps"],
        "wall_time_s": round(final["wall_time"], 1),
    }
