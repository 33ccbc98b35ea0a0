"""Multi-agent particle environments (PettingZoo ``mpe2``), in pure JAX.

Registered names: ``simple_spread``.
"""

from phalanx.envs.mpe.physics import MPEParams, MPEState
from phalanx.envs.mpe.simple_spread import SimpleSpread, SpreadParams
from phalanx.envs.registry import register

register("simple_spread", SimpleSpread)

__all__ = ["MPEParams", "MPEState", "SimpleSpread", "SpreadParams"]
