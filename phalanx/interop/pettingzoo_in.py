"""PettingZoo envs in Phalanx's terms: agent names → groups, Gymnasium spaces → specs, one env → one row.

Pure and process-free; :mod:`phalanx.runtime.host_envs` runs many of these envs in worker
processes (``phalanx.from_pettingzoo``), and ``env=pettingzoo:<module>`` names one
(:func:`pettingzoo_factory`).

* **Groups** come from the agent names: ``<group>_<i>`` joins group ``<group>`` at agent index
  ``i`` (indices sorted as numbers, so ``agent_10`` follows ``agent_9``); a name without a
  numeric suffix is a group of its own. If agents sharing a prefix have different spaces,
  each becomes its own group (named after the agent). Groups keep the order in which
  ``possible_agents`` first names them. ``layout.agent_names[group]`` lists the PettingZoo names
  along the agent axis.
* **Observations** ``obs[g]`` are ``(E, A, *shape)`` float32: a ``Box`` as is; the
  ``"observation"`` entry of a ``Dict`` observation (PettingZoo's classic games); a
  ``Discrete`` one-hot; a ``MultiBinary`` as 0/1.
* **Action masks** ``action_mask[g]`` ``(E, A, n)`` bool for discrete groups, from
  ``obs["action_mask"]`` or ``infos[agent]["action_mask"]`` (all True when the env gives none).
* **Global state** ``(E, S)``: ``env.state()`` when the env implements it, else every agent's
  flattened observation concatenated in agent order.
* **Agents that leave** mid-episode (or have not joined yet) are padded: zero observation,
  zero reward, ``terminated`` True. An agent truncated alone while the episode goes on is
  reported as terminated too (the contract's ``truncated`` is per episode); when the
  episode ends with agents truncated, ``truncated`` is True for that env.
* **Auto-reset** (:class:`EnvSlot`). An env whose episode ended (PettingZoo's ``agents`` empty)
  is reset at once: ``obs``/``global_state``/``action_mask`` are the new episode's, ``final_obs``/
  ``final_global_state`` the last of the old one (for bootstrapping), and
  ``episode.completed``/``returns``/``length`` report the finished episode, exactly as
  Phalanx's ``AutoReset`` + ``EpisodeStatistics`` do.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import pkgutil
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from phalanx.envs.spaces import Box, Discrete, MultiDiscrete, Space
from phalanx.envs.types import EnvSpec, GroupSpec
from phalanx.errors import PhalanxError, did_you_mean
from phalanx.interop.groups import group_agents

try:
    import gymnasium
    import pettingzoo  # noqa: F401 - checked here so that a missing install fails early and clearly
except ModuleNotFoundError as _err:
    raise PhalanxError(
        f"PettingZoo interop needs pettingzoo and gymnasium ({_err}); install them: "
        'pip install -e ".[pettingzoo]" (or pip install pettingzoo gymnasium)'
    ) from None

PREFIX = "pettingzoo:"


# ---------------------------------------------------------------------------- factories
def as_parallel(env: Any) -> Any:
    """``env`` as a ``ParallelEnv``: AEC envs are converted, parallel ones returned as they are."""
    from pettingzoo import AECEnv, ParallelEnv
    from pettingzoo.utils.conversions import aec_to_parallel, turn_based_aec_to_parallel

    if isinstance(env, AECEnv):
        parallelizable = getattr(env, "metadata", {}).get("is_parallelizable", False)
        return aec_to_parallel(env) if parallelizable else turn_based_aec_to_parallel(env)
    if isinstance(env, ParallelEnv) or hasattr(env, "possible_agents"):
        return env
    raise PhalanxError(
        f"from_pettingzoo: the factory returned {type(env).__name__}; expected a PettingZoo ParallelEnv or AECEnv."
    )


def _build_from_module(module: str, settings: dict[str, Any]) -> Any:
    mod = importlib.import_module(module)
    if hasattr(mod, "parallel_env"):
        return mod.parallel_env(**settings)
    return mod.env(**settings)


def is_pettingzoo_name(name: str) -> bool:
    """Whether an env name means a PettingZoo env (``pettingzoo:<module>``)."""
    return isinstance(name, str) and name.startswith(PREFIX)


def pettingzoo_factory(name: str, **settings: Any) -> Callable[[], Any]:
    """A picklable factory for ``pettingzoo:<module>`` (e.g. ``pettingzoo:mpe2.simple_spread_v3``).

    The module is imported here (so a wrong name fails now, with suggestions); the factory
    calls its ``parallel_env(**settings)`` (or ``env(**settings)`` when it has only that).
    """
    module = name[len(PREFIX):] if is_pettingzoo_name(name) else name
    usage = "expected env=pettingzoo:<module>, e.g. pettingzoo:mpe2.simple_spread_v3"
    if not re.fullmatch(r"[A-Za-z_][\w.]*", module or ""):
        raise PhalanxError(f"env={name!r}: not a module path; {usage}.")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as err:
        parent = module.rpartition(".")[0]
        hint = ""
        if parent and err.name == module:
            try:
                path = importlib.import_module(parent).__path__
                siblings = [f"{parent}.{m.name}" for m in pkgutil.iter_modules(path)]
                hint = did_you_mean(module, siblings)
            except (ImportError, AttributeError):
                pass
        raise PhalanxError(f"env={name!r}: cannot import {module!r} ({err}).{hint} {usage}.") from None
    if not (hasattr(mod, "parallel_env") or hasattr(mod, "env")):
        raise PhalanxError(f"env={name!r}: module {module!r} has no parallel_env() or env(); {usage}.")
    return functools.partial(_build_from_module, module, dict(settings))


# ---------------------------------------------------------------------------- layout
@dataclasses.dataclass(frozen=True)
class _GroupIO:
    """How one group's PettingZoo data maps to arrays (picklable: it travels to workers)."""

    agents: tuple[str, ...]
    obs_kind: str  # "box" | "dict" (obs["observation"]) | "onehot" | "binary"
    obs_shape: tuple[int, ...]
    action_start: Any  # Discrete/MultiDiscrete start offsets (0 for Box)
    action_low: Any  # Box action bounds (None for discrete), for per-dimension clipping
    action_high: Any


