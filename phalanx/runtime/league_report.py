"""``phalanx league``'s final round robin and the files it leaves: ``league_final.json``,
``league_table.md``/``.csv``, ``win_rates.csv``, ``payoffs.png`` and the two-panel ``elo.png``."""

from __future__ import annotations

import csv
import dataclasses
from typing import Any

import jax
import numpy as np
from rich.table import Table

from phalanx.population.league_math import fit_elo
from phalanx.population.payoff_table import PayoffTable
from phalanx.runtime import plots
from phalanx.runtime.atomic import write_json, write_text
from phalanx.runtime.league_tasks import evaluate_matches_task, stack
from phalanx.runtime.run_dir import RunDir


def final_table(run: Any) -> dict[str, Any]:
    """Every pair of a :class:`~phalanx.runtime.league_run.LeagueRun`'s players for ``final_games`` paired
    games (one task per row, submitted together); the win-rate table, online and fitted Elo ratings, as
    written to ``league_final.json``."""
    league, config, n = run.league, run.config, len(run.league)
    repeats = config.league.final_games // config.league.eval_games
    futures, rows = [], []
    for i in range(n - 1):
        opponents = list(range(i + 1, n))
        policy = run.policy(i)
        a = stack([policy] * len(opponents))
        b = stack([run.policy(j) for j in opponents])
        key = np.asarray(jax.random.fold_in(jax.random.PRNGKey(config.seed), 2**30 + i))
        futures.append(run.backend.submit(evaluate_matches_task, run.spec, a, b, key, repeats,
                                          name=f"final {league.names[i]}"))
        rows.append((i, opponents))
    win = np.full((n, n), 0.5)  # a policy against itself: identical paired episodes, a draw
    for (i, opponents), result in zip(rows, run.backend.gather(futures), strict=True):
        scores = np.asarray(result, np.float64).mean(axis=1)
        win[i, opponents] = scores
        win[opponents, i] = 1.0 - scores
    games = np.full((n, n), config.league.final_games)
    elo_fit = fit_elo(win, games, mean=config.league.elo_initial)
    players = [dataclasses.asdict(p) for p in league.players]
    return {"names": league.names, "players": players, "win_rates": win.tolist(),
            "games_per_pair": config.league.final_games, "elo_online": league.elo.tolist(),
            "elo_fit": elo_fit.tolist(), "env_steps": run.progress["env_steps"],
            "wall_time": run.progress["wall_time"]}


def table_rows(final: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per player of the final table (name, role, learner, env steps, Elo online/fitted, mean win rate)."""
    win = np.asarray(final["win_rates"])
    n = len(win)
    rows = []
    for i, p in enumerate(final["players"]):
        others = np.delete(win[i], i) if n > 1 else np.array([np.nan])
        rows.append({"player": p["name"], "role": p["role"],
                     "learner": final["names"][p["parent"]] if p["parent"] is not None else p["name"],
                     "env_steps": p["steps"], "elo_online": round(final["elo_online"][i], 1),
                     "elo_fit": round(final["elo_fit"][i], 1), "mean_win_rate": round(float(others.mean()), 3)})
    return rows


def _csv(rows: list[list[Any]]) -> str:
    import io

    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


def write_final(paths: RunDir, final: dict[str, Any], lines: list[dict[str, Any]]) -> Table:
    """Write ``league_final.json``, ``league_table.csv``/``.md``, ``win_rates.csv``, ``payoffs.png`` and the
    two-panel ``elo.png`` (``lines``: the run's metrics lines); return the table for printing."""
    path = paths.path
    rows = table_rows(final)
    write_json(path / "league_final.json", final)
    write_text(path / "league_table.csv", _csv([list(rows[0]), *[list(r.values()) for r in rows]]))
    md = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    md += ["| " + " | ".join(str(v) for v in r.values()) + " |" for r in rows]
    write_text(path / "league_table.md", "\n".join(md) + "\n")
    names, win = final["names"], np.asarray(final["win_rates"])
    write_text(path / "win_rates.csv", _csv([["row beats column", *names],
                                            *[[names[i], *np.round(win[i], 4).tolist()] for i in range(len(names))]]))
    table = PayoffTable()
    for player in (0, 1):
        for name in names:
            table.add_member(player, name)
    rr, cc = np.meshgrid(np.arange(len(names)), np.arange(len(names)), indexing="ij")
    table.fill(rr.ravel(), cc.ravel(), np.stack([win.ravel(), 1.0 - win.ravel()]),
               counts=np.full(win.size, final["games_per_pair"]))
    plots.plot_payoffs(table, paths.payoffs)
    plots.save(plots.elo_figure([(ELO_TITLE, lines)], final), paths.elo)
    out = Table(title=f"league: {len(names)} players, {final['games_per_pair']} paired games per pair",
                caption="Elo fitted to the final round robin; mean win rate against all other players")
    for col in rows[0]:
        out.add_column(col, justify="left" if col in ("player", "role", "learner") else "right")
    for r in rows:
        out.add_row(*[f"{v:,}" if isinstance(v, int) else str(v) for v in r.values()])
    return out


#: The online Elo panel's title.
ELO_TITLE = "Elo of every player (thin: snapshots)"
