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

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["Database", "Link", "link_for"]


class Link:
    __slots__ = ("dialect", "driver", "pending")

    def __init__(self, driver: Any, dialect: str) -> None:
        self.driver = driver
        self.dialect = dialect
        self.pending: list[Any] | None = None  # None: deferral off, writes run at once


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


class Database:
    """A database named by URL (``sqlite:///path`` or ``postgresql+psycopg://…``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
        self._local = threading.local()
        self._engine: Engine | None = None
        # SQLite has one writer at a time: this process's writing units of work queue here
        # (woken at once) rather than in SQLite's busy handler, which polls with sleeps of up
        # to 100 ms (bench/api.py: the p95 of a complete with 16 threads)
        self.writer = threading.Lock()

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

            self._engine = make_engine(self.url)
        return self._engine

    def link(self) -> Link:
        """This thread's connection (opened on first use, then reused)."""
        link: Link | None = getattr(self._local, "link", None)
        if link is None:
            link = Link(self._connect(), self.dialect)
            self._local.link = link
        return link

    def _connect(self) -> Any:
        from procedures.errors import Unavailable

        try:
            return self._open()
        except (OSError, ValueError) as exc:
            raise Unavailable(f"cannot open the database {self._safe_url()}: {exc}") from None
        except Exception as exc:  # the drivers' own errors (sqlite3.Error, psycopg.Error)
            if type(exc).__module__.split(".")[0] in ("sqlite3", "psycopg"):
                raise Unavailable(
                    f"cannot open the database {self._safe_url()}: "
                    f"{str(exc).strip().splitlines()[0]}"
                ) from None
            raise

    def _safe_url(self) -> str:
        """The URL without a password, for messages."""
        import re

        return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", self.url)

    def _open(self) -> Any:
        if self.dialect == "sqlite":
            import sqlite3

            path = self.url.split("///", 1)[1] if "///" in self.url else ":memory:"
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
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
        conninfo = self.url.replace("postgresql+psycopg://", "postgresql://", 1)
        return psycopg.connect(conninfo, autocommit=False)

    def schema_revision(self) -> str | None:
        link = self.link()
        try:
            row = link.driver.execute("SELECT version_num FROM alembic_version").fetchone()
        except Exception:  # no table yet (either driver's error type)
            self.end(link)
            return None
        self.end(link)
        return row[0] if row else None

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
        link: Link | None = getattr(self._local, "link", None)
        if link is not None:
            link.driver.close()
            self._local.link = None
        if self._engine is not None:
            self._engine.dispose()
