"""Any PettingZoo env as a host-side batch of envs in Phalanx's layout: ``from_pettingzoo``.

``from_pettingzoo(factory, num_envs=8, num_workers=2)`` runs ``num_envs`` copies of
``factory()`` (a ``ParallelEnv``; an AEC env is converted with PettingZoo's
``aec_to_parallel``, or ``turn_based_aec_to_parallel`` when it is not parallelizable) in
``num_workers`` worker processes, each stepping its share of the envs. Commands go through
pipes; observations, rewards and actions through one shared-memory block, so a step costs
one small message per worker. ``num_workers=0`` steps the envs in this process.

What comes back is a :class:`~phalanx.envs.TimeStep` of NumPy arrays in the Phalanx contract,
with a leading env axis ``E``; how names, spaces, masks, departing agents and auto-reset map
is :mod:`phalanx.interop.pettingzoo_in`'s. ``reset(seed)`` seeds env ``i`` with ``seed + i``;
later resets continue each env's own random stream (``reset(seed=None)``). The pool matches
:class:`phalanx.interop.host.HostVecEnv`, the interface learners on host envs type against.

Close the pool (``close()`` or a ``with`` block): workers are told to exit, joined, and
killed only if they do not; the pool also closes when garbage-collected or at exit.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import pickle
import traceback
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from phalanx.envs.spaces import Box
from phalanx.envs.types import EpisodeStats, TimeStep
from phalanx.errors import PhalanxError
from phalanx.interop.pettingzoo_in import EnvSlot, PettingZooLayout, as_parallel, batch_fields, infer_layout

_ALIGN = 64  # bytes; every shared array starts on a cache line


# ---------------------------------------------------------------------------- shared buffers
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


# ---------------------------------------------------------------------------- workers
def _worker(conn: Any, factory: Callable[[], Any], layout: PettingZooLayout, rows: Sequence[int], buf: Any,
            fields: list) -> None:
    """A worker process: builds its envs, then serves reset/step/close until told to stop."""
    slots: list[EnvSlot] = []
    row = None
    try:
        arrays = _views(buf, fields)
        for row in rows:
            slots.append(EnvSlot(as_parallel(factory()), layout, row, arrays))
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
        self._fields = batch_fields(self.layout, num_envs)
        per_split = num_envs // num_splits
        self.split_rows = [range(s * per_split, (s + 1) * per_split) for s in range(num_splits)]
        self._procs: list = []
        self._conns: list = []
        self._split_workers: list[list[int]] = [[] for _ in range(num_splits)]
        if num_workers == 0:
            self._buf = bytearray(_buffer_size(self._fields))
            self._arrays = _views(self._buf, self._fields)
            self._slots = [EnvSlot(as_parallel(_call_factory(factory)), self.layout, r, self._arrays)
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


def spec_env(name: str, settings: dict[str, Any]) -> Any:
    """A :class:`~phalanx.algos.common.host.SpecEnv` of ``env=pettingzoo:<module>`` (one env built to read its
    spaces, then closed): what a learner is built from where the envs live elsewhere (remote actors, a
    trained policy loaded back)."""
    from phalanx.algos.common.host import SpecEnv
    from phalanx.interop.pettingzoo_in import pettingzoo_factory

    probe = as_parallel(_call_factory(pettingzoo_factory(name, **settings)))
    try:
        return SpecEnv(infer_layout(probe).spec, name)
    finally:
        probe.close()
