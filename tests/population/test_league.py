"""The league's rules against AlphaStar's pseudocode and hand-computed numbers (matches: test_league_matches.py)."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from phalanx.errors import ConfigError, PhalanxError
from phalanx.population.league import League, LeagueRules, remove_monotonic_suffix

EXACT = LeagueRules(payoff_decay=1.0)  # undecayed counts: win rates are plain fractions


def set_rate(league: League, i: int, j: int, wins: int, games: int = 20) -> None:
    """Make ``i``'s win rate against ``j`` exactly ``wins / games`` (no draws)."""
    league.record(i, j, [1.0] * wins + [0.0] * (games - wins))


def branch_map(league: League, i: int) -> dict[str, tuple[float, list[int], np.ndarray]]:
    return {b.name: (b.prob, b.candidates.tolist(), b.weights) for b in league.branches(i)}


# --------------------------------------------------------------------------------------------- matchmaking
def test_fresh_league_main_agent_plays_itself_or_its_initial_snapshot():
    league = League(EXACT, main_agents=1, main_exploiters=1, league_exploiters=1)
    assert league.names == ["main_0", "main_exploiter_0", "league_exploiter_0", "main_0@0"]
    b = branch_map(league, 0)
    # No verification target yet, so its 15% falls to self-play (AlphaStar: get_match returns the self-play branch).
    assert set(b) == {"pfsp", "selfplay"}
    assert b["pfsp"][0] == pytest.approx(0.5) and b["pfsp"][1] == [3]
    assert b["selfplay"][0] == pytest.approx(0.5) and b["selfplay"][1] == [0]
    np.testing.assert_allclose(league.opponent_distribution(0), [0.5, 0, 0, 0.5])
    np.testing.assert_allclose(league.opponent_distribution(1), [1, 0, 0, 0])  # the main exploiter: the main agent
    np.testing.assert_allclose(league.opponent_distribution(2), [0, 0, 0, 1])  # the league exploiter: all historical


def league_with_history(rates=(0.9, 0.5, 0.95, 0.8, 0.6), exploiter_rate=0.8) -> League:
    """One main agent with 4 snapshots (5 with the initial one) and one main-exploiter snapshot; the main
    agent's win rates against its snapshots (oldest first) and against the exploiter snapshot as given."""
    league = League(EXACT, main_agents=1, main_exploiters=1, league_exploiters=1)
    for _ in range(4):
        league.snapshot(0)
    league.snapshot(1)  # main_exploiter_0@0 (the exploiter restarts; no matter here)
    assert league.historical(parent=0) == [3, 4, 5, 6, 7] and league.historical(parent_role="main_exploiter") == [8]
    for j, rate in zip([3, 4, 5, 6, 7, 8], [*rates, exploiter_rate], strict=True):
        set_rate(league, 0, j, round(rate * 20))
    return league


def test_main_agent_branches_35_50_15_by_sampling():
    league = league_with_history()
    b = branch_map(league, 0)
    assert set(b) == {"pfsp", "selfplay", "verify_forgotten"}
    assert b["verify_forgotten"][1] == [3, 4, 5]
    rng = np.random.default_rng(0)
    n = 20_000
    picks, names = league.sample_opponents(0, rng, n)
    freq = collections.Counter(names)
    tol = 4 * np.sqrt(0.25 / n)  # four standard deviations of a frequency
    assert abs(freq["pfsp"] / n - 0.50) < tol
    assert abs(freq["selfplay"] / n - 0.35) < tol
    assert abs(freq["verify_forgotten"] / n - 0.15) < tol
    # The mixture trained against is exactly the distribution of these draws.
    counts = np.bincount(picks, minlength=len(league)) / n
    np.testing.assert_allclose(counts, league.opponent_distribution(0), atol=tol)


def test_main_pfsp_weights_hand_computed():
    league = league_with_history()
    _, cands, w = branch_map(league, 0)["pfsp"]
    assert cands == [3, 4, 5, 6, 7, 8]  # every historical player
    x = np.array([0.9, 0.5, 0.95, 0.8, 0.6, 0.8])
    f = (1 - x) ** 2  # "hard", p = 2
    np.testing.assert_allclose(w, f / f.sum())
    np.testing.assert_allclose(w[:3], np.array([0.01, 0.25, 0.0025]) / 0.5025)  # by hand: sum f = 0.5025
    # variance x(1-x) is selectable too
    league.rules = LeagueRules(payoff_decay=1.0, main_weighting="variance")
    _, _, w = branch_map(league, 0)["pfsp"]
    np.testing.assert_allclose(w, x * (1 - x) / np.sum(x * (1 - x)))
    # forgotten snapshots are drawn by hard PFSP too: (0.01, 0.25, 0.0025) / 0.2625
    _, _, w = branch_map(league, 0)["verify_forgotten"]
    np.testing.assert_allclose(w, np.array([0.01, 0.25, 0.0025]) / 0.2625)


