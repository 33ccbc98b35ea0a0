"""Starting a local Ray from a process where JAX already runs threads: no fork/deadlock warning and no token
notice on stderr, while the cluster keeps Ray's default token authentication."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("ray")

SCRIPT = """
import jax
jax.devices()  # JAX's backend and threads first, as in a phalanx train driver
import ray
from ray._raylet import AuthenticationMode, get_authentication_mode
from phalanx.runtime.ray_connect import connect
assert connect(None, num_cpus=1)
print("token" if get_authentication_mode() == AuthenticationMode.TOKEN else "no token")
ray.shutdown()
"""


def test_a_local_ray_starts_without_the_fork_and_token_warnings():
    env = {k: v for k, v in os.environ.items() if k != "RAY_AUTH_MODE"} | {
        "JAX_PLATFORMS": "cpu", "RAY_raylet_start_wait_time_s": "300"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "token"  # Ray's default kept: the notice is gone, not the authentication
    assert "os.fork()" not in proc.stderr and "deadlock" not in proc.stderr, proc.stderr
    assert "Token authentication" not in proc.stderr, proc.stderr
