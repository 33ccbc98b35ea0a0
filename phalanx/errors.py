"""Errors that users cause and can fix.

Everything Phalanx raises for bad input derives from :class:`PhalanxError`, so the CLI
can print one clear line (and exit 2) instead of a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class PhalanxError(ValueError):
    """Bad input from the user: the message says what was wrong and what to do."""

    #: The command line's exit status for this error (2: bad input).
    exit_code = 2


class ConfigError(PhalanxError):
    """A configuration key or value is invalid."""


class RunFaultError(PhalanxError):
    """The machine failed a run (no space left, read-only disk, out of memory): one line, exit status 1."""

    exit_code = 1


class RunInterruptedError(PhalanxError):
    """Ctrl-C or SIGTERM stopped a run; the message says what was saved and how to resume (exit status 130)."""

    exit_code = 130


def did_you_mean(name: str, choices: Iterable[str], prefix: str = "") -> str:
    """Return ' Did you mean X?' for the closest choice, or '' if none is close.

    ``prefix`` is written before the suggestion, so a key in a group is named as the user types it
    (``train.lrr`` → ``'train.lr'``).

    Besides near-misses (``kuhn_pokr``), a name that is the first word of exactly one choice
    (``kuhn`` for ``kuhn_poker``) counts as close: difflib scores such short prefixes too low.
    """
    choices = list(choices)
    close = difflib.get_close_matches(name, choices, n=1)
    if not close and name:
        close = [c for c in choices if any(c.startswith(name + sep) for sep in "_-.")]
        close = close if len(close) == 1 else []
    return f" Did you mean {prefix + close[0]!r}?" if close else ""
