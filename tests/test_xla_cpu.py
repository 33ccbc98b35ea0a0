"""The unrolled CPU Threefry lowering gives JAX's own bits and really replaces the loop."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import phalanx.envs  # noqa: F401 - registers the lowering
from phalanx.xla_cpu import threefry2x32_unrolled

# Known-answer vectors of Threefry-2x32-20 (Random123's kat_vectors): (key, counter, expected).
KAT = [
    ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
]

# Random numbers of several kinds, jitted and vmapped; printed as JSON.
PROBE = """
import json, sys
if sys.argv[1] == "phalanx":
    import phalanx.envs
import jax, jax.numpy as jnp, numpy as np
k = jax.random.PRNGKey(42)
out = {
    "split": jax.jit(lambda k: jax.random.split(k, 7))(k),
    "bits": jax.jit(lambda k: jax.random.bits(k, (3, 5)))(k),
    "categorical": jax.jit(lambda k: jax.random.categorical(k, jnp.zeros((4, 6))))(k),
    "normal": jax.jit(lambda k: jax.random.normal(k, (5,)))(jax.random.key(3)),
    "permutation": jax.jit(lambda k: jax.random.permutation(k, 50))(k),
    "vmapped": jax.jit(jax.vmap(lambda k: jax.random.uniform(k, (2,))))(jax.random.split(k, 4)),
}
print(json.dumps({n: np.asarray(v).tolist() for n, v in out.items()}))
"""


def _probe(mode: str, **env: str) -> dict:
    result = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True,
                            env={**os.environ, **env})
    return json.loads(result.stdout)


@pytest.mark.parametrize(("key", "counter", "expected"), KAT)
def test_known_answer_vectors(key, counter, expected):
    out = threefry2x32_unrolled(*(jnp.uint32(v) for v in key + counter))
    assert [int(v) for v in out] == list(expected)


def test_same_random_numbers_as_jax_without_phalanx():
    # JAX's own (rolled) lowering in a process that never imports Phalanx, against ours.
    assert _probe("plain") == _probe("phalanx")


def test_compiled_split_has_no_loop_unless_opted_out():
    hlo = jax.jit(lambda k: jax.random.split(k, 3)).lower(jax.random.PRNGKey(0)).compile().as_text()
    assert " while(" not in hlo
    code = ("import phalanx.envs, jax; print(jax.jit(lambda k: jax.random.split(k, 3))"
            ".lower(jax.random.PRNGKey(0)).compile().as_text().count(' while('))")
    rolled = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={**os.environ, "PHALANX_ROLLED_THREEFRY": "1"})
    assert int(rolled.stdout.strip()) >= 1


def test_broadcasts_like_the_primitive():
    keys = jnp.asarray([[1], [2]], jnp.uint32), jnp.asarray([[3], [4]], jnp.uint32)
    counts = jnp.arange(6, dtype=jnp.uint32).reshape(2, 3), jnp.zeros((2, 3), jnp.uint32)
    y1, y2 = threefry2x32_unrolled(*keys, *counts)
    assert y1.shape == y2.shape == (2, 3)
    for i in range(2):
        for j in range(3):
            one = threefry2x32_unrolled(keys[0][i, 0], keys[1][i, 0], counts[0][i, j], counts[1][i, j])
            assert (int(one[0]), int(one[1])) == (int(y1[i, j]), int(y2[i, j]))
    assert np.unique(np.asarray(y1)).size == 6


def test_importing_phalanx_envs_turns_off_the_scheduler_that_hangs():
    """The workaround for XLA:CPU's hang (tests/envs/test_smax_train.py, slow, runs the program that hung):
    importing phalanx.envs before the backend starts adds the flag; a user's own setting of it is kept."""
    code = "import os, phalanx.envs; print(os.environ.get('XLA_FLAGS'))"
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "--xla_cpu_enable_concurrency_optimized_scheduler=false", out.stderr[-2000:]
    mine = "--xla_cpu_enable_concurrency_optimized_scheduler=true"
    out = subprocess.run([sys.executable, "-c", code], env={**env, "XLA_FLAGS": mine}, capture_output=True,
                         text=True, timeout=120)
    assert out.stdout.strip() == mine, out.stderr[-2000:]
