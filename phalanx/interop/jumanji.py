"""A multi-agent Jumanji env as a Phalanx env: ``from_jumanji("LevelBasedForaging-v0")``, ``make("jumanji:...")``.

Still pure JAX: ``reset``/``step`` are Jumanji's own (which never reset by themselves; Phalanx's
``AutoReset`` wrapper resets). One group, ``agents``, of the env's ``num_agents`` ``N`` agents; the
action spec must be ``(N,)`` choices among the same ``n`` (a ``MultiDiscreteArray``, or an integer
``BoundedArray`` from 0: ``Discrete(n)``) or ``(N, d)`` floats (``Box``). Single-agent envs, and envs
whose agents choose differently-sized actions, are refused with the reason.

* **Observations.** Jumanji's observation is a pytree. Its ``action_mask`` leaf, when ``(N, n)``, is
  the legal-action mask (left out of the observation either way). Every other leaf whose leading
  axis is ``N`` belongs to the agents (agent ``i`` sees row ``i``); the remaining leaves
  (``step_count``, a shared grid) are seen by every agent. An agent's observation is its rows and
  the shared leaves, flattened and concatenated in the pytree's order, as float32; the bounds are
  the observation spec's. A shared leaf whose first axis happens to equal ``N`` (Connector's
  ``N × N`` grid) is named in :data:`SHARED_LEAVES`.
* **Global state**: every leaf but the mask, flattened and concatenated.
* **Termination apart from truncation.** Jumanji ends an episode with ``step_type == LAST``;
  ``discount == 0`` marks termination, but several envs report their time limit that way too. So
  the adapter also reads the env's step counter (``state.step_count``) and ``time_limit``: an
  episode that ends once the counter reaches the limit is *truncated*, any earlier end is
  *terminated* (an end that falls on the limit's own step counts as truncation).
* Rewards ``(N,)`` (a shared scalar reward is given to every agent).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from phalanx.envs.environment import Environment
from phalanx.envs.spaces import Box, Discrete
from phalanx.envs.types import EnvSpec, GroupSpec, TimeStep, make_timestep
from phalanx.errors import PhalanxError, did_you_mean

GROUP = "agents"
#: Observation leaves seen by every agent although their first axis has length ``N`` (a square grid
#: of side ``N``), by env name.
SHARED_LEAVES = {"Connector-v3": ("grid",)}
_LAST = 2  # jumanji.types.StepType.LAST


def _leaf_name(path: tuple) -> str:
    last = path[-1]
    return str(getattr(last, "name", getattr(last, "key", last)))


class JumanjiEnv(Environment[Any, None]):
    """A multi-agent Jumanji ``Environment`` behind the Phalanx contract (see the module docstring).

    Attributes:
        env: the wrapped Jumanji env.
    """

    def __init__(self, env: Any, name: str):
        self.env = env
        self.name = f"jumanji:{name}"
        shared_names = SHARED_LEAVES.get(name, ())
        self.num_agents, self.action = _action_space(env, self.name)
        self._action_dtype = np.dtype(env.action_spec.dtype)
        _, ts = jax.eval_shape(env.reset, jax.random.PRNGKey(0))
        leaves = jax.tree_util.tree_flatten_with_path(ts.observation)[0]
        self._names = [_leaf_name(p) for p, _ in leaves]
        self._mask = self._names.index("action_mask") if "action_mask" in self._names else None
        masked = self._mask is not None and isinstance(self.action, Discrete) and \
            tuple(leaves[self._mask][1].shape) == (self.num_agents, self.action.n)
        self._per_agent = [i for i, (_, x) in enumerate(leaves) if i != self._mask and x.ndim >= 1
                           and x.shape[0] == self.num_agents and self._names[i] not in shared_names]
        self._shared = [i for i in range(len(leaves)) if i != self._mask and i not in self._per_agent]
        size = lambda i: int(np.prod(leaves[i][1].shape))  # noqa: E731
        self._obs_size = sum(size(i) // self.num_agents for i in self._per_agent) + sum(size(i) for i in self._shared)
        self._state_size = sum(size(i) for i in (*self._per_agent, *self._shared))
        self._low, self._high = self._bounds()
        self._masked = masked

    def _bounds(self) -> tuple[float, float]:
        """The smallest minimum and largest maximum of the observation spec's leaves (infinite if unbounded)."""
        low, high = np.inf, -np.inf
        for i in (*self._per_agent, *self._shared):
            leaf = getattr(self.env.observation_spec, self._names[i], None)
            if not hasattr(leaf, "minimum"):
                return -np.inf, np.inf
            low = min(low, float(np.min(leaf.minimum)))
            high = max(high, float(np.max(leaf.maximum)))
        return low, high

    @functools.cached_property
    def spec(self) -> EnvSpec:
        obs = Box(self._low, self._high, (self._obs_size,))
        group = GroupSpec(self.num_agents, obs, self.action, has_action_mask=self._masked)
        return EnvSpec({GROUP: group}, Box(self._low, self._high, (self._state_size,)))

    @property
    def default_params(self) -> None:
        return None

    @property
    def time_limit(self) -> int:
        """The env's ``time_limit``: episodes are truncated when its step counter reaches it."""
        if not hasattr(self.env, "time_limit"):
            return super().time_limit
        return int(self.env.time_limit)

    def _reset(self, key: jax.Array, params: None) -> tuple[Any, TimeStep]:
        state, ts = self.env.reset(key)
        state = jax.tree.map(lambda x: jnp.asarray(x, jnp.asarray(x).dtype), state)  # strong dtypes
        return state, self._timestep(state, ts, first=True)

    def _step(self, key: jax.Array, state: Any, actions: dict[str, jax.Array], params: None) -> tuple[Any, TimeStep]:
        del key  # a Jumanji env carries its key in its state
        new, ts = self.env.step(state, actions[GROUP].astype(self._action_dtype))
        # The same dtypes as the state taken in, so jit traces once.
        new = jax.tree.map(lambda x, old: jnp.asarray(x, old.dtype), new, state)
        return new, self._timestep(new, ts, first=False)

    def _timestep(self, state: Any, ts: Any, first: bool) -> TimeStep:
        N = self.num_agents
        leaves = [jnp.asarray(x) for x in jax.tree.leaves(ts.observation)]  # some envs give Python ints
        rows = [leaves[i].reshape(N, -1) for i in self._per_agent]
        shared = [jnp.broadcast_to(leaves[i].reshape(1, -1), (N, leaves[i].size)) for i in self._shared]
        obs = jnp.concatenate([*rows, *shared], axis=1).astype(jnp.float32)
        global_state = jnp.concatenate([leaves[i].reshape(-1) for i in (*self._per_agent, *self._shared)])
        masks = {}
        if isinstance(self.action, Discrete):
            masks[GROUP] = (leaves[self._mask].astype(jnp.bool_) if self._masked
                            else jnp.ones((N, self.action.n), jnp.bool_))
        reward = jnp.broadcast_to(jnp.asarray(ts.reward, jnp.float32), (N,))
        if first:
            terminated, truncated = jnp.zeros(N, jnp.bool_), jnp.bool_(False)
        else:
            last = ts.step_type == _LAST
            time_up = self._time_up(state)
            terminated = jnp.broadcast_to(last & (jnp.asarray(ts.discount) == 0) & ~time_up, (N,))
            truncated = last & ~jnp.all(terminated)
        return make_timestep({GROUP: obs}, masks, {GROUP: reward}, {GROUP: terminated}, truncated,
                             global_state.astype(jnp.float32))

    def _time_up(self, state: Any) -> jax.Array:
        if hasattr(self.env, "time_limit") and hasattr(state, "step_count"):
            return state.step_count >= self.env.time_limit
        return jnp.bool_(False)

    def __repr__(self) -> str:
        return f"JumanjiEnv({self.name!r}, {self.groups})"


