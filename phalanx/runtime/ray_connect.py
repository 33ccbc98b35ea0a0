"""Joining Ray: import it with a clear error, and connect to a cluster without hanging on a wrong address.

``ray.init(address=...)`` at a port that accepts connections but is not Ray waits for a long time, so
:func:`connect` first opens a TCP connection and checks that the port speaks gRPC (Ray's GCS does),
each time-limited, and reports a wrong address in one line.

Starting a local Ray prints two warnings on every run that say nothing about the run; :func:`connect` drops
exactly those two, nothing else (see :func:`_quiet_start`).
"""

from __future__ import annotations

import logging
import socket
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from phalanx.errors import PhalanxError
from phalanx.runtime.faults import speaks_grpc


def import_ray() -> Any:
    """``import ray`` with a clear error when it is missing."""
    try:
        import ray
    except ImportError as e:
        raise PhalanxError('backend=ray needs Ray, which is not installed: pip install -e ".[ray]" '
                           '(or pip install "ray[default]"), or use backend=local.') from e
    return ray


#: Ray's notice, on every new local cluster, that it turned on token authentication by default.
_TOKEN_NOTICE = "Token authentication is enabled for this Ray cluster"


def _drop_token_notice(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith(_TOKEN_NOTICE)


@contextmanager
def _quiet_start() -> Iterator[None]:
    """``ray.init`` without its two start-up warnings that are not about the run.

    - JAX's "os.fork() was called ... will likely lead to a deadlock" (RuntimeWarning): Ray starts its GCS,
      raylet and agents with ``subprocess.Popen(..., preexec_fn=...)``, which runs the at-fork hooks JAX
      registered once it has threads. The child only masks SIGINT and sets its parent-death signal before
      ``exec``: it never runs JAX, so nothing can deadlock. Ignored only inside this block, only that message.
    - Ray's "Token authentication is enabled for this Ray cluster. Set RAY_AUTH_MODE=disabled to opt out"
      (Ray >= 2.5x turns token authentication on for a new local cluster when ``RAY_AUTH_MODE`` is unset, and
      says so every time). The default is kept (the cluster has a token); only that notice is dropped. Its
      opposite, the warning that authentication is *disabled*, still shows.
    """
    token_logger = logging.getLogger("ray._private.authentication.authentication_token_setup")
    token_logger.addFilter(_drop_token_notice)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)
            yield
    finally:
        token_logger.removeFilter(_drop_token_notice)


def _reachable(address: str, timeout: float = 5.0) -> str | None:
    """``None`` if a TCP connection to ``HOST:PORT`` opens, else why not."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        return f"expected auto or HOST:PORT, got {address!r}"
    try:
        with socket.create_connection((host.removeprefix("ray://"), int(port)), timeout=timeout):
            return None
    except OSError as e:
        return str(e) or type(e).__name__


def connect(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Make sure this process is connected to Ray; return True if this call started or joined it.

    Args:
        address: ``"auto"`` (the cluster ``ray start`` started on this machine), ``"HOST:PORT"`` (a head
            node's GCS address), or None: start a local Ray (with ``num_cpus`` CPUs, default all).

    Raises:
        PhalanxError: Ray is not installed, or no cluster answers at ``address`` (one line).
    """
    ray = import_ray()
    if ray.is_initialized():
        return False
    if address not in (None, "", "auto", "local"):
        why = _reachable(address)
        if why is None and not address.startswith("ray://"):  # open, but is it Ray? (ray.init would hang)
            host, _, port = address.rpartition(":")
            why = speaks_grpc(host, int(port))
        if why is not None:
            raise PhalanxError(f"ray.address={address}: no Ray cluster reachable there ({why}); start one with "
                               "`ray start --head` and pass the address it prints, or drop ray.address to start "
                               "a local Ray.")
    try:
        with _quiet_start():
            if address in (None, "", "local"):
                # address="local": a new Ray even when a `ray start` cluster runs here (ray.init() would join it)
                ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=True)
            else:
                ray.init(address=address, log_to_driver=True)
    except (ConnectionError, RuntimeError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise PhalanxError(f"ray.address={address}: cannot connect to a Ray cluster ({first}); start one with "
                           "`ray start --head`, or drop ray.address to start a local Ray.") from None
    return True
