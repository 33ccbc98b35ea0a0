"""``phalanx train ... record=PATH``: every env step of the training rollout written to a vault.

**Inside the compiled program.** :func:`with_recording` swaps a learner's vectorised env for a
:class:`RecordingVecEnv`, whose state holds, next to the env's, what the envs showed before acting and
a buffer of this update's rows ``(num_steps, E, ...)`` (:func:`phalanx.runtime.vault.transition_row`,
OG-MARL's layout). Every learner steps its envs through ``trainer.env``, so every online learner records
without a line of its own. :func:`record_chunk` is the compiled chunk of a recording run: it attaches an
empty buffer, scans the updates, hands each update's rows out as the scan's output and detaches the
buffer again, so the rows leave the device once per chunk (no per-step host copies or callbacks) and
checkpoints never hold them.

**On the host, between chunks.** :class:`TrainRecorder` cuts each env's rows into whole episodes and
appends them, env after env, to the vault (an episode that began in an earlier chunk waits on the host
until it ends); the last chunk also writes the episodes still running, marked truncated there.

**Kill and resume.** A vault reads back whole up to its last write (:mod:`phalanx.runtime.vault`).
Each chunk stores, with the run's progress, the vault's rows and episodes so far and, in
``<run>/record/pending-<chunk>.npz``, the episodes still waiting. Resuming from checkpoint ``k`` cuts the
vault back to what it held at ``k``, takes the waiting episodes back and records the chunks after ``k``
again, so a killed and resumed run leaves the same vault, row for row, as one that ran through.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import threading
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from phalanx.errors import PhalanxError
from phalanx.runtime.vault import VaultWriter, episode_ends, episode_returns, group_layout, structure, transition_row

#: The vault uid (quality label) of a training run's experience when ``record_quality`` is not given.
DEFAULT_QUALITY = "Replay"
#: A training run's vault compresses with LZ4 (Blosc, byte-shuffled, fast level): several times faster to
#: write than Flashbax's default gzip for a similar size, which keeps recording off the training's critical path.
COMPRESSION = {"id": "blosc", "cname": "lz4", "clevel": 1, "shuffle": 1}
#: Time steps per storage chunk of a training run's vault: a write recompresses at most one partial chunk
#: per leaf, not TensorStore's default chunks of hundreds of thousands of rows.
CHUNK_ROWS = 8192


@struct.dataclass
class RecState:
    """:class:`RecordingVecEnv`'s state: the env's, what the envs show now, this update's rows."""

    env_state: Any
    before: dict  # {"obs": {group: (E, A, ...)}, "masks": {group: (E, A, n)}, "state": (E, S)}
    rows: Any  # {key: (num_steps, E, ...)} while a recording chunk runs; None in checkpoints
    count: jax.Array  # () int32 rows written this update


class RecordingVecEnv:
    """A learner's vectorised env that also writes each step's row into its state (see the module docstring)."""

    def __init__(self, venv: Any, capacity: int, env: Any):
        self.venv = venv
        self.capacity = capacity
        self.groups = tuple(env.spec.groups)
        self.like = structure(env)

    def __getattr__(self, name: str) -> Any:
        if name == "venv":
            raise AttributeError(name)
        return getattr(self.venv, name)

    @staticmethod
    def _before(ts: Any) -> dict:
        return {"obs": ts.obs, "masks": ts.action_mask, "state": ts.global_state}

    def empty_rows(self) -> dict:
        """A zero buffer of one update's rows ``{key: (capacity, E, ...)}``."""
        return jax.tree.map(lambda x: jnp.zeros((self.capacity, self.venv.num_envs, *x.shape), x.dtype), self.like)

    def reset(self, key: jax.Array, params: Any = None) -> tuple[RecState, Any]:
        """Reset every env; nothing is recorded."""
        env_state, ts = self.venv.reset(key, params)
        return RecState(env_state, self._before(ts), None, jnp.int32(0)), ts

    def step(self, key: jax.Array, state: RecState, actions: dict, params: Any = None) -> tuple[RecState, Any]:
        """Step every env and, inside a recording chunk (``state.rows`` attached), write the row."""
        env_state, ts = self.venv.step(key, state.env_state, actions, params)
        rows = state.rows
        if rows is not None:
            b = state.before
            row = transition_row(self.groups, b["obs"], b["masks"], b["state"], actions, ts, self.like)
            rows = jax.tree.map(lambda buf, r: jax.lax.dynamic_update_index_in_dim(buf, r, state.count, 0),
                                rows, row)
        return RecState(env_state, self._before(ts), rows, state.count + 1), ts