def test_forgotten_players_follow_alphastar_remove_monotonic_suffix():
    assert remove_monotonic_suffix(np.array([0.9, 0.5, 0.95, 0.8, 0.6])) == 3  # keep [0.9, 0.5, 0.95]
    assert remove_monotonic_suffix(np.array([0.9, 0.8, 0.75])) == 0  # non-increasing: nothing forgotten
    assert remove_monotonic_suffix(np.array([0.5, 0.6])) == 2
    assert remove_monotonic_suffix(np.array([0.6])) == 0
    assert remove_monotonic_suffix(np.array([])) == 0
    assert league_with_history().forgotten(0, 0) == [3, 4, 5]  # 0.5 < 0.7 among the kept ones
    # Kept [0.75, 0.9, 0.95] are all beaten >= 70%: nothing forgotten, so no verification branch.
    league = league_with_history(rates=(0.75, 0.9, 0.95, 0.8, 0.6))
    assert league.forgotten(0, 0) == []
    assert set(branch_map(league, 0)) == {"pfsp", "selfplay"}
    assert branch_map(league, 0)["selfplay"][0] == pytest.approx(0.5)


def test_verification_prefers_main_exploiter_snapshots_the_main_loses_to():
    league = league_with_history(exploiter_rate=0.25)  # main beats main_exploiter_0@0 only 25% < 30%
    prob, cands, w = branch_map(league, 0)["verify_exploiters"]
    assert prob == pytest.approx(0.15) and cands == [8] and w.tolist() == [1.0]
    assert "verify_forgotten" not in branch_map(league, 0)


def test_selfplay_curriculum_when_the_main_opponent_is_too_strong():
    league = League(EXACT, main_agents=2, main_exploiters=0, league_exploiters=0)
    assert league.names == ["main_0", "main_1", "main_0@0", "main_1@0"]
    league.snapshot(1)  # main_1@1
    set_rate(league, 0, 1, 4)  # main_0 wins 20% < 30% against main_1: play main_1's snapshots instead
    set_rate(league, 0, 3, 18)  # 0.9 vs main_1@0
    set_rate(league, 0, 4, 10)  # 0.5 vs main_1@1 (non-increasing: nothing forgotten)
    b = [x for x in league.branches(0) if x.name == "selfplay_curriculum"]
    assert len(b) == 1 and b[0].candidates.tolist() == [3, 4]
    np.testing.assert_allclose(b[0].weights, [0.09 / 0.34, 0.25 / 0.34])  # variance x(1-x): 0.09, 0.25
    # main_1's half of 35% + 15% (no verification target) goes there; main_0's half is plain self-play.
    assert b[0].prob == pytest.approx(0.25)
    assert branch_map(league, 0)["selfplay"] == (pytest.approx(0.25), [0], np.ones(1))
    np.testing.assert_allclose(sum(x.prob for x in league.branches(0)), 1.0)


def test_main_exploiter_plays_mains_then_a_curriculum():
    league = League(EXACT, main_agents=1, main_exploiters=1, league_exploiters=0)
    league.snapshot(0)  # main_0@1
    set_rate(league, 1, 0, 3)  # 0.15 > 0.1: exploit the main agent itself
    assert branch_map(league, 1) == {"exploit_main": (1.0, [0], np.ones(1))}
    league.record(1, 0, [0.0] * 40)  # now 3/60 = 0.05 <= 0.1
    set_rate(league, 1, 2, 4)  # 0.2 vs main_0@0
    set_rate(league, 1, 3, 2)  # 0.1 vs main_0@1
    prob, cands, w = branch_map(league, 1)["exploit_curriculum"]
    assert prob == 1.0 and cands == [2, 3]
    np.testing.assert_allclose(w, [0.16 / 0.25, 0.09 / 0.25])


def test_league_exploiter_pfsp_over_all_historical():
    league = League(LeagueRules(payoff_decay=1.0, league_exploiter_weighting="hard"), 1, 1, 1)
    league.snapshot(1)
    set_rate(league, 2, 3, 15)  # 0.75
    set_rate(league, 2, 4, 5)  # 0.25
    _, cands, w = branch_map(league, 2)["league_pfsp"]
    assert cands == [3, 4]
    np.testing.assert_allclose(w, [0.0625 / 0.625, 0.5625 / 0.625])
    league.rules = LeagueRules(payoff_decay=1.0)  # AlphaStar's linear_capped: min(0.5, 1 - x)
    np.testing.assert_allclose(branch_map(league, 2)["league_pfsp"][2], [0.25 / 0.75, 0.5 / 0.75])


# --------------------------------------------------------------------------------------------- snapshots
def test_snapshot_triggers_min_steps_budget_and_win_rate():
    rules = LeagueRules(payoff_decay=1.0, min_snapshot_steps=100, snapshot_budget_steps=1000)
    league = League(rules, 1, 1, 1)
    for i in (0, 1, 2):
        set_rate(league, i, 3, 20)  # beat the only historical player 100%
    set_rate(league, 1, 0, 20)  # main exploiter beats the main agent 100%
    league.add_steps(0, 99)
    assert not league.ready_to_snapshot(0)  # winning, but too soon
    league.add_steps(0, 1)
    assert league.ready_to_snapshot(0)  # 100 steps and > 70% against every target
    set_rate(league, 0, 3, 0, games=60)  # 20/80 = 0.25 now
    assert not league.ready_to_snapshot(0)
    league.add_steps(0, 900)
    assert league.ready_to_snapshot(0)  # the budget: 1000 steps since the last snapshot
    # Exactly 70% is not "more than 70%".
    league2 = League(rules, 1, 0, 0)
    league2.add_steps(0, 500)
    set_rate(league2, 0, 1, 14)
    assert not league2.ready_to_snapshot(0)
    league2.record(0, 1, [1.0])
    assert league2.ready_to_snapshot(0)
    # A main exploiter's targets are the main agents: beating them all is enough.
    league.add_steps(1, 100)
    set_rate(league, 1, 3, 0, games=100)  # loses to the historical player (not its target)
    assert league.targets(1) == [0] and league.ready_to_snapshot(1)


