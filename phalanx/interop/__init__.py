"""Adapters between Phalanx and other environment libraries; pure, no processes.

* :mod:`phalanx.interop.pettingzoo_out`: a Phalanx env as a PettingZoo ``ParallelEnv``
  (``to_pettingzoo``).
* :mod:`phalanx.interop.pettingzoo_in`: a PettingZoo env in Phalanx's terms (groups from agent
  names, specs from Gymnasium spaces, one env stepping into one row of a batch); the worker
  processes that step many of them live in :mod:`phalanx.runtime.host_envs` (``phalanx.from_pettingzoo``).
* :mod:`phalanx.interop.host`: :class:`HostVecEnv`, what learners need from envs stepped on the host.
* :mod:`phalanx.interop.jaxmarl` / :mod:`phalanx.interop.jumanji`: JaxMARL and Jumanji envs as Phalanx
  envs, still pure JAX (``phalanx.envs.from_jaxmarl(name)``, ``make("jaxmarl:<name>")``, the same for
  ``jumanji``); :mod:`phalanx.interop.groups` turns agent names into groups for every adapter.

The adapters import their libraries (optional dependencies) only when first used:
``phalanx.interop.to_pettingzoo`` imports ``pettingzoo`` and ``gymnasium`` then.
"""

from __future__ import annotations

from typing import Any

from phalanx.interop.host import HostVecEnv


def __getattr__(name: str) -> Any:
    # PettingZoo interop imports pettingzoo/gymnasium (optional dependencies): loaded on first use.
    if name == "to_pettingzoo":
        from phalanx.interop.pettingzoo_out import to_pettingzoo

        return to_pettingzoo
    raise AttributeError(f"module 'phalanx.interop' has no attribute {name!r}")


__all__ = ["HostVecEnv", "to_pettingzoo"]
