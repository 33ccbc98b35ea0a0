"""A JaxMARL env as a Phalanx env: ``from_jaxmarl("MPE_simple_spread_v3")``, ``make("jaxmarl:SMAX", scenario="3m")``.

Still pure JAX: the adapter's ``reset``/``step`` call the JaxMARL env's own functions, so the
whole rollout compiles with the learner.

* **Groups** from agent names (:mod:`phalanx.interop.groups`): SMAX's ``ally_0..`` and
  ``enemy_0..`` become ``allies`` and ``enemies``; MPE's ``agent_0..`` become ``agents``.
* **No hidden reset.** ``step`` calls the env's ``step_env`` (JaxMARL's ``step`` resets by
  itself); Phalanx's ``AutoReset`` wrapper resets.
* **Termination apart from truncation.** JaxMARL's ``dones`` mix the two. The adapter reads the
  env's step counter (``state.step``) and its ``max_steps``: the episode is *truncated* once the
  counter reaches ``max_steps`` (so ``time_limit == max_steps``, as mpe2 counts ``max_cycles``),
  and an agent is *terminated* when its ``done`` (or the env's ``__all__``) comes earlier (a SMAX
  unit killed, a battle won or lost) and stays terminated. An agent still in the game on the last step is truncated,
  even if the game also ended on that very step (the two cannot be told apart from ``dones``).
* **Action masks** from ``get_avail_actions(state)`` where the env implements it (SMAX); all
  legal otherwise (MPE).
* **Global state**: ``get_world_state(state)`` where the env has one (SMAX), else every agent's
  observation concatenated in group order.
* Observations are float32; ``Discrete`` actions are ``(A,)`` int32, ``Box`` actions ``(A, d)``.
"""

from __future__ import annotations

import functools
import io
import sys
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from phalanx.envs.environment import Environment
from phalanx.envs.spaces import Box, Discrete, MultiDiscrete, Space
from phalanx.envs.types import EnvSpec, GroupSpec, TimeStep, full_mask, make_timestep
from phalanx.errors import PhalanxError, did_you_mean
from phalanx.interop.groups import group_agents


@struct.dataclass
class JaxMARLState:
    """The wrapped env's state and which agents' episodes have ended.

    Attributes:
        env_state: the JaxMARL env's own state.
        terminated: ``{group: (A,) bool}`` agents terminated so far in this episode.
    """

    env_state: Any
    terminated: dict[str, jax.Array]


def _box(space: Any) -> Box:
    shape = tuple(int(d) for d in space.shape)
    return Box(float(np.min(space.low)), float(np.max(space.high)), shape)


def _space(space: Any, what: str) -> Space:
    """A JaxMARL space as a Phalanx one (``Discrete``, ``MultiDiscrete`` or ``Box``)."""
    kind = type(space).__name__
    if kind == "Discrete":
        return Discrete(int(space.n))
    if kind == "MultiDiscrete":
        return MultiDiscrete(tuple(int(n) for n in np.asarray(space.num_categories)))
    if kind == "Box":
        return _box(space)
    raise PhalanxError(f"from_jaxmarl: {what} is a {kind}; supported: Discrete, MultiDiscrete, Box.")


def _signature(space: Any) -> tuple:
    """What makes two JaxMARL spaces the same (its classes define no equality)."""
    fields = ("n", "num_categories", "shape", "low", "high")
    return (type(space).__name__, *(repr(np.asarray(getattr(space, f)).tolist()) if hasattr(space, f) else None
                                    for f in fields))


def _step_count(state: Any) -> jax.Array:
    """The env's step counter: ``state.step``, looking through wrapper states (``state.state``)."""
    while not hasattr(state, "step") and hasattr(state, "state"):
        state = state.state
    return state.step


