"""PSRO, self-play and fictitious self-play on Kuhn poker and rock-paper-scissors."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from phalanx.errors import ConfigError
from phalanx.population.metagames import GameSpec
from phalanx.population.oracles import OracleSpec
from phalanx.population.psro import PSRO
from phalanx.runtime.backend import LocalBackend

# The learned oracle as `phalanx psro env=kuhn_poker algo=A population.oracle=learned` runs it (Kuhn's registered
# settings), compiled at XLA optimisation level 0: ~2x faster to compile, slower to run, same numbers here. The
# same specs as test_oracles, so each player's program compiles once per test session.
FAST = (("xla_backend_optimization_level", 0),)
KUHN_ORACLE = OracleSpec("learned", seeds=1, compiler_options=FAST)


def kuhn_spec(algo: str = "ippo") -> GameSpec:
    from phalanx.runtime.population_config import from_values

    return from_values({"env": "kuhn_poker", "algo": algo, "population": {"oracle": "learned"}}).game_spec()


ROCK = {"tables": np.eye(3, dtype=np.float32)[:1][None]}  # one member: always rock, (1, 1, 3)
KUHN_UNIFORM_EXPLOITABILITY = 0.4583333  # NashConv 11/12 of the uniform profile (OpenSpiel's number)


class RecordingBackend(LocalBackend):
    """A local backend that records the name of every task submitted, and the cells of each evaluation."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []
        self.cells: list[set[tuple[int, int]]] = []
        self.keys: dict[str, list[list[int]]] = {}  # each evaluation block's PRNG keys, in order

    def submit(self, fn, *args, name: str = "", **kwargs):
        self.names.append(name)
        if name.startswith("evaluate_cells"):
            _game, _pop0, _pop1, rows, cols, key = args
            self.cells.append(set(zip(rows.tolist(), cols.tolist(), strict=True)))
            self.keys.setdefault(name, []).append(np.asarray(key).tolist())
        return super().submit(fn, *args, name=name, **kwargs)


class ReversedBackend(RecordingBackend):
    """Best responses complete last-submitted first (player 1's before player 0's), as on a parallel backend
    where player 1's trains faster."""

    def as_completed(self, futures):
        yield from reversed(list(futures))


def run(game: str, solver: str, iterations: int, oracle: OracleSpec | None = None, spec: GameSpec | None = None,
        populations=None, backend=None):
    psro = PSRO(spec or GameSpec.create(game), oracle or OracleSpec("exact"), solver,
                backend=backend or LocalBackend())
    lines = []
    state = psro.run(iterations, populations=populations, callback=lambda s, m: lines.append(m))
    return psro, state, lines


def test_kuhn_psro_nash_reaches_equilibrium_within_10_iterations():
    _psro, state, lines = run("kuhn_poker", "nash", 10)
    assert lines[0]["exploitability"] == pytest.approx(KUHN_UNIFORM_EXPLOITABILITY, abs=1e-6)
    assert lines[-1]["exploitability"] <= 1e-3
    assert lines[-1]["nash_conv"] == pytest.approx(2 * lines[-1]["exploitability"])
    assert state.sizes == (11, 11) and [ln["iteration"] for ln in lines] == list(range(11))
    # At an equilibrium player 0 gets Kuhn's game value, -1/18 (Kuhn 1950).
    assert lines[-1]["meta_value"][0] == pytest.approx(-1 / 18, abs=1e-3)
    assert lines[-1]["meta_nash_conv"] < 1e-9  # the meta-strategy solves the restricted game exactly


def test_self_play_cycles_rock_paper_scissors():
    """Each new member beats the opponent's last: rock → paper → scissors → rock → ..."""
    _psro, state, lines = run("rock_paper_scissors", "last", 6, populations=(ROCK, ROCK))
    for p in (0, 1):
        actions = [int(np.argmax(t)) for t in state.populations[p]["tables"][:, 0]]
        assert actions == [0, 1, 2, 0, 1, 2, 0]  # 0 rock, 1 paper, 2 scissors
    assert all(ln["meta_strategy"][0][-1] == 1.0 for ln in lines)  # self-play: all mass on the newest
    assert all(ln["exploitability"] == pytest.approx(1.0) for ln in lines)  # never leaves pure strategies