def test_snapshot_resets_main_exploiters_always_league_exploiters_a_quarter_of_the_time():
    league = League(LeagueRules(payoff_decay=1.0), 1, 1, 1, seed=3)
    league.add_steps(0, 50)
    set_rate(league, 0, 3, 15)
    league.elo[0] = 1234.0
    index, reset = league.snapshot(0, task=7)
    assert not reset and league.names[index] == "main_0@1" and league.players[index].steps == 50
    assert league.players[index].created == 7 and league.players[index].parent == 0
    assert league.elo[index] == 1234.0  # a snapshot starts at its learner's rating
    assert league.win_rate(index, [3])[0] == 0.75  # and with its results (the same parameters)
    assert league.players[0].snapshot_steps == 50
    league.elo[1] = 1500.0
    set_rate(league, 1, 0, 15)
    assert all(league.snapshot(1)[1] for _ in range(20))  # main exploiters always restart...
    assert league.elo[1] == league.elo[league.initial]  # ...at the initial parameters' rating
    assert league.win_rate(1, [0])[0] == 0.5  # with their old results cleared
    assert not any(league.snapshot(0)[1] for _ in range(20))  # main agents never restart
    n = 2000
    resets = sum(league.snapshot(2)[1] for _ in range(n))
    assert abs(resets / n - 0.25) < 4 * np.sqrt(0.25 * 0.75 / n)


# --------------------------------------------------------------------------------------------- results, Elo
def test_record_decays_counts_per_game_and_updates_elo_once_per_match():
    league = League(LeagueRules(payoff_decay=0.5, elo_k=16.0), 1, 0, 0)
    league.record(0, 1, [1.0, 0.0])  # win then loss; the win is decayed once: wins 0.5, losses 1, games 1.5
    assert league.win_rate(0, [1])[0] == pytest.approx(0.5 / 1.5)
    assert league.win_rate(1, [0])[0] == pytest.approx(1.0 / 1.5)
    two = League(LeagueRules(payoff_decay=0.5), 1, 0, 0)
    two.record(0, 1, [1.0])
    two.record(0, 1, [0.0])
    np.testing.assert_allclose(two.win_rate(0, [1]), league.win_rate(0, [1]))  # one call == game by game
    # Elo: one update with the mean score 0.5 against an equal rating: no change.
    np.testing.assert_allclose(league.elo, [1000.0, 1000.0])
    league.record(0, 1, [1.0, 0.5, 1.0, 0.0])  # mean 0.625: 1000 + 16 * (0.625 - 0.5) = 1002
    np.testing.assert_allclose(league.elo, [1002.0, 998.0])
    # Underdog (998 vs 1002) draws: E = 1 / (1 + 10^(4/400)) = 0.494244, gain 16 * 0.005756 = 0.0921.
    league.record(1, 0, [0.5])
    np.testing.assert_allclose(league.elo, [1002.0 - 0.092098, 998.0 + 0.092098], atol=1e-5)
    draws = League(EXACT, 1, 0, 0)
    draws.record(0, 1, [0.5, 0.5, 1.0, 0.0])
    assert draws.win_rate(0, [1])[0] == 0.5


def test_record_and_rules_reject_bad_input():
    league = League(EXACT, 1, 0, 0)
    with pytest.raises(PhalanxError, match="two different players"):
        league.record(0, 0, [1.0])
    with pytest.raises(PhalanxError, match="scores in"):
        league.record(0, 1, [0.7])
    with pytest.raises(ConfigError, match="must sum to 1"):
        LeagueRules(selfplay=0.5).validate()
    with pytest.raises(ConfigError, match=r"main_weighting='hardd': unknown PFSP weighting\. Did you mean 'hard'"):
        LeagueRules(main_weighting="hardd").validate()
    with pytest.raises(ConfigError, match="at least one main agent"):
        League(EXACT, main_agents=0)


def test_state_round_trips_exactly():
    league = league_with_history()
    league.add_steps(2, 77)
    league.snapshot(2)
    restored = League.from_dict(league.to_dict(), league.rules)
    assert restored.names == league.names and restored.players == league.players
    np.testing.assert_array_equal(restored.elo, league.elo)
    np.testing.assert_array_equal(restored.games(), league.games())
    assert [restored.snapshot(2)[1] for _ in range(50)] == [league.snapshot(2)[1] for _ in range(50)]  # same RNG
