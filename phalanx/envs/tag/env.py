"""Continuous Tag, as WarpDrive's ``TagContinuous`` CPU reference defines it, in pure JAX.

Taggers (type 1) chase runners (type 0) on an ``L × L`` square. Each agent picks an
acceleration and a turn (``MultiDiscrete([A+1, T+1])``, index 0 = no-op). A runner within
``tagging_distance × L`` of its nearest tagger is tagged: it gets the tag penalty, that
tagger the tag reward, and the runner leaves the game. Runners alive at ``t == T`` get the
end-of-game reward. The episode ends at ``t == T`` or when no runner is left (a game rule,
reported as termination: the observation carries ``t/T``).

Two fixes over WarpDrive's GPU kernels: several runners tagged in one step by the same
tagger all count (a sum, not a racy write), and a runner tagged on the last step gets no
survival bonus. Every env in a ``vmap``-ped batch draws its own initial state.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from phalanx.envs.environment import Environment, check_settings
from phalanx.envs.spaces import Box, MultiDiscrete
from phalanx.envs.tag import observe
from phalanx.envs.tag.types import NUM_FEATURES, NUM_SELF_FEATURES, TagParams, TagState
from phalanx.envs.types import EnvSpec, GroupSpec, TimeStep, full_mask, make_timestep


class Tag(Environment[TagState, TagParams]):
    """WarpDrive's continuous Tag. Groups: ``taggers`` and ``runners``.

    Args:
        num_taggers, num_runners: group sizes.
        use_full_observation: observe all other agents (O(N²) per env); otherwise the
            ``num_other_agents_observed`` nearest alive agents, zero-padded.
        num_acceleration_levels, num_turn_levels: action resolution (plus a no-op each).
        runner_exits_game_after_tagged: tagged runners leave the game.
        obs_chunk_size: observers processed together when finding nearest neighbours;
            bounds memory at O(chunk × N) per env instead of O(N²).
        observe_self: add the observer's own state — ``x/L, y/L, speed/v_max,
            acceleration/v_max, cos(direction), sin(direction)`` — just before ``t/T``. WarpDrive's
            observation has only features *relative* to the observer, so an agent cannot tell
            its own heading and cannot steer toward a target; ``False`` gives WarpDrive's layout.
        egocentric: give each observed agent's ``Δx, Δy`` in the observer's own frame (along and
            to the left of its heading) instead of the board's: where a target lies relative to
            the way the observer faces, which is what a turn action acts on. Same layout and
            size; ``False`` (default) keeps WarpDrive's board-frame offsets.
        min_acceleration, max_acceleration, min_turn, max_turn: action ranges.
        Other keywords set :class:`TagParams` defaults.
    """

    name = "tag"

    def __init__(
        self,
        num_taggers: int = 1,
        num_runners: int = 10,
        use_full_observation: bool = True,
        num_other_agents_observed: int = 2,
        num_acceleration_levels: int = 10,
        num_turn_levels: int = 10,
        runner_exits_game_after_tagged: bool = True,
        obs_chunk_size: int = 256,
        observe_self: bool = True,
        egocentric: bool = False,
        grid_length: float = 10.0,
        episode_length: int = 100,
        max_speed: float = 1.0,
        skill_level_runner: float = 1.0,
        skill_level_tagger: float = 1.0,
        max_acceleration: float = 1.0,
        min_acceleration: float = -1.0,
        max_turn: float = math.pi / 2,
        min_turn: float = -math.pi / 2,
        edge_hit_penalty: float = -0.0,
        tagging_distance: float = 0.01,
        tag_reward_for_tagger: float = 1.0,
        step_penalty_for_tagger: float = -0.0,
        tag_penalty_for_runner: float = -1.0,
        step_reward_for_runner: float = 0.0,
        end_of_game_reward_for_runner: float = 1.0,
    ):
        checks = [
            (num_taggers >= 1, "num_taggers", num_taggers, "an integer >= 1"),
            (num_runners >= 1, "num_runners", num_runners, "an integer >= 1"),
            (episode_length >= 1, "episode_length", episode_length, "an integer >= 1"),
            (grid_length > 0, "grid_length", grid_length, "a number > 0"),
            (num_acceleration_levels >= 0, "num_acceleration_levels", num_acceleration_levels, ">= 0"),
            (num_turn_levels >= 0, "num_turn_levels", num_turn_levels, ">= 0"),
            (0 <= tagging_distance <= 1, "tagging_distance", tagging_distance, "in [0, 1]"),
            (edge_hit_penalty <= 0, "edge_hit_penalty", edge_hit_penalty, "<= 0"),
            (obs_chunk_size >= 1, "obs_chunk_size", obs_chunk_size, ">= 1"),
        ]
        n = num_taggers + num_runners
        if not use_full_observation:
            checks.append(
                (1 <= num_other_agents_observed <= n - 1, "num_other_agents_observed",
                 num_other_agents_observed, f"between 1 and num_agents - 1 = {n - 1}")
            )
        check_settings(self.name, checks)
        self.num_taggers = num_taggers
        self.num_runners = num_runners
        self.num_agents = n
        self.use_full_observation = use_full_observation
        self.num_other_agents_observed = num_other_agents_observed
        self.num_acceleration_levels = num_acceleration_levels
        self.num_turn_levels = num_turn_levels
        self.runner_exits_game_after_tagged = runner_exits_game_after_tagged
        self.obs_chunk_size = obs_chunk_size
        self.observe_self = observe_self
        self.egocentric = egocentric
        # Action tables are static: they define what each action index means.
        self.acceleration_actions = action_table(min_acceleration, max_acceleration, num_acceleration_levels)
        self.turn_actions = action_table(min_turn, max_turn, num_turn_levels)
        self._params = TagParams(
            grid_length=grid_length, episode_length=episode_length, max_speed=max_speed,
            skill_level_runner=skill_level_runner, skill_level_tagger=skill_level_tagger,
            edge_hit_penalty=edge_hit_penalty,
            tagging_distance=tagging_distance, tag_reward_for_tagger=tag_reward_for_tagger,
            step_penalty_for_tagger=step_penalty_for_tagger,
            tag_penalty_for_runner=tag_penalty_for_runner,
            step_reward_for_runner=step_reward_for_runner,
            end_of_game_reward_for_runner=end_of_game_reward_for_runner,
        )

    @property
    def default_params(self) -> TagParams:
        return self._params

    @property
    def time_limit(self) -> int:
        """``episode_length``: the game ends at ``t == episode_length`` if runners are left."""
        return int(self._params.episode_length)

    def draw_frame(self, fig: Any, state: TagState) -> None:
        """Draw one (unbatched, NumPy) state on the matplotlib ``fig``: see :mod:`phalanx.envs.tag.viewer`."""
        from phalanx.envs.tag.viewer import draw_tag

        draw_tag(fig, self._params.grid_length, state)

    @property
    def obs_dim(self) -> int:
        """Features of one agent's observation: the relative view, plus the self features when ``observe_self``."""
        return self._relative_dim + (NUM_SELF_FEATURES if self.observe_self else 0)

    @property
    def _relative_dim(self) -> int:
        k = self.num_agents - 1 if self.use_full_observation else self.num_other_agents_observed
        return NUM_FEATURES * k + 1

    @functools.cached_property
    def spec(self) -> EnvSpec:
        obs = Box(-np.inf, np.inf, (self.obs_dim,))
        act = MultiDiscrete((self.num_acceleration_levels + 1, self.num_turn_levels + 1))
        return EnvSpec(
            groups={
                "taggers": GroupSpec(self.num_taggers, obs, act),
                "runners": GroupSpec(self.num_runners, obs, act),
            },
            global_state=Box(-np.inf, np.inf, (NUM_FEATURES * self.num_agents + 1,)),
        )

    # ------------------------------------------------------------------ reset / step
    def _reset(self, key: jax.Array, params: TagParams) -> tuple[TagState, TimeStep]:
        n, L = self.num_agents, jnp.float32(params.grid_length)
        k_type, k_x, k_y, k_dir = jax.random.split(key, 4)
        tagger_pick = jax.random.permutation(k_type, n)[: self.num_taggers]
        agent_type = jnp.zeros(n, jnp.int32).at[tagger_pick].set(1)
        order = jnp.argsort(agent_type, stable=True).astype(jnp.int32)  # runners, then taggers
        x = L * jax.random.uniform(k_x, (n,))
        y = L * jax.random.uniform(k_y, (n,))
        quarter = jax.random.randint(k_dir, (n,), 0, 4)
        state = TagState(
            pos=jnp.stack([x, y], axis=-1),
            speed=jnp.zeros(n, jnp.float32),
            direction=(quarter * (jnp.pi / 2)).astype(jnp.float32),
            acceleration=jnp.zeros(n, jnp.float32),
            alive=jnp.ones(n, jnp.bool_),
            agent_type=agent_type,
            tagger_ids=order[self.num_runners :],
            runner_ids=order[: self.num_runners],
            t=jnp.int32(0),
        )
        return state, self.observe(state, params)

    def observe(self, state: TagState, params: TagParams) -> TimeStep:
        """The timestep an agent sees in ``state`` (zero rewards); used by reset and parity tests."""
        obs = self._observations(state, params)
        zeros = {g: jnp.zeros(n, jnp.float32) for g, n in self.groups.items()}
        terminated = {g: jnp.zeros(n, jnp.bool_) for g, n in self.groups.items()}
        return make_timestep(obs, self._masks(), zeros, terminated, False, self._global_state(state, params))

    def _step(self, key, state: TagState, actions, params: TagParams) -> tuple[TagState, TimeStep]:
        del key  # Tag's dynamics are deterministic given the actions.
        f32 = jnp.float32
        n, L = self.num_agents, f32(params.grid_length)
        act = jnp.zeros((n, 2), jnp.int32)
        act = act.at[state.tagger_ids].set(actions["taggers"]).at[state.runner_ids].set(actions["runners"])
        acc_table, turn_table = jnp.asarray(self.acceleration_actions), jnp.asarray(self.turn_actions)
        alive = state.alive.astype(f32)
        is_tagger = state.agent_type == 1

        # Kinematics, in WarpDrive's order.
        t = state.t + 1
        direction = _wrap_angle(state.direction + turn_table[act[:, 1]]) * alive
        acceleration = state.acceleration + acc_table[act[:, 0]]
        max_speed = f32(params.max_speed) * jnp.where(
            is_tagger, f32(params.skill_level_tagger), f32(params.skill_level_runner)
        )
        speed = jnp.clip(state.speed + acceleration, 0.0, max_speed) * alive
        acceleration = acceleration * (speed > 0) * (speed < max_speed)
        moved = state.pos + speed[:, None] * jnp.stack([jnp.cos(direction), jnp.sin(direction)], -1)
        crossed = jnp.any((moved < 0) | (moved > L), axis=-1)
        pos = jnp.clip(moved, 0.0, L)
        moved_state = state.replace(pos=pos, speed=speed, direction=direction, acceleration=acceleration, t=t)

        # Observations see the game before this step's tags (as the reference does).
        obs = self._observations(moved_state, params)
        global_state = self._global_state(moved_state, params)

        # Rewards: every alive runner checks its nearest tagger.
        reward = (f32(params.edge_hit_penalty) * crossed + jnp.where(
            is_tagger, f32(params.step_penalty_for_tagger), f32(params.step_reward_for_runner)
        )) * alive
        runner_pos, tagger_pos = pos[state.runner_ids], pos[state.tagger_ids]
        dist = jnp.sqrt(jnp.sum((runner_pos[:, None, :] - tagger_pos[None, :, :]) ** 2, axis=-1))
        margin = f32(params.tagging_distance) * L
        tagged = state.alive[state.runner_ids] & (dist.min(axis=1) < margin)  # (n_r,)
        nearest = jax.nn.one_hot(dist.argmin(axis=1), self.num_taggers, dtype=f32)  # (n_r, n_t)
        # A sum over runners, so one tagger tagging several runners at once earns each tag.
        tagger_gain = f32(params.tag_reward_for_tagger) * (nearest * tagged[:, None]).sum(axis=0)
        reward = reward.at[state.tagger_ids].add(tagger_gain)
        reward = reward.at[state.runner_ids].add(f32(params.tag_penalty_for_runner) * tagged)

        runner_alive = state.alive[state.runner_ids]
        if self.runner_exits_game_after_tagged:
            runner_alive = runner_alive & ~tagged
        game_over = (t >= params.episode_length) | ~runner_alive.any()
        # Only runners still in the game after this step's tags earn the survival bonus.
        bonus = f32(params.end_of_game_reward_for_runner) * (runner_alive & (t == params.episode_length))
        reward = reward.at[state.runner_ids].add(bonus)
        new_alive = state.alive.at[state.runner_ids].set(runner_alive)

        new_state = moved_state.replace(alive=new_alive)
        rewards = {"taggers": reward[state.tagger_ids], "runners": reward[state.runner_ids]}
        terminated = {
            "taggers": jnp.broadcast_to(game_over, (self.num_taggers,)),
            "runners": ~runner_alive | game_over,
        }
        ts = make_timestep(
            obs, self._masks(), rewards, terminated, False, global_state
        )
        return new_state, ts

    # ------------------------------------------------------------------ observations
    def _masks(self) -> dict[str, jax.Array]:
        act = self.spec.groups["taggers"].action
        return {g: full_mask(n, act) for g, n in self.groups.items()}

    def _global_state(self, state: TagState, params: TagParams) -> jax.Array:
        f = observe.features(state, params)
        per_agent = jnp.concatenate(
            [f, state.agent_type[:, None].astype(jnp.float32), state.alive[:, None].astype(jnp.float32)], -1
        )
        time = (state.t / params.episode_length).astype(jnp.float32)
        return jnp.concatenate([per_agent.reshape(-1), time[None]])

    def _observations(self, state: TagState, params: TagParams) -> dict[str, jax.Array]:
        """``{group: (A, obs_dim)}``: features relative to the observer, feature-major, then ``t/T``.

        Each group's rows are computed for its own observers directly (no ``(N, D)``
        intermediate that is then gathered by group: that gather cost more than the obs).
        """
        f = observe.features(state, params)
        types = state.agent_type.astype(jnp.float32)
        alive = state.alive.astype(jnp.float32)
        time = (state.t / params.episode_length).astype(jnp.float32)
        groups = {"taggers": state.tagger_ids, "runners": state.runner_ids}
        if self.use_full_observation:
            obs = {g: observe.full_observations(ids, f, types, alive, time, self.num_agents, self._relative_dim)
                   for g, ids in groups.items()}
        else:
            k, chunk = self.num_other_agents_observed, self.obs_chunk_size
            obs = {g: observe.nearest_observations(ids, f, state.pos, types, state.alive, time, k, chunk)
                   for g, ids in groups.items()}
        if self.egocentric:
            obs = {g: observe.to_own_frame(o, state.direction[groups[g]], self._relative_dim) for g, o in obs.items()}
        if self.observe_self:
            own = observe.self_features(state, params)
            # Before t/T, which stays the last entry.
            obs = {g: jnp.concatenate([o[:, :-1], own[groups[g]], o[:, -1:]], -1) for g, o in obs.items()}
        return obs


def _wrap_angle(x: jax.Array) -> jax.Array:
    """``x mod 2π`` via exact ``fmod`` plus a sign fix, as NumPy/C compute ``%``.

    ``jnp.mod`` rounds differently by an ulp; near the wrap that ulp is a whole turn.
    """
    two_pi = jnp.float32(2 * np.pi)
    r = jnp.fmod(x, two_pi)
    return jnp.where(r < 0, r + two_pi, r)


def action_table(low: float, high: float, levels: int) -> np.ndarray:
    """``[0, linspace(low, high, levels)]`` in float32: index 0 is the no-op."""
    return np.insert(np.linspace(np.float32(low), np.float32(high), levels), 0, 0).astype(np.float32)
