"""``TimeStep.done`` on one env and on a batch: agents reduce along their own axis, never across envs."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from phalanx.envs.types import make_timestep


def _timestep(terminated: dict, truncated):
    zeros = {g: jnp.zeros((*t.shape, 1)) for g, t in terminated.items()}
    return make_timestep(obs=zeros, action_mask={}, reward={g: jnp.zeros(t.shape) for g, t in terminated.items()},
                         terminated=terminated, truncated=truncated, global_state=jnp.zeros((*truncated.shape, 1)))


def test_done_single_env():
    ts = _timestep({"a": jnp.array([True, True]), "b": jnp.array([True])}, jnp.asarray(False))
    assert bool(ts.done)
    ts = _timestep({"a": jnp.array([True, False]), "b": jnp.array([True])}, jnp.asarray(False))
    assert not bool(ts.done)
    ts = _timestep({"a": jnp.array([False, False]), "b": jnp.array([False])}, jnp.asarray(True))
    assert bool(ts.done)


def test_done_batched_is_per_env():
    # env 0: all agents terminated; env 1: one agent still playing; env 2: truncated.
    terminated = {"a": jnp.array([[True, True], [True, False], [False, False]]),
                  "b": jnp.array([[True], [True], [False]])}
    ts = _timestep(terminated, jnp.array([False, False, True]))
    np.testing.assert_array_equal(np.asarray(ts.done), [True, False, True])
