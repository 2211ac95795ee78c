"""Plain SQL on the driver connection, for the statements every command runs.

Measured (bench/store.py): SQLAlchemy Core costs about 50 µs per executed statement and the ORM
far more, against about 10 µs for the driver itself.  Statements are written once with ``:name``
parameters and rendered for each driver (sqlite3 takes them as they are, psycopg as
``%(name)s``).  Values are bound the way SQLAlchemy stores them, so rows written here read back
through the ORM unchanged.

Writes whose result is only checked can be deferred (``SQL.defer``) while a unit of work has
deferral on: they are sent before the next statement that needs an answer, or at commit, in one
round trip (psycopg's pipeline mode; SQLite runs them in order, in-process).  Outside a unit of
work ``defer`` simply runs the statement.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from procedures.errors import DecideError
from store.dbapi import Link, link_for

__all__ = ["SQL", "as_date", "commit", "flush_deferred", "read_and_end", "run_all"]

_PARAM = re.compile(r"(?<!:):(\w+)")
_Item = tuple["SQL", Mapping[str, Any], Callable[[Any], None] | None]


class SQL:
    """One statement, rendered per driver; ``pg`` may give PostgreSQL its own text."""

    def __init__(self, sql: str, *, pg: str | None = None) -> None:
        self.sqlite = sql
        self.pg = _PARAM.sub(r"%(\1)s", pg or sql)

    def run(self, conn: Any, params: Mapping[str, Any] | None = None) -> Any:
        """Execute now (after any deferred writes) and return the driver's cursor."""
        return _send(link_for(conn), [(self, params or {}, None)])

    def rows(self, conn: Any, params: Mapping[str, Any] | None = None) -> list[Any]:
        return list(self.run(conn, params).fetchall())

    def defer(
        self, conn: Any, params: Mapping[str, Any], check: Callable[[Any], None] | None = None
    ) -> None:
        """Queue a write whose result is only checked, not used (``check`` gets its cursor and
        may raise; it runs when the write is sent).  Runs at once when deferral is off."""
        link = link_for(conn)
        item = (self, dict(params), check)
        if link.pending is None:
            _send(link, [item])
        else:
            link.pending.append(item)


def run_all(conn: Any, statements: list[tuple[SQL, Mapping[str, Any]]]) -> list[Any]:
    """Execute several statements (after any deferred writes) in one round trip; their cursors.

    On PostgreSQL they travel in one pipeline and run in order, each with its own snapshot
    (READ COMMITTED), so a read placed after a locking statement sees what the lock waited for.
    """
    items: list[_Item] = [(stmt, params, None) for stmt, params in statements]
    cursors: list[Any] = _send(link_for(conn), items, every=True)
    return cursors


def read_and_end(conn: Any, statements: list[tuple[SQL, Mapping[str, Any]]]) -> list[list[Any]]:
    """The rows of a read-only transaction's last statements, fetched, and the transaction
    ended: on PostgreSQL the statements and a ROLLBACK travel in one pipeline, so a read that
    needs one statement costs one round trip instead of two (the unit of work's own rollback
    then finds no transaction to end and sends nothing).  Nothing may be deferred; another
    statement after it opens a new transaction.  On SQLite the unit of work ends it."""
    link = link_for(conn)
    assert not link.pending, "read_and_end: writes are deferred (a read-only unit of work only)"
    if link.dialect == "sqlite":
        return [list(c.fetchall()) for c in run_all(link, statements)]
    raw = link.driver
    with raw.pipeline():
        cursors = [raw.execute(stmt.pg, params) for stmt, params in statements]
        raw.execute("ROLLBACK")  # queued with them (Connection.rollback would sync first)
    return [list(c.fetchall()) for c in cursors]


def flush_deferred(link: Link) -> None:
    if link.pending:
        _send(link, [])


def commit(link: Link) -> None:
    """Send the deferred writes and commit: on PostgreSQL in one round trip (one pipeline)."""
    if link.driver is None:
        link.attach(link)  # a writing unit's turn (``store.writer``)
    pending = link.pending or []
    if link.dialect == "postgresql" and pending and all(c is None for _, _, c in pending):
        link.pending = None
        with link.driver.pipeline():
            for stmt, params, _ in pending:
                link.driver.execute(stmt.pg, params)
            link.driver.commit()
        return
    flush_deferred(link)
    link.pending = None
    if link.dialect == "sqlite":
        link.driver.execute("COMMIT")
    else:
        link.driver.commit()


def _send(link: Link, last: list[_Item], *, every: bool = False) -> Any:
    if link.driver is None:
        link.attach(link)  # a writing unit's turn (``store.writer``)
    batch = [*link.pending, *last] if link.pending else last
    if link.pending:
        link.pending.clear()
    raw = link.driver
    cursors: list[Any] = []
    if link.dialect == "sqlite":
        for stmt, params, check in batch:
            cursor = raw.execute(stmt.sqlite, {k: _sqlite_value(v) for k, v in params.items()})
            if check is not None:
                check(cursor)
            cursors.append(cursor)
        return cursors[-len(last) :] if every else (cursors[-1] if cursors else None)
    if len(batch) == 1:
        cursors = [raw.execute(batch[0][0].pg, batch[0][1])]
    else:
        try:
            with raw.pipeline():
                for stmt, params, _ in batch:
                    cursors.append(raw.execute(stmt.pg, params))
        except Exception as exc:
            # A later statement failed: if an earlier check explains why (the decision changed
            # meanwhile, so the attempts no longer fit), report that instead.
            for (_, _, check), cursor in zip(batch, cursors, strict=False):
                if check is not None and cursor.pgresult is not None:
                    try:
                        check(cursor)
                    except DecideError as refusal:
                        raise refusal from exc
            raise
    for (_, _, check), cursor in zip(batch, cursors, strict=True):
        if check is not None:
            check(cursor)
    if every:
        return cursors[-len(last) :]
    return cursors[-1] if cursors else None


def _sqlite_value(value: Any) -> Any:
    # As SQLAlchemy's SQLite types store them: ISO dates; UTC datetimes without offset.
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    return value


def as_date(value: Any) -> date | None:
    """A date column as read by either driver (SQLite gives ISO text)."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
