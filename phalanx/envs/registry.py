"""Name → environment class, ``make(name, **kwargs)`` with clear errors, and each env's command defaults.

An env registers, beside its factory, the settings it wants under each command, written the way a
user types them (``"train.num_envs": 32``): ``train_defaults`` for ``phalanx train``,
``population_defaults`` for ``phalanx psro`` / ``selfplay`` and ``league_defaults`` for ``phalanx
league``. A command puts them beneath the user's own ``key=value`` arguments.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

from phalanx.envs.environment import Environment
from phalanx.errors import PhalanxError, did_you_mean
from phalanx.xla_cpu import avoid_scheduler_deadlock, enabled_by_environment, unroll_threefry_on_cpu

# Same random bits as JAX's own lowering, compiled without a loop per random call (phalanx/xla_cpu.py).
# Here because every env, learner and run imports the registry, and ``import phalanx`` loads no JAX.
if enabled_by_environment():
    unroll_threefry_on_cpu()
avoid_scheduler_deadlock()

#: name → env class or factory, or its ``"module:attribute"`` path (imported on first use).
_REGISTRY: dict[str, Callable[..., Environment] | str] = {}
#: ``prefix`` → ``factory(name, **settings)`` (or its ``"module:function"`` path, imported on first use)
#: for envs named ``<prefix>:<name>``: other libraries' envs, built by an adapter.
_NAMESPACES: dict[str, Callable[..., Environment] | str] = {}
_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {}  # env → command → {"group.key": value}
_ALGO_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {}  # env → algorithm → {"train.key": value}

#: The commands an env may register defaults for, and the groups those defaults may set.
COMMAND_GROUPS: dict[str, tuple[str, ...]] = {
    "train": ("train",),
    "population": ("train", "population"),
    "league": ("env", "train", "league"),
}


def register(
    name: str,
    factory: Callable[..., Environment] | str,
    *,
    train_defaults: dict[str, Any] | None = None,
    population_defaults: dict[str, Any] | None = None,
    league_defaults: dict[str, Any] | None = None,
    algo_defaults: dict[str, dict[str, Any]] | None = None,
) -> None:
    """Register ``factory`` (an env class or function taking keyword settings) as ``name``.

    Args:
        factory: the env class or factory, or its path ``"package.module:attribute"``, imported
            when the name is first made (an env built on an optional library, such as ``smax``).
        train_defaults, population_defaults, league_defaults: what ``phalanx train`` / ``psro`` and
            ``selfplay`` / ``league`` use on this env beneath the user's arguments, as dotted keys
            (``{"train.lr": 5e-4}``); ``train.*`` keys a learner does not have are skipped.
        algo_defaults: ``{algorithm: {"train.key": value}}``, settings for one learner on this env
            (``{"qmix": {"train.lr": 5e-5}}``), over the command's defaults under every command.
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
    for algo, defaults in (algo_defaults or {}).items():
        for key in defaults:
            if not key.startswith("train."):
                raise PhalanxError(f"register({name!r}): algo_defaults[{algo!r}] key {key!r} must start with train.")
    _REGISTRY[name] = factory
    _DEFAULTS[name] = {command: dict(d) for command, d in given.items() if d}
    _ALGO_DEFAULTS[name] = {algo: dict(d) for algo, d in (algo_defaults or {}).items()}


def command_defaults(name: str, command: str, algo: str | None = None) -> dict[str, Any]:
    """The dotted defaults env ``name`` registered for ``command`` (``train``, ``population`` or ``league``),
    with those it registered for the learner ``algo`` over them.

    An unregistered name (a PettingZoo module) has none.
    """
    if command not in COMMAND_GROUPS:
        raise ValueError(f"command must be one of {', '.join(COMMAND_GROUPS)}, not {command!r}")
    return {**_DEFAULTS.get(name, {}).get(command, {}), **_ALGO_DEFAULTS.get(name, {}).get(algo, {})}


def register_namespace(prefix: str, factory: Callable[..., Environment] | str) -> None:
    """Make ``make("<prefix>:<name>", **settings)`` call ``factory(name, **settings)``.

    An adapter to another library registers its prefix this way (``jaxmarl:``, ``jumanji:``); the
    adapter checks the name and the settings itself. ``factory`` may be given as its path,
    ``"package.module:function"``, imported only when a name with the prefix is first made (as
    Gymnasium's entry points are), so that naming an adapter costs nothing until it is used.
    """
    if prefix in _NAMESPACES:
        raise PhalanxError(f"the env prefix {prefix!r}: is already registered.")
    _NAMESPACES[prefix] = factory


def _loaded(table: dict[str, Any], key: str) -> Callable[..., Environment]:
    """``table[key]``, importing it first (and keeping the import) when it is a ``"module:attribute"`` path."""
    factory = table[key]
    if isinstance(factory, str):
        module, _, attr = factory.partition(":")
        factory = table[key] = getattr(importlib.import_module(module), attr)
    return factory


def _namespace_factory(prefix: str) -> Callable[..., Environment]:
    return _loaded(_NAMESPACES, prefix)


def from_jaxmarl(name: str, **settings: Any) -> Environment:
    """The JaxMARL env ``name`` as a Phalanx env: ``make("jaxmarl:<name>", **settings)``."""
    return make(f"jaxmarl:{name}", **settings)


def from_jumanji(name: str, **settings: Any) -> Environment:
    """The Jumanji env ``name`` as a Phalanx env: ``make("jumanji:<name>", **settings)``."""
    return make(f"jumanji:{name}", **settings)


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
            f"Registered environments: {', '.join(registered())}"
            + (f"; and other libraries' as {', '.join(p + ':<name>' for p in sorted(_NAMESPACES))}." if _NAMESPACES
               else ".")
        )
    return _loaded(_REGISTRY, name)


def make(name: str, **kwargs: Any) -> Environment:
    """Build the registered environment ``name`` with keyword settings.

    ``"<prefix>:<name>"`` builds another library's env through the adapter registered for the
    prefix (:func:`register_namespace`), e.g. ``make("jaxmarl:MPE_simple_spread_v3")``.

    Raises:
        PhalanxError: for an unknown name (listing the registered ones), an unknown
            setting (listing the valid ones), or a value of the wrong type.
    """
    prefix, sep, rest = name.partition(":") if isinstance(name, str) else ("", "", "")
    if sep and prefix in _NAMESPACES:
        return _namespace_factory(prefix)(rest, **kwargs)
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
