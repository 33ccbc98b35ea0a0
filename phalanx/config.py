"""Typed, frozen configs filled from ``key=value`` command-line overrides.

Every command speaks one grammar: ``env=NAME`` and ``env.KEY=VALUE`` (the environment and its own
settings, validated by :func:`phalanx.make`), ``algo=`` and ``train.KEY=`` (the learner and its
settings), ``backend=`` and ``ray.KEY=``, ``seed=`` and ``num_seeds=``, plus one group a command owns
(``population.KEY=`` for psro/selfplay, ``league.KEY=`` for the league).

Values are parsed the way Hydra/OmegaConf parse them (``2e6`` is a float, ``true`` a bool, ``[1,2]``
a list), then checked against a frozen dataclass schema; a field's range is declared once, as
metadata (``num_envs: int = ranged(16, min=1)``), and enforced by :func:`build`. Every mistake
becomes one :class:`~phalanx.errors.ConfigError` line naming the key, the value and what was
expected. This module imports no JAX, so a mistake is reported before anything heavy loads.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from omegaconf import OmegaConf

from phalanx.errors import ConfigError, did_you_mean

T = TypeVar("T")

_POPULATION_RENAMED = {
    "game": "env", "ppo": "train", "ppo_seeds": "num_seeds", "ppo_compiler_options": "population.compiler_options",
    **{key: f"population.{key}" for key in ("oracle", "meta_solver", "iterations", "eval_episodes", "eval_steps",
                                           "meta_solver_options", "mode")},
}
#: Old spellings per command (the grammar before every command spoke ``env=`` and ``train.*``) → the new
#: ones; :func:`reject_renamed` turns them into one line each.
RENAMED: dict[str, dict[str, str]] = {
    "train": {"game": "env", "ppo": "train"},
    "psro": _POPULATION_RENAMED,
    "selfplay": _POPULATION_RENAMED,
    "league": {"game": "env", "ppo": "train", **{key: f"league.{key}" for key in (
        "main_agents", "main_exploiters", "league_exploiters", "total_steps", "updates_per_task", "eval_games",
        "final_games", "eval_chunk", "greedy_eval")}},
}


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
        key, _, value = arg.partition("=")
        if not value:
            raise ConfigError(f"{key}= has no value; write {key}=VALUE ({key}=null for none).")
    seen: dict[str, str] = {}
    for arg in args:
        key = arg.partition("=")[0]
        if key in seen:
            raise ConfigError(f"{key} is given twice ({seen[key]} and {arg}); keep one.")
        seen[key] = arg
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


def split_args(args: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``env=X env.N=3 a=1`` → ``({"env": "X", "a": 1}, {"N": 3})``: the command's values and the env's settings.

    ``env`` is both a name and a group, which one nested dict cannot hold, so ``env.KEY=`` args are
    parsed apart. Raises :class:`ConfigError` as :func:`parse_overrides` does.
    """
    name_args = [a for a in args if not a.startswith("env.")]
    env_args = [a for a in args if a.startswith("env.")]
    return parse_overrides(name_args), parse_overrides(env_args).get("env", {})


def ranged(default: Any, *, min: float | None = None, gt: float | None = None, note: str = "") -> Any:
    """A dataclass field whose value must be ``>= min`` (or ``> gt``); :func:`build` checks it.

    ``note`` ends the error message (``"0 = in this process"``). ``None`` values (optional fields)
    are not checked.
    """
    metadata = {k: v for k, v in (("min", min), ("gt", gt), ("note", note)) if v not in (None, "")}
    return dataclasses.field(default=default, metadata=metadata)


def check_range(path: str, value: Any, metadata: Mapping[str, Any]) -> None:
    """Raise the standard one-line :class:`ConfigError` if ``value`` is outside ``metadata``'s range."""
    if value is None or not isinstance(value, int | float):
        return
    kind = "an integer" if isinstance(value, int) else "a number"
    note = f" ({metadata['note']})" if "note" in metadata else ""
    if "min" in metadata and value < metadata["min"]:
        raise ConfigError(f"{path}={value}: expected {kind} >= {metadata['min']}{note}.")
    if "gt" in metadata and value <= metadata["gt"]:
        raise ConfigError(f"{path}={value}: expected {kind} > {metadata['gt']}{note}.")


def check_ranges(config: Any, prefix: str = "") -> None:
    """:func:`check_range` on every field of the dataclass ``config`` and of the dataclasses it holds.

    :func:`build` checks what users type; this checks a config constructed directly in Python.
    """
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            check_ranges(value, f"{prefix}{f.name}.")
        else:
            check_range(f"{prefix}{f.name}", value, f.metadata)


def build(schema: type[T], values: dict[str, Any], prefix: str = "") -> T:
    """Instantiate the frozen dataclass ``schema`` from nested ``values``, type- and range-checked."""
    fields = {f.name: f for f in dataclasses.fields(schema)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(schema)
    kwargs = {}
    for key, value in values.items():
        path = f"{prefix}{key}"
        if key not in fields:
            raise ConfigError(
                f"unknown key {path!r}.{did_you_mean(key, fields, prefix)} Valid keys: "
                f"{', '.join(prefix + k for k in fields)}."
            )
        kwargs[key] = _check(path, value, hints[key])
        check_range(path, kwargs[key], fields[key].metadata)
    return schema(**kwargs)


def reject_renamed(values: Mapping[str, Any], command: str) -> None:
    """A one-line :class:`ConfigError` for a key of ``command`` spelled the old way (``game=`` → ``env=``).

    :data:`RENAMED` maps an old top-level key to its new spelling; an old group (``ppo`` → ``train``)
    is reported with the first key the user gave under it (``ppo.lr`` → ``train.lr``).
    """
    renamed = RENAMED[command]
    for key, value in values.items():
        if key not in renamed:
            continue
        new = renamed[key]
        if isinstance(value, dict) and value:
            first = next(iter(value))
            key, new = f"{key}.{first}", f"{new}.{first}"
        raise ConfigError(f"{key}= is now {new}= (one grammar on every command; "
                          f"phalanx config {command} shows every key).")


def merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``top`` over ``base``, group by group (a nested dict merges; anything else replaces)."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def unflatten(dotted: Mapping[str, Any]) -> dict[str, Any]:
    """``{"train.lr": 1e-3}`` → ``{"train": {"lr": 1e-3}}``."""
    out: dict[str, Any] = {}
    for key, value in dotted.items():
        *groups, leaf = key.split(".")
        node = out
        for g in groups:
            node = node.setdefault(g, {})
        node[leaf] = value
    return out


def resume_request(values: dict[str, Any], env_settings: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """``(run directory, the other overrides)`` when the args say ``resume=DIR``, else ``None``.

    The other overrides must agree with the stored config (or be among the command's
    ``RESUME_OVERRIDABLE``); ``run_dir=`` beside ``resume=`` is an error, not ignored: a resumed run
    stays in its directory.
    """
    if values.get("resume") is None:
        return None
    if "run_dir" in values:
        raise ConfigError(f"run_dir= beside resume=: a resumed run stays in {values['resume']}; drop run_dir=.")
    overrides = {k: v for k, v in values.items() if k != "resume"}
    if env_settings:
        overrides["env_settings"] = env_settings
    return str(values["resume"]), overrides


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
