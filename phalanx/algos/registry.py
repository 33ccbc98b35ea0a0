"""Learners by name: what ``algo=<name>`` runs in every command.

Every learner implements the one :class:`~phalanx.algos.common.protocol.Learner` protocol (see
there): its package provides a frozen dataclass of hyperparameters (``total_steps``, ``num_envs``,
``steps_per_update``, ``num_updates``, ``validate(prefix="train.")``) and
``make_train(config, env, learners=None) -> Learner``, and registers both with
:func:`register_algorithm` when imported. Learner packages are the subpackages of
:mod:`phalanx.algos` (found with :mod:`pkgutil` on first lookup, so ``import phalanx`` stays
light); a learner defined elsewhere registers itself the same way. ``docs/adding-a-learner.md``
walks through one.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

from phalanx.errors import ConfigError, did_you_mean

#: Subpackages of ``phalanx.algos`` that hold shared pieces, not learners.
NOT_LEARNERS = frozenset({"common"})


@dataclasses.dataclass(frozen=True)
class Algorithm:
    """A registered learner.

    Attributes:
        name: what users type (``algo=NAME``).
        config_cls: its hyperparameter dataclass (the ``train.*`` keys).
        make_train: ``(config, env, learners=None) -> Learner``.
        defaults: ``train.*`` values this name implies (``mappo`` sets ``critic="mappo"``);
            a user value that contradicts one is an error.
        description: one line for ``phalanx train --help``.
        offline: it learns from a recorded dataset (``data=PATH``) instead of acting in the env, so it
            trains every group itself and cannot best-respond to opponents (no PSRO, self-play, league).
    """

    name: str
    config_cls: type
    make_train: Callable[..., Any]
    defaults: dict[str, Any] = dataclasses.field(default_factory=dict)
    description: str = ""
    offline: bool = False


_ALGORITHMS: dict[str, Algorithm] = {}


def register_algorithm(algorithm: Algorithm) -> None:
    """Add (or replace) a learner under ``algorithm.name``."""
    _ALGORITHMS[algorithm.name] = algorithm


def learner_packages() -> list[str]:
    """The subpackages of :mod:`phalanx.algos` whose import registers learners."""
    import phalanx.algos

    return [f"phalanx.algos.{m.name}" for m in pkgutil.iter_modules(phalanx.algos.__path__)
            if m.ispkg and m.name not in NOT_LEARNERS]


def _load() -> None:
    for package in learner_packages():
        importlib.import_module(package)


def algorithms() -> dict[str, Algorithm]:
    """All registered learners by name."""
    _load()
    return dict(sorted(_ALGORITHMS.items()))


def get_algorithm(name: str) -> Algorithm:
    """The learner called ``name``; a one-line :class:`ConfigError` naming the valid ones otherwise."""
    known = algorithms()
    if name not in known:
        raise ConfigError(f"algo={name!r}: unknown algorithm.{did_you_mean(name, known)} Valid: {', '.join(known)}.")
    return known[name]
