"""Tag learning check: trained taggers / runners against random ones, and a scripted chaser as the ceiling.

    python benchmarks/tag/tag_learning.py RUN_DIR [--episodes 1024] [--seed 0] [--greedy]
    python benchmarks/tag/tag_learning.py --vs-random OUT_JSON [env.KEY=VALUE ...] [train.KEY=VALUE ...]

The first form evaluates a finished ``phalanx train env=tag ...`` run (both groups trained at once,
self-play): its newest checkpoint is restored and the env rebuilt from its config. The second trains
each group against the other playing uniformly at random — taggers with
``make_train(config, env, learners=("taggers",))`` against random runners, then runners with
``learners=("runners",)`` against random taggers — writes the result to ``OUT_JSON`` and evaluates the
pair; the trained parameters go to ``OUT_JSON.params`` (``flax.serialization`` bytes of
``{"params": {group: ...}, "obs_stats": ...}``). Defaults of the second form: Tag 10 taggers vs
100 runners, 6 nearest observed, 32 envs, ``train.total_steps=200000`` for each group.

Evaluation: every cell of taggers ∈ {random, trained, chase} × runners ∈ {random, trained}, for
``--episodes`` full episodes (one jitted ``lax.scan`` over the episode, ``vmap``-ped over episodes, no
auto-reset), all cells with the same episode keys, so trained and random taggers always meet the
*same* runners. Per cell: tags per episode, runners alive at the end (fraction), and mean runner
survival (steps a runner stays in the game / episode length). Trained agents sample from their policy
(stochastic, as in training); ``--greedy`` takes the most likely action instead. ``chase`` is a
scripted tagger (not learned): each step it takes the action whose next position lands nearest to
its nearest runner's next position extrapolated at constant velocity — a yardstick for how many tags
are possible.
"""

from __future__ import annotations

import argparse
import ast
import json
import time

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

from phalanx.networks import distributions as dist

TAGGERS = ("random", "trained", "chase")
RUNNERS = ("random", "trained")
DEFAULT_ENV = {"num_taggers": 10, "num_runners": 100, "use_full_observation": False, "num_other_agents_observed": 6}
DEFAULT_TRAIN = {"num_envs": 32, "total_steps": 200_000}