@dataclasses.dataclass(frozen=True)
class PettingZooLayout:
    """The shape of a PettingZoo env in Phalanx terms: spec, groups and how to convert."""

    spec: EnvSpec
    io: dict[str, _GroupIO]
    state_mode: str  # "state" (env.state()) or "concat" (observations concatenated)

    @property
    def agent_names(self) -> dict[str, list[str]]:
        """``{group: [PettingZoo agent name, ...]}`` in agent-axis order."""
        return {g: list(io.agents) for g, io in self.io.items()}


def _space_key(space: gymnasium.spaces.Space) -> str:
    return repr(space)


def _obs_io(agent: str, space: gymnasium.spaces.Space) -> tuple[str, Box]:
    from gymnasium import spaces as gs

    kind = "box"
    if isinstance(space, gs.Dict) and "observation" in space.spaces:
        kind, space = "dict", space.spaces["observation"]
    if isinstance(space, gs.Box):
        low, high = float(np.min(space.low)), float(np.max(space.high))
        return kind, Box(low, high, tuple(int(d) for d in space.shape))
    if isinstance(space, gs.Discrete):
        return ("onehot" if kind == "box" else "dict_onehot"), Box(0.0, 1.0, (int(space.n),))
    if isinstance(space, gs.MultiBinary):
        return ("binary" if kind == "box" else "dict"), Box(0.0, 1.0, tuple(int(d) for d in np.atleast_1d(space.shape)))
    raise PhalanxError(
        f"from_pettingzoo: agent {agent!r} has observation space {space}; supported: Box, Discrete, MultiBinary, "
        "or a Dict with an 'observation' entry of those."
    )


def _action_io(agent: str, space: gymnasium.spaces.Space) -> tuple[Space, Any, Any, Any]:
    from gymnasium import spaces as gs

    if isinstance(space, gs.Discrete):
        return Discrete(int(space.n)), int(space.start), None, None
    if isinstance(space, gs.MultiDiscrete) and np.ndim(space.nvec) == 1:
        return MultiDiscrete(tuple(int(n) for n in space.nvec)), np.asarray(space.start, np.int64), None, None
    if isinstance(space, gs.Box):
        low, high = np.asarray(space.low, np.float32), np.asarray(space.high, np.float32)
        return Box(float(low.min()), float(high.max()), tuple(space.shape)), 0, low, high
    raise PhalanxError(
        f"from_pettingzoo: agent {agent!r} has action space {space}; supported: Discrete, MultiDiscrete (1-D), Box."
    )


