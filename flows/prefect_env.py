"""Prefect's settings for this project, applied before Prefect is imported.

Prefect in its local mode keeps a database under ``PREFECT_HOME``: put it under ``DECIDE_HOME``
so the project never writes to a user's ``~/.prefect``; turn its telemetry off (offline it only
logs an error).  A user's own settings win (``setdefault``).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["configure"]


def configure(home: Path, *, quiet: bool = False) -> None:
    os.environ.setdefault("PREFECT_HOME", str(home / "prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if quiet:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
