"""Wrappers: auto-reset, episode statistics and vectorisation over many envs."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from phalanx.envs.environment import Environment
from phalanx.envs.types import EnvSpec, EpisodeStats, TimeStep


class Wrapper(Environment):
    """Delegates everything to the wrapped env; subclasses override what they change."""

    def __init__(self, env: Environment):
        self.env = env
        self.name = env.name

    @property
    def spec(self) -> EnvSpec:
        return self.env.spec

    @property
    def default_params(self) -> Any:
        return self.env.default_params

    @property
    def time_limit(self) -> int:
        return self.env.time_limit

    def draw_frame(self, fig: Any, state: Any) -> None:
        self.env.draw_frame(fig, state)

    @property
    def unwrapped(self) -> Environment:
        """The innermost env."""
        return getattr(self.env, "unwrapped", self.env)

    def _reset(self, key, params):
        return self.env.reset(key, params)

    def _step(self, key, state, actions, params):
        return self.env.step(key, state, actions, params)

    def __getattr__(self, name: str) -> Any:
        # Env-specific helpers (e.g. a renderer's needs) stay reachable through wrappers.
        if name == "env":
            raise AttributeError(name)
        return getattr(self.env, name)


class AutoReset(Wrapper):
    """Starts a new episode as soon as one ends.

    On the step that ends an episode, ``obs``/``global_state``/``action_mask`` are those of
    the new episode's first step while ``final_obs``/``final_global_state`` keep the last
    observation of the old one, so learners can bootstrap on truncation. Rewards and
    done flags are those of the finished episode's last transition.
    """

    def _step(self, key, state, actions, params):
        key_step, key_reset = jax.random.split(key)
        state, ts = self.env.step(key_step, state, actions, params)
        reset_state, reset_ts = self.env.reset(key_reset, params)
        done = ts.done
        pick = lambda new, old: jax.tree.map(lambda n, o: jnp.where(done, n, o), new, old)  # noqa: E731
        state = pick(reset_state, state)
        ts = ts.replace(
            obs=pick(reset_ts.obs, ts.obs),
            action_mask=pick(reset_ts.action_mask, ts.action_mask),
            global_state=pick(reset_ts.global_state, ts.global_state),
        )
        return state, ts


@struct.dataclass
class EpisodeStatisticsState:
    """State of :class:`EpisodeStatistics`: the inner state plus running sums."""

    env_state: Any
    returns: dict[str, jax.Array]  # {group: (A,)} return so far in this episode
    length: jax.Array  # () int32 steps so far in this episode


class EpisodeStatistics(Wrapper):
    """Tracks each episode's return per agent and length; reports them, and the env's episode
    metrics (``ts.info`` on the last step), when it ends."""

    def _reset(self, key, params):
        env_state, ts = self.env.reset(key, params)
        zeros = jax.tree.map(jnp.zeros_like, ts.reward)
        stats = EpisodeStats(returns=zeros, length=jnp.int32(0), completed=jnp.bool_(False),
                             metrics={k: jnp.float32(0.0) for k in ts.info})
        return EpisodeStatisticsState(env_state, zeros, jnp.int32(0)), ts.replace(episode=stats)

    def _step(self, key, state, actions, params):
        env_state, ts = self.env.step(key, state.env_state, actions, params)
        returns = jax.tree.map(jnp.add, state.returns, ts.reward)
        length = state.length + 1
        done = ts.done
        stats = EpisodeStats(
            returns=jax.tree.map(lambda r: jnp.where(done, r, 0.0), returns),
            length=jnp.where(done, length, 0),
            completed=done,
            metrics={k: jnp.where(done, jnp.asarray(v, jnp.float32), 0.0) for k, v in ts.info.items()},
        )
        new = EpisodeStatisticsState(
            env_state,
            jax.tree.map(lambda r: jnp.where(done, 0.0, r), returns),
            jnp.where(done, 0, length),
        )
        return new, ts.replace(episode=stats)


def episode_metric_names(env: Environment) -> tuple[str, ...]:
    """The names of ``env``'s episode metrics (its ``TimeStep.info`` keys), found without running it.

    ``()`` for anything that is not a pure-JAX :class:`Environment` (an env stepped in host processes).
    """
    if not isinstance(env, Environment):
        return ()
    _, ts = jax.eval_shape(lambda key: env.reset(key), jax.random.PRNGKey(0))
    return tuple(ts.info)


class VecEnv:
    """``num_envs`` independent copies of an env, stepped together with ``vmap``.

    Every copy gets its own PRNG key, so every env in the batch starts from its own
    random state. All arrays gain a leading ``(num_envs,)`` axis.
    """

    def __init__(self, env: Environment, num_envs: int):
        self.env = env
        self.num_envs = num_envs

    @property
    def spec(self) -> EnvSpec:
        """The wrapped env's spec: per-env, unbatched (arrays gain a leading ``(E,)`` axis here)."""
        return self.env.spec

    @property
    def default_params(self) -> Any:
        """The wrapped env's params, shared by every env of the batch."""
        return self.env.default_params

    @property
    def time_limit(self) -> int:
        """The wrapped env's time limit (the most steps of one episode)."""
        return self.env.time_limit

    def reset(self, key: jax.Array, params: Any = None) -> tuple[Any, TimeStep]:
        """Reset all copies: ``(state, timestep)`` with a leading env axis."""
        keys = jax.random.split(key, self.num_envs)
        return jax.vmap(self.env.reset, in_axes=(0, None))(keys, params)

    def step(self, key: jax.Array, state: Any, actions: dict[str, jax.Array], params: Any = None):
        """Step all copies; ``actions[group]`` is ``(num_envs, A, ...)``."""
        keys = jax.random.split(key, self.num_envs)
        return jax.vmap(self.env.step, in_axes=(0, 0, 0, None))(keys, state, actions, params)

    def sample_actions(self, key: jax.Array, action_mask: dict[str, jax.Array] | None = None):
        """Random (legal, when masks are given) actions for every copy."""
        keys = jax.random.split(key, self.num_envs)
        return jax.vmap(self.env.sample_actions)(keys, action_mask)


