"""Offline datasets on disk: Flashbax Vaults in OG-MARL's layout, written between compiled chunks.

A dataset is one vault, ``<dir>/<name>.vlt/<uid>`` (OG-MARL's ``Vault(vault_name="<name>.vlt",
vault_uid="Good", rel_dir="<dir>")``; the uid is the quality label: ``Good``, ``Medium``, ``Poor``,
``Random``...). Its experience is OG-MARL's dict, every leaf with a batch axis of 1 and one time axis on
which the episodes follow each other:

======================  =====================  =========  ==============================================
key                     shape                  dtype      meaning at row ``t``
======================  =====================  =========  ==============================================
``observations``        ``(1, T, N, O)``       float32    what each agent saw before acting (flattened)
``actions``             ``(1, T, N[, d])``     int32 /    the action taken (discrete: an index;
                                               float32    continuous: the env action)
``rewards``             ``(1, T, N)``          float32    reward of that step
``terminals``           ``(1, T, N)``          float32    the agent reached a terminal state
``truncations``         ``(1, T, N)``          float32    the episode was cut by the time limit here
``infos.legals``        ``(1, T, N, A)``       float32    legal actions at ``observations`` (discrete)
``infos.state``         ``(1, T, S)``          float32    the env's global state before acting
======================  =====================  =========  ==============================================

An episode ends at a row where ``terminals`` or ``truncations`` is 1 for every agent (OG-MARL's
``analyse_vault.calculate_returns`` reads episodes the same way); the next row is the next episode's first.

**Groups.** OG-MARL has one agent axis. A Phalanx env's groups are laid side by side on it in
``env.spec.groups`` order (metadata ``groups: {name: [start, stop]}``) when every group has the same
observation shape and action space; an env whose groups differ is refused with one line (one vault per
group is not written yet).

**Metadata** (``metadata.json``, next to Flashbax's own keys): ``phalanx: {env, env_settings, policy,
quality, epsilon, groups, obs_shapes, action, episodes, episode_returns}``, rewritten after every write.

**Crash safety.** Flashbax writes every leaf of a chunk and only then the vault index, so a writer killed
at any moment leaves a vault that reads back whole up to its last completed :meth:`VaultWriter.write`.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import jax
import numpy as np

from phalanx.algos.offline.data import OfflineData
from phalanx.envs.environment import Environment
from phalanx.envs.spaces import Box
from phalanx.errors import PhalanxError
from phalanx.runtime.atomic import write_json

#: The experience keys OG-MARL's loaders read (``og_marl/replay_buffers.py``, ``vault_utils/analyse_vault.py``).
OG_MARL_KEYS = ("observations", "actions", "rewards", "terminals", "truncations", "infos")
METADATA = "metadata.json"


def group_layout(env: Environment) -> dict[str, tuple[int, int]]:
    """``{group: (start, stop)}`` on the vault's agent axis; one line if the groups cannot share it."""
    groups = env.spec.groups
    first = next(iter(groups.values()))
    for g, s in groups.items():
        if s.observation.shape != first.observation.shape or repr(s.action) != repr(first.action):
            raise PhalanxError(f"env {env.name}: group {g!r} has observation {s.observation.shape} and action "
                               f"{s.action}, unlike the first group ({first.observation.shape}, {first.action}); "
                               "a vault has one agent axis, so only envs whose groups agree can be recorded.")
    layout, start = {}, 0
    for g, s in groups.items():
        layout[g] = (start, start + s.num_agents)
        start += s.num_agents
    return layout


def structure(env: Environment) -> dict[str, Any]:
    """One row of the experience (no batch or time axis): zeros of each field's shape and dtype."""
    layout = group_layout(env)
    spec = next(iter(env.spec.groups.values()))
    n = max(stop for _, stop in layout.values())
    obs = int(np.prod(spec.observation.shape))
    action = spec.action
    if isinstance(action, Box):
        act = np.zeros((n, *action.shape), np.float32)
    else:
        act = np.zeros((n, *action.shape), np.int32)
    infos = {"state": np.zeros(env.spec.global_state.shape, np.float32)}
    if not isinstance(action, Box):  # discrete and multi-discrete groups carry legal-action masks
        infos["legals"] = np.zeros((n, action.mask_size), np.float32)
    return {"observations": np.zeros((n, obs), np.float32), "actions": act,
            "rewards": np.zeros((n,), np.float32), "terminals": np.zeros((n,), np.float32),
            "truncations": np.zeros((n,), np.float32), "infos": infos}


