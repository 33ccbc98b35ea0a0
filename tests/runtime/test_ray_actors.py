"""Remote actors on a real local Ray (``phalanx train env=pettingzoo:... backend=ray ray.num_actors=N``).

One Ray for the module (2 CPUs; actors import the test env from this folder through ``PYTHONPATH``). The
env is :mod:`actor_envs`' signal game: random players score 1 per episode, perfect ones 4.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from actor_envs import CONTINUOUS_RANDOM_RETURN, RANDOM_RETURN
from rich.console import Console

from phalanx.errors import ConfigError
from phalanx.runtime import run_dir as rd
from phalanx.runtime.run_config import resolve

HERE = Path(__file__).parent
# 8 envs × 16 steps per update, 20 updates, in 4 metrics lines (as tests/algos/test_sebulba.py's local run).
GAME = ["env=pettingzoo:actor_envs", "algo=ippo", "backend=ray", "train.num_envs=8", "train.num_steps=16",
        "train.total_steps=2560", "train.num_minibatches=2", "train.lr=3e-3", "train.hidden=[32,32]", "log_every=5"]


def game(*args: str) -> list[str]:
    """:data:`GAME` with ``args`` added, replacing the settings they name."""
    keys = {a.partition("=")[0] for a in args}
    return [a for a in GAME if a.partition("=")[0] not in keys] + list(args)
MARGIN = 2.0  # trained players average at least RANDOM_RETURN + MARGIN = 3 of 4


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    os.environ.setdefault("RAY_raylet_start_wait_time_s", "300")  # a loaded 2-core machine starts Ray slowly
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": path}})
    yield ray
    ray.shutdown()


def quiet() -> Console:
    return Console(file=io.StringIO(), width=120)


def train(args: list[str], path: Path) -> list[dict]:
    from phalanx.runtime.launch import launch
    from phalanx.runtime.train_run import run

    launch(run, rd.TRAIN, resolve([*args, f"run_dir={path}"]), console=quiet())
    return [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
@pytest.mark.parametrize("actors", [1, 2])
def test_one_and_two_actors_learn_the_signal_game(local_ray, tmp_path, actors):
    lines = train(game(f"ray.num_actors={actors}"), tmp_path / "run")
    assert [line["update"] for line in lines] == [5, 10, 15, 20]
    assert lines[-1]["env_steps"] == 2560
    assert lines[-1]["episode_return"]["player"] >= RANDOM_RETURN + MARGIN
    assert all(line["actors"] == actors and line["envs_per_actor"] == 8 // actors for line in lines)
    assert all(0 <= line["policy_lag"]["max"] <= 2 for line in lines)  # ray.max_policy_lag's default
    assert lines[-1]["lost_env_steps"] == lines[-1]["actors_replaced"] == 0
    assert [w["actor"] for w in lines[-1]["workers"]] == list(range(actors))
    assert all(0 < line["actor_utilisation"] <= 1 and 0 <= line["learner_wait_fraction"] <= 1 for line in lines)
    assert (tmp_path / "run" / "checkpoints").is_dir()


@pytest.mark.slow
def test_iql_actors_feed_the_replay_buffer_and_learn_the_signal_game(local_ray, tmp_path):
    """The Ape-X shape: two actors step ε-greedily, their steps go into the learner's replay buffer."""
    lines = train(["env=pettingzoo:actor_envs", "algo=iql", "backend=ray", "ray.num_actors=2", "train.num_envs=8",
                   "train.num_steps=8", "train.total_steps=2048", "train.learning_starts=256", "train.lr=3e-3",
                   "train.eps_decay_steps=1000", "train.hidden=[32]", "log_every=8"], tmp_path / "run")
    assert [line["update"] for line in lines] == [8, 16, 24, 32] and lines[-1]["env_steps"] == 2048
    assert lines[0]["learning"] > 0  # gradient steps began once 256 steps were stored
    assert lines[-1]["epsilon"] == pytest.approx(0.05)
    assert lines[-1]["episode_return"]["player"] >= RANDOM_RETURN + MARGIN


# The continuous signal game (Box actions), a replay learner fed by 2 actors: 8 envs × 4 steps per update.
CONTINUOUS = ["env=pettingzoo:actor_envs", "env.continuous=true", "backend=ray", "ray.num_actors=2",
              "train.num_envs=8", "train.num_steps=4", "train.warmup_steps=160", "train.batch_size=64",
              "train.hidden=[32]"]


@pytest.mark.parametrize("algo", ["isac", pytest.param("masac", marks=pytest.mark.slow),
                                  pytest.param("maddpg", marks=pytest.mark.slow)])
