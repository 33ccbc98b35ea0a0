"""Typed, frozen configs filled from ``key=value`` command-line overrides.

Values are parsed the way Hydra/OmegaConf parse them (``2e6`` is a float, ``true`` a
bool, ``[1,2]`` a list), then checked against a frozen dataclass schema. Every mistake
becomes one :class:`~phalanx.errors.ConfigError` line naming the key, the value and what
was expected. Keys under ``env.`` are the environment's own settings, validated by
:func:`phalanx.make`.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar

from omegaconf import OmegaConf

from phalanx.errors import ConfigError, did_you_mean

T = TypeVar("T")


def parse_overrides(args: list[str]) -> dict[str, Any]:
    """``["a=1", "env.n=3"]`` → ``{"a": 1, "env": {"n": 3}}`` with YAML-typed values.

    Raises:
        ConfigError: naming the first argument that is not ``key=value`` (with the fix:
            ``--seed 3`` → ``seed=3``), or whose value does not parse.
    """
    for i, arg in enumerate(args):
        if arg.startswith("-"):
            key, _, value = arg.lstrip("-").partition("=")
            if not value and i + 1 < len(args) and "=" not in args[i + 1]:
                value = args[i + 1]
            raise ConfigError(f"argument {arg!r}: phalanx takes key=value overrides, not --flags; "
                              f"write {key or 'KEY'}={value or 'VALUE'}.")
        if "=" not in arg or arg.startswith("="):
            hint = f"{arg}={args[i + 1]}" if i + 1 < len(args) and "=" not in args[i + 1] else f"{arg or 'KEY'}=VALUE"
            raise ConfigError(f"argument {arg!r} is not of the form key=value (e.g. env=tag); write {hint}.")
    for arg in args:  # one at a time, so the error names the argument that does not parse
        try:
            OmegaConf.from_dotlist([arg])
        except Exception as e:  # omegaconf's grammar errors are long; keep the first line
            raise ConfigError(
                f"could not parse {arg!r}: {str(e).splitlines()[0]}. Lists are written [1,2] with no spaces "
                "(or quote the whole argument); strings with special characters need quotes: key='a b'."
            ) from None
    try:
        return OmegaConf.to_container(OmegaConf.from_dotlist(args))  # type: ignore[return-value]
    except Exception as e:  # e.g. `env=tag env.n=3` in one dict: env is both a value and a group
        raise ConfigError(f"could not combine overrides {args}: {str(e).splitlines()[0]}") from None


def build(schema: type[T], values: dict[str, Any], prefix: str = "") -> T:
    """Instantiate the frozen dataclass ``schema`` from nested ``values``, type-checked."""
    fields = {f.name: f for f in dataclasses.fields(schema)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(schema)
    kwargs = {}
    for key, value in values.items():
        path = f"{prefix}{key}"
        if key not in fields:
            raise ConfigError(
                f"unknown key {path!r}.{did_you_mean(key, fields)} Valid keys: "
                f"{', '.join(prefix + k for k in fields)}."
            )
        kwargs[key] = _check(path, value, hints[key])
    return schema(**kwargs)


def _check(path: str, value: Any, hint: Any) -> Any:
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(f"{path}={value!r}: expected a group of keys ({path}.KEY=VALUE).")
        return build(hint, value, prefix=f"{path}.")
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _check(path, value, option)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0])
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}={value!r}: expected a group of keys.")
        return value
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{path}={value!r}: expected a list like [1,2].")
        (item,) = set(typing.get_args(hint)) - {Ellipsis} or {Any}
        return tuple(_check(f"{path}[{i}]", v, item) for i, v in enumerate(value))
    if hint is Any:
        return value
    if typing.get_origin(hint) is typing.Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise ConfigError(
                f"{path}={value!r}: expected one of {', '.join(map(str, choices))}."
                f"{did_you_mean(str(value), map(str, choices))}"
            )
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}={value!r}: expected true or false.")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
            raise ConfigError(f"{path}={value!r}: expected an integer.")
        return int(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{path}={value!r}: expected a number.")
        return float(value)
    if hint is str:
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ConfigError(f"{path}={value!r}: expected a string.")
        return str(value)
    return value


def to_dict(config: Any) -> dict[str, Any]:
    """A plain nested dict of a config dataclass (for YAML/JSON output)."""
    return dataclasses.asdict(config)


def to_yaml(config: Any) -> str:
    """The resolved config as YAML."""
    return OmegaConf.to_yaml(OmegaConf.create(to_dict(config)))