def transition_row(groups: tuple[str, ...], obs: dict, masks: dict, global_state: jax.Array, actions: dict,
                   nts: Any, like: dict[str, Any]) -> dict[str, Any]:
    """One row of the experience for a batch of envs (every leaf ``(E, ...)``), groups side by side.

    ``obs``/``masks``/``global_state``: what the envs showed before acting; ``actions``: what each group
    did; ``nts``: the timestep the step gave (rewards, terminals, truncations; under auto-reset its
    observations already belong to the next episode, which is why the row takes them from before).
    ``like``: :func:`structure`'s row, whose dtypes the leaves take (a discrete env without action masks
    gets all-legal rows). Pure and jittable: ``phalanx data record`` and ``train record=`` both build rows here.
    """
    import jax.numpy as jnp

    cat = lambda xs: jnp.concatenate(xs, axis=1)  # noqa: E731
    all_term = jnp.stack([nts.terminated[g].all(-1) for g in groups]).all(0)
    terminals = cat([nts.terminated[g] for g in groups]).astype(jnp.float32)
    cut = (nts.truncated & ~all_term).astype(jnp.float32)
    infos = {"state": global_state.astype(jnp.float32)}
    if "legals" in like["infos"]:
        legals = [masks[g] if g in masks else jnp.ones((*obs[g].shape[:2], like["infos"]["legals"].shape[-1]))
                  for g in groups]
        infos["legals"] = cat(legals).astype(jnp.float32)
    row = {"observations": cat([obs[g].reshape(*obs[g].shape[:2], -1) for g in groups]),
           "actions": cat([actions[g] for g in groups]),
           "rewards": cat([nts.reward[g] for g in groups]),
           "terminals": terminals, "truncations": jnp.broadcast_to(cut[:, None], terminals.shape),
           "infos": infos}
    return jax.tree.map(lambda x, s: x.astype(s.dtype), row, like)


def _split(path: str | Path) -> tuple[str, str, str]:
    """``<dir>/<name>/<uid>`` → Flashbax's ``(rel_dir, vault_name, vault_uid)`` (``rel_dir`` absolute)."""
    p = Path(path).resolve()
    return str(p.parent.parent), p.parent.name, p.name


def _chunked_vault(chunk_rows: int | None) -> Any:
    """Flashbax's ``Vault``, or one whose new leaves are stored in chunks of ``chunk_rows`` time steps.

    Flashbax leaves the storage chunk shape to TensorStore, which makes chunks of a few MiB (hundreds
    of thousands of rows for a small leaf); every write rewrites the partial chunk it ends in, so an
    append of a few ten thousand rows recompresses far more than it adds. Small chunks along time bound
    that. The chunk shape is in each leaf's zarr metadata, so any reader (OG-MARL's too) opens it as is.
    """
    from flashbax.vault import Vault

    if chunk_rows is None:
        return Vault

    class ChunkedVault(Vault):
        def _init_leaf(self, name: str, shape: tuple[int, ...], dtype: str, create_ds: bool = False) -> Any:
            if not create_ds:
                return super()._init_leaf(name, shape, dtype, create_ds)
            import tensorstore as ts
            from flashbax.vault.vault import COMPRESSION_DEFAULT, TIME_AXIS_MAX_LENGTH

            spec = self._get_base_spec(name)
            spec["metadata"] = {"compressor": self._compression or COMPRESSION_DEFAULT,
                                "chunks": [shape[0], chunk_rows, *shape[2:]]}
            return ts.open(spec, shape=(shape[0], TIME_AXIS_MAX_LENGTH, *shape[2:]), dtype=dtype,
                           create=True).result()

    return ChunkedVault


