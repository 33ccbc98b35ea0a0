"""``algo=iddpg_bc``: IDDPG + behaviour cloning learns a continuous-action policy from a dataset."""

from __future__ import annotations

import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_learners import _final_return, _write, scripted_spread_actor

import phalanx
from phalanx.algos.offline import IDDPGBCConfig, make_iddpg_bc
from phalanx.algos.offline.iddpg_bc import iddpg_bc_loss
from phalanx.errors import ConfigError
from phalanx.evaluation import Actor, random_actor
from phalanx.runtime.vault import load_dataset


def test_iddpg_bc_learns_from_noisy_scripted_data_and_beats_random(tmp_path):
    env = phalanx.make("simple_spread", continuous_actions=True)  # Box(0, 1, (5,)): mpe2's move magnitudes
    n = 64
    discrete = scripted_spread_actor(n)
    one_hot = lambda *a, **k: (jax.nn.one_hot(discrete.act(*a, **k)[0], 5), a[2])  # noqa: E731
    # 30 % of the actions uniformly random: the data mixes a good policy with noise.
    scripted = _write(tmp_path / "s.vlt" / "Medium", env, {"agents": Actor(one_hot, None, discrete.hidden, True)},
                      n, epsilon=0.3)
    random = _write(tmp_path / "r.vlt" / "Random", env, {"agents": random_actor(env, "agents", n)}, n, seed=1)
    assert scripted > random + 5
    data = load_dataset(tmp_path / "s.vlt", env, "simple_spread")
    config = IDDPGBCConfig(grad_steps=900, grad_steps_per_update=300, num_envs=16, eval_steps=50)
    learned = _final_return(make_iddpg_bc(config, env, dataset=data))
    assert learned > random + 0.5 * (scripted - random), (learned, scripted, random)


def test_iddpg_bc_loss_by_hand():
    q_data, target = jnp.array([[1.0, 2.0]]), jnp.array([[0.0, 2.0]])
    q_policy = jnp.array([[2.0, 2.0]])
    policy, data = jnp.zeros((1, 2, 1)), jnp.array([[[1.0], [0.0]]])
    loss, (critic, bc, q_mean) = iddpg_bc_loss(q_data, target, jnp.array([True]), q_policy, policy, data, 2.5)
    # critic: mean((1, 0)²) = 0.5; λ = 2.5 / mean|Q_π| = 1.25, actor −λ·2 = −2.5; BC: mean(1, 0) = 0.5.
    assert np.isclose(float(critic), 0.5) and np.isclose(float(bc), 0.5) and np.isclose(float(q_mean), 1.5)
    assert np.isclose(float(loss), 0.5 - 2.5 + 0.5)
    _, (critic, _, _) = iddpg_bc_loss(q_data, target, jnp.array([False]), q_policy, policy, data, 2.5)
    assert float(critic) == 0.0  # a row without a TD target (a recording cut mid-episode) does not count


def test_iddpg_bc_refuses_discrete_actions():
    with pytest.raises(ConfigError, match="algo=iddpg_bc: group 'agents' has Discrete"):
        make_iddpg_bc(IDDPGBCConfig(), phalanx.make("simple_spread"))


@pytest.mark.slow  # the CLI path of offline runs is test_train_offline's; this one adds the continuous data
def test_iddpg_bc_cli_run_on_a_continuous_dataset(tmp_path, monkeypatch, capsys):
    from phalanx.cli import main

    monkeypatch.chdir(tmp_path)
    spread = ["env=simple_spread", "env.continuous_actions=true"]
    assert main(["data", "record", *spread, "episodes=8", "num_envs=8", "out=d/c.vlt"]) == 0
    # OG-MARL's continuous layout (its MAMuJoCo datasets; IDDPG+BC, MADDPG+CQL and OMAR read actions and
    # infos.state only): float (1, T, N, d) actions inside its [-1, 1] clip, and no infos.legals.
    from flashbax.vault import Vault

    exp = Vault(vault_name="c.vlt", vault_uid="Random", rel_dir="d").read().experience
    assert set(exp["infos"]) == {"state"} and exp["infos"]["state"].shape == (1, 200, 54)
    assert exp["actions"].shape == (1, 200, 3, 5) and str(exp["actions"].dtype) == "float32"
    acts = np.asarray(exp["actions"])
    assert ((acts >= 0) & (acts <= 1)).all() and acts.std() > 0  # the env's Box(0, 1)
    train = ["train", *spread, "algo=iddpg_bc", "data=d/c.vlt", "train.grad_steps=40", "train.grad_steps_per_update=20",
             "train.batch_size=32", "train.num_envs=2", "train.eval_steps=25", "train.hidden=[16]", "log_every=1",
             "checkpoint_every=1"]
    assert main([*train, "run_dir=r"]) == 0
    lines = (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2  # one line per update
    shutil.rmtree(tmp_path / "r" / "checkpoints" / "2")  # lose the newest checkpoint: resume redoes update 2
    assert main(["train", "resume=r"]) == 0
    again = (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()
    same = lambda line: {k: v for k, v in json.loads(line).items() if k not in ("wall_time", "steps_per_s")}  # noqa: E731
    assert [same(x) for x in again] == [same(x) for x in lines]
    assert main(["eval", "run_dir=r", "episodes=2"]) == 0  # the checkpoint's actor plays
    capsys.readouterr()
    # Continuous data for a discrete env: one line before a run directory exists.
    assert main(["train", "env=simple_spread", "algo=iddpg_bc", "data=d/c.vlt", "run_dir=r2"]) == 2
    err = capsys.readouterr().err.strip()
    assert "data=d/c.vlt" in err and len(err.splitlines()) == 1 and not (tmp_path / "r2").exists()
