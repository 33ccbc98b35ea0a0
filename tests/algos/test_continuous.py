"""MADDPG, ISAC and MASAC: learning on a small continuous task, the replay's handling of
time limits, SAC's squashed log-density against numerical references, hand-computed
targets, and ``phalanx train algo=masac`` end to end with a bit-exact resume."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml
from reach_env import Reach
from scipy import integrate, stats

import phalanx
import phalanx.algos.continuous  # registers maddpg, isac, masac
from phalanx.algos.common.targets import polyak, td_target
from phalanx.algos.continuous import MADDPGConfig, SACConfig, maddpg, sac
from phalanx.algos.continuous.inputs import Layout
from phalanx.algos.continuous.losses import (
    log1m_tanh_sq,
    squashed_gaussian_sample,
    squashed_log_prob,
)
from phalanx.algos.registry import get_algorithm
from phalanx.errors import ConfigError

# ---------------------------------------------------------------------------------- learning
NUM_ENVS, NUM_STEPS, UPDATES = 8, 4, 120
BASE = dict(total_steps=NUM_ENVS * NUM_STEPS * UPDATES, num_envs=NUM_ENVS, num_steps=NUM_STEPS, gradient_steps=4,
            batch_size=64, buffer_size=4096, warmup_steps=256, hidden=(32, 32), actor_lr=3e-3, critic_lr=3e-3)
ALGOS = {
    "maddpg": (maddpg.make_train, MADDPGConfig(**BASE)),
    "isac": (sac.make_train, SACConfig(critic="isac", **BASE)),
    "masac": (sac.make_train, SACConfig(critic="masac", **BASE)),
}
RANDOM_RETURN, OPTIMAL_RETURN = -5.67, -1.02  # Reach's defaults (see reach_env.py)


#: Test programs are tiny and run briefly: compiling them without LLVM's optimisations takes a
#: third of the time (XLA's own HLO optimisations still run).
FAST_COMPILE = {"xla_backend_optimization_level": 0}


@pytest.fixture(scope="module", params=list(ALGOS))
def trained(request):
    """A whole run as one compiled program."""
    make_train, config = ALGOS[request.param]
    trainer = make_train(config, Reach())
    key = jax.random.PRNGKey(0)
    state, metrics = jax.jit(trainer.train).lower(key).compile(FAST_COMPILE)(key)
    return request.param, trainer, state, metrics


def _mean_return(metrics, updates: slice) -> float:
    """The mean episode return (per agent) over the given updates."""
    total = np.asarray(metrics.episode_return_sum["agents"])[updates].sum()
    return float(total / np.asarray(metrics.episode_count)[updates].sum())


def test_beats_a_random_policy(trained):
    name, trainer, _, metrics = trained
    warm = trainer.config.warmup_steps // trainer.config.steps_per_update  # updates of uniform random actions
    random = _mean_return(metrics, slice(0, warm))
    # The warm-up plays uniformly random actions: its returns match the Monte Carlo value.
    assert abs(random - RANDOM_RETURN) < 0.8, random
    final = _mean_return(metrics, slice(-20, None))  # training returns, exploration included
    assert final > RANDOM_RETURN + 3.0, f"{name}: final return {final:.2f} vs random {RANDOM_RETURN}"
    assert final < OPTIMAL_RETURN + 0.05  # nothing beats moving straight to the target
    for key in ("critic_loss", "actor_loss", "q_value"):
        assert np.all(np.isfinite(getattr(metrics, key)["agents"]))
    # No gradient step before the buffer holds learning_starts env steps, then every update.
    losses = np.asarray(metrics.critic_loss["agents"])
    assert np.all(losses[: warm - 1] == 0) and np.all(losses[warm:] > 0)


def test_replay_keeps_final_observations_of_truncated_episodes(trained):
    """Every stored transition follows Reach's dynamics from obs to next_obs — also the last
    step of an episode, where next_obs is the final observation, not the reset one."""
    buf = trained[2].buffer
    n = NUM_STEPS * UPDATES  # steps stored per env (the buffer has not wrapped around)
    assert int(buf.current_index) == n and not bool(buf.is_full)
    data = jax.tree.map(lambda x: np.asarray(x)[:, :n], buf.experience)  # (E, n, ...)
    obs, nxt, act = data.obs["agents"], data.next_obs["agents"], data.action["agents"][..., 0]
    pos = obs[..., 1]
    np.testing.assert_allclose(nxt[..., 1], np.clip(pos + 0.25 * act, -2, 2), atol=1e-6)  # moved by the action
    np.testing.assert_allclose(nxt[..., 0] + nxt[..., 1], obs[..., 0] + obs[..., 1], atol=1e-6)  # same goal
    np.testing.assert_allclose(data.reward["agents"], -np.abs(nxt[..., 0]), atol=1e-6)
    assert not data.terminated["agents"].any() and data.active["agents"].all()  # time limits only
    # Each env's steps are stored in order: its next step is the next slot.
    last = (np.arange(n - 1) + 1) % 8 == 0  # Reach's episodes last 8 steps
    same = np.all(np.isclose(nxt[:, :-1], obs[:, 1:], atol=1e-6), axis=(-1, -2))  # (E, n - 1)
    assert np.all(same[:, ~last]) and not np.any(same[:, last])


# ---------------------------------------------------------------------------------- SAC's density
def test_squashed_log_prob_matches_the_numerical_density():
    mu, sigma = 0.3, 0.7
    y = np.linspace(-0.995, 0.995, 41)
    u = np.arctanh(y)
    ours = np.exp(np.asarray(squashed_log_prob(jnp.asarray(u[:, None], jnp.float32), jnp.float32([mu]),
                                               jnp.log(jnp.float32([sigma])))))
    # Reference: derivative of the CDF of tanh(U), F(y) = Φ((atanh y − μ)/σ), by central differences.
    h = 1e-6
    cdf = lambda y: stats.norm.cdf((np.arctanh(y) - mu) / sigma)  # noqa: E731
    np.testing.assert_allclose(ours, (cdf(y + h) - cdf(y - h)) / (2 * h), rtol=2e-3)
    # It is a density on (−1, 1).
    dens = lambda t: float(np.exp(squashed_log_prob(jnp.float32([np.arctanh(t)]), jnp.float32([mu]),  # noqa: E731
                                                    jnp.log(jnp.float32([sigma])))))
    total, _ = integrate.quad(dens, -1 + 1e-6, 1 - 1e-6, limit=200, epsabs=1e-5)
    assert abs(total - 1.0) < 1e-3


def test_squashed_sample_and_its_log_prob_for_several_dimensions():
    mean = jnp.float32([[0.5, -1.0, 2.0], [0.0, 0.1, -0.2]])
    log_std = jnp.float32([[-0.5, 0.3, 0.0], [0.2, -1.0, 0.5]])
    action, logp = squashed_gaussian_sample(jax.random.PRNGKey(3), mean, log_std)
    a = np.asarray(action, np.float64)
    assert a.shape == (2, 3) and logp.shape == (2,) and np.all(np.abs(a) < 1)
    # Independent dimensions: the joint log-density is the sum of 1-D ones (float64 reference).
    ref = np.sum(stats.norm.logpdf(np.arctanh(a), np.asarray(mean), np.exp(np.asarray(log_std))) - np.log1p(-a**2), -1)
    np.testing.assert_allclose(np.asarray(logp), ref, rtol=1e-3, atol=2e-3)
    # Stable where tanh saturates in float32: log(1 − tanh²u) = −2 log cosh u.
    u = np.float32([0.0, 1.0, 8.0, 20.0, -30.0])
    np.testing.assert_allclose(np.asarray(log1m_tanh_sq(jnp.asarray(u))), -2 * np.log(np.cosh(u.astype(np.float64))),
                               rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------- small pieces
def test_polyak_and_td_targets_on_hand_computed_numbers():
    target = {"w": jnp.float32([1.0, 2.0]), "b": jnp.float32(-4.0)}
    online = {"w": jnp.float32([3.0, -2.0]), "b": jnp.float32(0.0)}
    out = polyak(target, online, 0.25)  # 0.75 θ' + 0.25 θ
    np.testing.assert_allclose(out["w"], [1.5, 1.0])
    np.testing.assert_allclose(out["b"], -3.0)
    np.testing.assert_allclose(polyak(target, online, 1.0)["w"], online["w"])
    # Terminated: no bootstrap; truncated (not terminated): bootstrap from the final observation's value.
    y = td_target(jnp.float32([1.0, 1.0, -0.5]), jnp.array([False, True, False]), jnp.float32([2.0, 2.0, 4.0]), 0.9)
    np.testing.assert_allclose(y, [1.0 + 0.9 * 2.0, 1.0, -0.5 + 0.9 * 4.0], rtol=1e-6)


def test_joint_action_with_own_replaces_one_agent_per_row():
    env = phalanx.make("simple_adversary", continuous_actions=True)  # groups: adversaries 1, agents 2
    layout = Layout(env.spec, MADDPGConfig())
    actions = {"adversaries": jnp.full((1, 5), 1.0), "agents": jnp.stack([jnp.full(5, 2.0), jnp.full(5, 3.0)])}
    actions = {g: actions[g] for g in layout.groups}
    own = jnp.stack([jnp.full(5, -2.0), jnp.full(5, -3.0)])
    joint = np.asarray(layout.joint_with_own(actions, "agents", own))  # (2, 15)
    np.testing.assert_array_equal(joint[0], [1.0] * 5 + [-2.0] * 5 + [3.0] * 5)
    np.testing.assert_array_equal(joint[1], [1.0] * 5 + [2.0] * 5 + [-3.0] * 5)
    # Row i depends on own[i] only (the gradient reaches each agent's action through its row).
    jac = np.asarray(jax.jacobian(lambda o: layout.joint_with_own(actions, "agents", o).sum(-1))(own))
    np.testing.assert_array_equal(jac.sum(-1), np.eye(2) * 5)


def test_discrete_actions_and_bad_settings_are_clear_errors():
    with pytest.raises(ConfigError, match=r"algo=maddpg needs continuous \(Box\) actions.*use ippo/mappo"):
        maddpg.make_train(MADDPGConfig(), phalanx.make("simple_spread"))
    with pytest.raises(ConfigError, match=r"algo=masac needs continuous"):
        sac.make_train(SACConfig(critic="masac"), phalanx.make("tag"))
    with pytest.raises(ConfigError, match=r"train.total_steps=1000: the run ends before learning starts"):
        SACConfig(total_steps=1000, warmup_steps=5000).validate()
    with pytest.raises(ConfigError, match=r"train.buffer_size=64: smaller than one update"):
        MADDPGConfig(buffer_size=64, warmup_steps=0, batch_size=32).validate()
    assert {get_algorithm(n).config_cls for n in ("maddpg", "isac", "masac")} == {MADDPGConfig, SACConfig}


# ---------------------------------------------------------------------------------- end to end
TINY = ["env=simple_spread", "env.N=2", "env.continuous_actions=true", "env.max_cycles=5", "algo=masac",
        "train.num_envs=4", "train.num_steps=5", "train.total_steps=60", "train.warmup_steps=20",
        "train.batch_size=16", "train.buffer_size=100", "train.gradient_steps=2", "train.hidden=[16]",
        "train.critic_input=obs",
        "log_every=1", "checkpoint_every=1", "seed=4", "num_seeds=2"]


def _train(args: list[str], cache) -> None:
    """``phalanx train ARGS`` in a fresh process (as users run it), sharing a compilation cache
    so that the resumed run reuses the first run's programs; LLVM optimisations off (tiny programs)."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "JAX_COMPILATION_CACHE_DIR": str(cache),
           "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0", "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
           "XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} --xla_backend_optimization_level=0".strip()}
    # The registry may not list phalanx.algos.continuous yet: import it before the CLI runs.
    code = "import sys, phalanx.algos.continuous; from phalanx.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.run([sys.executable, "-c", code, "train", *args], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("masac")
    _train([*TINY, f"run_dir={tmp / 'run'}"], tmp / "cache")
    return tmp / "run", tmp / "cache"