def test_continuous_learners_take_their_replay_steps_from_the_actors(local_ray, tmp_path, algo):
    """The Ape-X shape for Box actions: the actors act with the latest actor network (uniformly during warm-up)
    and their steps fill the learner's buffer, which learns once it holds ``warmup_steps``."""
    lines = train([*CONTINUOUS, f"algo={algo}", "train.total_steps=512", "log_every=4"], tmp_path / "run")
    assert [line["update"] for line in lines] == [4, 8, 12, 16] and lines[-1]["env_steps"] == 512
    assert lines[0]["critic_loss"]["player"] == 0  # at most 128 of 160 warm-up steps stored: no gradient step
    assert all(line["critic_loss"]["player"] > 0 for line in lines[1:])  # learning from the actors' steps
    assert all(w["blocks"] >= 1 for w in lines[-1]["workers"]) and lines[-1]["actors"] == 2
    assert lines[-1]["lost_env_steps"] == 0 and lines[-1]["episodes"] > 0


@pytest.mark.slow
def test_isac_actors_learn_the_continuous_signal_game(local_ray, tmp_path):
    lines = train([*CONTINUOUS, "algo=isac", "train.total_steps=4096", "log_every=32"], tmp_path / "run")
    assert lines[-1]["env_steps"] == 4096
    assert lines[-1]["episode_return"]["player"] >= CONTINUOUS_RANDOM_RETURN + 0.8  # random 2.44 of 4


def test_one_on_policy_actor_repeats_the_local_host_run(local_ray, tmp_path):
    """1 actor, ``ray.max_policy_lag=0``: the run's seeds, keys and rollouts are a local host run's."""
    import actor_envs

    from phalanx.algos.ppo.sebulba import train_overlapped
    from phalanx.runtime.host_envs import from_pettingzoo

    args = game("train.total_steps=512", "log_every=2", "ray.num_actors=1", "ray.max_policy_lag=0", "seed=4")
    lines = train(args, tmp_path / "run")
    config = resolve(args)
    with from_pettingzoo(actor_envs.parallel_env, num_envs=8, num_workers=0) as venv:
        _, local = train_overlapped(config.train, venv, seed=4, log_every=2)
    assert [line["policy_lag"]["max"] for line in lines] == [0, 0]
    for remote, here in zip(lines, local, strict=True):
        assert remote["episode_return"]["player"] == pytest.approx(here["episode_return"]["player"], abs=1e-5)
        assert remote["policy_loss"]["player"] == pytest.approx(here["policy_loss"]["player"], abs=1e-5)
        assert remote["value_loss"]["player"] == pytest.approx(here["value_loss"]["player"], rel=1e-4)
    # The run ends with a PettingZoo host run's summary: the final policy and random play on host envs here.
    from phalanx.runtime.final_eval import EPISODES

    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["played_on"] == "host" and summary["final_episodes"] == summary["random_episodes"] == EPISODES
    assert np.isfinite(summary["final_return"]) and np.isfinite(summary["random_return"])


@pytest.mark.slow
def test_a_resumed_run_continues_from_its_checkpoint_with_fresh_actors(local_ray, tmp_path):
    from phalanx.runtime.launch import launch
    from phalanx.runtime.run_config import RunConfig
    from phalanx.runtime.train_run import run

    path = tmp_path / "run"
    before = train(game("ray.num_actors=1", "train.total_steps=384", "log_every=1", "checkpoint_every=1"), path)
    shutil.rmtree(path / "checkpoints" / "3")  # the run lost its last chunk
    launch(run, rd.TRAIN, RunConfig(resume=str(path)), {"ray": {"num_actors": 2, "envs_per_actor": 4}}, quiet())
    after = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]
    assert after[:2] == before[:2]  # kept as the checkpoint had them
    assert [line["update"] for line in after] == [1, 2, 3] and after[-1]["env_steps"] == 384
    assert after[-1]["actors"] == 2  # resume may change the actors (ray.* is resume-overridable)
    assert max(int(p.name) for p in (path / "checkpoints").iterdir()) == 3  # the finished run's checkpoint


def kill_actor_after_first_line(ray, path: Path, killed: list) -> None:
    """Wait for the run's first metrics line, then ``ray.kill`` its actor 0 (it has a rollout in flight)."""
    deadline = time.time() + 120
    while time.time() < deadline:
        metrics = path / "metrics.jsonl"
        if metrics.exists() and metrics.read_text().strip():
            names = [n["name"] if isinstance(n, dict) else n for n in ray.util.list_named_actors()]
            name = next(n for n in names if n.startswith("phalanx-actor-") and n.endswith("-0-0"))
            ray.kill(ray.get_actor(name))
            killed.append(name)
            return
        time.sleep(0.05)


