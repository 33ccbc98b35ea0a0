"""Tabular policies as JSON keyed by OpenSpiel information-state strings.

The file is one JSON object mapping every information-state string of both players (as
``pyspiel``'s ``information_state_string`` writes it, e.g. Kuhn's ``"0pb"``) to an object
``{action id as a string: probability}`` over that state's legal actions::

    {"0": {"0": 0.667, "1": 0.333}, "0pb": {"0": 1.0, "1": 0.0}, "1p": {...}, ...}

OpenSpiel's ``TabularPolicy`` carries the same information (``state_lookup`` plus
``action_probability_array``), so policies move between the two libraries by string.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from phalanx.envs.poker.tree import GameTree
from phalanx.errors import PhalanxError, did_you_mean

#: How far a state's probabilities may sum from 1 (files written from float32 tables).
SUM_TOLERANCE = 1e-4


def policy_to_dict(tree: GameTree, pi0: Any, pi1: Any) -> dict[str, dict[str, float]]:
    """``{infostate string: {action id: probability}}`` for both players' tables ``(n_p, A)`` (legal actions only)."""
    out: dict[str, dict[str, float]] = {}
    for p, table in enumerate((pi0, pi1)):
        pt = tree.players[p]
        table = np.asarray(table, np.float64)
        if table.shape != pt.legal.shape:
            raise PhalanxError(
                f"export_policy: pi{p} has shape {table.shape}, expected {pt.legal.shape} "
                f"(player {p}'s information states in {tree.game} x actions)."
            )
        for i, key in enumerate(pt.strings):
            out[key] = {str(a): float(table[i, a]) for a in np.flatnonzero(pt.legal[i])}
    return out


def export_policy(tree: GameTree, pi0: Any, pi1: Any, path: str | os.PathLike) -> None:
    """Write both players' tables ``(n_p, A)`` to ``path`` as JSON (see the module docstring)."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(policy_to_dict(tree, pi0, pi1), f, indent=1)


def policy_from_dict(tree: GameTree, data: Any, source: str = "policy") -> tuple[np.ndarray, np.ndarray]:
    """Tables ``(pi0 (n0, A), pi1 (n1, A))`` float32 from ``{infostate string: {action id: probability}}``.

    Raises:
        PhalanxError: for an unknown infostate string, a missing one, an action id that is not
            an integer in range, a negative or non-numeric probability, mass on an illegal
            action, or probabilities that do not sum to 1.
    """
    if not isinstance(data, Mapping):
        raise PhalanxError(
            f"{source}: expected a JSON object mapping information-state strings to {{action: probability}}, "
            f"got {type(data).__name__}."
        )
    owner = {key: (p, i) for p, pt in enumerate(tree.players) for i, key in enumerate(pt.strings)}
    tables = [np.zeros(pt.legal.shape, np.float64) for pt in tree.players]
    for key, probs in data.items():
        if key not in owner:
            raise PhalanxError(
                f"{source}: unknown information state {key!r} for {tree.game}.{did_you_mean(str(key), owner)} "
                "Keys must be OpenSpiel information_state_string values."
            )
        p, i = owner[key]
        tables[p][i] = _row(tree, key, probs, tree.players[p].legal[i], source)
    seen = set(data)
    missing = [key for key in owner if key not in seen]
    if missing:
        shown = ", ".join(repr(k) for k in missing[:3])
        raise PhalanxError(
            f"{source}: {len(missing)} of {len(owner)} information states of {tree.game} are missing "
            f"(e.g. {shown}); give a distribution for every state of both players."
        )
    return tables[0].astype(np.float32), tables[1].astype(np.float32)


def _row(tree: GameTree, key: str, probs: Any, legal: np.ndarray, source: str) -> np.ndarray:
    where = f"{source}: state {key!r}"
    if not isinstance(probs, Mapping):
        raise PhalanxError(f"{where}: expected {{action id: probability}}, got {type(probs).__name__}.")
    row = np.zeros(tree.num_actions, np.float64)
    for action, prob in probs.items():
        try:
            a = int(action)
        except (TypeError, ValueError):
            a = -1
        if str(a) != str(action).strip() or not 0 <= a < tree.num_actions:
            raise PhalanxError(f"{where}: action {action!r} is not an action id 0..{tree.num_actions - 1}.")
        if isinstance(prob, bool) or not isinstance(prob, int | float) or not np.isfinite(prob) or prob < 0:
            raise PhalanxError(f"{where}: probability {prob!r} of action {a} must be a finite number >= 0.")
        if prob > 0 and not legal[a]:
            raise PhalanxError(
                f"{where}: action {a} is illegal there but has probability {prob}; "
                f"legal actions: {np.flatnonzero(legal).tolist()}."
            )
        row[a] = prob
    total = row.sum()
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise PhalanxError(f"{where}: probabilities sum to {total:.6g}, expected 1.")
    return row / total


def import_policy(tree: GameTree, path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read tables ``(pi0 (n0, A), pi1 (n1, A))`` float32 from a JSON file; see :func:`policy_from_dict`."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise PhalanxError(f"import_policy: no such file {str(path)!r}.") from None
    except json.JSONDecodeError as err:
        raise PhalanxError(f"import_policy: {str(path)!r} is not valid JSON ({err}).") from None
    return policy_from_dict(tree, data, source=str(path))


__all__ = ["SUM_TOLERANCE", "export_policy", "import_policy", "policy_from_dict", "policy_to_dict"]
