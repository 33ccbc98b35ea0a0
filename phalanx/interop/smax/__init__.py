"""SMAX, JaxMARL's StarCraft-style battles, as the Phalanx env ``smax``.

    phalanx.make("smax", scenario="3m")                   # allies vs JaxMARL's heuristic enemy
    phalanx.make("smax", scenario="3s5z", enemy="learned")  # allies and enemies, zero-sum
    phalanx train env=smax env.scenario=3s5z algo=mappo

An adapter over JaxMARL's SMAX (:mod:`phalanx.interop.smax.env`), registered by
:mod:`phalanx.envs` under the name ``smax`` (with JaxMARL's ``*_rnn_smax`` training settings) and
imported on first use, so JaxMARL stays optional.
"""

from __future__ import annotations

from phalanx.interop.smax.env import ENEMIES, SMAX, battle_state
from phalanx.interop.smax.scenarios import UNIT_TYPES, get_scenario, register_scenario, scenario_names

__all__ = ["ENEMIES", "SMAX", "UNIT_TYPES", "battle_state", "get_scenario", "register_scenario", "scenario_names"]