class AutoResetVecEnv(VecEnv):
    """``num_envs`` copies with :class:`AutoReset`'s behaviour, resetting only when some episode ended.

    ``AutoReset`` under ``vmap`` computes a reset in every env on every step (a ``vmap``-ped
    branch is a select), and for small envs that reset's random draws can cost as much as the
    step. Here the step is ``vmap``-ped without resets and the batch's resets run under one
    ``lax.cond`` on "any env done", so they cost nothing on the steps where no episode ends
    (with fixed-length episodes, all but one in ``episode_length``). Keys are split exactly as
    ``VecEnv(AutoReset(env))`` splits them, so the results are identical to it, bit for bit.
    Under an outer ``vmap`` (several seeds) the ``cond`` becomes a select again: still correct.
    Use it as ``AutoResetVecEnv(EpisodeStatistics(env), num_envs)`` (the statistics reset with the
    env changes nothing: they are zeroed when an episode ends).
    """

    def step(self, key: jax.Array, state: Any, actions: dict[str, jax.Array], params: Any = None):
        """Step all copies; ``actions[group]`` is ``(num_envs, A, ...)``; ended episodes restart."""
        keys = jax.vmap(jax.random.split)(jax.random.split(key, self.num_envs))  # as AutoReset splits them
        key_step, key_reset = keys[:, 0], keys[:, 1]
        state, ts = jax.vmap(self.env.step, in_axes=(0, 0, 0, None))(key_step, state, actions, params)
        done = ts.done  # (E,)

        def reset(state_ts):
            state, ts = state_ts
            reset_state, reset_ts = jax.vmap(self.env.reset, in_axes=(0, None))(key_reset, params)
            pick = lambda new, old: jax.tree.map(  # noqa: E731
                lambda n, o: jnp.where(done.reshape(-1, *([1] * (o.ndim - 1))), n, o), new, old)
            return pick(reset_state, state), ts.replace(
                obs=pick(reset_ts.obs, ts.obs),
                action_mask=pick(reset_ts.action_mask, ts.action_mask),
                global_state=pick(reset_ts.global_state, ts.global_state),
            )

        return jax.lax.cond(done.any(), reset, lambda state_ts: state_ts, (state, ts))


def wrap_for_training(env: Environment, num_envs: int) -> VecEnv:
    """The standard stack: auto-reset, episode statistics, ``num_envs`` copies.

    :class:`AutoResetVecEnv` gives the same transitions with resets only on steps where an episode
    ended, but inside PPO training it is no faster than this (benchmarks/ppo_throughput/README.md),
    so this stays the default.
    """
    return VecEnv(EpisodeStatistics(AutoReset(env)), num_envs)
