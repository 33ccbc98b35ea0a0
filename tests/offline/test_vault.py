"""Vaults written by Phalanx read back whole, in OG-MARL's layout, and survive a killed writer."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from rich.console import Console

from phalanx.runtime import data_cmd
from phalanx.runtime.vault import episode_returns, read_vault

#: OG-MARL's documented experience (README "Dataset API"; og_marl/replay_buffers.py writes it;
#: vault_utils/analyse_vault.py and the offline baselines read it): key -> (rank incl. batch and time, dtype).
OG_MARL = {"observations": (4, "float32"), "actions": (3, "int32"), "rewards": (3, "float32"),
           "terminals": (3, "float32"), "truncations": (3, "float32")}
OG_MARL_INFOS = {"legals": (4, "float32"), "state": (3, "float32")}


def _record(tmp_path, *args):
    return data_cmd.record(["env=simple_spread", "num_envs=4", *args], Console(file=open("/dev/null", "w")))


def test_written_vault_reads_back_whole_with_og_marl_keys(tmp_path, monkeypatch):
    from flashbax.vault import Vault

    monkeypatch.chdir(tmp_path)
    path = _record(tmp_path, "episodes=6", "out=vaults/spread.vlt", "quality=Poor", "epsilon=0.2")
    assert path.resolve() == (tmp_path / "vaults/spread.vlt/Poor").resolve()
    # Opened exactly as OG-MARL opens its datasets: Vault(vault_name, vault_uid, rel_dir) under the cwd.
    exp = Vault(vault_name="spread.vlt", vault_uid="Poor", rel_dir="vaults").read().experience
    assert set(exp) == {"observations", "actions", "rewards", "terminals", "truncations", "infos"}
    assert set(exp["infos"]) == set(OG_MARL_INFOS)
    t = 6 * 25  # simple_spread episodes last 25 steps
    for key, (rank, dtype) in OG_MARL.items():
        assert exp[key].ndim == rank and str(exp[key].dtype) == dtype, key
        assert exp[key].shape[:3] == (1, t, 3), key
    assert exp["observations"].shape == (1, t, 3, 18)
    assert exp["infos"]["legals"].shape == (1, t, 3, 5) and exp["infos"]["state"].shape == (1, t, 54)
    # simple_spread has no action masks: every action legal (OG-MARL's IQL/QMIX/BC read num_actions and
    # the argmax mask from infos.legals, so a discrete vault always carries it).
    assert (np.asarray(exp["infos"]["legals"]) == 1).all()
    for key, (rank, dtype) in OG_MARL_INFOS.items():
        assert exp["infos"][key].ndim == rank and str(exp["infos"][key].dtype) == dtype
    # Episodes end where every agent is truncated (25-step time limit), one after another.
    ends = np.flatnonzero(np.asarray(exp["truncations"][0]).all(-1))
    assert list(ends) == [25 * k + 24 for k in range(6)]
    host, meta = read_vault(path)
    info = meta["phalanx"]
    assert info["env"] == "simple_spread" and info["quality"] == "Poor" and info["epsilon"] == 0.2
    assert info["episodes"] == 6 and info["groups"] == {"agents": [0, 3]}
    np.testing.assert_allclose(info["episode_returns"], episode_returns(host), rtol=1e-5)


def test_existing_dataset_is_not_overwritten(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _record(tmp_path, "episodes=1", "out=d.vlt")
    with pytest.raises(Exception, match="exists there already"):
        _record(tmp_path, "episodes=1", "out=d.vlt")


KILLED = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    import phalanx
    from phalanx.runtime.vault import VaultWriter, structure
    env = phalanx.make("simple_spread")
    writer = VaultWriter(sys.argv[1], env, {"env": "simple_spread"})
    def rows(value, t=10):
        return {k: (np.full((t, *v.shape), value, v.dtype) if not isinstance(v, dict) else
                    {i: np.full((t, *w.shape), value, w.dtype) for i, w in v.items()})
                for k, v in structure(env).items()}
    writer.write(rows(1))
    writer.write(rows(2))
    class Die:  # the third write's data lands, then the process dies before the vault index moves
        def write(self, value):
            os.kill(os.getpid(), signal.SIGKILL)
    writer._vault._vault_index_ds = Die()
    writer.write(rows(3))
""")


def test_killed_writer_leaves_a_vault_that_reads_back_to_its_last_write(tmp_path):
    path = tmp_path / "k.vlt" / "Good"
    proc = subprocess.run([sys.executable, "-c", KILLED, str(path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr
    exp, _ = read_vault(path)
    assert exp["observations"].shape[0] == 20
    np.testing.assert_array_equal(exp["rewards"][:10], 1)
    np.testing.assert_array_equal(exp["rewards"][10:], 2)
