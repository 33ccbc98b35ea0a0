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
        return int(self.size.shape[0])

    @property
    def num_landmarks(self) -> int:
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


def move_force(actions: jax.Array, continuous: bool, accel: np.ndarray) -> jax.Array:
    """Action force ``(A, 2)`` of movable agents.

    Args:
        actions: ``(A,)`` int moves in ``0..4``, or ``(A, 5)`` floats in ``[0, 1]`` where
            the force is ``(a[2] − a[1], a[4] − a[3])`` (clipped to ``[0, 1]`` first, as
            mpe2's ``ClipOutOfBoundsWrapper`` does).
        continuous: which of the two forms ``actions`` has.
        accel: ``(A,)`` sensitivity of each agent.
    """
    if continuous:
        a = jnp.clip(actions, 0.0, 1.0)
        u = jnp.stack([a[:, 2] - a[:, 1], a[:, 4] - a[:, 3]], axis=-1)
    else:
        u = jnp.asarray(MOVES)[actions]
    return u * jnp.asarray(accel)[:, None]


def comm_message(actions: jax.Array, continuous: bool, dim_c: int) -> jax.Array:
    """Communication state ``(A, dim_c)``: one-hot of a discrete word, or the clipped vector."""
    if continuous:
        return jnp.clip(actions, 0.0, 1.0).astype(jnp.float32)
    return jax.nn.one_hot(actions, dim_c, dtype=jnp.float32)


def pair_distances(pos_a: jax.Array, pos_b: jax.Array) -> jax.Array:
    """Euclidean distances ``(A, B)`` between every row of ``pos_a (A, 2)`` and ``pos_b (B, 2)``."""
    return jnp.sqrt(jnp.sum(jnp.square(pos_a[:, None, :] - pos_b[None, :, :]), axis=-1))


def contact_forces(ent: Entities, params: MPEParams, pos: jax.Array) -> jax.Array:
    """Total contact force ``(E, 2)`` on each entity from all others it collides with.

    Coincident pairs (distance exactly 0, where mpe2 divides by zero) get no force.
    """
    e = ent.num_entities
    delta = pos[:, None, :] - pos[None, :, :]  # (E, E, 2): p_a - p_b
    pair = ent.collide[:, None] & ent.collide[None, :] & ~np.eye(e, dtype=bool)  # static (E, E)
    dist = jnp.sqrt(jnp.sum(jnp.square(delta), axis=-1))  # (E, E)
    touching = jnp.asarray(pair) & (dist > 0)
    safe = jnp.where(touching, dist, 1.0)
    dist_min = jnp.asarray(ent.size[:, None] + ent.size[None, :])
    k = params.contact_margin
    penetration = jnp.logaddexp(0.0, -(safe - dist_min) / k) * k  # (E, E)
    force = params.contact_force * delta / safe[..., None] * penetration[..., None]
    return jnp.sum(jnp.where(touching[..., None], force, 0.0), axis=1)


def integrate(
    ent: Entities, params: MPEParams, pos: jax.Array, vel: jax.Array, agent_force: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """One physics step. ``agent_force`` is ``(N, 2)``; returns new ``(pos, vel)``, each ``(E, 2)``."""
    action_force = jnp.zeros_like(pos).at[: ent.num_agents].set(agent_force)
    force = action_force + contact_forces(ent, params, pos)
    movable = jnp.asarray(ent.movable)[:, None]
    new_pos = pos + vel * params.dt
    new_vel = vel * (1.0 - params.damping) + force / jnp.asarray(ent.mass)[:, None] * params.dt
    speed = jnp.sqrt(jnp.sum(jnp.square(new_vel), axis=-1, keepdims=True))  # (E, 1)
    max_speed = jnp.asarray(ent.max_speed)[:, None]
    too_fast = speed > max_speed
    new_vel = jnp.where(too_fast, new_vel / jnp.where(too_fast, speed, 1.0) * max_speed, new_vel)
    return jnp.where(movable, new_pos, pos), jnp.where(movable, new_vel, vel)


def others_table(n: int) -> np.ndarray:
    """``(n, n-1)`` int32: row ``i`` lists ``0..n-1`` without ``i`` (ascending)."""
    return index_table([[j for j in range(n) if j != i] for i in range(n)], n - 1)


def index_table(rows: list[list[int]], width: int) -> np.ndarray:
    """Static ``(len(rows), width)`` int32 index table (works when ``width`` is 0)."""
    return np.asarray(rows, np.int32).reshape(len(rows), width)


def relative(points: jax.Array, origin: jax.Array) -> jax.Array:
    """``points (A, K, 2) − origin (A, 2)``, flattened to ``(A, 2K)``."""
    return (points - origin[:, None, :]).reshape(origin.shape[0], -1)
