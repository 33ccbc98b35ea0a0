"""``phalanx envs [--json]``: every registered environment with its groups and specs.

On a terminal it is a table (env names never cut; long cells wrap); piped or redirected (``phalanx envs |
cat``) it is one tab-separated line per group with a header, whole whatever the width; ``--json`` is a list of
``{"env", "groups": {group: {"agents", "observation", "dtype", "action", "masked"}}, "global_state"}``. An env
that cannot be built with its defaults here (an optional dependency such as jaxmarl missing) is listed with the
reason instead of failing the command.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from phalanx.errors import PhalanxError

COLUMNS = ("env", "group", "agents", "observation", "action")


def describe(name: str) -> dict[str, Any]:
    """One env's entry (built with its default settings), or ``{"env": name, "unavailable": why}``."""
    import numpy as np

    from phalanx.envs import make

    try:
        env = make(name)
    except (PhalanxError, ImportError) as e:  # an optional dependency missing: say so, list the rest
        return {"env": name, "unavailable": str(e).strip().splitlines()[0]}
    groups = {g: {"agents": s.num_agents, "observation": list(s.observation.shape),
                  "dtype": np.dtype(s.observation.dtype).name, "action": str(s.action), "masked": s.has_action_mask}
              for g, s in env.spec.groups.items()}
    return {"env": name, "groups": groups, "global_state": list(env.spec.global_state.shape)}


def _rows(entry: dict[str, Any]) -> list[tuple[str, ...]]:
    if "unavailable" in entry:
        return [(entry["env"], "-", "-", "-", f"unavailable: {entry['unavailable']}")]
    rows = [(entry["env"], g, str(s["agents"]), f"{tuple(s['observation'])} {s['dtype']}",
             s["action"] + (" (masked)" if s["masked"] else "")) for g, s in entry["groups"].items()]
    return [*rows, (entry["env"], "global state", "", str(tuple(entry["global_state"])), "")]


def main(args: list[str], console: Console) -> int:
    """``phalanx envs [--json]`` (see the module docstring); returns the exit status."""
    from phalanx.envs import registered

    if args not in ([], ["--json"]):
        raise PhalanxError(f"'phalanx envs' takes only --json, got {' '.join(args)}.")
    entries = [describe(name) for name in registered()]
    if args:
        print(json.dumps(entries, indent=1))
    elif not console.is_terminal:  # piped: plain lines, nothing cut to a guessed width
        print("\t".join(COLUMNS))
        for entry in entries:
            for row in _rows(entry):
                print("\t".join(row))
    else:
        table = Table(title="Registered environments (default settings)")
        table.add_column("env", no_wrap=True)
        for col in COLUMNS[1:]:
            table.add_column(col, overflow="fold")
        for entry in entries:
            for i, row in enumerate(_rows(entry)):
                table.add_row(row[0] if i == 0 else "", *row[1:], end_section=i == len(_rows(entry)) - 1)
        console.print(table)
    return 0