def test_an_actor_killed_mid_rollout_is_replaced_and_its_steps_counted(local_ray, tmp_path):
    path, killed = tmp_path / "run", []
    killer = threading.Thread(target=kill_actor_after_first_line, args=(local_ray, path, killed))
    killer.start()
    lines = train(game("ray.num_actors=2", "log_every=2", "train.total_steps=1024"), path)
    killer.join()
    assert killed, "the actor was not found"
    assert [line["update"] for line in lines] == [2, 4, 6, 8]  # the run went on to the end
    last = lines[-1]
    assert last["actors_replaced"] == 1
    assert last["lost_env_steps"] == 4 * 16  # its block in flight: 4 envs × 16 steps
    assert last["workers"][0]["replaced"] == 1 and last["workers"][1]["replaced"] == 0
    assert last["env_steps"] == 1024


@pytest.mark.slow  # the fast suite keeps the killed actor's replacement; this is the env-exception cause of it
def test_an_env_raising_mid_episode_costs_one_block(local_ray, tmp_path):
    marker = tmp_path / "raised"
    lines = train(game("ray.num_actors=2", "log_every=2", "train.total_steps=1024", "env.fail_step=22",
                       f"env.marker={marker}"), tmp_path / "run")
    assert marker.exists()  # the env did raise (its 22nd step: mid-episode, in the second block)
    assert [line["update"] for line in lines] == [2, 4, 6, 8]
    assert lines[-1]["actors_replaced"] == 1 and lines[-1]["lost_env_steps"] == 4 * 16


def test_an_env_raising_on_every_reset_stops_the_run_with_one_line(local_ray, tmp_path):
    from phalanx.runtime.ray_actors import MAX_FAILURES_IN_ROW, ActorEnvError

    with pytest.raises(ActorEnvError) as err:
        train(game("ray.num_actors=1", f"env.fail_reset_except_pid={os.getpid()}"), tmp_path / "run")
    message = str(err.value)
    assert "\n" not in message and err.value.exit_code == 1
    assert "env=pettingzoo:actor_envs" in message and "ValueError: signal game cannot reset here" in message
    assert f"{MAX_FAILURES_IN_ROW} times in a row" in message


def test_more_actors_than_the_cluster_has_cpus_is_one_line_before_anything_is_written(local_ray, tmp_path):
    from phalanx.errors import PhalanxError

    with pytest.raises(PhalanxError) as err:
        train(game("ray.num_actors=4"), tmp_path / "run")
    assert str(err.value).startswith("ray.num_actors=4 x ray.num_cpus=1.0 needs 4 CPUs and the Ray cluster has 2")
    assert not (tmp_path / "run").exists()


def test_an_actors_observation_statistics_fold_into_the_learners_as_its_batch_would():
    """``normalize_obs``: what an actor folded into its copy of the statistics (sent → after) is recovered and
    merged into the learner's (which moved on meanwhile) as if the learner had seen that batch itself."""
    import jax.numpy as jnp
    import numpy as np

    from phalanx.algos.common.normalize import RunningStats
    from phalanx.runtime.actor_run import fold_block_stats

    rng = np.random.default_rng(0)
    sent = RunningStats.create((3,)).update(jnp.asarray(rng.normal(1.0, 2.0, (50, 3)), jnp.float32))
    batch = jnp.asarray(rng.normal(-2.0, 0.5, (40, 3)), jnp.float32)
    after = sent.update(batch)  # the actor's copy after its rollout
    learner = sent.update(jnp.asarray(rng.normal(3.0, 1.0, (30, 3)), jnp.float32))  # another actor's block
    folded, direct = fold_block_stats(learner, sent, after), learner.update(batch)
    np.testing.assert_allclose(folded.mean, direct.mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(folded.var, direct.var, rtol=1e-4)
    assert float(folded.count) == pytest.approx(float(direct.count))
    assert fold_block_stats(learner, sent, sent) is learner  # nothing new: unchanged


@pytest.mark.parametrize("args, expected", [
    (["ray.num_actors=0"], "ray.num_actors=0: expected an integer >= 1"),
    (["ray.envs_per_actor=3"], "ray.envs_per_actor=3: an update learns from train.num_envs=8"),
    (["ray.num_actors=3"], "ray.num_actors=3: train.num_envs=8 does not split evenly"),
    (["env=pettingzoo:actor_envs", "algo=bc", "backend=ray"], "algo=bc with backend=ray on a PettingZoo env"),
    (["backend=local", "ray.num_actors=2"], "ray.num_actors=2: remote actors need backend=ray"),
    (["env=simple_spread", "backend=ray", "ray.num_actors=2"], "ray.num_actors=2: remote actors step host envs"),
])
def test_bad_actor_settings_are_one_line(args, expected):
    with pytest.raises(ConfigError) as err:
        resolve(args if args[0].startswith("env=") else game(*args))  # a whole command line, or GAME's
    assert str(err.value).startswith(expected) and "\n" not in str(err.value)
