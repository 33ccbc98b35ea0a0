"""Phalanx: multi-agent reinforcement learning, compiled end to end in JAX."""

from phalanx.envs import make, registered
from phalanx.errors import ConfigError, PhalanxError

__version__ = "0.1.0"

__all__ = ["ConfigError", "PhalanxError", "__version__", "make", "registered"]