class JaxMARLEnv(Environment[JaxMARLState, None]):
    """A JaxMARL ``MultiAgentEnv`` behind the Phalanx contract (see the module docstring).

    Attributes:
        env: the wrapped JaxMARL env.
        agent_names: ``{group: [JaxMARL agent name, ...]}`` along each group's agent axis.
    """

    def __init__(self, env: Any, name: str):
        self.env = env
        self.name = f"jaxmarl:{name}"
        for attr in ("agents", "step_env", "max_steps"):
            if not hasattr(env, attr):
                raise PhalanxError(f"{self.name}: the env has no {attr!r}; the adapter needs agents, step_env and "
                                   "max_steps (its time limit).")
        self.agent_names = group_agents(
            list(env.agents), lambda a: (_signature(env.observation_space(a)), _signature(env.action_space(a))),
            plural_names=True)
        obs, state = jax.eval_shape(env.reset, jax.random.PRNGKey(0))
        self._masked = _implemented(env.get_avail_actions, state)
        self._world_state = hasattr(env, "get_world_state") and _implemented(env.get_world_state, state)
        # Shapes as the env returns them (a space's shape may disagree: overcooked's is transposed).
        self._obs_shapes = {a: tuple(obs[a].shape) for a in env.agents}
        size = int(np.prod(jax.eval_shape(env.get_world_state, state).shape)) if self._world_state \
            else sum(int(np.prod(shape)) for shape in self._obs_shapes.values())
        self._state_shape = (size,)

    @functools.cached_property
    def spec(self) -> EnvSpec:
        groups = {}
        for g, names in self.agent_names.items():
            obs = _space(self.env.observation_space(names[0]), f"{names[0]}'s observation space")
            if not isinstance(obs, Box):
                raise PhalanxError(f"from_jaxmarl: {names[0]}'s observation space is {obs}; only Box is supported.")
            obs = Box(obs.low, obs.high, self._obs_shapes[names[0]])
            action = _space(self.env.action_space(names[0]), f"{names[0]}'s action space")
            groups[g] = GroupSpec(len(names), obs, action,
                                  has_action_mask=self._masked and not isinstance(action, Box))
        if self._world_state:
            state = Box(-np.inf, np.inf, self._state_shape)
        else:
            state = Box(min(s.observation.low for s in groups.values()),
                        max(s.observation.high for s in groups.values()), self._state_shape)
        return EnvSpec(groups, state)

    @property
    def default_params(self) -> None:
        return None

    @property
    def time_limit(self) -> int:
        """The env's ``max_steps``: the episode is truncated when its step counter reaches it."""
        return int(self.env.max_steps)

    def _reset(self, key: jax.Array, params: None) -> tuple[JaxMARLState, TimeStep]:
        obs, env_state = self.env.reset(key)
        env_state = jax.tree.map(lambda x: jnp.asarray(x, jnp.asarray(x).dtype), env_state)  # strong dtypes
        terminated = {g: jnp.zeros(len(n), jnp.bool_) for g, n in self.agent_names.items()}
        zeros = {g: jnp.zeros(len(n), jnp.float32) for g, n in self.agent_names.items()}
        state = JaxMARLState(env_state, terminated)
        return state, self._timestep(obs, env_state, zeros, terminated, jnp.bool_(False))

    def _step(self, key: jax.Array, state: JaxMARLState, actions: dict[str, jax.Array],
              params: None) -> tuple[JaxMARLState, TimeStep]:
        per_agent = {a: actions[g][i] for g, names in self.agent_names.items() for i, a in enumerate(names)}
        obs, env_state, rewards, dones, _ = self.env.step_env(key, state.env_state, per_agent)
        time_up = _step_count(env_state) >= self.env.max_steps
        # ``__all__`` ends the game for everyone (SMAX: a team wiped out, while the winners are still alive).
        game_over = jnp.asarray(dones.get("__all__", False), jnp.bool_)
        terminated = {g: state.terminated[g] | ((self._stack(dones, g).astype(jnp.bool_) | game_over) & ~time_up)
                      for g in self.agent_names}
        all_terminated = jnp.all(jnp.concatenate(list(terminated.values())))
        reward = {g: self._stack(rewards, g).astype(jnp.float32) for g in self.agent_names}
        # The same dtypes as the state taken in (JaxMARL mixes weak and strong ones), so jit traces once.
        env_state = jax.tree.map(lambda x, old: jnp.asarray(x, old.dtype), env_state, state.env_state)
        new = JaxMARLState(env_state, terminated)
        return new, self._timestep(obs, env_state, reward, terminated, time_up & ~all_terminated)

    # ------------------------------------------------------------------ helpers
    def _stack(self, per_agent: dict[str, jax.Array], group: str) -> jax.Array:
        return jnp.stack([jnp.asarray(per_agent[a]) for a in self.agent_names[group]])

    def _timestep(self, obs: dict, env_state: Any, reward: dict, terminated: dict, truncated: jax.Array) -> TimeStep:
        spec = self.spec
        group_obs = {g: self._stack(obs, g).astype(jnp.float32) for g in self.agent_names}
        if self._masked:
            avail = self.env.get_avail_actions(env_state)
            masks = {g: self._stack(avail, g).astype(jnp.bool_) for g, s in spec.groups.items()
                     if not isinstance(s.action, Box)}
        else:
            masks = {g: full_mask(s.num_agents, s.action) for g, s in spec.groups.items()
                     if not isinstance(s.action, Box)}
        if self._world_state:
            global_state = jnp.asarray(self.env.get_world_state(env_state), jnp.float32).reshape(-1)
        else:
            global_state = jnp.concatenate([group_obs[g].reshape(-1) for g in self.agent_names])
        return make_timestep(group_obs, masks, reward, terminated, truncated, global_state)

    def __repr__(self) -> str:
        return f"JaxMARLEnv({self.name!r}, {self.groups})"


