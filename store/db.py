"""Where the data lives and how to reach it: settings, the engine factory, schema migrations.

Embedded default: a SQLite file under ``DECIDE_HOME`` (default ``./.decide/``) in WAL mode with
foreign keys on, a busy timeout, and ``synchronous=FULL`` so that a command that answered "done"
survives a power cut.  Scale-out: ``DECIDE_DATABASE_URL=postgresql+psycopg://…`` (PostgreSQL's
durable defaults).  The schema is managed by Alembic; ``Database.ensure_schema`` applies pending migrations
on first use (a cheap version check otherwise), ``decide db-upgrade`` does it explicitly.

Several first commands on a fresh database may migrate at once: each migration holds the
database's migration lock for its whole transaction (SQLite: ``BEGIN IMMEDIATE``, the write
lock; PostgreSQL: a transaction-level advisory lock) and Alembic reads the revision under it, so
the first one migrates and the others find the schema current.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, make_url, text

from store.settings import HEAD_REVISION

__all__ = ["HEAD_REVISION", "MIGRATION_LOCK", "make_engine", "migrate"]

MIGRATIONS = Path(__file__).with_name("migrations")
T = TypeVar("T")
# pg_advisory_xact_lock's key for schema migrations (any constant: advisory locks are per database)
MIGRATION_LOCK = 7_130_713_000_001


def make_engine(url: str, *, connect_timeout: float | None = None) -> Engine:
    """An engine with the durability and locking settings this project relies on; on
    PostgreSQL a connection must be made within ``connect_timeout`` seconds (by default
    DECIDE_DB_CONNECT_TIMEOUT).  No statement timeout here: this engine serves the long bulk
    reads (verification, export) and the migrations."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            from store.home import private_file

            private_file(Path(path))  # 0600 in a 0700 directory when new
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if connect_timeout is None:
        from store.settings import connect_timeout as from_env

        connect_timeout = from_env()
    parsed = make_url(url)
    if "connect_timeout" not in parsed.query:
        # in the URL itself, so that the verification's helper processes (which connect with
        # the engine's URL) have it too
        parsed = parsed.update_query_dict({"connect_timeout": str(max(2, round(connect_timeout)))})
    # No pre-ping: it costs a round trip per unit of work; connections are recycled instead.
    # Units of work end their transactions themselves (commit, or rollback on close), so the
    # pool need not send another ROLLBACK on every return.
    return create_engine(parsed, pool_recycle=1800, pool_reset_on_return=None)


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


def migrate(
    engine: Engine,
    then: Callable[[Connection], T] | None = None,
    *,
    first: Callable[[Connection], object] | None = None,
) -> T | None:
    """Bring the schema to the newest revision (Alembic ``upgrade head``), holding the
    migration lock, so that concurrent first commands migrate once; ``first`` runs in the same
    transaction before the migrations (a check that may refuse) and ``then`` after them (the
    grants of ``db-upgrade --owner-url``), whose answer is returned: all of it commits, or
    nothing.

    Raises ``Unavailable`` (no traceback) when the database cannot be reached, when the role
    may not change the schema (a least-privilege application role: ``decide db-upgrade
    --owner-url``), or when the schema is newer than this version of the code."""
    from alembic import command
    from alembic.config import Config
    from alembic.util import CommandError
    from sqlalchemy.exc import DBAPIError

    from procedures.errors import Unavailable
    from store.dbapi import safe_url, unreachable

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    where = safe_url(
        engine.url.difference_update_query(["connect_timeout"]).render_as_string(
            hide_password=False
        )
    )
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK}
                    )
                if first is not None:
                    first(conn)
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
                return then(conn) if then is not None else None
    except CommandError as exc:  # e.g. a revision this code does not know: a newer schema
        raise Unavailable(
            f"数据库结构版本不符 the schema of {where} cannot be brought to revision "
            f"{HEAD_REVISION}: {exc} — is this an older version of decide than the database's?"
        ) from None
    except DBAPIError as exc:
        original = exc.orig if exc.orig is not None else exc
        if getattr(original, "sqlstate", None) == "42501":  # insufficient_privilege
            raise Unavailable(
                f"无权升级数据库结构 the role connecting to {where} may not change the schema "
                f"(it needs revision {HEAD_REVISION}): {str(original).strip().splitlines()[0]} — "
                "run decide db-upgrade --owner-url URL (the owner role's URL)"
            ) from None
        raise Unavailable(
            unreachable(
                where, original, connect_timeout=_connect_timeout(engine), statement_timeout=0
            )
        ) from None


def _connect_timeout(engine: Engine) -> float:
    value = engine.url.query.get("connect_timeout")
    try:
        return float(value) if isinstance(value, str) else 0.0
    except ValueError:
        return 0.0
