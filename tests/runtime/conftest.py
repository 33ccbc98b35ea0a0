import pytest

# A tiny simple_spread run: 4 envs × 32 steps per update, one epoch, 16-unit networks.
TINY = ["env=simple_spread", "env.N=2", "train.num_envs=4", "train.num_steps=32", "train.update_epochs=1",
        "train.num_minibatches=2", "train.hidden=[16]"]


@pytest.fixture
def tiny() -> list[str]:
    return list(TINY)
