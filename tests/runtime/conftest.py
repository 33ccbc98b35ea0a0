import io

import pytest
from rich.console import Console

# A tiny simple_spread run: 4 envs × 32 steps per update, one epoch, 16-unit networks.
TINY = ["env=simple_spread", "env.N=2", "train.num_envs=4", "train.num_steps=32", "train.update_epochs=1",
        "train.num_minibatches=2", "train.hidden=[16]"]
# The shared finished run: 6 updates in chunks of 2 (3 log steps), checkpoints after chunks 2 and 3 (the
# last), two seeds.
TINY_RUN = [*TINY, "train.total_steps=768", "num_seeds=2", "seed=3", "log_every=2", "checkpoint_every=2"]


# A tiny league: 1 tagger vs 1 runner on a 3 × 3 board (tags happen), 4 envs × 8 steps, one epoch, 8-unit
# networks; three learners × 2 tasks of 64 env steps, a snapshot of every learner after every task
# (league.total_steps=300 asks for less: whole tasks round it up to 384, which the run says in budget.json).
TINY_LEAGUE = ["env=tag", "env.num_runners=1", "env.grid_length=3.0", "env.episode_length=10",
               "env.tagging_distance=0.3", "env.num_acceleration_levels=2", "env.num_turn_levels=2",
               "train.num_envs=4", "train.num_steps=8", "train.num_minibatches=1", "train.update_epochs=1",
               "train.hidden=[8]", "league.updates_per_task=1", "league.total_steps=300", "league.eval_games=2",
               "league.final_games=4", "league.eval_chunk=4", "checkpoint_every=3", "league.min_snapshot_steps=0",
               "league.snapshot_budget_steps=64"]


@pytest.fixture
def tiny() -> list[str]:
    return list(TINY)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> tuple:
    """One finished ``phalanx train`` run directory (:data:`TINY_RUN`), trained once per test session and
    shared by every test that only reads a run dir (or resumes it without changing it); returns
    ``(path, the console output of the run)``."""
    from phalanx.runtime.run_config import resolve
    from phalanx.runtime.train_run import run

    path = tmp_path_factory.mktemp("tiny_run") / "run"
    out = io.StringIO()
    run(resolve([*TINY_RUN, f"run_dir={path}"]), console=Console(file=out, width=200))
    return path, out.getvalue()


@pytest.fixture(scope="session")
def tiny_league(tmp_path_factory):
    """One finished ``phalanx league`` run directory (:data:`TINY_LEAGUE`, local backend), run once per test
    session and shared by the tests that read it."""
    from phalanx.runtime.league_config import resolve
    from phalanx.runtime.league_run import run

    path = tmp_path_factory.mktemp("tiny_league") / "run"
    run(resolve([*TINY_LEAGUE, f"run_dir={path}"]), console=Console(file=io.StringIO(), width=120))
    return path