def _action_space(env: Any, name: str) -> tuple[int, Discrete | Box]:
    """``(N, one agent's action space)`` from the env's ``num_agents`` and action spec."""
    spec = env.action_spec
    n_agents = getattr(env, "num_agents", getattr(env, "num_vehicles", None))  # MultiCVRP's agents are vehicles
    shape = tuple(getattr(spec, "shape", ()))
    kind, dtype = type(spec).__name__, np.dtype(getattr(spec, "dtype", np.float32))
    if isinstance(n_agents, int) and shape[:1] == (n_agents,):
        values = np.asarray(getattr(spec, "num_values", -1))
        if kind == "MultiDiscreteArray" and shape == (n_agents,) and len(set(values.tolist())) == 1:
            return n_agents, Discrete(int(values[0]))
        low, high = np.asarray(getattr(spec, "minimum", -np.inf)), np.asarray(getattr(spec, "maximum", np.inf))
        if kind == "BoundedArray" and dtype.kind in "iu" and shape == (n_agents,) and low.size == 1 and int(low) == 0:
            return n_agents, Discrete(int(high.max()) + 1)  # every agent picks an index in [0, maximum]
        if kind == "BoundedArray" and dtype.kind == "f" and len(shape) == 2:
            return n_agents, Box(float(low.min()), float(high.max()), shape[1:])
    raise PhalanxError(f"{name}: the action spec is {spec} (num_agents={n_agents}); the adapter takes multi-agent "
                       "envs with num_agents N whose actions are (N,) choices among the same n, or (N, d) floats.")


def from_jumanji(name: str, **settings: Any) -> JumanjiEnv:
    """The Jumanji env ``name`` (``jumanji.make(name, **settings)``) as a Phalanx env.

    Raises:
        PhalanxError: for an unknown name (listing Jumanji's), settings the env rejects, or an env
            that is not multi-agent in the way the adapter reads (see the module docstring).
    """
    try:
        import jumanji
    except ModuleNotFoundError as err:
        raise PhalanxError(f"Jumanji envs need jumanji ({err}); install it: pip install -e \".[envs]\" "
                           "(or pip install jumanji).") from None
    names = sorted(jumanji.registered_environments())
    if name not in names:
        raise PhalanxError(f"unknown Jumanji env {name!r}.{did_you_mean(name, names)} "
                           f"Jumanji's envs: {', '.join(names)}.")
    try:
        env = jumanji.make(name, **settings)
    except TypeError as err:  # most often a setting the env does not take
        raise PhalanxError(f"jumanji:{name}: {err}") from None
    return JumanjiEnv(env, name)