def test_fictitious_self_play_converges_to_uniform_on_rock_paper_scissors():
    psro, state, lines = run("rock_paper_scissors", "uniform", 100, populations=(ROCK, ROCK))
    mix0, mix1 = psro.mixtures(state)
    for mix in (mix0, mix1):  # fictitious play approaches the equilibrium slowly, in ever longer cycles
        np.testing.assert_allclose(mix.reshape(-1), 1 / 3, atol=0.1)
    assert lines[-1]["exploitability"] < 0.1
    assert lines[-1]["exploitability"] < 0.5 * lines[25]["exploitability"]  # still shrinking
    np.testing.assert_allclose(lines[-1]["meta_strategy"][0], 1 / 101)  # uniform over 101 members


@pytest.mark.parametrize("solver", ["nash", "general_sum", "prd"])
def test_psro_with_any_meta_solver_finds_the_uniform_equilibrium(solver):
    """From rock, the oracle adds paper then scissors; the restricted game is then RPS itself."""
    psro, state, lines = run("rock_paper_scissors", solver, 3, populations=(ROCK, ROCK))
    actions = [int(np.argmax(t)) for t in state.populations[0]["tables"][:, 0]]
    assert actions[:3] == [0, 1, 2]
    mix0, _ = psro.mixtures(state)
    tol = 1e-6 if solver in ("nash", "general_sum") else 0.02  # PRD: approximately
    np.testing.assert_allclose(mix0.reshape(-1), 1 / 3, atol=tol)
    assert lines[-1]["exploitability"] <= 3 * tol


def test_new_cells_are_evaluated_in_three_blocks_as_their_members_arrive():
    backend = RecordingBackend()
    psro, state, lines = run("kuhn_poker", "nash", 4, backend=backend)
    # Player 0's new row is submitted as soon as its best response is back (before player 1's is gathered on
    # a parallel backend), then player 1's new column and the (new, new) cell.
    per_iteration = [["evaluate_cells"]] + [["best_response/player_0", "best_response/player_1",
                                            "evaluate_cells/block_0", "evaluate_cells/block_1",
                                            "evaluate_cells/block_2"]] * 4
    assert backend.names == [n for it in per_iteration for n in it]
    assert psro.evaluate_calls == 1 + 3 * 4
    expected = [{(0, 0)}]
    for k in range(1, 5):  # k members each before iteration k: new row k, new column k, then cell (k, k)
        expected += [{(k, j) for j in range(k)}, {(i, k) for i in range(k)}, {(k, k)}]
    assert backend.cells == expected  # each call covers exactly its block, every cell once
    assert [ln["cells_evaluated"] for ln in lines] == [1, 3, 5, 7, 9]  # (k+1)^2 - k^2 new cells
    assert not np.isnan(state.table.payoffs).any()


@pytest.mark.parametrize("game, solver, populations", [("kuhn_poker", "nash", None),
                                                       ("rock_paper_scissors", "uniform", (ROCK, ROCK))])
def test_result_does_not_depend_on_which_best_response_completes_first(game, solver, populations):
    forward, backward = RecordingBackend(), ReversedBackend()
    _, state_f, lines_f = run(game, solver, 4, populations=populations, backend=forward)
    _, state_b, lines_b = run(game, solver, 4, populations=populations, backend=backward)
    assert backward.names[1:6] == ["best_response/player_0", "best_response/player_1", "evaluate_cells/block_1",
                                   "evaluate_cells/block_0", "evaluate_cells/block_2"]  # really the other order
    assert sorted(map(sorted, forward.cells)) == sorted(map(sorted, backward.cells))
    # Each block's key is fixed by the block (Monte-Carlo payoffs depend on it), not by the arrival order.
    assert forward.keys == backward.keys and len(forward.keys) == 4
    blocks = [forward.keys[f"evaluate_cells/block_{b}"] for b in range(3)]
    assert all(len({tuple(k) for k in ks}) == 3 for ks in zip(*blocks, strict=True))  # 3 distinct a step
    np.testing.assert_array_equal(state_f.table.payoffs, state_b.table.payoffs)
    for p in (0, 1):
        np.testing.assert_array_equal(state_f.populations[p]["tables"], state_b.populations[p]["tables"])
        np.testing.assert_array_equal(state_f.meta[p], state_b.meta[p])
    assert [ln["exploitability"] for ln in lines_f] == [ln["exploitability"] for ln in lines_b]


