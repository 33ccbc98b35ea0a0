"""Phalanx: multi-agent reinforcement learning, compiled end to end in JAX."""

from phalanx import xla_cpu as _xla_cpu
from phalanx.envs import make, registered
from phalanx.errors import ConfigError, PhalanxError

__version__ = "0.1.0"

__all__ = ["ConfigError", "PhalanxError", "__version__", "from_pettingzoo", "make", "registered", "to_pettingzoo"]


def __getattr__(name: str):
    # Adapters to other libraries import them (optional dependencies): loaded on first use.
    if name == "to_pettingzoo":
        from phalanx.interop.pettingzoo_out import to_pettingzoo

        return to_pettingzoo
    if name == "from_pettingzoo":
        from phalanx.runtime.host_envs import from_pettingzoo

        return from_pettingzoo
    raise AttributeError(f"module 'phalanx' has no attribute {name!r}")

# Same random bits as JAX's own lowering, compiled without a loop per random call (phalanx/xla_cpu.py).
if _xla_cpu.enabled_by_environment():
    _xla_cpu.unroll_threefry_on_cpu()
