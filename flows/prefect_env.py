"""Prefect's settings for this project, applied before Prefect is imported.

Prefect in its local mode keeps a database under ``PREFECT_HOME``: put it under ``DECIDE_HOME``
so the project never writes to a user's ``~/.prefect``; turn its telemetry off (offline it only
logs an error).  A user's own settings win (``setdefault``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["configure", "local_server"]


# Prefect's own default (20 s) is short for a first start on a busy 2-core machine, which also
# creates the local server's database: measured here under load, 20 s was not enough.
STARTUP_TIMEOUT_S = 90


def configure(home: Path, *, quiet: bool = False) -> None:
    os.environ.setdefault("PREFECT_HOME", str(home / "prefect"))
    os.environ.setdefault(
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", str(STARTUP_TIMEOUT_S)
    )
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if quiet:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        # the demo's temporary server: on a machine's first run its own SQLite database can be
        # busy while Prefect creates it, and its event recorder logs each retried flush as an
        # ERROR with a traceback ("database is locked … 1 to retry, 0 dropped") — Prefect's own
        # store, retried by Prefect, nothing a demo's reader can act on
        os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "CRITICAL")


@contextmanager
def local_server() -> Iterator[None]:
    """Prefect's temporary local API server, started here in one thread and stopped on the way
    out (nothing when ``PREFECT_API_URL`` names a server or ephemeral mode is off).

    Without an API URL, Prefect starts a temporary server subprocess the first time one of its
    clients needs it: the flow engine in the main thread, its event and log workers in their own
    threads.  ``SubprocessASGIServer.start`` is not guarded against two threads at once: seen
    here on a loaded machine, ``decide serve`` stopped on SIGTERM left a second server process
    running (holding the parent's stdout), because two threads had started one each and only the
    last one was stopped.  Started up front, every later caller finds it running; stopped here,
    not only by Prefect's ``atexit`` hook.
    """
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

    if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        yield
        return
    from prefect.server.api.server import SubprocessASGIServer

    from procedures.errors import Unavailable

    server = SubprocessASGIServer()
    try:
        server.start()
    except RuntimeError as exc:  # it did not answer in time (its own message says so)
        raise Unavailable(
            f"Prefect's local server did not start: {str(exc).splitlines()[0]} — on a slow or "
            "busy machine raise PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS (default here "
            f"{STARTUP_TIMEOUT_S} s), or run a Prefect server and set PREFECT_API_URL"
        ) from None
    try:
        yield
    finally:
        _flush()
        server.stop()


def _flush(timeout: float = 10) -> None:
    """Sends Prefect's queued logs and events while its server still answers.

    Left for Prefect's exit hooks they went to the stopped server, whose client retried for
    about 75 s before giving up (measured: ``decide serve`` took 76 s to exit after SIGTERM).
    """
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        worker.drain_all(timeout=timeout)