def chase_actions(env, state) -> jax.Array:
    """Scripted taggers for one env: ``(n_taggers, 2)`` int32 actions, each the (acceleration, turn)
    pair whose next position is nearest its nearest alive runner's constant-velocity next position."""
    params = env.default_params
    heading = jnp.stack([jnp.cos(state.direction), jnp.sin(state.direction)], -1)  # (N, 2)
    ahead = state.pos + state.speed[:, None] * heading
    runners, taggers = state.runner_ids, state.tagger_ids
    gap = jnp.linalg.norm(state.pos[taggers][:, None] - ahead[runners][None], axis=-1)  # (n_t, n_r)
    target = ahead[runners][jnp.argmin(jnp.where(state.alive[runners][None], gap, jnp.inf), axis=1)]
    acc, turn = jnp.asarray(env.acceleration_actions), jnp.asarray(env.turn_actions)
    direction = state.direction[taggers][:, None, None] + turn[None, None, :]  # (n_t, 1, T)
    speed = jnp.clip(state.speed[taggers][:, None, None] + state.acceleration[taggers][:, None, None]
                     + acc[None, :, None], 0.0, params.max_speed * params.skill_level_tagger)  # (n_t, A, 1)
    nxt = state.pos[taggers][:, None, None] + speed[..., None] * jnp.stack([jnp.cos(direction),
                                                                           jnp.sin(direction)], -1)
    cost = jnp.linalg.norm(jnp.clip(nxt, 0.0, params.grid_length) - target[:, None, None], axis=-1)  # (n_t, A, T)
    best = jnp.argmin(cost.reshape(len(taggers), -1), axis=1)
    return jnp.stack([best // len(turn), best % len(turn)], -1).astype(jnp.int32)


def evaluate(env, policy, params: dict, trained: tuple[str, ...], num_episodes: int, key: jax.Array,
             obs_stats: dict | None = None, greedy: bool = False, chase: bool = False) -> dict[str, float]:
    """Play ``num_episodes`` episodes; groups in ``trained`` act with ``params``, the rest uniformly at random
    (taggers scripted by :func:`chase_actions` when ``chase``).

    ``params`` is ``{group: {"actor": ..., ...}}`` as in ``TrainState.params``; ``policy`` is the
    trainer's :class:`~phalanx.algos.ppo.policy.MultiAgentPolicy`. Returns tags per episode, final
    fraction of runners alive and mean survival fraction (steps alive / episode length).
    """
    T = int(env.default_params.episode_length)
    n_r = env.num_runners
    E = num_episodes

    def act(key, state, ts):
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
        if chase:
            actions["taggers"] = jax.vmap(lambda s: chase_actions(env, s))(state)
        return actions

    def episode(key):
        k_reset, k_run = jax.random.split(key)
        state, ts = jax.vmap(env.reset)(jax.random.split(k_reset, E))

        def step(carry, k):
            state, ts = carry
            k_act, k_env = jax.random.split(k)
            actions = act(k_act, state, ts)
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
    """Every cell of taggers {random, trained, chase} × runners {random, trained}, same episode keys."""
    key = jax.random.PRNGKey(seed)
    out = {}
    for taggers in TAGGERS:
        for runners in RUNNERS:
            trained = tuple(g for g, who in (("taggers", taggers), ("runners", runners)) if who == "trained")
            t0 = time.perf_counter()
            cell = evaluate(env, policy, params, trained, num_episodes, key, obs_stats, greedy, taggers == "chase")
            cell["seconds"] = round(time.perf_counter() - t0, 2)
            out[f"{taggers}_taggers_vs_{runners}_runners"] = cell
    for runners in RUNNERS:  # the headline: trained taggers against random taggers, same runners
        base = out[f"random_taggers_vs_{runners}_runners"]["tags_per_episode"]
        gain = out[f"trained_taggers_vs_{runners}_runners"]["tags_per_episode"] / base - 1
        out[f"tagger_gain_vs_{runners}_runners"] = gain
    base = out["random_taggers_vs_random_runners"]["tags_per_episode"]
    out["runner_gain_vs_random_taggers"] = 1 - out["random_taggers_vs_trained_runners"]["tags_per_episode"] / base
    return out


def uniform_actor(policy, group: str, key: jax.Array) -> dict:
    """Actor parameters (with a member axis of 1) whose policy is uniformly random: all logits zero."""
    params = policy.init(key)[group]["actor"]
    return jax.tree.map(lambda x: jnp.zeros((1, *x.shape), x.dtype), params)


def train_vs_random(env, config, learner: str, key: jax.Array, chunk: int = 10, log=print):
    """Train group ``learner`` against the other group playing uniformly at random.

    Returns ``(trainer, state, curve)``; ``curve`` lists ``(updates, seconds, mean episode return of the
    learner)`` per compiled chunk of at most ``chunk`` updates (a divisor of the run's updates).
    """
    from phalanx.algos.ppo import make_train

    trainer = make_train(config, env, learners=(learner,))
    other = next(g for g in trainer.policy.groups if g != learner)
    state = trainer.init(key, {other: uniform_actor(trainer.policy, other, key)})
    chunk = max(d for d in range(1, chunk + 1) if trainer.num_updates % d == 0)  # one compiled chunk length
    run = jax.jit(lambda s: jax.lax.scan(lambda s, _: trainer.update(s), s, None, length=chunk))
    curve, done, t0 = [], 0, time.perf_counter()
    while done < trainer.num_updates:
        state, m = run(state)
        done += chunk
        count = max(float(np.sum(m.episode_count)), 1.0)
        curve.append((done, round(time.perf_counter() - t0, 1), float(np.sum(m.episode_return_sum[learner])) / count))
        log(f"{learner}: update {done}/{trainer.num_updates}, {curve[-1][1]} s, return {curve[-1][2]:.3f}")
    return trainer, state, curve


def _parse(overrides: list[str]) -> tuple[dict, dict]:
    env, train = dict(DEFAULT_ENV), dict(DEFAULT_TRAIN)
    for item in overrides:
        key, _, value = item.partition("=")
        section, _, name = key.partition(".")
        if section not in ("env", "train") or not name:
            raise SystemExit(f"tag_learning: {item!r}: expected env.KEY=VALUE or train.KEY=VALUE")
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            value = {"true": True, "false": False}.get(value.lower(), value)
        (env if section == "env" else train)[name] = value
    return env, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", help="RUN_DIR of a phalanx train run, or OUT_JSON with --vs-random")
    parser.add_argument("overrides", nargs="*", help="env.KEY=VALUE / train.KEY=VALUE (with --vs-random)")
    parser.add_argument("--vs-random", action="store_true", help="train each group against random opponents")
    parser.add_argument("--episodes", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--greedy", action="store_true")
    args = parser.parse_args()

    import phalanx
    from phalanx.algos.ppo import PPOConfig, make_train

    if args.vs_random:
        env_settings, train_settings = _parse(args.overrides)
        if "hidden" in train_settings:
            train_settings["hidden"] = tuple(train_settings["hidden"])
        env = phalanx.make("tag", **env_settings)
        config = PPOConfig(**train_settings)
        params, obs_stats, info = {}, {}, {"env_settings": env_settings, "train_settings": train_settings}
        keys = jax.random.split(jax.random.PRNGKey(args.seed), 2)
        for learner, key in zip(("taggers", "runners"), keys, strict=True):
            trainer, state, curve = train_vs_random(env, config, learner, key, log=lambda s: print(s, flush=True))
            params[learner] = state.params[learner]
            if state.obs_stats is not None:
                obs_stats[learner] = state.obs_stats[learner]
            info[f"{learner}_curve"] = curve
            info[f"{learner}_env_steps"] = int(state.env_steps)
        result = compare(env, trainer.policy, params, args.episodes, args.seed + 1, obs_stats or None, args.greedy)
        result["run"] = info
        with open(args.target, "w") as f:
            json.dump(result, f, indent=1)
        with open(args.target + ".params", "wb") as f:  # both trained groups, for further matchups
            f.write(flax.serialization.to_bytes({"params": params, "obs_stats": obs_stats}))
    else:
        from phalanx.runtime import run_dir as rd
        from phalanx.runtime.train_run import restore_final

        config = rd.load_config(args.target)
        env = phalanx.make(config.env, **config.env_settings)
        trainer = make_train(config.train, env)
        state, progress = restore_final(args.target)
        result = compare(env, trainer.policy, state.params, args.episodes, args.seed, state.obs_stats, args.greedy)
        result["run"] = {"run_dir": args.target, "env_settings": config.env_settings,
                         "env_steps": progress["env_steps"], "train_wall_time": round(progress["wall_time"], 1)}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