def recording(trainer: Any) -> bool:
    """Whether ``trainer`` steps a :class:`RecordingVecEnv`."""
    return isinstance(getattr(trainer, "env", None), RecordingVecEnv)


def with_recording(trainer: Any, env: Any) -> Any:
    """``trainer`` stepping its envs through a :class:`RecordingVecEnv` (one line if it cannot)."""
    group_layout(env)  # groups that cannot share one agent axis: one line
    if not dataclasses.is_dataclass(trainer) or not hasattr(trainer, "env") or not hasattr(trainer.config, "num_steps"):
        raise PhalanxError(f"record=: the {type(trainer).__name__} learner has no rollout of num_steps env steps "
                           "per update to record.")
    return dataclasses.replace(trainer, env=RecordingVecEnv(trainer.env, trainer.config.num_steps, env))


def _is_rec(x: Any) -> bool:
    return isinstance(x, RecState)


def record_chunk(trainer: Any, length: int):
    """``chunk(state) -> (state, metrics, (rows, counts))``: ``length`` updates, each update's rows
    ``{key: (length, num_steps, E, ...)}`` and env steps ``(length,)`` as the scan's output."""
    empty = trainer.env.empty_rows

    def chunk(state):
        state = jax.tree.map(lambda r: r.replace(rows=empty(), count=jnp.int32(0)) if _is_rec(r) else r, state,
                             is_leaf=_is_rec)

        def one(s, _):
            s, metrics = trainer.update(s)
            found = [r for r in jax.tree.leaves(s, is_leaf=_is_rec) if _is_rec(r)]
            s = jax.tree.map(lambda r: r.replace(count=jnp.int32(0)) if _is_rec(r) else r, s, is_leaf=_is_rec)
            return s, (metrics, (found[0].rows, found[0].count))

        state, (metrics, rows) = jax.lax.scan(one, state, None, length=length)
        return jax.tree.map(lambda r: r.replace(rows=None) if _is_rec(r) else r, state, is_leaf=_is_rec), metrics, rows

    return chunk


class _BackgroundWriter:
    """Vault writes on one thread, in order, while the training goes on.

    Queued blocks are joined and written once ``min_rows`` rows wait (or on :meth:`wait`): each vault
    write has a large fixed cost (every leaf's partial last chunk, the store's index, the metadata), so a
    few large writes cost far less than one per chunk. Beyond ``2 × min_rows`` waiting rows the training
    waits. An error in a write is raised by the next
    :meth:`put` or :meth:`wait`. At exit what waits is written (an interrupted run's checkpoint counts it).
    """

    def __init__(self, writer: VaultWriter, min_rows: int = 1 << 18):
        self.writer = writer
        self.min_rows = min_rows
        self.cond = threading.Condition()
        self.blocks: list[tuple[dict, list[float]]] = []
        self.waiting = 0  # rows in self.blocks
        self.flushing = self.busy = self.closed = False
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="vault-writer", daemon=True)
        self.thread.start()
        atexit.register(self.close)

    def _run(self) -> None:
        while True:
            with self.cond:
                while not (self.blocks and (self.flushing or self.closed or self.waiting >= self.min_rows)):
                    if self.closed:
                        return
                    self.cond.wait()
                blocks, self.blocks, self.waiting, self.busy = self.blocks, [], 0, True
                self.cond.notify_all()
            try:
                if self.error is None:
                    rows = jax.tree.map(lambda *x: np.concatenate(x), *[b for b, _ in blocks])
                    self.writer.write(rows, [r for _, rs in blocks for r in rs])
            except BaseException as err:  # raised in the training thread by put() or wait()
                self.error = err
            with self.cond:
                self.busy = False
                self.cond.notify_all()

    def _check(self) -> None:
        if self.error is not None:
            raise self.error

    def put(self, rows: dict, returns: list[float]) -> None:
        """Queue ``rows`` (whole episodes) and their episodes' returns."""
        self._check()
        with self.cond:
            while self.waiting >= 2 * self.min_rows and not self.closed:
                self.cond.wait()
            self.blocks.append((rows, returns))
            self.waiting += int(jax.tree.leaves(rows)[0].shape[0])
            self.cond.notify_all()

    def wait(self) -> None:
        """Return once every queued block is in the vault."""
        with self.cond:
            self.flushing = True
            self.cond.notify_all()
            while (self.blocks or self.busy) and self.thread.is_alive():
                self.cond.wait()
            self.flushing = False
        self._check()

    def close(self) -> None:
        """Write what is queued and stop the thread."""
        atexit.unregister(self.close)
        if self.thread.is_alive():
            with self.cond:
                self.closed = True
                self.cond.notify_all()
            self.thread.join()


