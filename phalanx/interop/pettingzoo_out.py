"""A Phalanx env as a PettingZoo ``ParallelEnv``: ``to_pettingzoo(phalanx.make("tag"))``.

One env (not a batch), its ``reset``/``step`` jitted once each, so any PettingZoo tool —
``parallel_api_test``, SuperSuit, a user's own training loop — drives a Phalanx env.

**Agent names.** Group ``g`` with ``A`` agents becomes ``<singular(g)>_<i>`` for
``i = 0..A-1``, in the env's group order (what :func:`agent_names` returns):

* a group with one agent whose name already ends in ``_<digits>`` keeps its name
  (matrix games: ``player_0``, ``player_1``);
* otherwise the group name is singularised: ``-ies`` → ``-y`` (adversaries → adversary),
  ``-sses/-xes/-ches/-shes`` lose ``-es`` (boxes → box), a final ``-s`` (not ``-ss``) is
  dropped (taggers → tagger, agents → agent); other names stay as they are
  (speaker → speaker_0);
* if two groups would share a prefix, every group keeps its full name as the prefix.

So Tag's agents are ``tagger_0, runner_0, runner_1, ...`` and the MPE scenarios get mpe2's
own names (``adversary_0``, ``agent_0``, ``speaker_0``, ``listener_0``).

**Bookkeeping.** ``possible_agents`` never changes. ``step`` answers for the agents alive
before it; an agent whose ``terminated`` turns True (a Tag runner tagged out) leaves
``agents``; when the episode ends (every agent terminated, or the episode-level
``truncated`` flag) ``agents`` becomes empty. ``truncations[a]`` is the episode-level flag.
Agents that left get a zero (no-op index) action inside the Phalanx step.

**Spaces and masks.** ``observation_space(a)``/``action_space(a)`` are Gymnasium spaces
built from the group's :class:`~phalanx.envs.GroupSpec` (``Box``, ``Discrete``,
``MultiDiscrete``), the same object on every call. Groups whose legal actions vary
(``has_action_mask``) put the mask in ``infos[a]["action_mask"]`` in the form
``action_space(a).sample(mask=...)`` takes: an ``int8`` array ``(n,)`` for ``Discrete``, a
tuple of ``int8`` arrays (one per choice) for ``MultiDiscrete`` — PettingZoo's convention
for masks outside the observation. ``state()`` is the env's global state.

**Randomness.** ``reset(seed=s)`` sets the key stream to ``PRNGKey(s)`` (the constructor's
``seed`` starts it); every reset and step then draws its key as
``stream, key = jax.random.split(stream)``, so an episode is reproducible from its seed and
equals stepping the Phalanx env with those keys.
"""

from __future__ import annotations

import re
import weakref
from typing import Any

import jax
import numpy as np

from phalanx.envs.environment import Environment
from phalanx.envs.spaces import Discrete, MultiDiscrete, Space
from phalanx.envs.types import EnvSpec, TimeStep
from phalanx.errors import PhalanxError

try:
    import gymnasium
    from pettingzoo import ParallelEnv
except ModuleNotFoundError as _err:  # optional dependencies: one clear line instead of a traceback
    raise PhalanxError(
        f"PettingZoo interop needs pettingzoo and gymnasium ({_err}); install them: "
        'pip install -e ".[pettingzoo]" (or pip install pettingzoo gymnasium)'
    ) from None

RENDER_MODES = ("rgb_array",)

# env → (jitted reset, jitted step): several PettingZoo views of one env compile once.
_JITTED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _jitted(env: Environment) -> tuple[Any, Any]:
    if env not in _JITTED:
        _JITTED[env] = (jax.jit(env.reset), jax.jit(env.step))
    return _JITTED[env]


def singular(group: str) -> str:
    """English singular of a group name, by the simple rules in the module docstring."""
    if len(group) > 3 and group.endswith("ies"):
        return group[:-3] + "y"
    if group.endswith(("sses", "xes", "ches", "shes")):
        return group[:-2]
    if len(group) > 1 and group.endswith("s") and not group.endswith("ss"):
        return group[:-1]
    return group