def _final_state(run_dir):
    """The newest checkpoint's ``(state, progress)``, restored into abstract shapes (no compile)."""
    from phalanx.runtime import run_dir as rd
    from phalanx.runtime.checkpoint import Checkpoints
    from phalanx.runtime.train_run import init_state

    config = rd.load_config(run_dir)
    trainer = get_algorithm(config.algo).make_train(config.train, phalanx.make(config.env, **config.env_settings))
    like = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), jax.eval_shape(lambda: init_state(trainer, config)))
    ckpt = Checkpoints(run_dir / "checkpoints")
    try:
        return ckpt.restore(ckpt.latest_step(), like)
    finally:
        ckpt.close()


def test_phalanx_train_masac_writes_a_run_dir(cli_run):
    cli_run, _ = cli_run
    config = yaml.safe_load((cli_run / "config.yaml").read_text())
    assert config["algo"] == "masac" and config["train"]["critic"] == "masac" and config["train"]["hidden"] == [16]
    assert config["train"]["critic_input"] == "obs"  # critics on every agent's observation (learning tests: state)
    lines = [json.loads(s) for s in (cli_run / "metrics.jsonl").read_text().splitlines()]
    assert [line["env_steps"] for line in lines] == [20, 40, 60]
    for line in lines:
        assert line["episode_length"] == 5.0 and line["episode_return"]["agents"] < 0
        assert len(line["seeds"]) == 2  # two seeds vmapped in one program
    assert lines[-1]["seeds"][0]["critic_loss"] != lines[-1]["seeds"][1]["critic_loss"]
    # Learning starts once the buffer holds warmup_steps = 20 env steps: after the first rollout.
    for key in ("critic_loss", "actor_loss", "q_value", "alpha", "entropy"):
        assert all(math.isfinite(line[key]["agents"]) for line in lines)
    assert all(line["critic_loss"]["agents"] > 0 for line in lines)
    assert lines[0]["alpha"]["agents"] == pytest.approx(0.1, rel=1e-3)  # init_alpha, barely tuned yet
    assert sorted(p.name for p in (cli_run / "checkpoints").iterdir()) == ["2", "3"]
    assert (cli_run / "learning_curve.png").exists() and (cli_run / "marl_eval.json").exists()


