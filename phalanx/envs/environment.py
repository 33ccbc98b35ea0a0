"""The environment contract every Phalanx env implements.

An env object holds only static configuration (agent counts, observation mode: things
that fix array shapes). Everything that changes is passed in explicitly: the state, a
PRNG key, and ``params`` (a frozen ``flax.struct`` dataclass of numeric settings that can
themselves be ``vmap``-ped). ``reset`` and ``step`` are pure, so ``jit``, ``vmap`` and
``lax.scan`` apply directly.
"""

from __future__ import annotations

import abc
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
        """Start an episode. Returns ``(state, timestep)``."""
        return self._reset(key, self.default_params if params is None else params)

    def step(
        self,
        key: jax.Array,
        state: StateT,
        actions: dict[str, jax.Array],
        params: ParamsT | None = None,
    ) -> tuple[StateT, TimeStep]:
        """Advance one step. ``actions[group]`` has the agent axis first (see spaces)."""
        actions = check_actions(self.spec, actions, self.name)
        return self._step(key, state, actions, self.default_params if params is None else params)

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
        raise PhalanxError(
            f"{env_name}.step: actions must be a dict keyed by group {list(spec.groups)}, "
            f"got {type(actions).__name__}."
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
