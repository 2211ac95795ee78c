"""Serving the API: uvicorn over ``create_app`` (what ``decide web`` runs).

uvicorn picks httptools and uvloop (dependencies) when they are installed.  ``workers`` > 1
starts that many processes on one socket, each building its services from the environment
(``DECIDE_HOME``, ``DECIDE_DATABASE_URL``): nothing is kept in a process that another would
need (sessions are tokens in the database), so they answer alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.commands import Commands

__all__ = ["from_env", "serve"]


def serve(cmds_factory: Callable[[], Commands], *, host: str, port: int, workers: int = 1) -> None:
    import uvicorn

    from api.app import create_app

    _handoffs()
    if workers > 1:
        uvicorn.run(
            "api.serve:from_env", factory=True, host=host, port=port, workers=workers,
            log_level="warning",
        )  # fmt: skip
        return
    uvicorn.run(create_app(cmds_factory), host=host, port=port, log_level="warning")


def _handoffs() -> None:
    """Each request passes from the event loop's thread to a worker thread and back; a thread
    waiting for the GIL gets it only after the holder's switch interval (5 ms by default),
    which the server then adds to every request (measured: 4-7 ms of a 1 ms read).  0.5 ms."""
    import os
    import sys

    sys.setswitchinterval(float(os.environ.get("DECIDE_SWITCH_INTERVAL", "0.0005")))


def from_env() -> Any:
    """The app of one worker process: its services from the environment."""
    _handoffs()
    from api.app import create_app
    from app.bootstrap import bootstrap

    return create_app(lambda: bootstrap(migrate=False))