def test_resume_is_bit_exact(cli_run, tmp_path):
    cli_run, cache = cli_run
    resumed = tmp_path / "resumed"
    shutil.copytree(cli_run, resumed)
    shutil.rmtree(resumed / "checkpoints" / "3")  # as if killed after chunk 2's checkpoint
    _train([f"resume={resumed}"], cache)
    (state_a, progress_a), (state_b, progress_b) = _final_state(cli_run), _final_state(resumed)
    assert progress_a["chunks_done"] == progress_b["chunks_done"] == 3
    leaves_a, tree_a = jax.tree_util.tree_flatten(state_a)
    leaves_b, tree_b = jax.tree_util.tree_flatten(state_b)
    assert tree_a == tree_b
    for a, b in zip(leaves_a, leaves_b, strict=True):  # params, targets, optimisers, replay, envs, key
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    timing = ("wall_time", "steps_per_s")
    lines_a = [json.loads(s) for s in (cli_run / "metrics.jsonl").read_text().splitlines()]
    lines_b = [json.loads(s) for s in (resumed / "metrics.jsonl").read_text().splitlines()]
    assert len(lines_b) == 3
    for a, b in zip(lines_a, lines_b, strict=True):
        assert {k: v for k, v in a.items() if k not in timing} == {k: v for k, v in b.items() if k not in timing}


# ---------------------------------------------------------------------------------- slow: MPE
@pytest.mark.slow
@pytest.mark.parametrize("algo", ["maddpg", "masac"])
def test_learns_continuous_simple_spread(algo):
    """1e5 env steps with the default settings; then 500 greedy episodes against uniform random
    play from the same starts (about −26 per agent; MADDPG and MASAC reach about −16 by then)."""
    from phalanx.runtime.evaluate import episode_returns

    env = phalanx.make("simple_spread", continuous_actions=True)
    config = MADDPGConfig(total_steps=100_000) if algo == "maddpg" else SACConfig(critic="masac", total_steps=100_000)
    trainer = get_algorithm(algo).make_train(config, env)
    state, _ = jax.jit(trainer.train)(jax.random.PRNGKey(1))
    trained, random = episode_returns(env, trainer, state, 500, seed=7, greedy=True)
    assert random["agents"].mean() < -23.0
    assert trained["agents"].mean() > random["agents"].mean() + 6.0, (trained["agents"].mean(), random["agents"].mean())
