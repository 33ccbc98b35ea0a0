"""SMAX maps by name: JaxMARL's ``map_name_to_scenario`` and the maps a user registers.

A map is JaxMARL's ``Scenario(unit_types, num_allies, num_enemies, smacv2_position_generation,
smacv2_unit_type_generation)``; ``unit_types`` lists every unit's type index (allies first), from
``UNIT_TYPES``. :func:`register_scenario` adds a map under a name that ``make("smax", scenario=name)``
and ``env.scenario=name`` then accept, without touching JaxMARL's own table.
"""

from __future__ import annotations

from typing import Any

from phalanx.errors import PhalanxError, did_you_mean

#: SMAX's unit types, by index into ``Scenario.unit_types`` (JaxMARL's ``unit_type_names``).
UNIT_TYPES = ("marine", "marauder", "stalker", "zealot", "zergling", "hydralisk")

_USER: dict[str, Any] = {}


def _builtin() -> dict[str, Any]:
    from jaxmarl.environments.smax.smax_env import MAP_NAME_TO_SCENARIO

    return MAP_NAME_TO_SCENARIO


def scenario_names() -> list[str]:
    """Every map name ``scenario=`` accepts: JaxMARL's, then the user-registered ones."""
    return [*_builtin(), *(n for n in _USER if n not in _builtin())]


def register_scenario(name: str, scenario: Any) -> None:
    """Make ``scenario`` (a JaxMARL ``Scenario``) available as ``make("smax", scenario=name)``.

    Raises:
        PhalanxError: if ``name`` is already a map (JaxMARL's or registered before), or the
            scenario's unit list does not match its team sizes.
    """
    if name in _builtin() or name in _USER:
        raise PhalanxError(f"register_scenario: a SMAX map named {name!r} exists already; pick another name.")
    units = len(scenario.unit_types)
    if units != scenario.num_allies + scenario.num_enemies:
        raise PhalanxError(f"register_scenario({name!r}): unit_types lists {units} units, but the scenario has "
                           f"{scenario.num_allies} allies + {scenario.num_enemies} enemies.")
    _USER[name] = scenario


def get_scenario(name: str) -> Any:
    """The ``Scenario`` registered as ``name``.

    Raises:
        PhalanxError: for an unknown name, listing every valid one on one line.
    """
    found = _USER.get(name) or _builtin().get(name)
    if found is None:
        names = scenario_names()
        raise PhalanxError(f"smax: unknown scenario {name!r}.{did_you_mean(str(name), names)} "
                           f"Valid scenarios: {', '.join(names)}.")
    return found
