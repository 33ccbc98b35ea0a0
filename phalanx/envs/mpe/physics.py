"""The particle world shared by every MPE scenario: entity arrays, actions, physics.

A world holds ``E = N + L`` entities, the ``N`` agents first (in ``mpe2``'s agent
order, which is also Phalanx's group order), then the ``L`` landmarks. Static
properties (size, mass, ...) live in :class:`Entities` (NumPy, fixed at construction);
everything that changes lives in :class:`MPEState`.

One world step follows ``mpe2._mpe_utils.core.World.step``:

1. action force ``u = sensitivity × (move direction)`` on every movable agent;
2. a soft contact force between every pair of colliding entities
   ``contact_force × (p_a − p_b)/|p_a − p_b| × k·log(1 + exp(−(|p_a − p_b| − r_a − r_b)/k))``
   with ``k = contact_margin``;
3. for movable entities: ``p += v·dt``, then ``v = v·(1 − damping) + F/m·dt``, then the
   speed is clipped to ``max_speed`` where the entity has one;
4. the communication state of every agent becomes its comm action (zeros if silent).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

#: ``mpe2``'s discrete moves: no-op, left (−x), right (+x), down (−y), up (+y).
MOVES = np.array([[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1]], np.float32)  # (5, 2)
NUM_MOVES = 5
DEFAULT_SENSITIVITY = 5.0  # mpe2 uses this when an agent sets no ``accel``


@dataclasses.dataclass(frozen=True)
class Entities:
    """Static properties of the ``E`` entities of a world (agents first, then landmarks).

    Attributes:
        size: ``(E,)`` radius.
        mass: ``(E,)`` mass.
        movable: ``(E,)`` bool, integrated by the physics.
        collide: ``(E,)`` bool, takes part in contact forces.
        accel: ``(E,)`` action sensitivity (5.0 where mpe2 sets no ``accel``).
        max_speed: ``(E,)`` speed limit (``inf`` where mpe2 sets none).
        num_agents: ``N``, the first ``N`` entities are agents.
    """

    size: np.ndarray
    mass: np.ndarray
    movable: np.ndarray
    collide: np.ndarray
    accel: np.ndarray
    max_speed: np.ndarray
    num_agents: int

    @property
    def num_entities(self) -> int:
        """Agents and landmarks together: ``E``, the leading axis of every field."""
        return int(self.size.shape[0])

    @property
    def num_landmarks(self) -> int:
        """Landmarks, stored after the agents along the entity axis."""
        return self.num_entities - self.num_agents


def make_entities(agents: list[dict], landmarks: list[dict]) -> Entities:
    """Build :class:`Entities` from per-entity keyword dicts (mpe2's defaults fill the rest).

    Agents default to movable and colliding, landmarks to immovable and colliding;
    every entity defaults to size 0.05, mass 1, sensitivity 5 and no speed limit.
    """

    def col(key: str, default_agent, default_landmark, dtype) -> np.ndarray:
        values = [e.get(key, default_agent) for e in agents]
        values += [e.get(key, default_landmark) for e in landmarks]
        return np.asarray(values, dtype)

    return Entities(
        size=col("size", 0.05, 0.05, np.float32),
        mass=col("mass", 1.0, 1.0, np.float32),
        movable=col("movable", True, False, np.bool_),
        collide=col("collide", True, True, np.bool_),
        accel=col("accel", DEFAULT_SENSITIVITY, DEFAULT_SENSITIVITY, np.float32),
        max_speed=col("max_speed", np.inf, np.inf, np.float32),
        num_agents=len(agents),
    )


@struct.dataclass
class MPEParams:
    """Numeric settings shared by all MPE scenarios (mpe2's values); ``vmap``-able."""

    max_cycles: int = 25  # steps until the episode is truncated
    dt: float = 0.1  # integration step
    damping: float = 0.25  # fraction of velocity lost per step
    contact_force: float = 100.0  # stiffness of the soft contact
    contact_margin: float = 1e-3  # softness of the contact (the ``k`` above)


@struct.dataclass
class MPEState:
    """The state of one particle world.

    Entities are ordered agents first (group order: e.g. simple_tag's adversaries, then
    its good agents), then landmarks; ``E = N + L``.
    """

    pos: jax.Array  # (E, 2) float32 positions p_pos
    vel: jax.Array  # (E, 2) float32 velocities p_vel (always zero for landmarks)
    comm: jax.Array  # (N, dim_c) float32 communication state c (zero for silent agents)
    goal: jax.Array  # () int32 goal landmark index (simple_adversary, speaker_listener; else 0)
    t: jax.Array  # () int32 world steps taken this episode


# Discrete moves as arithmetic (no gather): u_d = [a == PLUS_d] − [a == MINUS_d] for d = x, y.
_PLUS = np.array([2, 4], np.int32)
_MINUS = np.array([1, 3], np.int32)


def move_force(actions: jax.Array, continuous: bool, accel: np.ndarray) -> jax.Array:
    """Action force ``(A, 2)`` of movable agents.

    Args:
        actions: ``(A,)`` int moves in ``0..4`` (the rows of :data:`MOVES`), or ``(A, 5)``
            floats in ``[0, 1]`` where the force is ``(a[2] − a[1], a[4] − a[3])`` (clipped
            to ``[0, 1]`` first, as mpe2's ``ClipOutOfBoundsWrapper`` does).
        continuous: which of the two forms ``actions`` has.
        accel: ``(A,)`` sensitivity of each agent.
    """
    if continuous:
        a = jnp.clip(actions, 0.0, 1.0)
        u = a[:, 2::2] - a[:, 1:4:2]  # (a2 − a1, a4 − a3), strided slices
    else:
        a = actions[:, None]
        u = (a == _PLUS).astype(jnp.float32) - (a == _MINUS).astype(jnp.float32)
    return u * jnp.asarray(accel)[:, None]


def comm_message(actions: jax.Array, continuous: bool, dim_c: int) -> jax.Array:
    """Communication state ``(A, dim_c)``: one-hot of a discrete word, or the clipped vector."""
    if continuous:
        return jnp.clip(actions, 0.0, 1.0).astype(jnp.float32)
    return jax.nn.one_hot(actions, dim_c, dtype=jnp.float32)


def pair_distances(pos_a: jax.Array, pos_b: jax.Array) -> jax.Array:
    """Euclidean distances ``(A, B)`` between every row of ``pos_a (A, 2)`` and ``pos_b (B, 2)``."""
    return jnp.sqrt(jnp.sum(jnp.square(pos_a[:, None, :] - pos_b[None, :, :]), axis=-1))


Rows = slice | np.ndarray  # a static set of entity rows: a slice when contiguous


def static_rows(mask: np.ndarray) -> Rows:
    """The rows where ``mask`` is True: a ``slice`` when they are contiguous (no gather)."""
    idx = np.flatnonzero(mask)
    if idx.size == 0 or np.all(np.diff(idx) == 1):
        return slice(int(idx[0]), int(idx[-1]) + 1) if idx.size else slice(0, 0)
    return idx.astype(np.int32)


def _put_rows(x: jax.Array, rows: Rows, values: jax.Array) -> jax.Array:
    """``x`` with ``x[rows]`` replaced by ``values`` (a concatenate when ``rows`` is a slice)."""
    if not isinstance(rows, slice):
        return x.at[rows].set(values)
    parts = [x[: rows.start], values, x[rows.stop :]]
    return jnp.concatenate([p for p in parts if p.shape[0]], axis=0)


def contact_forces(ent: Entities, params: MPEParams, pos: jax.Array, rows: Rows | None = None) -> jax.Array:
    """Total contact force on the entities ``rows`` (all when None) from all others they collide with.

    Only entities that collide are looked at as partners, so the work is
    ``len(rows) × (number that collide)``. Coincident pairs (distance exactly 0, where mpe2
    divides by zero) get no force. Returns ``(len(rows), 2)``.
    """
    ids = np.arange(ent.num_entities)
    rows = slice(0, ent.num_entities) if rows is None else rows
    cols = static_rows(ent.collide)
    pair = ent.collide[ids[rows]][:, None] & (ids[rows][:, None] != ids[cols][None, :])  # static
    pos_rows = pos[rows]
    if not pair.any():
        return jnp.zeros_like(pos_rows)
    delta = pos_rows[:, None, :] - pos[cols][None, :, :]  # (R, C, 2): p_a - p_b
    dist = jnp.sqrt(jnp.sum(jnp.square(delta), axis=-1))  # (R, C)
    touching = jnp.asarray(pair) & (dist > 0)
    safe = jnp.where(touching, dist, 1.0)
    dist_min = jnp.asarray(ent.size[rows][:, None] + ent.size[cols][None, :])
    k = params.contact_margin
    penetration = jnp.logaddexp(0.0, -(safe - dist_min) / k) * k  # (R, C)
    scale = jnp.where(touching, params.contact_force * penetration / safe, 0.0)
    return jnp.sum(delta * scale[..., None], axis=1)


def integrate(
    ent: Entities, params: MPEParams, pos: jax.Array, vel: jax.Array, agent_force: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """One physics step. ``agent_force`` is ``(N, 2)``; returns new ``(pos, vel)``, each ``(E, 2)``.

    Only the movable entities are computed; the others keep their position and velocity.
    """
    rows = static_rows(ent.movable)
    if isinstance(rows, slice) and rows.start == rows.stop:
        return pos, vel
    padded = jnp.pad(agent_force, ((0, ent.num_landmarks), (0, 0)))  # (E, 2): landmarks get none
    force = padded[rows] + contact_forces(ent, params, pos, rows)
    p, v = pos[rows], vel[rows]
    new_pos = p + v * params.dt
    new_vel = v * (1.0 - params.damping) + force * jnp.asarray(params.dt / ent.mass[rows])[:, None]
    max_speed = ent.max_speed[rows]
    if np.isfinite(max_speed).any():  # mpe2 clips only entities that have a max speed
        speed = jnp.sqrt(jnp.sum(jnp.square(new_vel), axis=-1, keepdims=True))  # (M, 1)
        too_fast = speed > max_speed[:, None]
        new_vel = jnp.where(too_fast, new_vel / jnp.where(too_fast, speed, 1.0) * max_speed[:, None], new_vel)
    return _put_rows(pos, rows, new_pos), _put_rows(vel, rows, new_vel)


def select_row(x: jax.Array, i: jax.Array) -> jax.Array:
    """``x[i]`` for a traced index ``i`` into ``x (K, D)``, as a masked sum (no gather under ``vmap``)."""
    hit = jnp.arange(x.shape[0]) == i
    return jnp.sum(jnp.where(hit[:, None], x, 0.0), axis=0)


def drop_diagonal(x: jax.Array) -> jax.Array:
    """``(n, n, ...) -> (n, n-1, ...)``: row ``i`` keeps ``x[i, j]`` for ``j != i`` (ascending).

    Slices and reshapes only (no gather): the flattened ``n·n`` grid without its first
    element splits into ``n−1`` rows of ``n+1`` whose last element is the next diagonal.
    """
    n, rest = x.shape[0], x.shape[2:]
    if n == 1:
        return x[:, :0]
    flat = x.reshape(n * n, *rest)[1:]
    return flat.reshape(n - 1, n + 1, *rest)[:, :n].reshape(n, n - 1, *rest)


def relative(points: jax.Array, origin: jax.Array) -> jax.Array:
    """``points (A, K, 2) − origin (A, 2)``, flattened to ``(A, 2K)``."""
    return (points - origin[:, None, :]).reshape(origin.shape[0], -1)
