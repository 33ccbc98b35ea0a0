"""Name → environment class, and ``make(name, **kwargs)`` with clear errors."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from phalanx.envs.environment import Environment
from phalanx.errors import PhalanxError, did_you_mean

_REGISTRY: dict[str, Callable[..., Environment]] = {}


def register(name: str, factory: Callable[..., Environment]) -> None:
    """Register ``factory`` (an env class or function taking keyword settings) as ``name``."""
    if name in _REGISTRY:
        old = _REGISTRY[name]
        raise PhalanxError(
            f"an environment named {name!r} is already registered "
            f"({getattr(old, '__module__', '?')}.{getattr(old, '__qualname__', repr(old))}); register yours under "
            "another name (re-running a notebook cell registers twice: register once, at import)."
        )
    _REGISTRY[name] = factory


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
