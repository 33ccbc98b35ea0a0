"""Any PettingZoo env as a host-side batch of envs in Phalanx's layout: ``from_pettingzoo``.

``from_pettingzoo(factory, num_envs=8, num_workers=2)`` runs ``num_envs`` copies of
``factory()`` (a ``ParallelEnv``; an AEC env is converted with PettingZoo's
``aec_to_parallel``, or ``turn_based_aec_to_parallel`` when it is not parallelizable) in
``num_workers`` worker processes, each stepping its share of the envs. Commands go through
pipes; observations, rewards and actions through one shared-memory block, so a step costs
one small message per worker. ``num_workers=0`` steps the envs in this process.

What comes back is a :class:`~phalanx.envs.TimeStep` of NumPy arrays in the Phalanx contract,
with a leading env axis ``E``:

* **Groups** come from the agent names: ``<group>_<i>`` joins group ``<group>`` at agent index
  ``i`` (indices sorted as numbers, so ``agent_10`` follows ``agent_9``); a name without a
  numeric suffix is a group of its own. If agents sharing a prefix have different spaces,
  each becomes its own group (named after the agent). Groups keep the order in which
  ``possible_agents`` first names them. ``env.agent_names[group]`` lists the PettingZoo names
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
* **Auto-reset.** An env whose episode ended (PettingZoo's ``agents`` empty) is reset at
  once: ``obs``/``global_state``/``action_mask`` are the new episode's, ``final_obs``/
  ``final_global_state`` the last of the old one (for bootstrapping), and
  ``episode.completed``/``returns``/``length`` report the finished episode, exactly as
  Phalanx's ``AutoReset`` + ``EpisodeStatistics`` do. ``reset(seed)`` seeds env ``i`` with
  ``seed + i``; later resets continue each env's own random stream (``reset(seed=None)``).

Close the pool (``close()`` or a ``with`` block): workers are told to exit, joined, and
killed only if they do not; the pool also closes when garbage-collected or at exit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import multiprocessing as mp
import pickle
import pkgutil
import re
import traceback
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from phalanx.envs.spaces import Box, Discrete, MultiDiscrete, Space
from phalanx.envs.types import EnvSpec, EpisodeStats, GroupSpec, TimeStep
from phalanx.errors import PhalanxError, did_you_mean

try:
    import gymnasium
    import pettingzoo  # noqa: F401 - checked here so that a missing install fails early and clearly
except ModuleNotFoundError as _err:
    raise PhalanxError(
        f"PettingZoo interop needs pettingzoo and gymnasium ({_err}); install them: "
        'pip install -e ".[pettingzoo]" (or pip install pettingzoo gymnasium)'
    ) from None

PREFIX = "pettingzoo:"
_ALIGN = 64  # bytes; every shared array starts on a cache line


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
class Layout:
    """The shape of a PettingZoo env in Phalanx terms: spec, groups and how to convert."""

    spec: EnvSpec
    io: dict[str, _GroupIO]
    state_mode: str  # "state" (env.state()) or "concat" (observations concatenated)

    @property
    def agent_names(self) -> dict[str, list[str]]:
        """``{group: [PettingZoo agent name, ...]}`` in agent-axis order."""
        return {g: list(io.agents) for g, io in self.io.items()}


def _split_name(agent: str) -> tuple[str, int]:
    m = re.fullmatch(r"(.+)_(\d+)", str(agent))
    return (m.group(1), int(m.group(2))) if m else (str(agent), 0)


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


def infer_layout(env: Any) -> Layout:
    """Groups, spaces and global state of a (reset-able) ParallelEnv; resets it with seed 0."""
    agents = list(env.possible_agents)
    _obs, infos = env.reset(seed=0)
    # Group by name prefix, in order of first appearance; indices sorted numerically.
    by_prefix: dict[str, list[tuple[int, str]]] = {}
    for a in agents:
        prefix, i = _split_name(a)
        by_prefix.setdefault(prefix, []).append((i, a))
    groups: dict[str, list[str]] = {}
    for prefix, members in by_prefix.items():
        names = [a for _, a in sorted(members)]
        kinds = {(_space_key(env.observation_space(a)), _space_key(env.action_space(a))) for a in names}
        if len(kinds) == 1:
            groups[prefix] = names
        else:  # same prefix, different spaces: one group per agent
            groups.update({a: [a] for a in names})
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
    return Layout(EnvSpec(specs, state_box), io, state_mode)


# ---------------------------------------------------------------------------- shared buffers
def _fields(layout: Layout, num_envs: int) -> list[tuple[str, tuple[int, ...], np.dtype]]:
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


def _buffer_size(fields: list) -> int:
    size = 0
    for _, shape, dtype in fields:
        size += -size % _ALIGN + int(np.prod(shape)) * dtype.itemsize
    return size + _ALIGN


def _views(buf: Any, fields: list) -> dict[str, np.ndarray]:
    """NumPy views of every field inside ``buf`` (a shared ``RawArray`` or a bytearray)."""
    raw = np.frombuffer(buf, np.uint8)
    offset = -raw.ctypes.data % _ALIGN
    views = {}
    for name, shape, dtype in fields:
        offset += -offset % _ALIGN
        n = int(np.prod(shape)) * dtype.itemsize
        views[name] = raw[offset : offset + n].view(dtype).reshape(shape)
        offset += n
    return views


# ---------------------------------------------------------------------------- one env
class _Slot:
    """One PettingZoo env writing its row of the batch (runs inside a worker)."""

    def __init__(self, env: Any, layout: Layout, row: int, arrays: dict[str, np.ndarray]):
        self.env, self.layout, self.row, self.a = env, layout, row, arrays
        self.returns = {g: np.zeros(s.num_agents, np.float32) for g, s in layout.spec.groups.items()}
        self.length = 0

    def reset(self, seed: int | None) -> None:
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
        a, r, spec = self.a, self.row, self.layout.spec
        live = list(self.env.agents)
        live_set = set(live)
        actions = {}
        for g, io in self.layout.io.items():
            for i, name in enumerate(io.agents):
                if name in live_set:
                    actions[name] = _to_env_action(spec.groups[g].action, io, a[f"action/{g}"][r, i])
        obs, rewards, terms, truncs, infos = self.env.step(actions)
        done = not self.env.agents
        still = set(self.env.agents)
        episode_truncated = False
        for g, io in self.layout.io.items():
            rew, term = a[f"reward/{g}"][r], a[f"terminated/{g}"][r]
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
        self.length += 1
        self._write_obs("final_obs", obs, infos, live_set, masks=False)
        self._write_state("final_global_state", obs, prefix="final_obs")
        a["truncated"][r], a["completed"][r] = episode_truncated, done
        for g in self.layout.io:
            a[f"returns/{g}"][r] = self.returns[g] if done else 0.0
        a["length"][r] = self.length if done else 0
        if done:
            obs, infos = self.env.reset()
            self._write_obs("obs", obs, infos, set(self.env.agents), masks=True)
            self._write_state("global_state", obs)
            self.returns = {g: np.zeros_like(x) for g, x in self.returns.items()}
            self.length = 0
        else:  # the episode goes on: agents that just left keep only their final_obs
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


# ---------------------------------------------------------------------------- workers
def _worker(conn: Any, factory: Callable[[], Any], layout: Layout, rows: Sequence[int], buf: Any, fields: list) -> None:
    """A worker process: builds its envs, then serves reset/step/close until told to stop."""
    slots: list[_Slot] = []
    row = None
    try:
        arrays = _views(buf, fields)
        for row in rows:
            slots.append(_Slot(as_parallel(factory()), layout, row, arrays))
        row = None
        conn.send(("ok", None))
        while True:
            cmd, arg = conn.recv()
            if cmd == "close":
                break
            for slot in slots:
                row = slot.row
                if cmd == "reset":
                    slot.reset(None if arg is None else arg + slot.row)
                else:
                    slot.step()
            row = None
            conn.send(("ok", None))
    except (EOFError, KeyboardInterrupt, BrokenPipeError):
        return  # the parent went away
    except Exception as err:  # report to the parent, which raises it
        with contextlib.suppress(BrokenPipeError, OSError):
            conn.send(("error", (row, f"{type(err).__name__}: {err}", traceback.format_exc())))
        return
    finally:
        for slot in slots:
            with contextlib.suppress(Exception):
                slot.env.close()


def _shutdown(procs: list, conns: list) -> None:
    """Tell workers to exit, join them, kill the ones that do not (module-level for ``finalize``)."""
    for conn in conns:
        with contextlib.suppress(BrokenPipeError, OSError):
            conn.send(("close", None))
    for proc, conn in zip(procs, conns, strict=True):
        proc.join(timeout=5)
        if proc.is_alive():
            proc.terminate()
            proc.join(timeout=5)
        if proc.is_alive():
            proc.kill()
            proc.join()
        conn.close()


class PettingZooVecEnv:
    """``num_envs`` PettingZoo envs stepped by worker processes, in Phalanx's batched layout.

    Build it with :func:`from_pettingzoo`. ``reset``/``step`` return :class:`TimeStep` with
    NumPy leaves (a copy; the shared buffer is reused). For pipelining, the envs form
    ``num_splits`` equal splits served by disjoint workers: ``step_async(actions, split)``
    starts one split's step and returns at once, ``step_wait(split)`` collects it, so a
    policy can act on one split while the workers step another.

    Attributes:
        spec: the :class:`EnvSpec` (groups, spaces, global state).
        agent_names: ``{group: [PettingZoo agent name, ...]}`` along each group's agent axis.
        num_envs, num_workers, num_splits: sizes.
    """

    def __init__(self, factory: Callable[[], Any], num_envs: int, num_workers: int, num_splits: int = 1,
                 start_method: str | None = None):
        sizes = (("num_envs", num_envs, 1), ("num_workers", num_workers, 0), ("num_splits", num_splits, 1))
        for key, value, low in sizes:
            if not isinstance(value, int) or value < low:
                raise PhalanxError(f"from_pettingzoo: {key}={value!r}; expected an integer >= {low}.")
        if num_envs % num_splits or (num_workers and num_workers % num_splits) or num_workers > num_envs:
            raise PhalanxError(
                f"from_pettingzoo: num_envs={num_envs}, num_workers={num_workers}, num_splits={num_splits}: "
                "num_splits must divide num_envs and num_workers, and num_workers must be <= num_envs."
            )
        self.num_envs, self.num_workers, self.num_splits = num_envs, num_workers, num_splits
        self._closed = True
        probe = as_parallel(_call_factory(factory))
        try:
            self.layout = infer_layout(probe)
        finally:
            probe.close()
        self.spec = self.layout.spec
        self.agent_names = self.layout.agent_names
        self._fields = _fields(self.layout, num_envs)
        per_split = num_envs // num_splits
        self.split_rows = [range(s * per_split, (s + 1) * per_split) for s in range(num_splits)]
        self._procs: list = []
        self._conns: list = []
        self._split_workers: list[list[int]] = [[] for _ in range(num_splits)]
        if num_workers == 0:
            self._buf = bytearray(_buffer_size(self._fields))
            self._arrays = _views(self._buf, self._fields)
            self._slots = [_Slot(as_parallel(_call_factory(factory)), self.layout, r, self._arrays)
                           for r in range(num_envs)]
        else:
            self._start_workers(factory, start_method)
        self._closed = False
        self._pending = [False] * num_splits

    def _start_workers(self, factory: Callable[[], Any], start_method: str | None) -> None:
        try:
            pickle.dumps(factory)
        except Exception as err:
            raise PhalanxError(
                f"from_pettingzoo: the env factory cannot be sent to worker processes ({err}); use a module-level "
                "function or functools.partial of one (not a lambda or local function), or num_workers=0."
            ) from None
        method = start_method or ("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
        ctx = mp.get_context(method)
        if method == "forkserver":
            ctx.set_forkserver_preload([__name__])  # imported once in the server, not once per worker
        self._buf = ctx.RawArray("b", _buffer_size(self._fields))
        self._arrays = _views(self._buf, self._fields)
        per_split = self.num_workers // self.num_splits
        for s, rows in enumerate(self.split_rows):
            for chunk in np.array_split(np.asarray(rows), per_split):
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=_worker, args=(child, factory, self.layout, chunk.tolist(), self._buf,
                                                         self._fields), daemon=True, name="phalanx-pettingzoo")
                proc.start()
                child.close()
                self._split_workers[s].append(len(self._procs))
                self._procs.append(proc)
                self._conns.append(parent)
        self._finalizer = weakref.finalize(self, _shutdown, self._procs, self._conns)
        try:
            self._collect(range(len(self._procs)))
        except BaseException:
            self._finalizer()
            raise

    # ------------------------------------------------------------------ commands
    def _collect(self, workers: Sequence[int]) -> None:
        errors = []
        for w in workers:
            try:
                status, info = self._conns[w].recv()
            except (EOFError, ConnectionResetError, OSError):
                code = self._procs[w].exitcode
                errors.append(f"pettingzoo worker {w} exited unexpectedly (exit code {code})")
                continue
            if status == "error":
                row, message, tb = info
                where = f"env {row}" if row is not None else f"worker {w}"
                errors.append(f"{where}: {message}\n{tb}")
        if errors:
            raise PhalanxError("from_pettingzoo: a PettingZoo env failed; " + "\n".join(errors))

    def _check_open(self) -> None:
        if self._closed:
            raise PhalanxError("from_pettingzoo: the env pool is closed.")

    def reset(self, seed: int | None = 0) -> TimeStep:
        """Reset every env (env ``i`` with ``seed + i``); returns the batched first timestep."""
        self._check_open()
        if any(self._pending):
            raise PhalanxError("from_pettingzoo: reset() while a step_async() is pending; call step_wait() first.")
        if self.num_workers == 0:
            for slot in self._slots:
                slot.reset(None if seed is None else seed + slot.row)
        else:
            for conn in self._conns:
                conn.send(("reset", seed))
            self._collect(range(len(self._procs)))
        return self._timestep(range(self.num_envs))

    def step_async(self, actions: dict[str, np.ndarray], split: int = 0) -> None:
        """Start stepping split ``split``; ``actions[g]`` is ``(E_split, A, ...)`` (``E_split = E / num_splits``)."""
        self._check_open()
        if self._pending[split]:
            raise PhalanxError(f"from_pettingzoo: split {split} already has a step in flight; call step_wait first.")
        rows = self.split_rows[split]
        for g, s in self.spec.groups.items():
            want = (len(rows), s.num_agents, *s.action.shape)
            x = np.asarray(actions[g])
            if x.shape != want:
                raise PhalanxError(f"from_pettingzoo: actions[{g!r}] has shape {x.shape}, expected {want}.")
            self._arrays[f"action/{g}"][rows.start : rows.stop] = x
        self._pending[split] = True
        if self.num_workers == 0:
            for r in rows:
                self._slots[r].step()
        else:
            for w in self._split_workers[split]:
                self._conns[w].send(("step", None))

    def step_wait(self, split: int = 0) -> TimeStep:
        """Wait for split ``split``'s step; its timestep, leaves ``(E_split, ...)``."""
        if not self._pending[split]:
            raise PhalanxError(f"from_pettingzoo: step_wait({split}) without a step_async for that split.")
        self._pending[split] = False
        if self.num_workers:
            self._collect(self._split_workers[split])
        return self._timestep(self.split_rows[split])

    def step(self, actions: dict[str, np.ndarray]) -> TimeStep:
        """Step every env; ``actions[g]`` is ``(E, A, ...)``. Returns the batched timestep."""
        per = self.num_envs // self.num_splits
        for s in range(self.num_splits):
            self.step_async({g: np.asarray(x)[s * per : (s + 1) * per] for g, x in actions.items()}, s)
        parts = [self.step_wait(s) for s in range(self.num_splits)]
        return parts[0] if len(parts) == 1 else concat_timesteps(parts)

    def _timestep(self, rows: range) -> TimeStep:
        a, sl = self._arrays, slice(rows.start, rows.stop)
        groups = self.spec.groups

        def get(name):
            return a[name][sl].copy()

        return TimeStep(
            obs={g: get(f"obs/{g}") for g in groups},
            action_mask={g: get(f"mask/{g}") for g, s in groups.items() if not isinstance(s.action, Box)},
            reward={g: get(f"reward/{g}") for g in groups},
            terminated={g: get(f"terminated/{g}") for g in groups},
            truncated=get("truncated"),
            global_state=get("global_state"),
            final_obs={g: get(f"final_obs/{g}") for g in groups},
            final_global_state=get("final_global_state"),
            episode=EpisodeStats(returns={g: get(f"returns/{g}") for g in groups}, length=get("length"),
                                 completed=get("completed")),
        )

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Stop and join the workers (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self.num_workers:
            self._finalizer()
        else:
            for slot in self._slots:
                slot.env.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has stopped the worker processes."""
        return self._closed

    @property
    def worker_pids(self) -> list[int]:
        """Process ids of the workers (empty with ``num_workers=0``)."""
        return [p.pid for p in self._procs]

    def __enter__(self) -> PettingZooVecEnv:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        groups = {g: s.num_agents for g, s in self.spec.groups.items()}
        return f"PettingZooVecEnv({groups}, num_envs={self.num_envs}, num_workers={self.num_workers})"


def concat_timesteps(parts: Sequence[TimeStep]) -> TimeStep:
    """Join host timesteps of consecutive env ranges along the env axis."""
    import jax

    return jax.tree.map(lambda *xs: np.concatenate(xs, axis=0), *parts)


def _call_factory(factory: Callable[[], Any]) -> Any:
    try:
        return factory()
    except TypeError as err:  # most often a wrong setting name
        raise PhalanxError(f"from_pettingzoo: building the env failed: {err}") from None


def from_pettingzoo(factory: Callable[[], Any], num_envs: int = 8, num_workers: int = 2, num_splits: int = 1,
                    start_method: str | None = None) -> PettingZooVecEnv:
    """Wrap a PettingZoo env factory as a batch of ``num_envs`` envs in worker processes.

    Args:
        factory: called with no arguments in each worker, returns a ``ParallelEnv`` (or an
            ``AECEnv``, converted). Must be picklable unless ``num_workers=0``: a module-level
            function, ``functools.partial`` of one, or :func:`pettingzoo_factory`'s result.
        num_envs: envs in the batch (the leading axis ``E`` of every array).
        num_workers: worker processes (each steps ``num_envs / num_workers`` envs); 0 steps
            in this process.
        num_splits: equal groups of envs (and workers) for ``step_async``/``step_wait``.
        start_method: multiprocessing start method (default ``forkserver`` where available,
            else ``spawn``; ``fork`` is unsafe once JAX has started threads).

    Returns:
        A :class:`PettingZooVecEnv`; close it (or use ``with``) to stop the workers.
    """
    return PettingZooVecEnv(factory, num_envs, num_workers, num_splits, start_method)
