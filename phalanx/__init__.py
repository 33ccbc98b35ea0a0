"""Phalanx: multi-agent reinforcement learning, compiled end to end in JAX."""

from phalanx import xla_cpu as _xla_cpu
from phalanx.envs import make, registered
from phalanx.errors import ConfigError, PhalanxError

__version__ = "0.1.0"

__all__ = ["ConfigError", "PhalanxError", "__version__", "make", "registered"]

# Same random bits as JAX's own lowering, compiled without a loop per random call (phalanx/xla_cpu.py).
if _xla_cpu.enabled_by_environment():
    _xla_cpu.unroll_threefry_on_cpu()