def agent_names(spec: EnvSpec) -> dict[str, list[str]]:
    """``{group: [agent name, ...]}`` in agent-axis order (rules in the module docstring)."""
    def prefix(group: str, singularise: bool) -> str | None:
        if spec.groups[group].num_agents == 1 and re.search(r"_\d+$", group):
            return None  # the group's name is already its one agent's name
        return singular(group) if singularise else group

    prefixes = {g: prefix(g, True) for g in spec.groups}
    used = [p for p in prefixes.values() if p is not None] + [g for g, p in prefixes.items() if p is None]
    if len(set(used)) < len(used):
        prefixes = {g: prefix(g, False) for g in spec.groups}
    names = {}
    for g, p in prefixes.items():
        names[g] = [g] if p is None else [f"{p}_{i}" for i in range(spec.groups[g].num_agents)]
    return names


def gymnasium_space(space: Space) -> gymnasium.spaces.Space:
    """The Gymnasium space of one agent's Phalanx space."""
    if isinstance(space, Discrete):
        return gymnasium.spaces.Discrete(space.n)
    if isinstance(space, MultiDiscrete):
        return gymnasium.spaces.MultiDiscrete(np.asarray(space.nvec, np.int64))
    return gymnasium.spaces.Box(np.float32(space.low), np.float32(space.high), space.shape, np.float32)


