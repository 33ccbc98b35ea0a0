"""The environment contract every Phalanx env implements.

An env object holds only static configuration (agent counts, observation mode: things
that fix array shapes). Everything that changes is passed in explicitly: the state, a
PRNG key, and ``params`` (a frozen ``flax.struct`` dataclass of numeric settings that can
themselves be ``vmap``-ped). ``reset`` and ``step`` are pure, so ``jit``, ``vmap`` and
``lax.scan`` apply directly.
"""

from __future__ import annotations

import abc
import os
import traceback
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import jax
import jax.numpy as jnp
import numpy as np

from phalanx.envs.spaces import Box, Discrete, MultiDiscrete
from phalanx.envs.types import EnvSpec, TimeStep
from phalanx.errors import PhalanxError

StateT = TypeVar("StateT")
ParamsT = TypeVar("ParamsT")


class Environment(abc.ABC, Generic[StateT, ParamsT]):
    """Base class of all Phalanx environments.

    Subclasses implement ``_reset``, ``_step``, ``spec`` and ``default_params``; the
    public ``reset``/``step`` fill in default params and validate actions at trace time
    (shapes and dtypes are static, so the check costs nothing inside ``jit``).
    """

    #: Registered name, e.g. ``"tag"``.
    name: str = "env"

    @property
    @abc.abstractmethod
    def spec(self) -> EnvSpec:
        """Groups, their observation/action spaces, and the global-state space."""

    @property
    @abc.abstractmethod
    def default_params(self) -> ParamsT:
        """The numeric settings used when ``params`` is not given."""

    @abc.abstractmethod
    def _reset(self, key: jax.Array, params: ParamsT) -> tuple[StateT, TimeStep]: ...

    @abc.abstractmethod
    def _step(
        self, key: jax.Array, state: StateT, actions: dict[str, jax.Array], params: ParamsT
    ) -> tuple[StateT, TimeStep]: ...

    def reset(self, key: jax.Array, params: ParamsT | None = None) -> tuple[StateT, TimeStep]:
        """Start an episode. Returns ``(state, timestep)``; ``timestep.obs[group]`` is ``(A, *obs_shape)``.

        Raises:
            PhalanxError: if ``_reset`` uses Python control flow on traced values (under ``jit``)
                or returns arrays whose shapes or dtypes differ from :attr:`spec`.
        """
        params = self.default_params if params is None else params
        state, ts = _call_env_code(self, "_reset", self._reset, key, params)
        check_timestep(self.spec, ts, f"{self.name}.reset")
        return state, ts

    def step(
        self,
        key: jax.Array,
        state: StateT,
        actions: dict[str, jax.Array],
        params: ParamsT | None = None,
    ) -> tuple[StateT, TimeStep]:
        """Advance one step. ``actions[group]`` has the agent axis first: ``(A,)`` int32 for
        ``Discrete``, ``(A, k)`` int32 for ``MultiDiscrete``, ``(A, d)`` float32 for ``Box``.

        Raises:
            PhalanxError: for actions of the wrong groups, shape or dtype; if ``_step`` uses Python
                control flow on traced values (under ``jit``); or if it returns arrays whose shapes
                or dtypes differ from :attr:`spec`.
        """
        actions = check_actions(self.spec, actions, self.name)
        params = self.default_params if params is None else params
        state, ts = _call_env_code(self, "_step", self._step, key, state, actions, params)
        check_timestep(self.spec, ts, f"{self.name}.step")
        return state, ts

    @property
    def time_limit(self) -> int:
        """The most steps an episode lasts under :attr:`default_params`: every episode is over by then.

        One name on every env, whatever its own setting is called (Tag's ``episode_length``, MPE's
        ``max_cycles``, a poker game's longest line of play), so evaluation, PSRO payoff estimates and
        rendering know how many steps to roll out without knowing the env.

        Raises:
            PhalanxError: if the env does not declare one (override this property).
        """
        raise PhalanxError(
            f"{self.name}: the env declares no time limit; override the property "
            f"{type(self).__name__}.time_limit (the most steps an episode lasts), or pass the number of steps."
        )

    def draw_frame(self, fig: Any, state: StateT) -> None:
        """Draw one unbatched ``state`` (leaves as NumPy arrays) on the matplotlib ``fig``.

        Each env draws itself in its own ``viewer.py``; :func:`phalanx.envs.viewers.render_frame`
        gives the figure and turns it into an RGB frame. Text games may also offer
        ``render_text(state) -> str``.

        Raises:
            PhalanxError: if the env has no viewer (override this method).
        """
        del fig, state
        raise PhalanxError(f"{self.name}: no viewer for this environment; override {type(self).__name__}.draw_frame.")

    @property
    def groups(self) -> dict[str, int]:
        """``{group: number of agents}`` in the env's fixed group order."""
        return {name: g.num_agents for name, g in self.spec.groups.items()}

    def sample_actions(self, key: jax.Array, action_mask: dict[str, jax.Array] | None = None) -> dict[str, jax.Array]:
        """Uniform random actions for every group; legal ones only when a mask is given."""
        keys = jax.random.split(key, len(self.spec.groups))
        out = {}
        for k, (name, g) in zip(keys, self.spec.groups.items(), strict=True):
            mask = None if action_mask is None else action_mask.get(name)
            out[name] = _sample_masked(k, g.action, g.num_agents, mask)
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.groups})"


