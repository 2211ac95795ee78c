"""``decide db-upgrade``: the schema brought to the newest revision, the application role given
only what it needs (PostgreSQL, ``--owner-url``), the data home made private.

Without ``--owner-url`` the migrations run as the role of ``DECIDE_DATABASE_URL`` (the embedded
default, and a PostgreSQL database the application owns).  With it they run as the owner role
it names, and then, in the same transaction, the role of ``DECIDE_DATABASE_URL`` is granted
the application's privileges (``store.privileges``): reading and appending the audit log, no
right to alter a table or a trigger.  The home is tightened either way (``store.home``), and the
signing key and its checkpoint log where ``DECIDE_AUDIT_KEY`` keeps them elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from procedures.errors import InputError
from store.db import HEAD_REVISION, make_engine, migrate
from store.dbapi import Database
from store.home import tighten_home
from store.privileges import (
    Grants,
    application_role,
    check_application_role,
    grant_application_role,
)
from store.settings import Settings

__all__ = ["Upgrade", "db_upgrade"]


@dataclass(frozen=True)
class Upgrade:
    revision: str
    grants: Grants | None  # with --owner-url: what the application role now holds
    tightened: tuple[str, ...]  # what was made private in the home, one line each


def db_upgrade(settings: Settings | None = None, *, owner_url: str | None = None) -> Upgrade:
    """Migrate (as the owner when ``owner_url`` is given, granting the application role),
    then tighten the home; nothing is granted or migrated when a check refuses."""
    settings = settings or Settings.from_env()
    if owner_url and settings.is_sqlite:
        raise InputError(
            "--owner-url 仅用于 PostgreSQL is for a PostgreSQL store: set DECIDE_DATABASE_URL to "
            "the application role's postgresql+psycopg://… URL"
        )
    role = application_role(owner_url, settings.database_url) if owner_url else None
    engine = make_engine(
        owner_url or settings.database_url, connect_timeout=settings.connect_timeout
    )
    try:
        if role is not None:
            grants = migrate(
                engine,
                lambda conn: grant_application_role(conn, role),
                first=lambda conn: check_application_role(conn, role),
            )
        else:
            migrate(engine)
            grants = None
    finally:
        engine.dispose()
    db = Database(settings.database_url).file
    files = [Path(f"{db}{end}") for end in ("", "-wal", "-shm", "-journal")] if db else []
    if settings.audit_key is not None:  # a signing key kept outside the home, its log beside it
        files += [settings.audit_key, settings.audit_key.with_name("checkpoints.jsonl")]
    return Upgrade(HEAD_REVISION, grants, tuple(tighten_home(settings.home, files)))