class PhalanxParallelEnv(ParallelEnv):
    """A Phalanx :class:`~phalanx.envs.Environment` behind PettingZoo's ``ParallelEnv`` API.

    Build it with :func:`to_pettingzoo`. Observations are NumPy float32 arrays of the
    group's observation shape; rewards are Python floats.
    """

    def __init__(self, env: Environment, seed: int = 0, render_mode: str | None = None):
        if render_mode is not None and render_mode not in RENDER_MODES:
            raise PhalanxError(
                f"to_pettingzoo: render_mode={render_mode!r} is not supported; expected None or 'rgb_array'."
            )
        self.env = env
        self.render_mode = render_mode
        self.metadata = {"name": env.name, "render_modes": list(RENDER_MODES), "is_parallelizable": True}
        spec = env.spec
        self._names = agent_names(spec)
        self.possible_agents = [a for names in self._names.values() for a in names]
        self._slot = {a: (g, i) for g, names in self._names.items() for i, a in enumerate(names)}
        self.observation_spaces = {}
        self.action_spaces = {}
        for g, names in self._names.items():
            for a in names:  # one object per agent, kept: PettingZoo wants the same object each call
                self.observation_spaces[a] = gymnasium_space(spec.groups[g].observation)
                self.action_spaces[a] = gymnasium_space(spec.groups[g].action)
        self.state_space = gymnasium_space(spec.global_state)
        self._reset_fn, self._step_fn = _jitted(env)
        self._key = jax.random.PRNGKey(seed)
        self.agents: list[str] = []
        self._state: Any = None
        self._global_state: np.ndarray | None = None

    def observation_space(self, agent: str) -> gymnasium.spaces.Space:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> gymnasium.spaces.Space:
        return self.action_spaces[agent]

    # ------------------------------------------------------------------ API
    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        """Start an episode (``seed`` restarts the env's key stream). Returns ``(obs, infos)``."""
        del options  # Phalanx envs take their settings at construction
        if seed is not None:
            self._key = jax.random.PRNGKey(seed)
        self._key, key = jax.random.split(self._key)
        self._state, ts = self._reset_fn(key)
        self.agents = list(self.possible_agents)
        obs, _, _, _, infos = self._unpack(ts, self.agents)
        return obs, infos

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        """Step every live agent; ``actions`` maps each live agent to an action of its space.

        Returns ``(obs, rewards, terminations, truncations, infos)`` for the agents that were
        alive before the step.
        """
        if not self.agents:
            raise PhalanxError("to_pettingzoo env: step() after the episode ended (no agents left); call reset().")
        unknown = [a for a in actions if a not in self._slot]
        if unknown:
            raise PhalanxError(
                f"{self.env.name}: actions for unknown agents {unknown}; agents are {self.possible_agents}."
            )
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise PhalanxError(
                f"{self.env.name}: no action for live agents {missing}; give one per agent in env.agents."
            )
        spec = self.env.spec
        batch = {}
        for g, names in self._names.items():
            space = spec.groups[g].action
            arr = np.zeros((len(names), *space.shape), space.dtype)
            for i, a in enumerate(names):
                if a in self.agents:  # actions for agents that already left are ignored
                    arr[i] = np.asarray(actions[a], space.dtype)
            batch[g] = arr
        self._key, key = jax.random.split(self._key)
        self._state, ts = self._step_fn(key, self._state, batch)
        acted = self.agents
        obs, rewards, terminated, truncated, infos = self._unpack(ts, acted)
        if bool(ts.done):  # every agent terminated, or the time limit
            self.agents = []
        else:
            self.agents = [a for a in acted if not terminated[a]]
        return obs, rewards, terminated, truncated, infos

    def state(self) -> np.ndarray:
        """The global state ``(S,)`` float32 of the last reset or step."""
        if self._global_state is None:
            raise PhalanxError("to_pettingzoo env: state() before reset().")
        return self._global_state

    def render(self) -> np.ndarray | None:
        """With ``render_mode="rgb_array"``: an ``(H, W, 3)`` uint8 frame of the current state."""
        if self.render_mode is None:
            gymnasium.logger.warn("to_pettingzoo env: render() without a render_mode; pass render_mode='rgb_array'.")
            return None
        if self._state is None:
            raise PhalanxError("to_pettingzoo env: render() before reset().")
        from phalanx.envs.viewers import render_frame

        return render_frame(self.env, self._state)

    def close(self) -> None:
        """Nothing to release (no windows, no processes)."""

    # ------------------------------------------------------------------ helpers
    def _unpack(self, ts: TimeStep, agents: list[str]) -> tuple[dict, dict, dict, dict, dict]:
        host = jax.device_get((ts.obs, ts.reward, ts.terminated, ts.truncated, ts.action_mask, ts.global_state))
        obs_g, rew_g, term_g, trunc, mask_g, global_state = host
        self._global_state = np.asarray(global_state, np.float32)
        spec = self.env.spec
        obs, rewards, terminated, truncated, infos = {}, {}, {}, {}, {}
        for a in agents:
            g, i = self._slot[a]
            obs[a] = np.asarray(obs_g[g][i], np.float32)
            rewards[a] = float(rew_g[g][i])
            terminated[a] = bool(term_g[g][i])
            truncated[a] = bool(trunc)
            infos[a] = {}
            if spec.groups[g].has_action_mask:
                infos[a]["action_mask"] = _gym_mask(spec.groups[g].action, np.asarray(mask_g[g][i]))
        return obs, rewards, terminated, truncated, infos


def _gym_mask(space: Space, mask: np.ndarray) -> np.ndarray | tuple[np.ndarray, ...]:
    """Our flat bool mask as Gymnasium's ``sample(mask=...)`` wants it (int8)."""
    mask = mask.astype(np.int8)
    if isinstance(space, MultiDiscrete):
        return tuple(np.split(mask, np.cumsum(space.nvec)[:-1]))
    return mask


def to_pettingzoo(env: Environment, seed: int = 0, render_mode: str | None = None) -> PhalanxParallelEnv:
    """Wrap one Phalanx env as a PettingZoo ``ParallelEnv`` (jitted reset/step inside).

    Args:
        env: any Phalanx env, e.g. ``phalanx.make("tag", num_runners=5)``.
        seed: the first key of the env's PRNG stream (``reset(seed=...)`` restarts it).
        render_mode: ``None`` or ``"rgb_array"`` (``render()`` returns ``(H, W, 3)`` uint8).

    Agent names, bookkeeping, spaces and masks are described in the module docstring.
    """
    if not isinstance(env, Environment):
        raise PhalanxError(
            f"to_pettingzoo: expected a Phalanx Environment (e.g. phalanx.make('tag')), got {type(env).__name__}."
        )
    return PhalanxParallelEnv(env, seed=seed, render_mode=render_mode)
