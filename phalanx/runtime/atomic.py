"""Atomic file writes: a reader (``phalanx plot`` on a running run, a resumed run after a kill) never sees
half a file.

Every run output that is rewritten in place (config.yaml, plots, marl_eval.json, meta_strategy.json, ...)
is written to a temporary name beside its target and renamed onto it; a rename within one directory is
atomic on POSIX file systems. Orbax checkpoints have their own atomic scheme (:mod:`phalanx.runtime.checkpoint`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed onto ``path`` when the block ends without error.

    The temporary name keeps the suffix (``plot.tmp.png``), so writers that pick a format from the file name
    (matplotlib) still work. On an error the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    tmp = path.with_name(f"{path.stem}.tmp{path.suffix}")
    try:
        yield tmp
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | Path, data: Any) -> None:
    """Write ``data`` as (indented) JSON to ``path`` atomically."""
    write_text(path, json.dumps(data, indent=1))
