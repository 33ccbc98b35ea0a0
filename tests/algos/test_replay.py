"""The jitted circular replay buffer: wrap-around, windows of consecutive steps, only valid slots sampled."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from phalanx.algos.replay import ReplayBuffer

NUM_ENVS = 3


def _steps(first: int, length: int) -> dict:
    """Steps ``first .. first + length - 1`` of every env: value ``100 + 10 t + env`` (never 0, the empty value)."""
    t = np.arange(first, first + length)[:, None]
    value = 100 + 10 * t + np.arange(NUM_ENVS)[None, :]
    return {"value": jnp.asarray(value, jnp.int32), "vec": jnp.asarray(np.stack([value, -value], -1), jnp.float32)}


def _windows(buffer, state, length, n=2000, seed=0):
    out = jax.jit(buffer.sample, static_argnums=(2, 3))(state, jax.random.PRNGKey(seed), n, length)
    assert out["value"].shape == (length, n) and out["vec"].shape == (length, n, 2)
    np.testing.assert_array_equal(out["vec"][..., 0], out["value"])  # leaves stay aligned
    return np.asarray(out["value"])


def test_add_wraps_around_and_keeps_the_newest_steps():
    buffer = ReplayBuffer(capacity=5)
    state = buffer.init(jax.tree.map(lambda x: x[0], _steps(0, 1)))
    add = jax.jit(buffer.add)
    for first in (0, 3, 6):  # 9 steps in adds of 3: steps 4..8 remain
        state = add(state, _steps(first, 3))
    assert int(state.current_index) == 9 % 5 and bool(state.is_full)
    stored = np.asarray(state.experience["value"])[0]  # env 0's slots
    np.testing.assert_array_equal(stored, [100 + 10 * t for t in (5, 6, 7, 8, 4)])  # slot = t mod 5
    with pytest.raises(ValueError, match="cannot add 6 steps to a buffer of 5 slots"):
        buffer.add(state, _steps(0, 6))


def test_sampling_returns_only_valid_consecutive_windows():
    buffer = ReplayBuffer(capacity=5)
    state = buffer.init(jax.tree.map(lambda x: x[0], _steps(0, 1)))
    state = buffer.add(state, _steps(0, 3))
    assert bool(buffer.can_sample(state, 3)) and not bool(buffer.can_sample(state, 4))
    # Not yet full: windows of 2 start at step 0 or 1 only (slots 3, 4 are empty).
    v = _windows(buffer, state, 2)
    t, env = (v - 100) // 10, (v - 100) % 10
    assert (v > 0).all() and set(t[0]) == {0, 1} and set(env[0]) == {0, 1, 2}
    np.testing.assert_array_equal(t[1], t[0] + 1)
    np.testing.assert_array_equal(env[1], env[0])  # a window stays in one env's stream

    for first in (3, 6):  # now steps 4..8, the oldest (4) in slot 4 and the newest (8) in slot 3
        state = buffer.add(state, _steps(first, 3))
    v = _windows(buffer, state, 3, seed=1)
    t, env = (v - 100) // 10, (v - 100) % 10
    # Windows cross the physical end of the array (slots 4, 0, 1) but never the write head
    # (which would join step 8 to step 4): starts are exactly 4, 5, 6, about equally often.
    np.testing.assert_array_equal(np.diff(t, axis=0), 1)
    assert set(t[0]) == {4, 5, 6}
    counts = np.bincount(t[0] - 4) / t.shape[1]
    np.testing.assert_allclose(counts, 1 / 3, atol=0.05)
    assert set(env[0]) == {0, 1, 2} and (env == env[0]).all()
