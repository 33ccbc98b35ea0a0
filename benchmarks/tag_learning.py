"""Tag learning check: trained taggers / runners vs uniformly random ones.

    python benchmarks/tag_learning.py RUN_DIR [--episodes 1024] [--seed 0]

``RUN_DIR`` is a finished ``phalanx train env=tag ...`` run; its newest checkpoint is restored
(``phalanx.runtime.loop.restore_final``) and the env is rebuilt from its config. Four matchups are
played for ``--episodes`` full episodes each (one jitted ``lax.scan`` over the episode, ``vmap``-ped
over episodes, no auto-reset):

    (a) trained taggers vs random runners,   random taggers vs random runners
    (b) random taggers vs trained runners,   (same random-vs-random baseline)

and for each: tags per episode, runners alive at the end (fraction), and mean runner survival
time (steps a runner stays in the game / episode length). Trained agents sample from their
policy (stochastic, as in training); ``--greedy`` takes the most likely action instead.

``evaluate(env, policy, params, ...)`` is importable (the slow tests use it with in-process params).
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from phalanx.networks import distributions as dist


def evaluate(env, policy, params: dict, trained: tuple[str, ...], num_episodes: int, key: jax.Array,
             obs_stats: dict | None = None, greedy: bool = False) -> dict[str, float]:
    """Play ``num_episodes`` episodes; groups in ``trained`` act with ``params``, the rest uniformly at random.

    ``params`` is ``{group: {"actor": ..., ...}}`` as in ``TrainState.params``; ``policy`` is the
    trainer's :class:`~phalanx.algos.ppo.policy.MultiAgentPolicy`. Returns tags per episode, final
    fraction of runners alive and mean survival fraction (steps alive / episode length).
    """
    T = int(env.default_params.episode_length)
    n_r = env.num_runners
    E = num_episodes

    def act(key, ts):
        k_rand, k_pol = jax.random.split(key)
        actions = jax.vmap(env.sample_actions)(jax.random.split(k_rand, E), ts.action_mask)
        if trained:
            actor_in, _ = policy.inputs(ts, obs_stats, None)
            hidden = policy.initial_hidden(E)
            for name, k in zip(trained, jax.random.split(k_pol, len(trained)), strict=True):
                g = policy.groups[name]
                _, out = policy.actor_outputs(params, name, hidden[name], actor_in[name][None],
                                              jnp.zeros((1, E), bool))
                out = jax.tree.map(lambda x: x[0], out)
                mask = ts.action_mask[name]
                if greedy:
                    actions[name] = dist.greedy(g.space, out, mask)
                else:
                    actions[name] = dist.sample(k, g.space, out, mask)[0]
        return actions

    def episode(key):
        k_reset, k_run = jax.random.split(key)
        state, ts = jax.vmap(env.reset)(jax.random.split(k_reset, E))

        def step(carry, k):
            state, ts = carry
            k_act, k_env = jax.random.split(k)
            actions = act(k_act, ts)
            state, ts = jax.vmap(env.step)(jax.random.split(k_env, E), state, actions)
            alive = jax.vmap(lambda s: s.alive[s.runner_ids])(state)  # (E, n_r) after this step
            return (state, ts), alive.sum(-1)

        _, alive_counts = jax.lax.scan(step, (state, ts), jax.random.split(k_run, T))  # (T, E)
        return alive_counts

    alive_counts = np.asarray(jax.jit(episode)(key), np.float64)  # (T, E)
    final = alive_counts[-1]
    return {
        "tags_per_episode": float((n_r - final).mean()),
        "runners_alive_at_end": float((final / n_r).mean()),
        "mean_survival_fraction": float((alive_counts.sum(0) / (n_r * T)).mean()),
        "episodes": E,
    }


def compare(env, policy, params, num_episodes: int, seed: int = 0, obs_stats=None, greedy: bool = False) -> dict:
    """The three matchups (random/random, trained taggers, trained runners), same episode keys."""
    key = jax.random.PRNGKey(seed)
    out = {}
    for label, trained in [("random_vs_random", ()), ("trained_taggers_vs_random_runners", ("taggers",)),
                           ("random_taggers_vs_trained_runners", ("runners",))]:
        t0 = time.perf_counter()
        out[label] = evaluate(env, policy, params, trained, num_episodes, key, obs_stats, greedy)
        out[label]["seconds"] = round(time.perf_counter() - t0, 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--episodes", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--greedy", action="store_true")
    args = parser.parse_args()

    import phalanx
    from phalanx.algos.ppo.train import make_train
    from phalanx.runtime import run_dir as rd
    from phalanx.runtime.loop import restore_final

    config = rd.load_config(args.run_dir)
    env = phalanx.make(config.env, **config.env_settings)
    trainer = make_train(config.train, env)
    state, progress = restore_final(args.run_dir)
    result = compare(env, trainer.policy, state.params, args.episodes, args.seed, state.obs_stats, args.greedy)
    result["run"] = {"run_dir": args.run_dir, "env_settings": config.env_settings,
                     "env_steps": progress["env_steps"], "train_wall_time": round(progress["wall_time"], 1)}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
