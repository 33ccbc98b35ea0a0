"""Learners by name: what ``phalanx train algo=<name>`` runs.

Every learner compiles end to end and offers the same small interface to the runtime:

* a frozen dataclass of hyperparameters with ``total_steps``, ``num_envs``,
  ``steps_per_update``, ``num_updates`` and ``validate(prefix="train.")``;
* ``make_train(config, env) -> trainer`` where ``trainer.num_updates``,
  ``trainer.init(key) -> state`` and ``trainer.update(state) -> (state, metrics)`` are pure
  (the runtime scans ``update`` in compiled chunks, ``vmap``s it over seeds and checkpoints
  ``state``); ``metrics`` is a dataclass with ``env_steps``, ``episode_return_sum``
  (``{group: ()}``), ``episode_length_sum``, ``episode_count`` and any number of other
  ``{group: ()}`` or ``()`` entries (losses, ε, ...), all logged;
* ``trainer.initial_hidden(batch)`` and ``trainer.act(state, hidden, key, ts, first, greedy)``
  for evaluation and rendering.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import Any

from phalanx.errors import ConfigError, did_you_mean

#: Packages whose import registers learners (imported on first lookup, keeping ``import phalanx`` light).
ALGORITHM_PACKAGES = ("phalanx.algos.ppo", "phalanx.algos.continuous", "phalanx.algos.value_based")


@dataclasses.dataclass(frozen=True)
class Algorithm:
    """A registered learner.

    Attributes:
        name: what users type (``algo=NAME``).
        config_cls: its hyperparameter dataclass (the ``train.*`` keys).
        make_train: ``(config, env) -> trainer``.
        defaults: ``train.*`` values this name implies (``mappo`` sets ``critic="mappo"``);
            a user value that contradicts one is an error.
        description: one line for ``phalanx train --help``.
    """

    name: str
    config_cls: type
    make_train: Callable[[Any, Any], Any]
    defaults: dict[str, Any] = dataclasses.field(default_factory=dict)
    description: str = ""


_ALGORITHMS: dict[str, Algorithm] = {}


def register_algorithm(algorithm: Algorithm) -> None:
    """Add (or replace) a learner under ``algorithm.name``."""
    _ALGORITHMS[algorithm.name] = algorithm


def _load() -> None:
    for package in ALGORITHM_PACKAGES:
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