@contextlib.contextmanager
def _quiet():
    """Flashbax prints on open; commands keep their own output."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


class VaultWriter:
    """Appends chunks of rows ``{key: (T, ...)}`` to a new vault at ``path`` (``<dir>/<name>.vlt/<uid>``)."""

    def __init__(self, path: str | Path, env: Environment, metadata: dict[str, Any],
                 compression: dict[str, Any] | None = None, chunk_rows: int | None = None):
        """Create the vault; one line if ``path`` exists already (a dataset is never overwritten).

        ``compression``: the leaves' zarr compressor (None: Flashbax's gzip; any reader, OG-MARL's too,
        takes it from the vault's own metadata). ``chunk_rows``: time steps per storage chunk (None:
        TensorStore's choice; see :func:`_chunked_vault`).
        """
        self.path = Path(path).resolve()
        if self.path.exists():
            raise PhalanxError(f"out={path}: a dataset exists there already; choose another out= or quality=.")
        self.structure = structure(env)
        rel_dir, name, uid = _split(self.path)
        self.metadata = dict(metadata)
        self.episode_returns: list[float] = []
        row = jax.tree.map(lambda x: x[None, None], self.structure)  # (batch 1, time 1, ...)
        with _quiet():
            self._vault = _chunked_vault(chunk_rows)(name, experience_structure=row, rel_dir=rel_dir,
                                                     vault_uid=uid, compression=compression,
                                                     metadata={"phalanx": self.metadata})

    @classmethod
    def reopen(cls, path: str | Path, env: Environment, rows: int, episodes: int) -> VaultWriter:
        """The existing vault at ``path`` cut back to its first ``rows`` rows and ``episodes`` episodes, to
        append from there (a resumed run writes again what it wrote after its checkpoint)."""
        from flashbax.vault import Vault

        self = cls.__new__(cls)
        self.path = Path(path).resolve()
        self.structure = structure(env)
        meta = json.loads((self.path / METADATA).read_text())["phalanx"]
        self.episode_returns = list(meta.get("episode_returns", []))[:episodes]
        self.metadata = {k: v for k, v in meta.items() if k not in ("episodes", "episode_returns")}
        rel_dir, name, uid = _split(self.path)
        with _quiet():
            self._vault = Vault(name, rel_dir=rel_dir, vault_uid=uid)
        if self._vault.vault_index < rows:
            raise PhalanxError(f"record={path}: the dataset holds {self._vault.vault_index} rows, fewer than the "
                               f"{rows} the checkpoint recorded; it was changed since (record to a new path).")
        # Rows past the index are invisible to readers and overwritten by the next write.
        self._vault.vault_index = rows
        self._vault._vault_index_ds.write(rows).result()
        self._update_metadata()
        return self

    @property
    def rows(self) -> int:
        """Rows (time steps) in the vault."""
        return int(self._vault.vault_index)

    def write(self, rows: dict[str, Any], episode_returns: list[float] = ()) -> int:
        """Append ``rows`` (leaves ``(T, ...)``) and record ``episode_returns`` of the episodes they end."""
        from flashbax.buffers.trajectory_buffer import TrajectoryBufferState

        rows = jax.tree.map(lambda x, s: np.asarray(x, s.dtype)[None], rows, self.structure)
        t = int(jax.tree.leaves(rows)[0].shape[1])
        if t == 0:
            return 0
        state = TrajectoryBufferState(experience=rows, current_index=t, is_full=False)
        written = self._vault.write(state, source_interval=(0, t))
        self.episode_returns += [float(r) for r in episode_returns]
        self._update_metadata()
        return written

    def _update_metadata(self) -> None:
        meta_path = self.path / METADATA
        meta = json.loads(meta_path.read_text())
        meta["phalanx"] = {**self.metadata, "episodes": len(self.episode_returns),
                           "episode_returns": self.episode_returns}
        write_json(meta_path, meta)


def resolve_path(path: str | Path, what: str = "data") -> Path:
    """The vault (uid) directory ``path`` names: itself, or the one uid inside a ``.vlt`` directory."""
    p = Path(path)
    if not p.exists():
        raise PhalanxError(f"{what}={path}: no such dataset (record one with phalanx data record ... out=DIR).")
    if (p / METADATA).is_file():
        return p
    uids = sorted(d.name for d in p.iterdir() if (d / METADATA).is_file()) if p.is_dir() else []
    if len(uids) == 1:
        return p / uids[0]
    if uids:
        raise PhalanxError(f"{what}={path}: holds several datasets ({', '.join(uids)}); name one, e.g. "
                           f"{what}={p / uids[0]}.")
    raise PhalanxError(f"{what}={path}: not a vault (no {METADATA}); give <dir>/<name>.vlt/<uid>.")


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The vault's ``metadata.json`` (Flashbax's keys and ``phalanx``)."""
    return json.loads((resolve_path(path) / METADATA).read_text())


