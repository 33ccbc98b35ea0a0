"""Will it fit? A run's memory estimated from its traced program, before anything compiles.

``bench env=tag env.num_runners=1000000`` or a train run on ten thousand agents would otherwise compile for
minutes and then die out of memory. :func:`estimate` traces the programs a command will compile
(``jax.make_jaxpr``: shapes only, nothing is allocated or compiled) and takes what must be in memory at once
at least: the state the program carries plus its largest single intermediate array (an observation batch,
a rollout's trajectory, a pairwise-distance matrix), looking inside scans, conditionals and loops.
XLA needs more than that, never less, so :func:`check_fits` refuses only what cannot fit; what it lets
through may still need more (XLA's own out-of-memory error is then reported as one line too).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

import jax
import numpy as np
from jax.extend.core import ClosedJaxpr, Jaxpr

from phalanx.errors import PhalanxError


def _bytes(aval: Any) -> int:
    shape, dtype = getattr(aval, "shape", None), getattr(aval, "dtype", None)
    if shape is None or dtype is None:
        return 0
    try:
        itemsize = np.dtype(dtype).itemsize
    except TypeError:  # extended dtypes (PRNG keys): small; count them as two words
        itemsize = 8
    return int(np.prod(shape, dtype=np.float64)) * itemsize


def _subjaxprs(params: dict[str, Any]) -> Iterable[Jaxpr]:
    for value in params.values():
        for v in value if isinstance(value, tuple | list) else (value,):
            if isinstance(v, ClosedJaxpr):
                yield v.jaxpr
            elif isinstance(v, Jaxpr):
                yield v


def largest_array(jaxpr: Jaxpr) -> int:
    """Bytes of the largest array any equation of ``jaxpr`` (or of a jaxpr inside it) makes."""
    best = 0
    for eqn in jaxpr.eqns:
        best = max([best, *(_bytes(v.aval) for v in eqn.outvars)])
        for sub in _subjaxprs(eqn.params):
            best = max(best, largest_array(sub))
    return best


def estimate(fn: Callable[..., Any], *args: Any) -> int:
    """Bytes ``fn(*args)`` needs at least when compiled: its inputs and outputs plus its largest intermediate
    array (traced, not run: ``args`` may be ``jax.ShapeDtypeStruct`` s)."""
    closed = jax.make_jaxpr(fn)(*args)
    held = sum(_bytes(v.aval) for v in closed.jaxpr.invars) + sum(_bytes(v.aval) for v in closed.jaxpr.outvars)
    return held + largest_array(closed.jaxpr)


def available() -> tuple[int, str]:
    """``(bytes, where)``: free memory of the default device (its allocator's limit less what is in use), or on
    a CPU the machine's available physical memory."""
    device = jax.devices()[0]
    stats = device.memory_stats() if hasattr(device, "memory_stats") else None
    if stats and stats.get("bytes_limit"):
        return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0)), f"{device.platform.upper()} memory"
    try:
        import psutil

        return int(psutil.virtual_memory().available), "available RAM"
    except ImportError:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")), "available RAM"


def human(n: float) -> str:
    """``n`` bytes as a short text (``12.3 GB``)."""
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.3g} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    return f"{n:.3g} PB"


def check_fits(need: int, what: str, reduce: Iterable[str]) -> None:
    """One-line :class:`~phalanx.errors.PhalanxError` (exit 2) when ``need`` bytes exceed what is available:
    ``what`` is run, ``reduce`` the settings that size it."""
    have, where = available()
    if need > have:
        raise PhalanxError(f"{what} needs at least {human(need)} of memory, more than the {human(have)} of "
                           f"{where} here; reduce {', '.join(reduce)}.")


def check_run(config: Any, command: str = "train") -> None:
    """:func:`check_fits` for a new run of ``command`` (train, psro, selfplay, league) with ``config``, per seed:
    its learner's train state (parameters, optimiser, envs, replay buffer: ``jax.eval_shape`` of ``init``), one
    env step's largest array over ``train.num_envs`` envs, and a rollout's observations (``train.num_steps``
    timesteps of them). Learner activations and a population's other members are left out (a lower bound, kept
    cheap: no update is traced). Not estimated: PettingZoo envs (stepped on the host) and exact-oracle
    populations (no learner)."""
    population = getattr(config, "population", None)
    if config.env.startswith("pettingzoo:") or (population is not None and population.oracle == "exact"):
        return
    import phalanx
    from phalanx.algos.registry import get_algorithm
    from phalanx.bench import make_random_rollout
    from phalanx.runtime.vault import make_trainer

    env = phalanx.make(config.env, **config.env_settings)
    trainer = (make_trainer(config, env) if command == "train" else
               get_algorithm(config.algo).make_train(config.train, env))
    key = jax.random.PRNGKey(0)
    num_envs, num_steps = getattr(config.train, "num_envs", 1), getattr(config.train, "num_steps", 1)
    state = sum(_bytes(x) for x in jax.tree.leaves(jax.eval_shape(trainer.init, key)))
    step = largest_array(jax.make_jaxpr(make_random_rollout(env, num_envs, 1))(key).jaxpr)
    _, timestep = jax.eval_shape(lambda k: jax.vmap(env.reset)(jax.random.split(k, num_envs)), key)
    rollout = num_steps * sum(_bytes(x) for x in jax.tree.leaves(timestep))
    sizes = [f"env.{k}" for k in config.env_settings] + [f"train.{k}" for k in ("num_envs", "num_steps", "buffer_size")
                                                         if hasattr(config.train, k)]
    check_fits((state + step + rollout) * config.num_seeds,
               f"{command} env={config.env} algo={config.algo}" + (f" num_seeds={config.num_seeds}"
                                                                if config.num_seeds > 1 else ""),
               [*sizes, *(["num_seeds"] if config.num_seeds > 1 else [])])


def check_bench(env: Any, num_envs: int, num_steps: int, what: str, reduce: Iterable[str]) -> None:
    """:func:`check_fits` for ``phalanx bench``'s random rollout (traced whole: it is one small program)."""
    from phalanx.bench import make_random_rollout

    check_fits(estimate(make_random_rollout(env, num_envs, num_steps), jax.random.PRNGKey(0)), what, reduce)
