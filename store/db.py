"""Where the data lives and how to reach it: settings, the engine factory, schema migrations.

Embedded default: a SQLite file under ``DECIDE_HOME`` (default ``./.decide/``) in WAL mode with
foreign keys on, a busy timeout, and ``synchronous=FULL`` so that a command that answered "done"
survives a power cut.  Scale-out: ``DECIDE_DATABASE_URL=postgresql+psycopg://…`` (PostgreSQL's
durable defaults).  The schema is managed by Alembic; ``Database.ensure_schema`` applies pending migrations
on first use (a cheap version check otherwise), ``decide db-upgrade`` does it explicitly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event

from store.settings import HEAD_REVISION

__all__ = ["HEAD_REVISION", "make_engine", "migrate"]

MIGRATIONS = Path(__file__).with_name("migrations")


def make_engine(url: str) -> Engine:
    """An engine with the durability and locking settings this project relies on."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    # No pre-ping: it costs a round trip per unit of work; connections are recycled instead.
    # Units of work end their transactions themselves (commit, or rollback on close), so the
    # pool need not send another ROLLBACK on every return.
    return create_engine(url, pool_recycle=1800, pool_reset_on_return=None)


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control from the driver so that BEGIN IMMEDIATE can be issued (below).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # A writing unit of work asks for IMMEDIATE: it takes the write lock at once (waiting up to
    # the busy timeout) instead of failing when a read lock cannot be upgraded.
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (Alembic ``upgrade head``)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
