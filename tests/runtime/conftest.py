import io

import pytest
from rich.console import Console

# A tiny simple_spread run: 4 envs × 32 steps per update, one epoch, 16-unit networks.
TINY = ["env=simple_spread", "env.N=2", "train.num_envs=4", "train.num_steps=32", "train.update_epochs=1",
        "train.num_minibatches=2", "train.hidden=[16]"]
# The shared finished run: 6 updates in chunks of 2 (3 log steps), checkpoints after chunks 2 and 3 (the
# last), two seeds.
TINY_RUN = [*TINY, "train.total_steps=768", "num_seeds=2", "seed=3", "log_every=2", "checkpoint_every=2"]


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
