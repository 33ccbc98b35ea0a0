"""Agent names → groups, the rule every adapter shares.

``<group>_<i>`` joins group ``<group>`` at agent index ``i``, indices sorted as numbers (so
``agent_10`` follows ``agent_9``); a name without a numeric suffix is a group of its own. Agents
sharing a prefix but not their spaces each become a group of their own (named after the agent).
Groups keep the order in which the agent list first names them. Adapters of JAX libraries name
a group by the plural of its prefix (``ally_0, ally_1`` → ``allies``), as Phalanx's own envs do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Sequence


def split_name(agent: str) -> tuple[str, int]:
    """``"ally_10"`` → ``("ally", 10)``; a name without a numeric suffix → ``(name, 0)``."""
    m = re.fullmatch(r"(.+)_(\d+)", str(agent))
    return (m.group(1), int(m.group(2))) if m else (str(agent), 0)


def plural(word: str) -> str:
    """``ally`` → ``allies``, ``agent`` → ``agents``, ``box`` → ``boxes`` (undoes ``pettingzoo_out.singular``)."""
    if len(word) > 1 and word.endswith("y") and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    return word + "s"


def group_agents(agents: Sequence[str], signature: Callable[[str], Hashable],
                 plural_names: bool = False) -> dict[str, list[str]]:
    """``{group: [agent name, ...]}`` in agent-axis order; ``signature(agent)`` (its spaces) must agree in a group.

    With ``plural_names`` a group of numbered agents is named by its prefix's plural (``ally_0`` → ``allies``).
    """
    by_prefix: dict[str, list[tuple[int, str]]] = {}
    for a in agents:
        prefix, i = split_name(a)
        by_prefix.setdefault(prefix, []).append((i, a))
    groups: dict[str, list[str]] = {}
    for prefix, members in by_prefix.items():
        names = [a for _, a in sorted(members)]
        numbered = any(split_name(a) != (a, 0) for a in names)
        if len({signature(a) for a in names}) == 1:
            groups[plural(prefix) if plural_names and numbered else prefix] = names
        else:  # same prefix, different spaces: one group per agent
            groups.update({a: [a] for a in names})
    return groups
