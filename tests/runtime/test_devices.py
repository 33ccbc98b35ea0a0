"""Seeds spread over several devices give the same parameters as on one device."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

SCRIPT = """
import sys, numpy as np, jax
from phalanx.runtime import run_config
from phalanx.runtime.train_run import restore_final, run
from rich.console import Console
config = run_config.resolve(["env=simple_spread", "num_seeds=2", "log_every=2", "env.N=2", "train.num_envs=4",
                             "train.num_steps=16", "train.total_steps=256", "train.hidden=[8]",
                             f"run_dir={sys.argv[1]}"])
run(config, console=Console(quiet=True))
state, _ = restore_final(sys.argv[1])
leaves = [np.asarray(x) for x in jax.tree.leaves(state.params)]
np.savez(sys.argv[1] + ".npz", *leaves)
print("devices", jax.local_device_count())
"""


def _run(tmp_path, name: str, devices: int) -> list[np.ndarray]:
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / name)], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"devices {devices}" in out.stdout
    data = np.load(tmp_path / f"{name}.npz")
    return [data[k] for k in sorted(data.files, key=lambda k: int(k.split("_")[1]))]


@pytest.mark.slow  # two subprocess runs; seeds on several devices matter where there are several (GPUs)
def test_two_devices_match_one(tmp_path):
    one = _run(tmp_path, "one", 1)
    two = _run(tmp_path, "two", 2)
    assert len(one) == len(two) > 0
    for a, b in zip(one, two, strict=True):
        assert a.shape[0] == 2  # the seed axis
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
