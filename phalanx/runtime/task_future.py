"""``TaskFuture``: a submitted task and, once done, its result — what every backend hands back.

Its own module so that :mod:`phalanx.runtime.backend` (which builds the Ray backend on request) and
:mod:`phalanx.runtime.ray_backend` both use it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TaskFuture:
    """A submitted task: its name (for messages), and its result once done."""

    name: str
    result: Any = None
    error: BaseException | None = None
    handle: Any = None  # backend-specific (a Ray ObjectRef)
    meta: dict[str, Any] = field(default_factory=dict)
