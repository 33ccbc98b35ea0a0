"""An AlphaStar-style league (Vinyals et al. 2019): roles, matchmaking, payoff, Elo, snapshots.

:class:`League` is host-side bookkeeping, free of files, processes and envs (the runtime drives it,
:mod:`phalanx.runtime.league_run`): the *players* (indices into one table) are the learning agents
(``main``, ``main_exploiter``, ``league_exploiter``) and frozen snapshots of them (``historical``).
It chooses opponents (:meth:`League.branches`: AlphaStar's matchmaking as explicit branches, so the
exact opponent distribution a learner trains against is known and a single match can be sampled
from the same numbers), keeps the decayed win/draw/loss counts of every pair, online Elo ratings,
and decides when a learner is snapshotted and whether it is reset. Matches between players (paired
games on any env with two or more groups, scored by a named scorer) are in
:mod:`phalanx.population.league_matches`; the league only sees their scores, 1 / 0.5 / 0 per game.

Matchmaking, per learner role (AlphaStar's pseudocode; ``x`` = the learner's win rate):

* **main**: with probability ``pfsp`` (0.5) PFSP over all historical players (``main_weighting``,
  "hard" ``(1-x)^p`` by default); otherwise pick a main agent ``m`` uniformly and, with probability
  ``verification`` (0.15), *verify*: past main-exploiter snapshots if the learner beats one of
  them less than ``verification_exploiter_win_rate`` (0.3) of the time, else *forgotten* snapshots
  of ``m`` — its snapshots after dropping the trailing run of non-increasing win rates (the recent,
  stronger ones: AlphaStar's ``remove_monotonic_suffix``), if the learner beats one of them less
  than ``forgotten_win_rate`` (0.7) — both by hard PFSP; if neither applies the game becomes
  self-play. With probability ``selfplay`` (0.35) *self-play* against ``m``'s current parameters,
  or, while the learner wins less than ``selfplay_min_win_rate`` (0.3) against ``m``, variance
  PFSP ``x(1-x)`` over ``m``'s snapshots (a curriculum).
* **main_exploiter**: a main agent chosen uniformly; while the exploiter wins less than
  ``exploiter_min_win_rate`` (0.1) against it, variance PFSP over that main's snapshots.
* **league_exploiter**: PFSP over all historical players (``league_exploiter_weighting``).

Snapshots (:meth:`League.ready_to_snapshot`): at least ``min_snapshot_steps`` env steps after the
last one, a learner is snapshotted when it beats every target with win rate ``> snapshot_win_rate``
(0.7) — targets: all historical players for main agents and league exploiters, the current main
agents for main exploiters — or once ``snapshot_budget_steps`` have passed. After a snapshot, main
exploiters always restart from the initial parameters, league exploiters with probability
``league_exploiter_reset_prob`` (0.25), main agents never.

Win rates are ``(wins + draws / 2) / games`` over counts decayed by ``payoff_decay`` per game
(AlphaStar's 0.99), 0.5 for pairs that never played. Elo: one update per match with the match's
mean score (:func:`~phalanx.population.league_math.elo_update`, ``elo_k``); snapshots start at
their learner's rating, reset learners at the initial player's rating (with their counts cleared:
their old results belong to parameters they no longer have).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from phalanx.errors import ConfigError, PhalanxError, did_you_mean
from phalanx.population.league_math import PFSP_WEIGHTINGS, elo_update, pfsp_weights

ROLES = ("main", "main_exploiter", "league_exploiter")
HISTORICAL = "historical"
FORMAT_VERSION = 1


@dataclasses.dataclass(frozen=True)
class LeagueRules:
    """Matchmaking, snapshot and rating rules (AlphaStar's values as defaults; see the module docstring).

    Attributes:
        selfplay, pfsp, verification: main agents' branch probabilities (sum to 1).
        main_weighting, league_exploiter_weighting: PFSP weightings (:data:`PFSP_WEIGHTINGS`);
            pfsp_p: the exponent of ``"hard"``.
        selfplay_min_win_rate, exploiter_min_win_rate: below these win rates against a main agent,
            self-play / exploitation switches to a variance-PFSP curriculum over its snapshots.
        verification_exploiter_win_rate, forgotten_win_rate: verification thresholds.
        snapshot_win_rate: snapshot when beating every target more often than this.
        min_snapshot_steps, snapshot_budget_steps: env steps (of the learner) between snapshots:
            at least the first, at most the second.
        league_exploiter_reset_prob: chance a league exploiter restarts after a snapshot.
        payoff_decay: factor applied to a pair's counts before each new game.
        elo_k, elo_initial: Elo step size (per match) and starting rating.
    """

    selfplay: float = 0.35
    pfsp: float = 0.5
    verification: float = 0.15
    main_weighting: str = "hard"
    league_exploiter_weighting: str = "linear_capped"
    pfsp_p: float = 2.0
    selfplay_min_win_rate: float = 0.3
    exploiter_min_win_rate: float = 0.1
    verification_exploiter_win_rate: float = 0.3
    forgotten_win_rate: float = 0.7
    snapshot_win_rate: float = 0.7
    min_snapshot_steps: int = 0
    snapshot_budget_steps: int = 1_000_000
    league_exploiter_reset_prob: float = 0.25
    payoff_decay: float = 0.99
    elo_k: float = 16.0
    elo_initial: float = 1000.0

    def validate(self, prefix: str = "league.") -> LeagueRules:
        """Raise :class:`ConfigError` naming the first invalid key; return self."""
        probs = ("selfplay", "pfsp", "verification")
        unit = (*probs, "selfplay_min_win_rate", "exploiter_min_win_rate", "verification_exploiter_win_rate",
                "forgotten_win_rate", "snapshot_win_rate", "league_exploiter_reset_prob")
        for key in unit:
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ConfigError(f"{prefix}{key}={getattr(self, key)}: expected a number in [0, 1].")
        total = sum(getattr(self, k) for k in probs)
        if abs(total - 1.0) > 1e-9:
            raise ConfigError(f"{prefix}selfplay + pfsp + verification = {total:g}: the main agents' branch "
                              "probabilities must sum to 1 (AlphaStar: 0.35, 0.5, 0.15).")
        for key in ("main_weighting", "league_exploiter_weighting"):
            value = getattr(self, key)
            if value not in PFSP_WEIGHTINGS:
                hint = did_you_mean(str(value), PFSP_WEIGHTINGS)
                raise ConfigError(f"{prefix}{key}={value!r}: unknown PFSP weighting.{hint} "
                                  f"Valid weightings: {', '.join(PFSP_WEIGHTINGS)}.")
        if self.pfsp_p <= 0:
            raise ConfigError(f"{prefix}pfsp_p={self.pfsp_p}: expected a number > 0.")
        if self.min_snapshot_steps < 0 or self.snapshot_budget_steps < 1:
            raise ConfigError(f"{prefix}min_snapshot_steps={self.min_snapshot_steps}, snapshot_budget_steps="
                              f"{self.snapshot_budget_steps}: expected >= 0 and >= 1 env steps.")
        if not 0.0 < self.payoff_decay <= 1.0:
            raise ConfigError(f"{prefix}payoff_decay={self.payoff_decay}: expected a number in (0, 1].")
        if self.elo_k <= 0:
            raise ConfigError(f"{prefix}elo_k={self.elo_k}: expected a number > 0.")
        return self


@dataclasses.dataclass
class Player:
    """One row of the league table: a learner (``role`` in :data:`ROLES`) or a snapshot (``"historical"``).

    Attributes:
        name: ``main_0``, ``main_exploiter_0``, ... for learners; ``<learner>@<k>`` for its ``k``-th snapshot.
        role: the learner's role, or ``"historical"``.
        parent: a snapshot's learner (player index); None for learners.
        steps: env steps trained (a snapshot: its learner's at the time).
        snapshot_steps: a learner's ``steps`` at its last snapshot.
        snapshots: snapshots taken of a learner so far.
        created: the coordinator's task count when the player joined.
    """

    name: str
    role: str
    parent: int | None = None
    steps: int = 0
    snapshot_steps: int = 0
    snapshots: int = 0
    created: int = 0


@dataclasses.dataclass(frozen=True)
class Branch:
    """One way a learner's opponent is chosen: taken with probability ``prob``, then ``candidates``
    (``(c,)`` player indices) drawn with ``weights`` (``(c,)``, summing to 1)."""

    name: str
    prob: float
    candidates: np.ndarray
    weights: np.ndarray


def remove_monotonic_suffix(win_rates: np.ndarray) -> int:
    """How many of ``win_rates`` (ordered oldest snapshot first) to keep: drop the trailing run of
    non-increasing win rates (AlphaStar: the recent, harder snapshots are not "forgotten")."""
    for i in range(len(win_rates) - 1, 0, -1):
        if win_rates[i - 1] < win_rates[i]:
            return i + 1
    return 0


class League:
    """Players, decayed pairwise results, Elo and the matchmaking / snapshot rules of a league.

    Players ``0 .. L-1`` are the learners (main agents, then main exploiters, then league
    exploiters); each main agent's initial parameters join as the first historical players.
    Snapshots are appended. ``rng`` (NumPy, seeded) decides league-exploiter resets.
    """

    def __init__(self, rules: LeagueRules, main_agents: int = 1, main_exploiters: int = 1,
                 league_exploiters: int = 1, seed: int = 0):
        rules.validate()
        if main_agents < 1 or main_exploiters < 0 or league_exploiters < 0:
            raise ConfigError(f"main_agents={main_agents}, main_exploiters={main_exploiters}, league_exploiters="
                              f"{league_exploiters}: expected at least one main agent and no negative counts.")
        self.rules = rules
        self.players: list[Player] = []
        for role, count in zip(ROLES, (main_agents, main_exploiters, league_exploiters), strict=True):
            self.players += [Player(f"{role}_{k}", role) for k in range(count)]
        n = len(self.players)
        self._stats = np.zeros((4, n, n))  # decayed wins, draws, losses, games of row vs column
        self.elo = np.full(n, rules.elo_initial)
        self.rng = np.random.default_rng(seed)
        for i in self.learners("main"):
            self._add_snapshot(i, task=0)
        self.initial = self.historical()[0]  # the initial parameters' player (reset rating)

    # ------------------------------------------------------------------ who is who
    def learners(self, role: str | None = None) -> list[int]:
        """Indices of learners (of ``role`` if given), in table order."""
        return [i for i, p in enumerate(self.players) if p.role != HISTORICAL and role in (None, p.role)]

    def historical(self, parent_role: str | None = None, parent: int | None = None) -> list[int]:
        """Indices of snapshots, optionally only of learners with ``parent_role`` or of learner ``parent``."""
        return [i for i, p in enumerate(self.players) if p.role == HISTORICAL
                and (parent_role is None or self.players[p.parent].role == parent_role)
                and (parent is None or p.parent == parent)]

    @property
    def names(self) -> list[str]:
        """Every player's name, in player order."""
        return [p.name for p in self.players]

    def __len__(self) -> int:
        return len(self.players)

    # ------------------------------------------------------------------ results
    def win_rate(self, i: int, js: Any) -> np.ndarray:
        """``(len(js),)`` player ``i``'s decayed win rates (draws half) against ``js``; 0.5 where never played."""
        js = np.asarray(js, np.int64)
        wins, draws, _, games = self._stats[:, i, js]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(games > 0, (wins + 0.5 * draws) / np.maximum(games, 1e-300), 0.5)

    def games(self) -> np.ndarray:
        """``(n, n)`` decayed game counts."""
        n = len(self.players)
        return self._stats[3, :n, :n].copy()

    def record(self, i: int, j: int, scores: Any) -> None:
        """Fold in the games of one match, in order: ``scores`` ``(G,)`` are ``i``'s (1 win, 0.5 draw, 0 loss).

        Each game decays the pair's counts by ``payoff_decay`` first (so ``G`` games in one call equal
        ``G`` calls of one); then one Elo update with the mean score.
        """
        s = np.asarray(scores, np.float64).reshape(-1)
        if i == j or s.size == 0 or not np.all(np.isin(s, (0.0, 0.5, 1.0))):
            raise PhalanxError(f"League.record: need two different players and scores in {{0, 0.5, 1}}; "
                               f"got i={i}, j={j}, scores={s.tolist()}.")
        d = self.rules.payoff_decay
        w = d ** np.arange(s.size - 1, -1, -1)  # weight of game g after the later games' decay
        outcome = np.stack([s == 1.0, s == 0.5, s == 0.0, np.ones_like(s, bool)]).astype(np.float64)
        add = outcome @ w  # (4,): wins, draws, losses, games of i
        keep = d**s.size
        self._stats[:, i, j] = keep * self._stats[:, i, j] + add
        self._stats[:, j, i] = keep * self._stats[:, j, i] + add[[2, 1, 0, 3]]  # j's wins are i's losses
        self.elo = elo_update(self.elo, i, j, float(s.mean()), k=self.rules.elo_k)

    # ------------------------------------------------------------------ matchmaking
    def branches(self, i: int) -> list[Branch]:
        """How learner ``i`` chooses its opponent: branches whose probabilities sum to 1."""
        role = self.players[i].role
        r = self.rules
        mains = self.learners("main")
        share = 1.0 / len(mains)
        if role == "league_exploiter":
            return [self._pfsp("league_pfsp", 1.0, i, self.historical(), r.league_exploiter_weighting)]
        if role == "main_exploiter":
            out = []
            for m in mains:
                if self.win_rate(i, [m])[0] > r.exploiter_min_win_rate:
                    out.append(Branch("exploit_main", share, np.array([m]), np.ones(1)))
                else:
                    out.append(self._curriculum("exploit_curriculum", share, i, m))
            return out
        if role != "main":
            raise PhalanxError(f"League.branches: player {i} ({self.players[i].name}) is a snapshot, not a learner.")
        out = [self._pfsp("pfsp", r.pfsp, i, self.historical(), r.main_weighting)]
        for m in mains:
            check = self._verification(i, m, r.verification * share)
            selfplay = r.selfplay * share + (0.0 if check else r.verification * share)
            if check:
                out.append(check)
            if self.win_rate(i, [m])[0] > r.selfplay_min_win_rate:
                out.append(Branch("selfplay", selfplay, np.array([m]), np.ones(1)))
            else:
                out.append(self._curriculum("selfplay_curriculum", selfplay, i, m))
        return [b for b in out if b.prob > 0]

    def _pfsp(self, name: str, prob: float, i: int, candidates: list[int], weighting: str) -> Branch:
        c = np.asarray(candidates, np.int64)
        return Branch(name, prob, c, pfsp_weights(self.win_rate(i, c), weighting, p=self.rules.pfsp_p))

    def _curriculum(self, name: str, prob: float, i: int, m: int) -> Branch:
        past = self.historical(parent=m)
        if not past:  # nothing easier to learn from: the main agent itself
            return Branch(name, prob, np.array([m]), np.ones(1))
        return self._pfsp(name, prob, i, past, "variance")

    def _verification(self, i: int, m: int, prob: float) -> Branch | None:
        r = self.rules
        exploiters = self.historical(parent_role="main_exploiter")
        if exploiters and self.win_rate(i, exploiters).min() < r.verification_exploiter_win_rate:
            return self._pfsp("verify_exploiters", prob, i, exploiters, "hard")
        forgotten = self.forgotten(i, m)
        if forgotten:
            return self._pfsp("verify_forgotten", prob, i, forgotten, "hard")
        return None

    def forgotten(self, i: int, m: int) -> list[int]:
        """Snapshots of main agent ``m`` that learner ``i`` may have forgotten how to beat (empty if none):
        those before the trailing run of non-increasing win rates, if ``i`` beats one of them less than
        ``forgotten_win_rate`` of the time."""
        past = self.historical(parent=m)
        rates = self.win_rate(i, past)
        keep = remove_monotonic_suffix(rates)
        if keep and rates[:keep].min() < self.rules.forgotten_win_rate:
            return past[:keep]
        return []

    def opponent_distribution(self, i: int) -> np.ndarray:
        """``(n,)`` the probability that learner ``i``'s next game is against each player (all branches)."""
        p = np.zeros(len(self))
        for b in self.branches(i):
            np.add.at(p, b.candidates, b.prob * b.weights)
        return p

    def sample_opponents(self, i: int, rng: np.random.Generator, size: int = 1) -> tuple[np.ndarray, list[str]]:
        """Opponents for ``size`` single games, each drawn AlphaStar style (a branch, then a candidate):
        ``(player indices (size,), branch names)``."""
        branches = self.branches(i)
        which = rng.choice(len(branches), size=size, p=np.array([b.prob for b in branches]))
        picks = np.array([branches[w].candidates[rng.choice(len(branches[w].candidates), p=branches[w].weights)]
                          for w in which], np.int64)
        return picks, [branches[w].name for w in which]

    # ------------------------------------------------------------------ snapshots
    def targets(self, i: int) -> list[int]:
        """Whom learner ``i`` must beat more than ``snapshot_win_rate`` of the time to be snapshotted."""
        return self.learners("main") if self.players[i].role == "main_exploiter" else self.historical()

    def ready_to_snapshot(self, i: int) -> bool:
        """Whether learner ``i`` is due a snapshot now (see the module docstring)."""
        p, r = self.players[i], self.rules
        since = p.steps - p.snapshot_steps
        if since < r.min_snapshot_steps:
            return False
        if since >= r.snapshot_budget_steps:
            return True
        return bool(self.win_rate(i, self.targets(i)).min() > r.snapshot_win_rate)

    def snapshot(self, i: int, task: int = 0) -> tuple[int, bool]:
        """Freeze learner ``i`` as a new historical player; ``(its index, whether i restarts from the initial
        parameters)``. On a restart ``i``'s counts are cleared and its rating set to the initial player's."""
        index = self._add_snapshot(i, task)
        role = self.players[i].role
        reset = role == "main_exploiter" or (
            role == "league_exploiter" and self.rng.random() < self.rules.league_exploiter_reset_prob)
        if reset:
            self._stats[:, i, :] = 0.0
            self._stats[:, :, i] = 0.0
            self.elo[i] = self.elo[self.initial]
        return index, reset

    def _add_snapshot(self, i: int, task: int) -> int:
        p = self.players[i]
        self.players.append(Player(f"{p.name}@{p.snapshots}", HISTORICAL, parent=i, steps=p.steps, created=task))
        p.snapshots += 1
        p.snapshot_steps = p.steps
        n = len(self.players)
        if n > self._stats.shape[1]:  # grow by doubling: many snapshots stay cheap
            stats = np.zeros((4, 2 * n, 2 * n))
            stats[:, : n - 1, : n - 1] = self._stats[:, : n - 1, : n - 1]
            self._stats = stats
        s = self._stats
        s[:, n - 1, :n] = s[:, i, :n]  # the snapshot is the learner's current parameters
        s[:, :n, n - 1] = s[:, :n, i]
        s[:, n - 1, i] = s[:, i, n - 1] = s[:, n - 1, n - 1] = 0.0  # never met (0.5 until they do)
        self.elo = np.append(self.elo, self.elo[i])
        return n - 1

    def add_steps(self, i: int, steps: int) -> None:
        """Learner ``i`` trained ``steps`` more env steps."""
        self.players[i].steps += int(steps)

    # ------------------------------------------------------------------ checkpoints
    def to_dict(self) -> dict[str, Any]:
        """JSON-able state (floats round-trip exactly); :meth:`from_dict` restores it with the same rules."""
        n = len(self)
        return {"version": FORMAT_VERSION, "players": [dataclasses.asdict(p) for p in self.players],
                "stats": self._stats[:, :n, :n].tolist(), "elo": self.elo.tolist(), "initial": self.initial,
                "rng": self.rng.bit_generator.state}

    @classmethod
    def from_dict(cls, data: dict[str, Any], rules: LeagueRules) -> League:
        """The league :meth:`to_dict` wrote."""
        if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
            raise PhalanxError(f"League.from_dict: expected league state version {FORMAT_VERSION}.")
        league = cls.__new__(cls)
        league.rules = rules.validate()
        league.players = [Player(**p) for p in data["players"]]
        league._stats = np.asarray(data["stats"], np.float64).reshape(4, len(league.players), len(league.players))
        league.elo = np.asarray(data["elo"], np.float64)
        league.initial = int(data["initial"])
        league.rng = np.random.default_rng()
        league.rng.bit_generator.state = data["rng"]
        return league