def infer_layout(env: Any) -> PettingZooLayout:
    """Groups, spaces and global state of a (reset-able) ParallelEnv; resets it with seed 0."""
    agents = list(env.possible_agents)
    _obs, infos = env.reset(seed=0)
    groups = group_agents(agents, lambda a: (_space_key(env.observation_space(a)), _space_key(env.action_space(a))))
    io, specs = {}, {}
    for g, names in groups.items():
        a0 = names[0]
        kind, obs_box = _obs_io(a0, env.observation_space(a0))
        action, start, low, high = _action_io(a0, env.action_space(a0))
        masked = kind.startswith("dict") and isinstance(env.observation_space(a0), gymnasium.spaces.Dict) and (
            "action_mask" in env.observation_space(a0).spaces
        )
        masked = masked or any(isinstance(infos.get(a), dict) and "action_mask" in infos[a] for a in names)
        io[g] = _GroupIO(tuple(names), kind, obs_box.shape, start, low, high)
        specs[g] = GroupSpec(len(names), obs_box, action, has_action_mask=bool(masked) and not isinstance(action, Box))
    state_mode, state_box = "concat", None
    try:
        s = np.asarray(env.state(), np.float32)
        space = getattr(env, "state_space", None)
        low = float(np.min(space.low)) if isinstance(space, gymnasium.spaces.Box) else -np.inf
        high = float(np.max(space.high)) if isinstance(space, gymnasium.spaces.Box) else np.inf
        state_mode, state_box = "state", Box(low, high, (int(s.size),))
    except (NotImplementedError, AttributeError):
        pass
    if state_box is None:
        size = sum(int(np.prod(s.observation.shape)) * s.num_agents for s in specs.values())
        low = min(s.observation.low for s in specs.values())
        high = max(s.observation.high for s in specs.values())
        state_box = Box(low, high, (size,))
    return PettingZooLayout(EnvSpec(specs, state_box), io, state_mode)


# ---------------------------------------------------------------------------- one batch, one env per row
def batch_fields(layout: PettingZooLayout, num_envs: int) -> list[tuple[str, tuple[int, ...], np.dtype]]:
    """``(name, shape, dtype)`` of every array a batch of ``num_envs`` envs reads and writes.

    ``obs/<g>``, ``final_obs/<g>``, ``reward/<g>``, ``terminated/<g>``, ``returns/<g>``, ``action/<g>``,
    ``mask/<g>`` (discrete groups) and ``global_state``, ``final_global_state``, ``truncated``,
    ``completed``, ``length``, each with the env axis ``E`` first; :class:`EnvSlot` fills one row.
    """
    E, S = num_envs, layout.spec.global_state.shape[0]
    out = []
    for g, s in layout.spec.groups.items():
        A = s.num_agents
        out += [(f"obs/{g}", (E, A, *s.observation.shape), np.float32),
                (f"final_obs/{g}", (E, A, *s.observation.shape), np.float32),
                (f"reward/{g}", (E, A), np.float32), (f"terminated/{g}", (E, A), np.bool_),
                (f"returns/{g}", (E, A), np.float32),
                (f"action/{g}", (E, A, *s.action.shape), np.dtype(s.action.dtype))]
        if not isinstance(s.action, Box):
            out.append((f"mask/{g}", (E, A, s.action.mask_size), np.bool_))
    out += [("global_state", (E, S), np.float32), ("final_global_state", (E, S), np.float32),
            ("truncated", (E,), np.bool_), ("completed", (E,), np.bool_), ("length", (E,), np.int32)]
    return [(n, shape, np.dtype(d)) for n, shape, d in out]


