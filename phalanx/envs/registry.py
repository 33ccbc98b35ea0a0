"""Name → environment class, ``make(name, **kwargs)`` with clear errors, and each env's command defaults.

An env registers, beside its factory, the settings it wants under each command, written the way a
user types them (``"train.num_envs": 32``): ``train_defaults`` for ``phalanx train``,
``population_defaults`` for ``phalanx psro`` / ``selfplay`` and ``league_defaults`` for ``phalanx
league``. A command puts them beneath the user's own ``key=value`` arguments.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from phalanx.envs.environment import Environment
from phalanx.errors import PhalanxError, did_you_mean

_REGISTRY: dict[str, Callable[..., Environment]] = {}
_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {}  # env → command → {"group.key": value}

#: The commands an env may register defaults for, and the groups those defaults may set.
COMMAND_GROUPS: dict[str, tuple[str, ...]] = {
    "train": ("train",),
    "population": ("train", "population"),
    "league": ("env", "train", "league"),
}


def register(
    name: str,
    factory: Callable[..., Environment],
    *,
    train_defaults: dict[str, Any] | None = None,
    population_defaults: dict[str, Any] | None = None,
    league_defaults: dict[str, Any] | None = None,
) -> None:
    """Register ``factory`` (an env class or function taking keyword settings) as ``name``.

    Args:
        train_defaults, population_defaults, league_defaults: what ``phalanx train`` / ``psro`` and
            ``selfplay`` / ``league`` use on this env beneath the user's arguments, as dotted keys
            (``{"train.lr": 5e-4}``); ``train.*`` keys a learner does not have are skipped.
    """
    if name in _REGISTRY:
        old = _REGISTRY[name]
        raise PhalanxError(
            f"an environment named {name!r} is already registered "
            f"({getattr(old, '__module__', '?')}.{getattr(old, '__qualname__', repr(old))}); register yours under "
            "another name (re-running a notebook cell registers twice: register once, at import)."
        )
    given = {"train": train_defaults, "population": population_defaults, "league": league_defaults}
    for command, defaults in given.items():
        for key in defaults or {}:
            if key.split(".")[0] not in COMMAND_GROUPS[command] or "." not in key:
                raise PhalanxError(f"register({name!r}): {command}_defaults key {key!r} must start with one of "
                                   f"{', '.join(g + '.' for g in COMMAND_GROUPS[command])}")
    _REGISTRY[name] = factory
    _DEFAULTS[name] = {command: dict(d) for command, d in given.items() if d}


def command_defaults(name: str, command: str) -> dict[str, Any]:
    """The dotted defaults env ``name`` registered for ``command`` (``train``, ``population`` or ``league``).

    An unregistered name (a PettingZoo module) has none.
    """
    if command not in COMMAND_GROUPS:
        raise ValueError(f"command must be one of {', '.join(COMMAND_GROUPS)}, not {command!r}")
    return dict(_DEFAULTS.get(name, {}).get(command, {}))


def registered() -> list[str]:
    """Names of all registered environments, sorted."""
    return sorted(_REGISTRY)


def env_settings(name: str) -> dict[str, inspect.Parameter]:
    """The keyword settings ``make(name, ...)`` accepts, with their defaults."""
    factory = _lookup(name)
    target = factory.__init__ if inspect.isclass(factory) else factory
    params = inspect.signature(target).parameters
    kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return {k: p for k, p in params.items() if k != "self" and p.kind in kinds}


def _lookup(name: str) -> Callable[..., Environment]:
    if not isinstance(name, str) or name not in _REGISTRY:
        raise PhalanxError(
            f"unknown environment {name!r}.{did_you_mean(str(name), _REGISTRY)} "
            f"Registered environments: {', '.join(registered())}."
        )
    return _REGISTRY[name]


def make(name: str, **kwargs: Any) -> Environment:
    """Build the registered environment ``name`` with keyword settings.

    Raises:
        PhalanxError: for an unknown name (listing the registered ones), an unknown
            setting (listing the valid ones), or a value of the wrong type.
    """
    factory = _lookup(name)
    settings = env_settings(name)
    for key, value in kwargs.items():
        if key not in settings:
            raise PhalanxError(
                f"{name}: unknown setting {key!r}.{did_you_mean(key, settings)} "
                f"Valid settings: {', '.join(settings)}."
            )
        default = settings[key].default
        kwargs[key] = _coerce(name, key, value, default)
    return factory(**kwargs)


def _coerce(env: str, key: str, value: Any, default: Any) -> Any:
    """Accept ``2`` for a float setting and ``2.0`` for an int one; reject the rest."""
    if default is inspect.Parameter.empty or default is None:
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise PhalanxError(f"{env}: setting {key}={value!r} must be true or false.")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
            raise PhalanxError(f"{env}: setting {key}={value!r} must be an integer.")
        return int(value)
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PhalanxError(f"{env}: setting {key}={value!r} must be a number.")
        return float(value)
    return value
