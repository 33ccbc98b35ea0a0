"""lineage_report: a learner's lineage and the improvement checks, on a round robin written out by hand."""

from __future__ import annotations

import math

import pytest

from phalanx.population.lineage import lineage_report


def _final(elo_fit: list[float], win_rates: list[list[float]]) -> dict:
    # Players: main_0's snapshots s0, s1 (in order), an exploiter's snapshot x0, then main_0 and the exploiter.
    names = ["s0", "s1", "x0", "main_0", "exploiter_0"]
    parents = [3, 3, 4, None, None]
    return {"names": names, "players": [{"parent": p, "steps": 100 * i} for i, p in enumerate(parents)],
            "win_rates": win_rates, "elo_fit": elo_fit, "elo_online": [0.0] * 5, "games_per_pair": 8,
            "env_steps": 1000, "wall_time": 12.34}


def test_rising_lineage_that_beats_its_snapshots():
    # main_0's row: 0.75 vs s0, 0.625 vs s1, 0.5 vs x0; lineage s0 -> s1 -> main_0 with Elo -100, 0, 150.
    win = [[0.5] * 5 for _ in range(5)]
    win[3][:3] = [0.75, 0.625, 0.5]
    r = lineage_report(_final([-100.0, 0.0, 20.0, 150.0, 30.0], win))
    assert [row["player"] for row in r["lineage"]] == ["s0", "s1", "main_0"]
    assert [row["final_main_win_rate"] for row in r["lineage"]] == [0.75, 0.625, None]
    assert r["elo_rise"] == 250.0 and r["elo_spearman"] == 1.0 and r["elo_final_is_highest"]
    assert r["beats_every_own_snapshot"] and r["min_win_rate_vs_own_snapshots"] == 0.625
    # past players are every snapshot: s0, s1 and x0; x0 is a draw, so not every past player is beaten
    assert r["min_win_rate_vs_past_players"] == 0.5 and not r["beats_every_past_player"]
    assert r["mean_win_rate_vs_past_players"] == pytest.approx((0.75 + 0.625 + 0.5) / 3, abs=1e-3)
    assert r["players"] == 5 and r["wall_time_s"] == 12.3


def test_falling_lineage():
    win = [[0.5] * 5 for _ in range(5)]
    win[3][:3] = [0.25, 0.5, 0.5]
    r = lineage_report(_final([100.0, 50.0, 0.0, -20.0, 0.0], win))
    assert r["elo_rise"] == -120.0 and r["elo_spearman"] == -1.0 and not r["elo_final_is_highest"]
    assert not r["beats_every_own_snapshot"]


def test_no_rank_correlation_from_two_points():
    # one snapshot: the lineage has two points, too few for a rank correlation
    final = _final([0.0, 0.0, 0.0, 10.0, 0.0], [[0.5] * 5 for _ in range(5)])
    final["players"][1]["parent"] = None
    assert math.isnan(lineage_report(final)["elo_spearman"])
