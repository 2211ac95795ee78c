"""``decide db-upgrade``: the schema brought to the newest revision, the application role given
only what it needs (PostgreSQL, ``--owner-url``), the data home made private.

Without ``--owner-url`` the migrations run as the role of ``DECIDE_DATABASE_URL`` (the embedded
default, and a PostgreSQL database the application owns).  With it they run as the owner role
it names, and then, in the same transaction, the role of ``DECIDE_DATABASE_URL`` is granted
the application's privileges (``store.privileges``): reading and appending the audit log, no
right to alter a table or a trigger.  The home is tightened either way (``store.home``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from procedures.errors import InputError
from store.db import HEAD_REVISION, make_engine, migrate
from store.dbapi import Database, safe_url
from store.home import tighten_home
from store.privileges import Grants, grant_application_role
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
    role = _application_role(settings, owner_url) if owner_url else None
    engine = make_engine(
        owner_url or settings.database_url, connect_timeout=settings.connect_timeout
    )
    try:
        if role is not None:
            grants = migrate(engine, lambda conn: grant_application_role(conn, role))
        else:
            migrate(engine)
            grants = None
    finally:
        engine.dispose()
    db = Database(settings.database_url).file
    files = [Path(f"{db}{end}") for end in ("", "-wal", "-shm", "-journal")] if db else []
    return Upgrade(HEAD_REVISION, grants, tuple(tighten_home(settings.home, files)))


def _application_role(settings: Settings, owner_url: str) -> str:
    """The role of DECIDE_DATABASE_URL, once both URLs are known to name one PostgreSQL
    database."""
    from sqlalchemy import make_url
    from sqlalchemy.exc import ArgumentError

    if settings.is_sqlite:
        raise InputError(
            "--owner-url 仅用于 PostgreSQL is for a PostgreSQL store: set DECIDE_DATABASE_URL to "
            "the application role's postgresql+psycopg://… URL"
        )
    try:
        owner, app = make_url(owner_url), make_url(settings.database_url)
    except ArgumentError:
        raise InputError(
            f"--owner-url {safe_url(owner_url)!r} 不是数据库地址 is not a database URL "
            "(postgresql+psycopg://OWNER@HOST:5432/DATABASE)"
        ) from None
    if not owner.drivername.startswith("postgresql"):
        raise InputError(
            f"--owner-url {safe_url(owner_url)!r} 不是 PostgreSQL 地址 is not a PostgreSQL URL "
            "(postgresql+psycopg://OWNER@HOST:5432/DATABASE)"
        )
    mine = (owner.host or "", owner.port or 5432, owner.database)
    theirs = (app.host or "", app.port or 5432, app.database)
    if mine != theirs:
        raise InputError(
            f"两个地址不是同一数据库 --owner-url names {mine[0]}:{mine[1]}/{mine[2]}, "
            f"DECIDE_DATABASE_URL {theirs[0]}:{theirs[1]}/{theirs[2]}: both must name the "
            "database the application uses"
        )
    if not app.username:
        raise InputError(
            "DECIDE_DATABASE_URL 未写明用户 names no user: give the application role in it "
            "(postgresql+psycopg://decide_app@HOST:5432/DATABASE)"
        )
    return app.username
