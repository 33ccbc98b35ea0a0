"""A faster XLA:CPU lowering of JAX's Threefry hash (the same bits, unrolled).

JAX lowers ``threefry2x32`` on CPU as a ``fori_loop`` of 5 iterations, to keep compile
times short. Inside a compiled rollout every random call (a key split, a categorical
sample, an env reset's placements) then becomes a small while loop, and on XLA:CPU each
iteration of each loop costs a few microseconds of thunk dispatch, whatever the array
size. A 16-env RWARE rollout makes 17 such calls per step: the rolled hash was about half
of its rollout time. Unrolled, the 20 rounds are one straight-line fusion.

:func:`unroll_threefry_on_cpu` registers the unrolled lowering for the CPU platform.
Importing :mod:`phalanx.envs` (which every env, learner and run does; ``import phalanx`` alone
loads no JAX) calls it unless the environment variable ``PHALANX_ROLLED_THREEFRY=1`` is set.
The hash is Threefry-2x32 with 20 rounds (Salmon et al., 2011, "Parallel random numbers: as
easy as 1, 2, 3"), so every key and random number is bit-identical to JAX's
own lowering (``tests/test_xla_cpu.py`` compares against a process that never imports
Phalanx); only the compiled code differs.

:func:`avoid_scheduler_deadlock` works around an XLA:CPU hang: with its concurrency-optimised
scheduler, some ``vmap``-ped programs (SMAX training over ``num_seeds > 1``) never finish; every
worker thread waits for work while the caller waits for the result. Turning that scheduler off
(``--xla_cpu_enable_concurrency_optimized_scheduler=false``) runs them; it is set the same way,
before JAX starts its CPU backend, unless ``XLA_FLAGS`` already names the flag.
"""

from __future__ import annotations

import os
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend.random import threefry2x32_p
from jax.interpreters import mlir

#: Rotation constants of Threefry-2x32, alternating by group of four rounds.
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
#: Key-schedule parity constant of Threefish / Threefry (32-bit).
_PARITY = np.uint32(0x1BD11BDA)

_registered = False


def _rotl(x: jax.Array, r: int) -> jax.Array:
    return lax.shift_left(x, np.uint32(r)) | lax.shift_right_logical(x, np.uint32(32 - r))


def threefry2x32_unrolled(
    key1: jax.Array, key2: jax.Array, x1: jax.Array, x2: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Threefry-2x32, 20 rounds, on ``uint32`` arrays (broadcast together); no loops."""
    ks = (key1, key2, key1 ^ key2 ^ _PARITY)
    x1, x2 = x1 + ks[0], x2 + ks[1]
    for group in range(5):
        for r in _ROTATIONS[group % 2]:
            x1 = x1 + x2
            x2 = x1 ^ _rotl(x2, r)
        # Key injection after every four rounds, with the group's counter.
        x1 = x1 + ks[(group + 1) % 3]
        x2 = x2 + ks[(group + 2) % 3] + np.uint32(group + 1)
    shape = jnp.broadcast_shapes(key1.shape, key2.shape, x1.shape, x2.shape)
    return jnp.broadcast_to(x1, shape), jnp.broadcast_to(x2, shape)


def unroll_threefry_on_cpu() -> None:
    """Lower ``threefry2x32`` on CPU without loops (idempotent; see the module docstring).

    Affects programs compiled after the call; already-compiled ones keep their code.
    """
    global _registered
    if _registered:
        return
    try:
        mlir.register_lowering(
            threefry2x32_p, mlir.lower_fun(threefry2x32_unrolled, multiple_results=True), platform="cpu"
        )
    except Exception as err:  # a JAX whose lowering API moved: stay correct, only slower
        warnings.warn(f"phalanx: keeping JAX's own Threefry lowering on CPU ({err}).", stacklevel=2)
        return
    _registered = True


_SCHEDULER_FLAG = "--xla_cpu_enable_concurrency_optimized_scheduler"


def avoid_scheduler_deadlock() -> bool:
    """Add ``--xla_cpu_enable_concurrency_optimized_scheduler=false`` to ``XLA_FLAGS`` (see the module doc).

    XLA reads its flags once, when the first backend starts; afterwards this does nothing and returns
    False. The user's own setting of the flag wins.
    """
    from jax._src import xla_bridge

    flags = os.environ.get("XLA_FLAGS", "")
    if _SCHEDULER_FLAG in flags:
        return True
    if xla_bridge.backends_are_initialized():
        return False
    os.environ["XLA_FLAGS"] = f"{flags} {_SCHEDULER_FLAG}=false".strip()
    return True


def enabled_by_environment() -> bool:
    """False when the user asked for JAX's own rolled lowering (``PHALANX_ROLLED_THREEFRY=1``)."""
    return os.environ.get("PHALANX_ROLLED_THREEFRY", "0") in ("", "0", "false", "False")