class EnvSlot:
    """One PettingZoo env writing its row ``row`` of the batch arrays (:func:`batch_fields`).

    ``step`` reads the row's actions, steps the env and writes observations, rewards, masks and
    episode statistics, resetting the env when its episode ends (see the module docstring).
    """

    def __init__(self, env: Any, layout: PettingZooLayout, row: int, arrays: dict[str, np.ndarray]):
        self.env, self.layout, self.row, self.a = env, layout, row, arrays
        self.returns = {g: np.zeros(s.num_agents, np.float32) for g, s in layout.spec.groups.items()}
        self.length = 0
        # Per group, looked up once (step runs per env step): (group, io, action space, then this row's
        # actions, rewards, terminated, returns, obs and final_obs arrays).
        self._rows = [(g, io, layout.spec.groups[g].action, arrays[f"action/{g}"][row], arrays[f"reward/{g}"][row],
                       arrays[f"terminated/{g}"][row], arrays[f"returns/{g}"][row], arrays[f"obs/{g}"][row],
                       arrays[f"final_obs/{g}"][row]) for g, io in layout.io.items()]

    def reset(self, seed: int | None) -> None:
        """Reset the env (with ``seed``, or continuing its own stream when None) and write the row."""
        obs, infos = self.env.reset(seed=seed)
        self._write_obs("obs", obs, infos, set(self.env.agents), masks=True)
        self._write_state("global_state", obs)
        self.returns = {g: np.zeros_like(r) for g, r in self.returns.items()}
        self.length = 0
        a, r = self.a, self.row
        for g in self.layout.io:
            a[f"final_obs/{g}"][r] = a[f"obs/{g}"][r]
            a[f"reward/{g}"][r] = 0.0
            a[f"returns/{g}"][r] = 0.0
            a[f"terminated/{g}"][r] = [name not in self.env.agents for name in self.layout.io[g].agents]
        a["final_global_state"][r] = a["global_state"][r]
        a["truncated"][r] = a["completed"][r] = False
        a["length"][r] = 0

    def step(self) -> None:
        """Step the env with the row's actions and write the outcome (auto-resetting on an episode's end)."""
        a, r = self.a, self.row
        live_set = set(self.env.agents)
        actions = {}
        for _, io, space, act, *_ in self._rows:
            for i, name in enumerate(io.agents):
                if name in live_set:
                    actions[name] = _to_env_action(space, io, act[i])
        obs, rewards, terms, truncs, infos = self.env.step(actions)
        done = not self.env.agents
        still = set(self.env.agents)
        episode_truncated = False
        for g, io, _, _, rew, term, ret, _, _ in self._rows:
            for i, name in enumerate(io.agents):
                rew[i] = float(rewards.get(name, 0.0))
                t, tr = bool(terms.get(name, False)), bool(truncs.get(name, False))
                if name not in live_set:
                    term[i] = True  # left earlier (or not in the game yet): padding
                elif done:
                    term[i] = t
                    episode_truncated |= tr and not t
                else:  # left alone mid-episode, for whatever reason: no bootstrapping
                    term[i] = t or tr or name not in still
            self.returns[g] += rew
            ret[:] = self.returns[g] if done else 0.0
        self.length += 1
        self._write_obs("final_obs", obs, infos, live_set, masks=False)
        self._write_state("final_global_state", obs, prefix="final_obs")
        a["truncated"][r], a["completed"][r] = episode_truncated, done
        a["length"][r] = self.length if done else 0
        if done:
            obs, infos = self.env.reset()
            self._write_obs("obs", obs, infos, set(self.env.agents), masks=True)
            self._write_state("global_state", obs)
            self.returns = {g: np.zeros_like(x) for g, x in self.returns.items()}
            self.length = 0
        else:  # the episode goes on: agents that just left keep only their final_obs
            if still == live_set:  # the same observations as final_obs: copy them rather than convert again
                for *_, ob, final in self._rows:
                    ob[:] = final
                self._write_masks(obs, infos, still)
            else:
                self._write_obs("obs", obs, infos, still, masks=True)
            if self.layout.state_mode == "state":
                a["global_state"][r] = a["final_global_state"][r]
            else:
                self._write_state("global_state", obs)

    def _write_obs(self, field: str, obs: dict, infos: dict, present: set, masks: bool) -> None:
        a, r = self.a, self.row
        for g, io in self.layout.io.items():
            out = a[f"{field}/{g}"][r]
            for i, name in enumerate(io.agents):
                o = obs.get(name) if name in present else None
                out[i] = 0.0 if o is None else _to_obs(io, o)
        if masks:
            self._write_masks(obs, infos, present)

    def _write_masks(self, obs: dict, infos: dict, present: set) -> None:
        """Legal actions of the current observation; all True where the env gives none."""
        a, r, spec = self.a, self.row, self.layout.spec
        for g, io in self.layout.io.items():
            mask = a.get(f"mask/{g}")
            if mask is None:
                continue
            for i, name in enumerate(io.agents):
                m = _find_mask(obs.get(name), infos.get(name)) if name in present else None
                mask[r, i] = True if m is None else _flat_mask(spec.groups[g].action, m)

    def _write_state(self, field: str, obs: dict, prefix: str = "obs") -> None:
        a, r = self.a, self.row
        if self.layout.state_mode == "state":
            a[field][r] = np.asarray(self.env.state(), np.float32).reshape(-1)
        else:
            a[field][r] = np.concatenate([a[f"{prefix}/{g}"][r].reshape(-1) for g in self.layout.io])


def _to_obs(io: _GroupIO, o: Any) -> np.ndarray:
    if io.obs_kind.startswith("dict"):
        o = o["observation"]
    if io.obs_kind.endswith("onehot"):
        return np.eye(io.obs_shape[0], dtype=np.float32)[int(o)]
    return np.asarray(o, np.float32).reshape(io.obs_shape)


def _find_mask(obs: Any, info: Any) -> Any:
    if isinstance(obs, dict) and "action_mask" in obs:
        return obs["action_mask"]
    if isinstance(info, dict) and "action_mask" in info:
        return info["action_mask"]
    return None


def _flat_mask(space: Space, m: Any) -> np.ndarray:
    if isinstance(m, tuple | list) and isinstance(space, MultiDiscrete):
        m = np.concatenate([np.asarray(x).reshape(-1) for x in m])
    return np.asarray(m).reshape(-1).astype(bool)


def _to_env_action(space: Space, io: _GroupIO, x: np.ndarray) -> Any:
    if isinstance(space, Discrete):
        return int(x) + io.action_start
    if isinstance(space, MultiDiscrete):
        return np.asarray(x, np.int64) + io.action_start
    return np.clip(np.asarray(x, np.float32), io.action_low, io.action_high)
