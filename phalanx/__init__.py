"""Phalanx: multi-agent reinforcement learning, compiled end to end in JAX.

``import phalanx`` loads no JAX: ``phalanx.make`` and the rest load on first use, so the command
line can parse its arguments and report a mistake before anything heavy is imported.
"""

import importlib

from phalanx.errors import ConfigError, PhalanxError

_SUBPACKAGES = ("algos", "envs", "interop", "networks", "population", "runtime")

__version__ = "0.1.0"

__all__ = ["ConfigError", "PhalanxError", "__version__", "from_pettingzoo", "load_policy", "make", "registered",
           "to_pettingzoo"]


def __getattr__(name: str):
    # Loaded on first use: the envs (and with them JAX), and adapters to other libraries (optional dependencies).
    if name in ("make", "registered"):
        from phalanx import envs

        return getattr(envs, name)
    if name in _SUBPACKAGES:  # ``import phalanx; phalanx.envs.Tag`` as before the imports became lazy
        return importlib.import_module(f"phalanx.{name}")
    if name == "to_pettingzoo":
        from phalanx.interop.pettingzoo_out import to_pettingzoo

        return to_pettingzoo
    if name == "load_policy":  # a trained policy in one call (phalanx.runtime.policy)
        from phalanx.runtime.policy import load_policy

        return load_policy
    if name == "from_pettingzoo":
        from phalanx.runtime.host_envs import from_pettingzoo

        return from_pettingzoo
    raise AttributeError(f"module 'phalanx' has no attribute {name!r}")
