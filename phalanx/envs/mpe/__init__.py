"""Multi-agent particle environments (PettingZoo ``mpe2``), in pure JAX.

Registered names: ``simple_spread``, ``simple_tag``, ``simple_adversary``,
``simple_speaker_listener``. Physics, observations, rewards and the 25-step truncation
follow ``mpe2`` (see each scenario module); ``continuous_actions=True`` gives mpe2's
``Box(0, 1, ...)`` action spaces.
"""

from phalanx.envs.mpe.base import MPEEnv
from phalanx.envs.mpe.physics import Entities, MPEParams, MPEState
from phalanx.envs.mpe.simple_adversary import SimpleAdversary
from phalanx.envs.mpe.simple_speaker_listener import SimpleSpeakerListener
from phalanx.envs.mpe.simple_spread import SimpleSpread, SpreadParams
from phalanx.envs.mpe.simple_tag import SimpleTag
from phalanx.envs.registry import register

register("simple_spread", SimpleSpread)
register("simple_tag", SimpleTag, population_defaults={"train.total_steps": 200_000})
register("simple_adversary", SimpleAdversary, population_defaults={"train.total_steps": 200_000})
register("simple_speaker_listener", SimpleSpeakerListener)

__all__ = [
    "Entities",
    "MPEEnv",
    "MPEParams",
    "MPEState",
    "SimpleAdversary",
    "SimpleSpeakerListener",
    "SimpleSpread",
    "SimpleTag",
    "SpreadParams",
]