def _atomic_savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class TrainRecorder:
    """The host side of ``record=``: whole episodes to the vault between chunks (see the module docstring)."""

    def __init__(self, writer: VaultWriter, pending_dir: Path, num_seeds: int, capacity: int):
        self.writer = writer
        self.pending_dir = pending_dir
        self.num_seeds = num_seeds
        self.capacity = capacity
        self.treedef = jax.tree.structure(writer.structure)
        self.pending: dict[int, list[np.ndarray]] = {}  # stream -> leaves (t, ...) of its running episode
        self.rows = writer.rows  # rows in the vault once the queued writes land
        self.episodes = len(writer.episode_returns)
        self.background = _BackgroundWriter(writer)

    @classmethod
    def open(cls, run: Any, config: Any, env: Any, trainer: Any, progress: dict[str, Any]) -> TrainRecorder:
        """A new vault at ``record/<quality>``, or on resume the run's vault cut back to ``progress``."""
        path = record_path(config)
        pending_dir = run.path / "record"
        capacity = trainer.env.capacity
        if "record_rows" in progress:
            writer = VaultWriter.reopen(path, env, progress["record_rows"], progress["record_episodes"])
            self = cls(writer, pending_dir, config.num_seeds, capacity)
            self._load_pending(progress["chunks_done"])
            return self
        if run.resumed and progress.get("chunks_done"):
            raise PhalanxError(f"record={config.record}: the run's checkpoint recorded nothing; resume it without "
                               "changing what it records.")
        layout = group_layout(env)
        metadata = {"env": config.env, "env_settings": dict(config.env_settings), "policy": str(run.path.resolve()),
                    "quality": path.name, "source": "phalanx train", "algo": config.algo, "seed": config.seed,
                    "num_seeds": config.num_seeds, "groups": {g: list(v) for g, v in layout.items()},
                    "obs_shapes": {g: list(s.observation.shape) for g, s in env.spec.groups.items()},
                    "action": repr(next(iter(env.spec.groups.values())).action)}
        pending_dir.mkdir(parents=True, exist_ok=True)
        return cls(VaultWriter(path, env, metadata, COMPRESSION, CHUNK_ROWS), pending_dir, config.num_seeds, capacity)

    def _load_pending(self, chunk: int) -> None:
        file = self.pending_dir / f"pending-{chunk}.npz"
        if chunk == 0:
            return
        if not file.is_file():
            raise PhalanxError(f"resume: {file} is missing; the recorded dataset cannot continue from checkpoint "
                               f"{chunk}.")
        n = self.treedef.num_leaves
        with np.load(file) as z:
            if "streams" not in z.files:  # one array per stream and leaf (files of earlier versions)
                streams = sorted({int(k.split("/")[0]) for k in z.files})
                self.pending = {e: [z[f"{e}/{i}"] for i in range(n)] for e in streams}
                return
            bounds = np.cumsum(np.concatenate([[0], z["lengths"]]))
            leaves = [z[str(i)] for i in range(n)]
            self.pending = {int(e): [x[a:b] for x in leaves]
                            for e, a, b in zip(z["streams"], bounds[:-1], bounds[1:], strict=True)}

    def add(self, rows: Any, counts: np.ndarray) -> None:
        """Write the whole episodes in a chunk's rows (``record_chunk``'s output, host arrays)."""
        counts = np.asarray(counts)
        if (counts != self.capacity).any():
            raise PhalanxError(f"record=: the learner stepped its envs {int(counts.flat[0])} times in an update, "
                               f"not num_steps={self.capacity}; it cannot be recorded.")
        leaves = jax.tree.leaves(rows)
        if self.num_seeds > 1:  # (S, n, T, E, ...) -> (n, T, S, E, ...): streams are (seed, env)
            leaves = [np.moveaxis(x, 0, 2) for x in leaves]
        leaves = [np.asarray(x).reshape(x.shape[0] * x.shape[1], -1, *x.shape[4 if self.num_seeds > 1 else 3:])
                  for x in leaves]
        ends = episode_ends(jax.tree.unflatten(self.treedef, leaves))  # (t, streams)
        t = ends.shape[0]
        # Where each stream's last whole episode ends in this chunk (0: none; its rows all wait). Pending rows
        # never hold an episode end, so the chunk's own ends decide.
        cuts = np.where(ends.any(0), t - np.argmax(ends[::-1], axis=0), 0)
        sizes = [int(c) + (len(self.pending[e][0]) if c and e in self.pending else 0) for e, c in enumerate(cuts)]
        # The whole episodes, stream after stream, copied once into one block (no per-stream concatenation).
        block = [np.empty((sum(sizes), *x.shape[2:]), x.dtype) for x in leaves]
        pos = 0
        for e, c in enumerate(cuts):
            c = int(c)
            if c:
                for out, p in zip(block, self.pending.pop(e, ()), strict=False):
                    out[pos:pos + len(p)] = p
                pos += sizes[e] - c
                for out, x in zip(block, leaves, strict=True):
                    out[pos:pos + c] = x[:c, e]
                pos += c
            if c < t:  # copies: a view would keep the whole chunk's rows alive
                tail = [x[c:, e] for x in leaves]
                if e in self.pending:
                    tail = [np.concatenate([p, x]) for p, x in zip(self.pending[e], tail, strict=True)]
                self.pending[e] = [np.array(x) for x in tail]
        if pos:
            self._put(jax.tree.unflatten(self.treedef, block))

    def _put(self, block: Any) -> None:
        returns = [float(r) for r in episode_returns(block)]
        self.background.put(block, returns)
        self.rows += int(jax.tree.leaves(block)[0].shape[0])
        self.episodes += len(returns)

    def _write(self, parts: list[list[np.ndarray]]) -> None:
        if parts:
            self._put(jax.tree.unflatten(self.treedef, [np.concatenate(x) for x in zip(*parts, strict=True)]))

    def wait(self) -> None:
        """Return once every whole episode so far is in the vault (before a checkpoint counts them)."""
        self.background.wait()

    def finish(self) -> None:
        """Write the episodes still running, marked truncated at their last step (the run ends there)."""
        parts = []
        for e in sorted(self.pending):
            stream = [x.copy() for x in self.pending.pop(e)]
            exp = jax.tree.unflatten(self.treedef, stream)
            exp["truncations"][-1] = 1.0
            parts.append(jax.tree.leaves(exp))
        self._write(parts)
        self.background.wait()
        self.background.close()

    def mark(self, chunk: int, progress: dict[str, Any], keep: list[int]) -> None:
        """After chunk ``chunk``: store what resuming there needs (``progress`` and the pending file) and
        delete the pending files of chunks no checkpoint in ``keep`` holds."""
        streams = sorted(self.pending)
        # One array per leaf (the streams' rows one after another), not one per stream and leaf: a few
        # entries to zip per chunk.
        arrays = {"streams": np.asarray(streams, np.int64),
                  "lengths": np.asarray([len(self.pending[e][0]) for e in streams], np.int64)}
        for i, like in enumerate(jax.tree.leaves(self.writer.structure)):
            parts = [self.pending[e][i] for e in streams]
            arrays[str(i)] = np.concatenate(parts) if parts else np.zeros((0, *like.shape), like.dtype)
        _atomic_savez(self.pending_dir / f"pending-{chunk}.npz", arrays)
        progress["record_rows"] = self.rows
        progress["record_episodes"] = self.episodes
        for f in self.pending_dir.glob("pending-*.npz"):
            step = int(f.stem.split("-")[1])
            if step != chunk and step not in keep:
                f.unlink(missing_ok=True)


def record_path(config: Any) -> Path:
    """The vault (uid) directory ``config.record`` names: ``<record>/<record_quality or Replay>``."""
    return Path(config.record) / (config.record_quality or DEFAULT_QUALITY)