#: What JAX raises when Python needs a concrete value from a traced array (``if x > 0:``,
#: ``int(x)``, ``np.asarray(x)``, ``x[x > 0]`` under ``jit``).
_TRACER_ERRORS = (
    jax.errors.ConcretizationTypeError,  # includes TracerBoolConversionError
    jax.errors.TracerIntegerConversionError,
    jax.errors.TracerArrayConversionError,
    jax.errors.NonConcreteBooleanIndexError,
)
_JAX_DIRS = tuple(os.path.dirname(m.__file__) + os.sep for m in (jax, np))


def _call_env_code(env: Environment, method: str, fn: Callable[..., Any], *args: Any) -> Any:
    """Call ``env._reset``/``env._step``, turning JAX's tracer errors into one actionable line."""
    try:
        return fn(*args)
    except _TRACER_ERRORS as e:
        # The deepest frame outside JAX/NumPy is the env's own line that needed a concrete value.
        frames = [f for f in traceback.extract_tb(e.__traceback__) if not f.filename.startswith(_JAX_DIRS)]
        where = f" at {frames[-1].filename}:{frames[-1].lineno} ({(frames[-1].line or '').strip()})" if frames else ""
        raise PhalanxError(
            f"{env.name}.{method}{where}: Python control flow on a traced value ({type(e).__name__}: "
            f"{str(e).splitlines()[0]}). Under jit, env code sees abstract arrays: use jnp.where(cond, a, b) or "
            "jax.lax.cond(cond, f, g, ...) instead of if/and/or/bool(), jax.lax.fori_loop/scan instead of loops "
            "over array values, and jnp.where instead of boolean indexing."
        ) from e


def check_timestep(spec: EnvSpec, ts: TimeStep, where: str = "env") -> None:
    """Check that ``ts`` has the shapes and dtypes ``spec`` declares (trace time, so free under ``jit``).

    Leading batch axes are allowed (a ``VecEnv`` adds ``(E,)``): only the trailing axes are
    compared, e.g. ``obs[group]`` must end in ``(A, *observation.shape)``, ``reward[group]`` in
    ``(A,)``, ``global_state`` in ``global_state.shape``.

    Raises:
        PhalanxError: naming the field, the shape/dtype returned and the one the spec declares.
    """
    if not isinstance(ts, TimeStep):
        raise PhalanxError(f"{where}: expected (state, TimeStep), got a {type(ts).__name__} as the timestep; "
                           "build it with phalanx.envs.make_timestep(...).")
    for field in ("obs", "reward", "terminated", "action_mask"):
        value = getattr(ts, field)
        got = set(value) if isinstance(value, dict) else None
        if got != set(spec.groups) and not (field == "action_mask" and got is not None and got <= set(spec.groups)):
            raise PhalanxError(f"{where}: timestep.{field} must be a dict keyed by the spec's groups "
                               f"{list(spec.groups)}, got {sorted(got) if got is not None else type(value).__name__}.")
    for name, g in spec.groups.items():
        wants = [("obs", ts.obs[name], (g.num_agents, *g.observation.shape), np.dtype(g.observation.dtype)),
                 ("reward", ts.reward[name], (g.num_agents,), np.dtype(np.float32)),
                 ("terminated", ts.terminated[name], (g.num_agents,), np.dtype(np.bool_))]
        for field, value, shape, dtype in wants:
            _check_array(f"{where}: timestep.{field}[{name!r}]", value, shape, dtype,
                         f"spec.groups[{name!r}]: {g.num_agents} agents, observation {g.observation}"
                         if field == "obs" else f"{g.num_agents} agents in group {name!r}")
    _check_array(f"{where}: timestep.global_state", ts.global_state, spec.global_state.shape,
                 np.dtype(spec.global_state.dtype), f"spec.global_state {spec.global_state}")