@pytest.mark.slow  # test_oracles checks the PPO oracle against the exact best response in the fast suite
def test_ppo_oracle_on_kuhn_beats_the_uniform_policy_and_continues_from_a_checkpoint(tmp_path):
    from phalanx.runtime.checkpoint import Checkpoints
    from phalanx.runtime.population_run import restore_checkpoint, save_checkpoint

    states = []
    psro = PSRO(kuhn_spec("ippo"), KUHN_ORACLE, "nash", backend=LocalBackend())
    lines = []
    state = psro.run(2, callback=lambda s, m: (states.append(s), lines.append(m)))
    exploitability = [ln["exploitability"] for ln in lines]
    assert exploitability[0] == pytest.approx(KUHN_UNIFORM_EXPLOITABILITY, abs=0.03)  # fresh PPO: near uniform
    assert exploitability[-1] < KUHN_UNIFORM_EXPLOITABILITY - 0.2, exploitability
    for ln in lines[1:]:
        for stats in ln["oracle"].values():
            assert stats["gap"] < 0.05, stats  # each PPO best response is close to the exact one
    assert set(state.populations[0]) == {"tables", "params"} and state.sizes == (3, 3)
    # The state after iteration 1, through an Orbax checkpoint, steps to exactly the same iteration 2.
    ckpt = Checkpoints(tmp_path)
    save_checkpoint(ckpt, states[1], {"wall_time": 0.0})
    restored, _ = restore_checkpoint(ckpt, 1, psro.metagame)
    ckpt.close()
    again, metrics = psro.step(restored)
    for p in (0, 1):
        for a, b in zip(jax.tree.leaves(again.populations[p]), jax.tree.leaves(state.populations[p]), strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(again.meta[p], state.meta[p])
    np.testing.assert_array_equal(again.table.payoffs, state.table.payoffs)
    assert metrics["exploitability"] == lines[-1]["exploitability"]


def test_iql_psro_on_kuhn_reaches_exploitability_below_0_1():
    """PSRO-Nash on Kuhn with IQL best responses (``algo=iql``, Kuhn's registered population defaults).

    Budget: 6 iterations; each best response is 15,360 env steps (64 envs x 8 steps x 30 updates) and
    1,920 gradient steps of a 32-32 MLP Q-network (batch 64), 12 best responses in all (~185k env steps).
    Exploitability (exact, of the meta-strategies' mixtures): 0.667 at iteration 0 (two fresh greedy
    Q-networks), then below 0.1 by iteration 6 (0.077 here; 0 by iteration 9), as exact PSRO does, since
    IQL's greedy tables are exact best responses here.
    """
    _, _, lines = run("kuhn_poker", "nash", 6, KUHN_ORACLE, kuhn_spec("iql"))
    exploitability = [ln["exploitability"] for ln in lines]
    assert exploitability[0] > 0.4, exploitability
    assert exploitability[-1] < 0.1, exploitability
    assert all(s["gap"] < 0.1 for ln in lines[1:] for s in ln["oracle"].values())  # near-exact best responses


def test_exact_oracle_does_not_fit_env_games():
    spec = GameSpec.create("tag", {"num_runners": 2}, algo="ippo")
    with pytest.raises(ConfigError, match="oracle=exact needs a game with exact best responses"):
        PSRO(spec, OracleSpec("exact"), "prd", backend=LocalBackend())
    with pytest.raises(ConfigError, match=r"learned oracle needs GameSpec\.algo"):
        PSRO(GameSpec.create("kuhn_poker"), OracleSpec("learned"), "nash", backend=LocalBackend())


@pytest.mark.slow
def test_monte_carlo_payoffs_do_not_depend_on_completion_order():
    """Tag (learned PPO oracle, Monte-Carlo payoffs): the same table, bit for bit, whichever best response comes
    first."""
    from phalanx.runtime.population_config import resolve

    config = resolve(["env=tag", "env.num_taggers=1", "env.num_runners=1", "env.episode_length=8",
                      "train.total_steps=512", "train.num_envs=8", "train.num_steps=8", "train.num_minibatches=1",
                      "train.hidden=[8]", "population.eval_episodes=8", "population.meta_solver=general_sum"])
    tables = []
    for backend in (LocalBackend(), ReversedBackend()):
        psro = PSRO(config.game_spec(), config.oracle_spec(), config.population.meta_solver, backend=backend)
        tables.append(psro.run(2).table)
    assert np.all(tables[0].counts == 8) and np.all(np.isfinite(tables[0].payoffs))
    assert np.any(tables[0].stderr > 0)  # really Monte-Carlo estimates
    np.testing.assert_array_equal(tables[0].payoffs, tables[1].payoffs)
    np.testing.assert_array_equal(tables[0].stderr, tables[1].stderr)