def read_vault(path: str | Path, what: str = "data") -> tuple[dict[str, Any], dict[str, Any]]:
    """``(experience without the batch axis {key: (T, ...)} as numpy, metadata)``; one line if empty."""
    from flashbax.vault import Vault

    p = resolve_path(path, what)
    meta = json.loads((p / METADATA).read_text())
    rel_dir, name, uid = _split(p)
    with _quiet():
        vault = Vault(name, rel_dir=rel_dir, vault_uid=uid)
        if vault.vault_index == 0:
            raise PhalanxError(f"{what}={path}: the dataset is empty (no steps written).")
        experience = vault.read().experience
    return jax.tree.map(lambda x: np.asarray(x)[0], experience), meta


def episode_ends(exp: dict[str, Any]) -> np.ndarray:
    """``(T,)`` bool: the row ends an episode (every agent terminal, or every agent truncated)."""
    return (exp["terminals"] > 0).all(-1) | (exp["truncations"] > 0).all(-1)


def episode_returns(exp: dict[str, Any], agents: slice = slice(None)) -> np.ndarray:
    """Each complete episode's return (summed rewards, averaged over ``agents``), in order."""
    ends = np.flatnonzero(episode_ends(exp))
    per_step = np.asarray(exp["rewards"])[:, agents].mean(-1)
    sums = np.cumsum(per_step)
    totals = sums[ends]
    return np.diff(np.concatenate([[0.0], totals]))


def load_dataset(path: str | Path, env: Environment, env_name: str) -> OfflineData:
    """The vault at ``path`` as an :class:`OfflineData` for ``env``; one line on any mismatch."""
    exp, meta = read_vault(path)
    info = meta.get("phalanx", {})
    if info.get("env") not in (None, env_name):
        raise PhalanxError(f"data={path}: recorded on env {info['env']!r}, not {env_name!r}.")
    want = structure(env)
    missing = [k for k in OG_MARL_KEYS if k not in exp]
    if missing:
        raise PhalanxError(f"data={path}: not an OG-MARL dataset (missing {', '.join(missing)}).")
    for key, like in (("observations", want["observations"]), ("actions", want["actions"]),
                      ("rewards", want["rewards"]), ("state", want["infos"]["state"])):
        got = exp["infos"].get("state") if key == "state" else exp[key]
        if got is None or got.shape[1:] != like.shape:
            shape = None if got is None else got.shape[1:]
            raise PhalanxError(f"data={path}: {key} per step {shape} does not fit env {env_name} "
                               f"(expects {like.shape}).")
    legals = exp["infos"].get("legals")
    if "legals" in want["infos"]:
        like = want["infos"]["legals"].shape
        if legals is None:  # a dataset without masks: every action legal
            legals = np.ones((exp["actions"].shape[0], *like), np.float32)
        elif legals.shape[1:] != like:
            raise PhalanxError(f"data={path}: legal actions per step {legals.shape[1:]} do not fit env {env_name} "
                               f"(expects {like}: {like[-1]} actions).")
        if exp["actions"].size and int(exp["actions"].max()) >= like[-1]:
            raise PhalanxError(f"data={path}: actions up to {int(exp['actions'].max())}, but env {env_name} has "
                               f"{like[-1]}.")
    layout = group_layout(env)
    return OfflineData.build(exp["observations"], exp["actions"], exp["rewards"], exp["terminals"],
                             exp["truncations"], legals if "legals" in want["infos"] else None,
                             exp["infos"]["state"], layout)


def make_trainer(config: Any, env: Environment) -> Any:
    """The run's learner: ``make_train(config.train, env)``, given its dataset when ``config.data`` is set.

    Offline learners (their config class has ``OFFLINE = True``) need ``data=``; the others refuse it.
    """
    from phalanx.algos.registry import get_algorithm

    algorithm = get_algorithm(config.algo)
    data = getattr(config, "data", None)
    offline = getattr(algorithm.config_cls, "OFFLINE", False)
    if offline and not data:
        raise PhalanxError(f"algo={config.algo} learns from a dataset: give data=PATH "
                           "(record one with phalanx data record env=... out=PATH).")
    if data and not offline:
        raise PhalanxError(f"data={data}: algo={config.algo} learns online; data= is for offline learners "
                           "(algo=bc, iql_cql, qmix_cql, iddpg_bc).")
    record = getattr(config, "record", None)
    if record and offline:
        raise PhalanxError(f"record={record}: algo={config.algo} learns from a dataset and records nothing; "
                           "record= is for online learners (or record a policy with phalanx data record).")
    if not offline:
        return algorithm.make_train(config.train, env)
    return algorithm.make_train(config.train, env, dataset=load_dataset(data, env, config.env))
