"""The composition root: settings → database → clock → units of work → services, wired once.

Every entry point (the CLI, the Prefect flows, the demo, and next the JSON API and the web
console) builds its services here and nowhere else.  Tests wire the same services with a fake
unit-of-work factory (``tests/unit``) or with the real stores (``tests/integration``).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from app.clock import utc_now
from app.commands import Commands
from store.dbapi import Database
from store.home import private_dir
from store.settings import Settings

__all__ = ["bootstrap"]


def bootstrap(
    settings: Settings | None = None,
    *,
    database_url: str | None = None,
    home: Path | str | None = None,
    clock: Callable[[], datetime] = utc_now,
    migrate: bool = True,
) -> Commands:
    """The services for one data home (``DECIDE_HOME`` / ``DECIDE_DATABASE_URL`` by default).

    ``migrate``: bring the schema to the newest revision first (what every command does on a
    fresh home); the flows and tests that already did so pass False.
    """
    if settings is None:
        settings = Settings.from_env()
    if database_url is not None or home is not None:
        settings = dataclasses.replace(
            settings,
            home=Path(home) if home is not None else settings.home,
            database_url=database_url or settings.database_url,
        )
    with contextlib.suppress(OSError):  # unwritable: what needs the home then says so
        private_dir(settings.home)  # 0700 when new, whichever engine (documents, keys live here)
    db = Database(
        settings.database_url,
        connect_timeout=settings.connect_timeout,
        statement_timeout=settings.statement_timeout,
    )
    if migrate:
        db.ensure_schema()
    return Commands(
        db,
        settings.home,
        clock=clock,
        max_attachment_bytes=settings.max_attachment_bytes,
        audit_key=settings.audit_key,
        audit_origin=settings.audit_origin,
        checkpoints=settings.checkpoints,
    )
