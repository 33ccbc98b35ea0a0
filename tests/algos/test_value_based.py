"""IQL/VDN/QMIX: targets on hand-computed numbers, the QMIX mixer against its formula, learning on a
cooperative matrix game, stored transitions (truncation, masks), ``phalanx train algo=qmix`` end to
end and its one-line errors. Bit-exact resume after SIGKILL: tests/runtime/test_resume.py."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import phalanx
import phalanx.algos.value_based as vb  # registers iql, vdn, qmix
from phalanx.errors import ConfigError

# A shared-reward coordination game: both players get M[i, j]. Uniform random play earns
# (1 + 2 + 3) / 9 = 0.667; the equilibria (1, 1) and (2, 2) pay 2 and 3.
PAYOFFS = np.diag([1.0, 2.0, 3.0])
RANDOM_RETURN = PAYOFFS.sum() / PAYOFFS.size
MARGIN = 1.0


def coordination_game():
    return phalanx.make("matrix_game", row_payoffs=PAYOFFS.tolist(), column_payoffs=PAYOFFS.tolist())


def _returns(metrics, group: str) -> np.ndarray:
    return np.asarray(metrics.episode_return_sum[group]) / np.maximum(np.asarray(metrics.episode_count), 1)


# ---------------------------------------------------------------------------------- targets
def test_double_q_and_masks_on_hand_computed_numbers():
    q_online = jnp.array([[1.0, 5.0, 3.0], [1.0, 5.0, 3.0], [0.0, 4.0, 9.0]])
    q_target = jnp.array([[10.0, 2.0, 7.0], [10.0, 2.0, 7.0], [6.0, 1.0, 8.0]])
    mask = jnp.array([[True, False, True], [True, True, True], [False, False, False]])
    # Row 0: action 1 is illegal, so the online net picks 2 (3 > 1) and the target values it at 7;
    # plain max over legal target values is 10. Row 1: online picks 1 -> 2; max is 10.
    # Row 2: no legal action means no constraint: online picks 2 -> 8; max is 8.
    np.testing.assert_array_equal(vb.bootstrap_values(q_online, q_target, mask, double_q=True), [7.0, 2.0, 8.0])
    np.testing.assert_array_equal(vb.bootstrap_values(q_online, q_target, mask, double_q=False), [10.0, 10.0, 8.0])
    np.testing.assert_array_equal(vb.masked_argmax(q_target, mask), [0, 0, 2])


def test_n_step_targets_stop_at_termination_and_bootstrap_on_truncation():
    reward = jnp.array([1.0, 2.0, 3.0, 4.0, 5.0])
    boot = jnp.array([10.0, 20.0, 30.0, 40.0, 50.0])  # value of the state each step reached
    no = jnp.zeros(5, bool)
    g = 0.5
    # One step: y_t = r_t + γ V(s_{t+1}).
    np.testing.assert_allclose(vb.n_step_targets(reward, no, no, boot, g, 1), reward + g * boot)
    # Two steps, no episode end: y_t = r_t + γ r_{t+1} + γ² V(s_{t+2}).
    np.testing.assert_allclose(vb.n_step_targets(reward, no, no, boot, g, 2),
                               [1 + 0.5 * 2 + 0.25 * 20, 2 + 0.5 * 3 + 0.25 * 30, 3 + 2 + 10, 4 + 2.5 + 12.5])
    # Step 1 is terminal: y_0 = 1 + γ·2 (no bootstrap), y_1 = 2; later windows are unaffected.
    term = no.at[1].set(True)
    np.testing.assert_allclose(vb.n_step_targets(reward, term, term, boot, g, 2)[:3], [1 + 1.0, 2.0, 3 + 2 + 10])
    # Step 1 is a time-limit cut: the return stops there but bootstraps from the final observation.
    cut = no.at[1].set(True)
    np.testing.assert_allclose(vb.n_step_targets(reward, no, cut, boot, g, 2)[:3],
                               [1 + 0.5 * 2 + 0.25 * 20, 2 + 0.5 * 20, 3 + 2 + 10])
    # Three steps over per-agent columns (an agent axis after time) with one agent terminating at step 0.
    r2, b2 = jnp.stack([reward, reward], -1), jnp.stack([boot, boot], -1)
    t2 = jnp.zeros((5, 2), bool).at[0, 1].set(True)
    y = vb.n_step_targets(r2, t2, t2, b2, g, 3)
    np.testing.assert_allclose(y[0], [1 + 1 + 0.75 + 0.125 * 30, 1.0])


def test_epsilon_greedy_respects_masks_and_schedule():
    q = jnp.tile(jnp.array([5.0, 1.0, 3.0, 4.0]), (4000, 1))
    mask = jnp.tile(jnp.array([False, True, True, False]), (4000, 1))
    greedy = vb.epsilon_greedy(jax.random.PRNGKey(0), q, mask, 0.0)
    assert set(np.unique(greedy)) == {2}  # best legal action, though 0 has the higher Q
    random = np.asarray(vb.epsilon_greedy(jax.random.PRNGKey(1), q, mask, 1.0))
    assert set(np.unique(random)) == {1, 2} and abs((random == 1).mean() - 0.5) < 0.05
    mixed = np.asarray(vb.epsilon_greedy(jax.random.PRNGKey(2), q, mask, 0.3))
    assert abs((mixed == 1).mean() - 0.15) < 0.03  # ε/2 of the draws pick the other legal action
    eps = [float(vb.linear_epsilon(jnp.int32(s), 1.0, 0.05, 1000)) for s in (0, 500, 1000, 5000)]
    np.testing.assert_allclose(eps, [1.0, 0.525, 0.05, 0.05], rtol=1e-6)


# ---------------------------------------------------------------------------------- mixers
def _qmix_by_hand(p: dict, qs: np.ndarray, s: np.ndarray, n: int, e: int) -> np.ndarray:
    """QMIX's formula (Rashid et al. 2018, eq. and Fig. 2) in NumPy from the module's parameters."""
    def dense(name, x):
        return x @ np.asarray(p[name]["kernel"]) + np.asarray(p[name]["bias"])

    relu = lambda x: np.maximum(x, 0)  # noqa: E731
    w1 = np.abs(dense("hyper_w1_1", relu(dense("hyper_w1_0", s)))).reshape(-1, n, e)
    hidden = np.einsum("bn,bne->be", qs, w1) + dense("hyper_b1", s)
    hidden = np.where(hidden > 0, hidden, np.expm1(np.minimum(hidden, 0)))  # elu
    w2 = np.abs(dense("hyper_w2_1", relu(dense("hyper_w2_0", s))))
    v = dense("V_1", relu(dense("V_0", s)))[:, 0]
    return (hidden * w2).sum(-1) + v


def test_qmix_mixer_matches_its_formula_and_is_monotonic():
    n, e, state_dim = 4, 8, 6
    mixer = vb.QMixer(n, e, 16)
    like = jax.eval_shape(mixer.init, jax.random.PRNGKey(0), jnp.zeros((1, n)), jnp.zeros((1, state_dim)))
    init = jax.jit(lambda k: vb.fan_in_uniform_init(k, like))
    apply = jax.jit(mixer.apply)
    # ∂Q_tot/∂q_i for every sample (Q_tot of one sample depends only on its own q).
    grad = jax.jit(jax.grad(lambda p, q, s: mixer.apply(p, q, s).sum(), argnums=1))
    for seed in range(3):
        k_init, k_q, k_s = jax.random.split(jax.random.PRNGKey(seed), 3)
        qs = jax.random.normal(k_q, (64, n)) * 3
        states = jax.random.normal(k_s, (64, state_dim))
        params = init(k_init)
        np.testing.assert_allclose(apply(params, qs, states),
                                   _qmix_by_hand(params["params"], np.asarray(qs), np.asarray(states), n, e),
                                   rtol=1e-4, atol=1e-4)
        grads = grad(params, qs, states)
        assert grads.shape == (64, n) and float(grads.min()) >= 0.0 and float(grads.max()) > 0.0
        # A constant zero global state (matrix games): the hypernetworks' outputs are their biases,
        # which start non-zero (|0| weights would block every gradient to the agents).
        assert float(grad(params, qs, jnp.zeros_like(states)).min()) > 0.0
    # VDN: Q_tot = Σ_i Q_i, so every ∂Q_tot/∂Q_i is 1.
    np.testing.assert_array_equal(vb.vdn_mix(jnp.array([[1.5, -2.0, 4.0], [0.0, 0.25, 0.5]])), [3.5, 0.75])
    np.testing.assert_array_equal(jax.grad(lambda q: vb.vdn_mix(q))(jnp.arange(3.0)), [1.0, 1.0, 1.0])


def test_fan_in_uniform_init_follows_pytorch_bounds():
    # PyTorch's nn.Linear default: weight and bias ~ U(±1/√in_features).
    like = {"params": {"Dense_0": {"kernel": jnp.zeros((400, 30)), "bias": jnp.zeros(30)},
                       "Dense_1": {"kernel": jnp.zeros((30, 5000)), "bias": jnp.zeros(5000)}}}
    p = vb.fan_in_uniform_init(jax.random.PRNGKey(0), like)["params"]
    for name, fan_in in (("Dense_0", 400), ("Dense_1", 30)):
        bound = 1 / np.sqrt(fan_in)
        w = np.asarray(p[name]["kernel"])
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.98 * bound
        assert abs(w.std() - bound / np.sqrt(3)) < 0.03 * bound  # the std of U(-b, b) is b/√3
        assert np.abs(np.asarray(p[name]["bias"])).max() <= bound
    assert not np.allclose(p["Dense_0"]["kernel"][:30, :30], p["Dense_1"]["kernel"][:30, :30])


# ---------------------------------------------------------------------------------- learning
def _matrix_config(mixer: str, **overrides) -> vb.QLearningConfig:
    base = dict(mixer=mixer, mixing="all", total_steps=32 * 120, num_envs=32, num_steps=1, batch_size=64,
                buffer_size=32 * 50, learning_starts=32 * 4, eps_decay_steps=32 * 50, hidden=(16,), lr=3e-3,
                gradient_steps=1, recurrent_size=0)
    return vb.QLearningConfig(**{**base, **overrides})


# The recurrent path: VDN trains a GRU over one-step episodes (its state must reset at every
# episode start) on windows of 1 burn-in + 2 trained steps, with 2-step returns and Polyak targets.
RECURRENT = {"recurrent_size": 8, "seq_len": 2, "burn_in": 1, "n_step": 2, "tau": 0.5, "target_update_every": 1}


@pytest.mark.parametrize(("mixer", "variant"), [("none", {}), ("vdn", RECURRENT)], ids=["iql", "vdn-gru"])
def test_learns_a_coordination_game(mixer, variant):
    # QMIX learns the same game through the runtime in test_phalanx_train_qmix_end_to_end.
    trainer = vb.make_train(_matrix_config(mixer, **variant), coordination_game())
    assert trainer.mix_sets == ({} if mixer == "none" else {"all": ("player_0", "player_1")})
    state = jax.jit(jax.vmap(trainer.init))(jax.random.split(jax.random.PRNGKey(0), 4))  # 4 seeds
    update = jax.jit(jax.vmap(trainer.update))
    returns, learning, reward_sum, count = [], [], 0.0, 0.0
    for _ in range(trainer.num_updates):
        new, metrics = update(state)
        if int(new.grad_steps[0]) == 1:  # the first gradient step: check the target update
            _check_target_update(trainer.config, state, new)
        state = new
        returns.append(_returns(metrics, "player_0"))
        learning.append(np.asarray(metrics.learning))
        reward_sum += np.asarray(metrics.episode_return_sum["player_0"])
        count += np.asarray(metrics.episode_count)
    final = np.mean(returns[-10:])
    assert final > RANDOM_RETURN + MARGIN, f"{mixer}: mean return {final:.3f} does not beat random by {MARGIN}"
    # Learning starts once learning_starts env steps (4 updates of 32) and one window (<= 4 steps) are stored.
    assert np.all(np.asarray(learning)[:3] == 0) and np.all(np.asarray(learning)[3:] == 1)
    assert int(state.grad_steps[0]) == trainer.num_updates - 3
    # Rewards are standardised with the statistics of every reward collected: one-step episodes,
    # so their mean is the mean episode return (the team reward is the shared payoff for VDN).
    stats = state.reward_stats["player_0" if mixer == "none" else "all"]
    np.testing.assert_allclose(stats.mean, reward_sum / count, rtol=1e-4)
    np.testing.assert_allclose(stats.count, count + 1e-4, rtol=1e-6)
    if variant:  # the GRU states acting started from are stored with the steps
        assert np.abs(np.asarray(state.buffer.experience.hidden["player_0"])).sum() > 0


def _check_target_update(config, old, new) -> None:
    """Targets after one gradient step: a copy of the online parameters (tau = 1, due) or one Polyak step."""
    changed = False
    for before, p, t in zip(jax.tree.leaves(old.params), jax.tree.leaves(new.params),
                            jax.tree.leaves(new.target_params), strict=True):
        if config.target_update_every == 1:
            np.testing.assert_allclose(t, config.tau * p + (1 - config.tau) * before, rtol=1e-5, atol=1e-6)
        else:  # not due yet: unchanged
            np.testing.assert_array_equal(t, before)
        changed |= not np.array_equal(before, p)
    assert changed


# ---------------------------------------------------------------------------------- stored transitions
def test_stored_steps_bootstrap_from_final_observations():
    # simple_spread cut by a 3-step time limit: the step that ends an episode stores the final
    # observation it reached, not the next episode's first one; elsewhere next_obs[t] == obs[t + 1].
    env = phalanx.make("simple_spread", N=2, max_cycles=3)
    trainer = vb.make_train(vb.QLearningConfig(mixer="vdn", total_steps=64, num_envs=2, num_steps=8,
                                               buffer_size=64, hidden=(8,), recurrent_size=0), env)
    rollout = jax.jit(lambda k: jax.lax.scan(trainer._env_step, trainer.init(k), jax.random.split(k, 8))[1])
    steps, _ = rollout(jax.random.PRNGKey(0))
    end, resets = np.asarray(steps.episode_end), np.asarray(steps.resets)
    np.testing.assert_array_equal(end[:, 0], [0, 0, 1, 0, 0, 1, 0, 0])
    np.testing.assert_array_equal(resets[:, 0], [1, 0, 0, 1, 0, 0, 1, 0])
    assert not np.asarray(steps.terminated["agents"]).any()  # truncated, never terminal
    obs, nxt = np.asarray(steps.obs["agents"]), np.asarray(steps.next_obs["agents"])
    same = np.all(nxt[:-1] == obs[1:], axis=(-2, -1))
    np.testing.assert_array_equal(same, ~end[:-1])
    assert np.asarray(steps.next_mask["agents"])[end].all()  # after auto-reset the final mask is unknown


@pytest.mark.slow
def test_acting_respects_action_masks_in_kuhn_poker():
    # A player may only act on its turn (the other's mask forbids betting); every action taken is legal.
    poker = vb.make_train(vb.QLearningConfig(total_steps=64, num_envs=4, num_steps=16, buffer_size=64,
                                             hidden=(8,), recurrent_size=0), phalanx.make("kuhn_poker"))
    pstate = poker.init(jax.random.PRNGKey(1))
    _, (psteps, _) = jax.jit(lambda s: jax.lax.scan(poker._env_step, s, jax.random.split(s.key, 16)))(pstate)
    for g in ("player_0", "player_1"):
        masks = np.asarray(pstate.timestep.action_mask[g])[None]
        masks = np.concatenate([masks, np.asarray(psteps.next_mask[g])[:-1]])  # the mask each action saw
        within = ~np.asarray(psteps.resets)[1:]  # the previous step's next_mask is this step's mask
        acts = np.asarray(psteps.action[g])
        legal = np.take_along_axis(masks, acts[..., None], -1)[..., 0]
        assert legal[1:][within].all() and legal[0].all()
        assert not masks.all()  # masks do forbid something here


def test_continuous_actions_are_a_clear_error():
    env = phalanx.make("simple_spread", continuous_actions=True)
    with pytest.raises(ConfigError, match=r"algo=qmix: group 'agents'.*need Discrete.*algo=ippo"):
        vb.make_train(vb.QLearningConfig(mixer="qmix"), env)
    with pytest.raises(ConfigError, match=r"train.buffer_size=100: holds 6 steps per env"):
        vb.QLearningConfig(buffer_size=100).validate()


# ---------------------------------------------------------------------------------- the CLI
def test_phalanx_train_qmix_end_to_end(tmp_path):
    from phalanx.cli import main

    run = tmp_path / "run"
    # 120 updates of 32 one-step games, in 6 chunks; QMIX over both players' Qs.
    args = ["env=matrix_game", f"env.row_payoffs={PAYOFFS.tolist()}", f"env.column_payoffs={PAYOFFS.tolist()}",
            "algo=qmix", "train.mixing=all", "train.total_steps=3840", "train.num_envs=32", "train.num_steps=1",
            "train.batch_size=64", "train.buffer_size=1600", "train.learning_starts=128", "train.eps_decay_steps=1600",
            "train.hidden=[16]", "train.recurrent_size=0", "train.lr=0.003", "train.gradient_steps=1",
            "log_every=20", "checkpoint_every=3", f"run_dir={run}"]
    assert main(["train", *args]) == 0
    lines = [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines()]
    assert [line["env_steps"] for line in lines] == [640 * (i + 1) for i in range(6)]
    assert {"loss", "q_taken", "target", "epsilon", "learning"} <= set(lines[0])
    assert lines[0]["epsilon"] > 0.5 and lines[-1]["epsilon"] == pytest.approx(0.05)
    final = lines[-1]["episode_return"]["player_0"]
    assert final > RANDOM_RETURN + MARGIN, f"qmix: mean return {final:.3f} does not beat random by {MARGIN}"
    assert (run / "marl_eval.json").exists() and (run / "learning_curve.png").exists()
    assert (run / "config.yaml").exists() and list(run.glob("events.out.tfevents.*"))
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["3", "6"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["algo=qmx"], "algo='qmx': unknown algorithm. Did you mean 'qmix'?"),
        (["algo=qmix", "train.mixer=vdn"], "train.mixer='vdn' conflicts with algo='qmix'"),
        (["algo=vdn", "train.hypernet_embd=8"],
         "unknown key 'train.hypernet_embd'. Did you mean 'train.hypernet_embed'?"),
        (["algo=iql", "train.gamma=1.5"], "train.gamma=1.5: expected a number in [0, 1]"),
        (["algo=iql", "train.tau=0"], "train.tau=0.0: expected a number in (0, 1]"),
        (["algo=qmix", "train.mixing=team"], "train.mixing='team'"),
        (["algo=vdn", "train.buffer_size=100"], "train.buffer_size=100: holds 6 steps per env"),
        (["algo=qmix", "env.continuous_actions=true"], "need Discrete ones; use algo=ippo"),
    ],
)
def test_bad_settings_exit_2_with_one_line(capsys, tmp_path, args, message):
    from phalanx.cli import main

    assert main(["train", "env=simple_spread", *args, f"run_dir={tmp_path / 'run'}"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("phalanx: error: ") and message in err
    assert not (tmp_path / "run").exists()  # caught while resolving the config: no half-made run dir


# ---------------------------------------------------------------------------------- learning targets (slow)
# lbf 2s-8x8-2p-2f-coop as EPyMARL runs it (sight 2, forced cooperation, common reward, 50-step
# episodes), the CLI's defaults (a GRU of 64), 4e5 env steps (5-8 minutes each on 2 loaded cores).
# Greedy team return (1 = all food eaten) measured at seed 0 (benchmarks/value_based/README.md):
# IQL 0.89, VDN 0.81, QMIX 0.67; uniform random play 0.0075. Thresholds leave room for other seeds.
LBF_STEPS = 400_000
LBF_THRESHOLDS = {"iql": 0.7, "vdn": 0.65, "qmix": 0.5}


@pytest.mark.slow
@pytest.mark.parametrize("algo", list(LBF_THRESHOLDS))
def test_learns_partially_observable_lbf(algo):
    from phalanx.algos.registry import get_algorithm
    from phalanx.runtime.evaluate import episode_returns
    from phalanx.runtime.run_config import from_values

    settings = {"scenario": "2s-8x8-2p-2f-coop", "team_reward": True, "time_limit": 50}
    config = from_values({"env": "lbf", "algo": algo, "train": {"total_steps": LBF_STEPS}}, settings)
    env = phalanx.make("lbf", **settings)
    trainer = get_algorithm(algo).make_train(config.train, env)
    state, _ = jax.jit(trainer.train)(jax.random.PRNGKey(0))
    trained, random = episode_returns(env, trainer, state, 200, seed=1, greedy=True, max_steps=50)
    assert random["agents"].mean() < 0.05
    greedy = trained["agents"].mean()
    assert greedy > LBF_THRESHOLDS[algo], f"{algo}: greedy return {greedy:.3f} <= {LBF_THRESHOLDS[algo]}"