def _check_array(what: str, value: Any, shape: tuple[int, ...], dtype: np.dtype, because: str) -> None:
    got_shape = tuple(np.shape(value))
    if len(got_shape) < len(shape) or got_shape[len(got_shape) - len(shape):] != shape:
        raise PhalanxError(f"{what} has shape {got_shape}, but the env's spec says {shape} ({because}); "
                           "make the spec and the returned arrays agree.")
    got_dtype = np.dtype(value.dtype) if hasattr(value, "dtype") else np.asarray(value).dtype
    if got_dtype != dtype:
        raise PhalanxError(f"{what} has dtype {got_dtype}, but the env's spec says {dtype}; "
                           f"cast it with .astype(jnp.{dtype.name}).")


def _sample_masked(key: jax.Array, space: Any, num_agents: int, mask: jax.Array | None) -> jax.Array:
    if mask is None or isinstance(space, Box):
        return space.sample(key, num_agents)
    if isinstance(space, Discrete):
        logits = jnp.where(mask, 0.0, -jnp.inf)
        return jax.random.categorical(key, logits).astype(jnp.int32)
    splits = np.cumsum(space.nvec)[:-1]
    keys = jax.random.split(key, len(space.nvec))
    parts = [
        jax.random.categorical(k, jnp.where(m, 0.0, -jnp.inf)).astype(jnp.int32)
        for k, m in zip(keys, jnp.split(mask, splits, axis=-1), strict=True)
    ]
    return jnp.stack(parts, axis=-1)


def check_settings(env: str, checks: list[tuple[bool, str, object, str]]) -> None:
    """Raise :class:`PhalanxError` for the first ``(ok, key, value, expected)`` that fails.

    Envs validate their settings with this in ``__init__``, so every bad value reads the
    same way: ``tag: num_runners=0 is invalid; expected an integer >= 1.``
    """
    for ok, key, value, want in checks:
        if not ok:
            raise PhalanxError(f"{env}: {key}={value!r} is invalid; expected {want}.")


def check_actions(spec: EnvSpec, actions: Any, env_name: str = "env") -> dict[str, jax.Array]:
    """Validate the structure, shapes and dtypes of ``actions`` against ``spec``.

    Runs at trace time (on abstract shapes), so it is free under ``jit``. Raises
    :class:`PhalanxError` naming the group, the shape/dtype received and the one expected.
    """
    if not isinstance(actions, dict):
        got = f"an array of shape {tuple(actions.shape)}" if hasattr(actions, "shape") else type(actions).__name__
        want = ", ".join(f"{n!r}: {(g.num_agents, *g.action.shape)}" for n, g in spec.groups.items())
        raise PhalanxError(
            f"{env_name}.step: actions must be a dict keyed by group {list(spec.groups)}, got {got}; "
            f"pass {{{want}}} (agents first; env.sample_actions(key) builds one)."
        )
    if set(actions) != set(spec.groups):
        raise PhalanxError(
            f"{env_name}.step: actions have groups {sorted(actions)}, expected exactly "
            f"{list(spec.groups)}."
        )
    out = {}
    for name, g in spec.groups.items():
        a = actions[name]
        if not hasattr(a, "shape"):
            a = np.asarray(a)
        shape, dtype = tuple(a.shape), np.dtype(a.dtype)
        want = (g.num_agents, *g.action.shape)
        if shape != want:
            raise PhalanxError(
                f"{env_name}.step: actions[{name!r}] has shape {shape}, expected {want} "
                f"(agents first, action space {g.action})."
            )
        if isinstance(g.action, Discrete | MultiDiscrete):
            if dtype.kind not in "iu":
                raise PhalanxError(
                    f"{env_name}.step: actions[{name!r}] has dtype {dtype}, expected an integer "
                    f"dtype for {g.action}; cast with .astype(jnp.int32)."
                )
            a = jnp.asarray(a, jnp.int32)
        else:
            if dtype.kind != "f":
                raise PhalanxError(
                    f"{env_name}.step: actions[{name!r}] has dtype {dtype}, expected a float "
                    f"dtype for {g.action}."
                )
            a = jnp.asarray(a, jnp.float32)
        out[name] = a
    return out
