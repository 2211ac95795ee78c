"""Driver connections for the interactive path, without SQLAlchemy.

Measured on this machine (2 cores, median of 5): ``import sqlalchemy`` 0.21 s, ``import
sqlmodel`` 0.38 s, ``import prefect`` 1.04 s.  A command must answer in well under half of the
Prefect import, so the commands (units of work, repositories, the audit append, the outbox) talk
to the DB-API drivers directly: ``sqlite3`` (standard library) or ``psycopg``.  SQLModel and
SQLAlchemy still own the schema (``store.tables``), the migrations (Alembic) and the bulk paths
(verification, export, the flows); ``Database.engine`` builds that engine only when asked.

``Link`` is what the statements in ``store.fastsql`` run on: a driver connection, its dialect,
and the writes deferred until the next statement that needs an answer (or the commit).
"""

from __future__ import annotations

import contextlib
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["Database", "Link", "link_for", "pg_conninfo", "safe_url"]


class Link:
    """``driver`` None: a writing unit of work not yet in its turn (``attach`` gets it one)."""

    __slots__ = ("attach", "dialect", "driver", "head", "pending")

    def __init__(self, driver: Any, dialect: str) -> None:
        self.attach: Any = None  # called with the link when it first needs the database
        self.driver = driver
        self.dialect = dialect
        self.pending: list[Any] | None = None  # None: deferral off, writes run at once
        # the audit chain head a writer's batch holds (``store.audit.HeldHead``), or None
        self.head: Any = None


