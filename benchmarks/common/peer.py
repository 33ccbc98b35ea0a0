"""A peer library's compiled program in its own interpreter: how benchmarks time JaxMARL or Mava beside Phalanx.

Each peer lives in its own virtualenv (its own JAX version), so it cannot be imported here: it runs as a
child process that compiles once and then times one call per request, turn about with Phalanx's side.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any


class PeerProcess:
    """A peer library's compiled program in its own interpreter (its own virtualenv), timed on request.

    The child runs ``driver`` (Python source) with ``args``: it compiles, prints one JSON line holding
    ``env_steps`` (steps per timed call; any other keys, such as a compile time, are kept in ``ready``),
    then for every line it reads on stdin runs once and prints ``{"seconds": ...}``. Other output lines
    (a peer's own banners) are skipped. Keeping the peer alive lets a benchmark time both sides turn
    about with compilation excluded.
    """

    def __init__(self, python: str, driver: str, args: list[Any], name: str, cwd: str | None = None,
                 quiet: bool = False):
        self.name = name
        self.proc = subprocess.Popen([python, "-c", driver, *map(str, args)], cwd=cwd, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL if quiet else None, text=True)
        self.ready: dict = self._read()
        self.env_steps: int = self.ready["env_steps"]

    def _read(self) -> dict:
        for line in self.proc.stdout:
            if line.startswith("{"):
                return json.loads(line)
        raise RuntimeError(f"the {self.name} process exited with status {self.proc.wait()}; "
                           "run its driver by hand to see its error")

    def time(self) -> float:
        """Seconds of one timed call in the peer process."""
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        return self._read()["seconds"]

    def close(self) -> None:
        """End the peer process."""
        self.proc.stdin.close()
        self.proc.wait()