def _implemented(fn: Any, state: Any) -> bool:
    """Whether ``fn(state)`` traces (JaxMARL's base class raises ``NotImplementedError`` for optional parts)."""
    try:
        jax.eval_shape(fn, state)
    except NotImplementedError:
        return False
    return True


def jaxmarl_names() -> list[str]:
    """Every env name JaxMARL registers (``jaxmarl.registered_envs``)."""
    return list(_jaxmarl().registered_envs)


def _jaxmarl() -> Any:
    # JaxMARL prints about optional submodules on import, and its MABrax module resets sys.stdout and
    # sys.stderr to the process's own streams (undoing any capture): import it quietly and put both back.
    streams = sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__
    sys.stdout = sys.__stdout__ = io.StringIO()
    sys.stderr = sys.__stderr__ = io.StringIO()
    try:
        import jaxmarl
    except ModuleNotFoundError as err:
        raise PhalanxError(f"JaxMARL envs need jaxmarl ({err}); install it: pip install -e \".[envs]\" "
                           "(or pip install jaxmarl).") from None
    finally:
        sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__ = streams
    return jaxmarl


def from_jaxmarl(name: str, **settings: Any) -> JaxMARLEnv:
    """The JaxMARL env ``name`` (``jaxmarl.make(name, **settings)``) as a Phalanx env.

    SMAX envs (``SMAX``, ``HeuristicEnemySMAX``) take ``scenario`` as a map name too
    (``scenario="3m"``, converted with JaxMARL's ``map_name_to_scenario``).

    Raises:
        PhalanxError: for an unknown name (listing JaxMARL's), settings the env rejects, or an env
            whose spaces or API the adapter does not support.
    """
    jaxmarl = _jaxmarl()
    names = list(jaxmarl.registered_envs)
    if name not in names:
        raise PhalanxError(f"unknown JaxMARL env {name!r}.{did_you_mean(name, names)} "
                           f"JaxMARL's envs: {', '.join(names)}.")
    if "SMAX" in name and isinstance(settings.get("scenario"), str):
        from jaxmarl.environments.smax import map_name_to_scenario

        try:
            settings["scenario"] = map_name_to_scenario(settings["scenario"])
        except (KeyError, ValueError):
            raise PhalanxError(f"jaxmarl:{name}: unknown scenario {settings['scenario']!r}.") from None
    try:
        env = jaxmarl.make(name, **settings)
    except TypeError as err:  # most often a setting the env does not take
        raise PhalanxError(f"jaxmarl:{name}: {err}") from None
    return JaxMARLEnv(env, name)