def link_for(conn: Any) -> Link:
    """A ``Link`` for a ``Link``, an SQLAlchemy ``Connection`` or a SQLModel/SQLAlchemy session."""
    if isinstance(conn, Link):
        return conn
    if hasattr(conn, "get_bind") and callable(getattr(conn, "connection", None)):
        conn = conn.connection()  # a Session: its transaction's connection
    driver = conn.connection.driver_connection
    link: Link | None = conn.info.get("decide_link")
    if link is None or link.driver is not driver:
        link = Link(driver, conn.dialect.name)
        conn.info["decide_link"] = link
    return link


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def pg_conninfo(url: str, *, connect_timeout: float, statement_timeout: float) -> str:
    """The libpq connection string for a ``postgresql+psycopg://`` URL, with the connect
    timeout and (unless 0) the statement timeout — where the URL sets neither itself."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(url.replace("postgresql+psycopg://", "postgresql://", 1))
    params.setdefault("connect_timeout", str(max(2, round(connect_timeout))))
    if statement_timeout:
        # first, so that a statement_timeout the URL's own options give still wins
        ours = f"-c statement_timeout={round(statement_timeout * 1000)}"
        params["options"] = f"{ours} {params.get('options') or ''}".strip()
    return make_conninfo("", **params)


class Database:
    """A database named by URL (``sqlite:///path`` or ``postgresql+psycopg://…``).

    On PostgreSQL a connection must be made within ``connect_timeout`` seconds and each
    statement of a unit of work may take ``statement_timeout`` (0: no limit); by default
    DECIDE_DB_CONNECT_TIMEOUT and DECIDE_DB_STATEMENT_TIMEOUT (``store.settings``)."""

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float | None = None,
        statement_timeout: float | None = None,
    ) -> None:
        from store import settings

        self.url = url
        self.dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
        self.connect_timeout = (
            settings.connect_timeout() if connect_timeout is None else connect_timeout
        )
        self.statement_timeout = (
            settings.statement_timeout() if statement_timeout is None else statement_timeout
        )
        self._local = threading.local()
        self._engine: Engine | None = None
        from store.writer import Writer

        # this process's writing units of work take turns here and share transactions (group
        # commit, ``store.writer``), rather than queue in SQLite's busy handler, which polls
        # with sleeps of up to 100 ms, or on the chain head's row lock one COMMIT at a time
        self.writer = Writer(self)

    @property
    def file(self) -> Path | None:
        """The SQLite database file (None on PostgreSQL or in memory)."""
        path = self.url.split("///", 1)[1] if "///" in self.url else ":memory:"
        return None if self.dialect != "sqlite" or path == ":memory:" else Path(path)

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, for migrations, verification, export and the flows."""
        if self._engine is None:
            from store.db import make_engine

            self._engine = make_engine(self.url, connect_timeout=self.connect_timeout)
        return self._engine

    def link(self) -> Link:
        """This thread's connection (opened on first use, then reused)."""
        link: Link | None = getattr(self._local, "link", None)
        if link is None:
            link = Link(self.connect(), self.dialect)
            self._local.link = link
        return link

    def donate(self) -> Link | None:
        """This thread's connection, given up (to the writer): the thread opens another one
        when it next reads."""
        link: Link | None = getattr(self._local, "link", None)
        self._local.link = None
        return link

    def connect(self) -> Any:
        """A new driver connection (``Unavailable`` when the database cannot be used)."""
        from procedures.errors import Unavailable

        try:
            return self._open()
        except (OSError, ValueError) as exc:
            raise Unavailable(f"cannot open the database {safe_url(self.url)}: {exc}") from None
        except Exception as exc:  # the drivers' own errors (sqlite3.Error, psycopg.Error)
            if type(exc).__module__.split(".")[0] in ("sqlite3", "psycopg"):
                raise Unavailable(self.unreachable(exc)) from None
            raise

    def unreachable(self, exc: BaseException) -> str:
        """A clear message for a driver error that means the database cannot be used now: no
        connection within the connect timeout, a statement over the statement timeout, a lost
        connection, a database locked for longer than the busy timeout."""
        return unreachable(
            self.url,
            exc,
            connect_timeout=self.connect_timeout,
            statement_timeout=self.statement_timeout,
        )

    def _open(self) -> Any:
        if self.dialect == "sqlite":
            import sqlite3

            path = self.url.split("///", 1)[1] if "///" in self.url else ":memory:"
            if path != ":memory:":
                from store.home import private_file

                private_file(Path(path))  # 0600 in a 0700 directory when new
            conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            for pragma in (
                "journal_mode=WAL",
                "synchronous=FULL",
                "foreign_keys=ON",
                "busy_timeout=30000",
            ):
                conn.execute(f"PRAGMA {pragma}")
            return conn
        import logging

        import psycopg

        # psycopg logs "error ignored terminating <Pipeline …>" when a pipeline ends on an
        # error we already turn into a clear refusal (a conflict): keep it off the user's screen
        logging.getLogger("psycopg").setLevel(logging.ERROR)
        conninfo = pg_conninfo(
            self.url,
            connect_timeout=self.connect_timeout,
            statement_timeout=self.statement_timeout,
        )
        return psycopg.connect(conninfo, autocommit=False)

    def schema_revision(self) -> str | None:
        """The schema's Alembic revision; None on a database not migrated yet."""
        link = self.link()
        try:
            row = link.driver.execute("SELECT version_num FROM alembic_version").fetchone()
        except Exception as exc:  # either driver's error type
            missing = getattr(exc, "sqlstate", None) == "42P01" or "no such table" in str(exc)
            self.end_after(link, exc)
            if missing:
                return None
            failure = self.failure(exc)
            if failure is not None:
                raise failure from None
            raise
        self.end(link)
        return row[0] if row else None

    def failure(self, exc: BaseException) -> Exception | None:
        """The ``Unavailable`` a driver error stands for, or None when it is not about the
        database being reachable (a bug, a constraint: the caller's to handle)."""
        from procedures.errors import Unavailable

        module = type(exc).__module__.split(".")[0]
        if module == "psycopg":
            import psycopg

            if isinstance(exc, psycopg.OperationalError):
                return Unavailable(self.unreachable(exc))
        elif module == "sqlite3" and any(w in str(exc) for w in ("locked", "busy")):
            return Unavailable(self.unreachable(exc))
        return None

    def end_after(self, link: Link, exc: BaseException | None) -> None:
        """Roll back after a failure; a connection the failure broke is closed and forgotten
        (the next unit of work opens a new one), never raising over the original error."""
        broken = exc is not None and self.failure(exc) is not None
        if not broken:
            self.end(link)
            return
        try:
            self.end(link)
            if link.dialect == "postgresql" and link.driver.broken:
                raise RuntimeError("connection broken")
        except Exception:
            self.discard(link)

    def discard(self, link: Link) -> None:
        """Close ``link`` and forget it if it is this thread's connection."""
        with contextlib.suppress(Exception):  # already unusable: nothing more to release
            link.driver.close()
        if getattr(self._local, "link", None) is link:
            self._local.link = None

    def ensure_schema(self) -> None:
        """Apply pending migrations (Alembic, through SQLAlchemy) if the schema is behind."""
        from store.settings import HEAD_REVISION

        if self.schema_revision() != HEAD_REVISION:
            from store.db import migrate

            migrate(self.engine)

    @staticmethod
    def begin(link: Link, *, write: bool) -> None:
        if link.dialect == "sqlite":
            link.driver.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        # psycopg opens a transaction with the first statement

    @staticmethod
    def end(link: Link, *, commit: bool = False) -> None:
        if link.dialect == "sqlite":
            if link.driver.in_transaction:
                link.driver.execute("COMMIT" if commit else "ROLLBACK")
        elif commit:
            link.driver.commit()
        else:
            link.driver.rollback()

    def close(self) -> None:
        self.writer.close()
        link: Link | None = getattr(self._local, "link", None)
        if link is not None:
            link.driver.close()
            self._local.link = None
        if self._engine is not None:
            self._engine.dispose()


def unreachable(
    url: str, exc: BaseException, *, connect_timeout: float, statement_timeout: float
) -> str:
    """The message for a driver error meaning the database cannot be used now (see
    ``Database.unreachable``); it names the URL without its password, and the setting."""
    where = safe_url(url)
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    name = type(exc).__name__
    state = getattr(exc, "sqlstate", None)
    if name == "ConnectionTimeout":
        return (
            f"数据库无响应 the database {where} did not answer within "
            f"{max(2, round(connect_timeout))} s (connect timeout, DECIDE_DB_CONNECT_TIMEOUT): "
            "is the host and port right, and the server up?"
        )
    if state == "57014":  # query_canceled: our statement_timeout
        return (
            f"数据库超时 a statement on {where} took longer than {statement_timeout:g} s and was "
            "cancelled (statement timeout, DECIDE_DB_STATEMENT_TIMEOUT): the server is "
            "overloaded or another session holds a lock; nothing was written — try again"
        )
    if state is not None and state.startswith("40"):  # transaction_rollback: deadlock, …
        return (
            f"数据库中止了事务 the database {where} aborted the transaction ({first}); nothing "
            "was written — try again"
        )
    if "database is locked" in first or "database is busy" in first:
        return (
            f"数据库被占用 the database {where} stayed locked by another process for 30 s "
            "(busy timeout); nothing was written — try again"
        )
    return f"无法连接数据库 cannot use the database {where}: {first}"
