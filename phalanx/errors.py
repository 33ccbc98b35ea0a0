"""Errors that users cause and can fix.

Everything Phalanx raises for bad input derives from :class:`PhalanxError`, so the CLI
can print one clear line (and exit 2) instead of a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class PhalanxError(ValueError):
    """Bad input from the user: the message says what was wrong and what to do."""


class ConfigError(PhalanxError):
    """A configuration key or value is invalid."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ' Did you mean X?' for the closest choice, or '' if none is close."""
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""
