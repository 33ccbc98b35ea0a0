"""LBF scenario names (``[Ns-]WxH-Np-Nf[-coop]``) and the settings they stand for.

The names are those of the original lb-foraging / EPyMARL tasks as Mava uses them
(``mava/configs/env/scenario/*.yaml``): an optional sight ``Ns-`` (the field of view; without it
an agent sees the whole grid, ``fov = grid_size``), the grid ``WxH`` (square only, as in
Jumanji), ``Np`` players, ``Nf`` food items, and ``-coop`` for forced cooperation (every food's
level is the summed level of the (up to) three lowest-level agents, so no agent eats alone).

Settings not in the name take Mava's values for these tasks (``mava/configs/env/lbf.yaml``
and the scenario files), which are also Jumanji's defaults: ``max_agent_level=2``,
``time_limit=100``.

=====================  =========  ===  ======  ====  ==========  =========
scenario               grid_size  fov  agents  food  force_coop  time_limit
=====================  =========  ===  ======  ====  ==========  =========
``2s-8x8-2p-2f-coop``  8          2    2       2     True        100
``8x8-2p-2f-coop``     8          8    2       2     True        100
``2s-10x10-3p-3f``     10         2    3       3     False       100
``10x10-3p-3f``        10         10   3       3     False       100
``15x15-3p-5f``        15         15   3       5     False       100
``15x15-4p-3f``        15         15   4       3     False       100
``15x15-4p-5f``        15         15   4       5     False       100
=====================  =========  ===  ======  ====  ==========  =========
"""

from __future__ import annotations

import dataclasses
import re

from phalanx.errors import PhalanxError

#: Mava's LBF tasks (``mava/configs/env/lbf.yaml``); any name of the same pattern also works.
MAVA_SCENARIOS = (
    "2s-8x8-2p-2f-coop",
    "8x8-2p-2f-coop",
    "2s-10x10-3p-3f",
    "10x10-3p-3f",
    "15x15-3p-5f",
    "15x15-4p-3f",
    "15x15-4p-5f",
)

PATTERN = "[<sight>s-]<W>x<H>-<players>p-<food>f[-coop]"

_NAME = re.compile(r"^(?:(\d+)s-)?(\d+)x(\d+)-(\d+)p-(\d+)f(-coop)?$")


@dataclasses.dataclass(frozen=True)
class Scenario:
    """The settings a scenario name fixes.

    Attributes:
        grid_size: side of the square grid.
        num_agents: players.
        num_food: food items.
        fov: sight (Chebyshev radius an agent sees); ``None`` when the name has no ``Ns-``
            (the agent then sees the whole grid).
        force_coop: whether ``-coop`` was given.
    """

    grid_size: int
    num_agents: int
    num_food: int
    fov: int | None
    force_coop: bool


def parse_scenario(name: str) -> Scenario:
    """Parse ``[Ns-]WxH-Np-Nf[-coop]``, e.g. ``"2s-8x8-2p-2f-coop"``.

    Raises:
        PhalanxError: the name does not follow the pattern, or the grid is not square.
    """
    match = _NAME.match(name) if isinstance(name, str) else None
    if match is None:
        raise PhalanxError(
            f"lbf: unknown scenario {name!r}; expected the pattern {PATTERN}, "
            f"e.g. {', '.join(MAVA_SCENARIOS)}."
        )
    sight, width, height, players, food, coop = match.groups()
    if width != height:
        raise PhalanxError(
            f"lbf: scenario {name!r} has a {width}x{height} grid; Jumanji's LBF grids are square, "
            f"use e.g. {width}x{width}."
        )
    return Scenario(
        grid_size=int(width),
        num_agents=int(players),
        num_food=int(food),
        fov=None if sight is None else int(sight),
        force_coop=coop is not None,
    )
