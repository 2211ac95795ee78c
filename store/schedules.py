"""Holiday schedules imported by an office, kept in the database so every process agrees."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from procedures.calendar import Schedule, WorkCalendar, parse_schedule
from store.fastsql import SQL, read_and_end

__all__ = [
    "add_schedule",
    "calendar_revision",
    "content_sha256",
    "load_calendar",
    "stored_schedules",
]

_ALL = SQL("SELECT id, content FROM calendar_schedules ORDER BY id")
_REVISION = SQL("SELECT coalesce(max(id), 0) FROM calendar_schedules")
_ADD = SQL(
    "INSERT INTO calendar_schedules (year, kind, source, content, sha256, imported_at) "
    "VALUES (:year, :kind, :source, :content, :sha256, :imported_at)"
)


def stored_schedules(conn: Any, *, end: bool = False) -> list[Schedule]:
    rows = read_and_end(conn, [(_ALL, {})])[0] if end else _ALL.rows(conn)
    return [parse_schedule(content, source_name=f"schedule #{id_}") for id_, content in rows]


def load_calendar(conn: Any, *, end: bool = False) -> WorkCalendar:
    """The official calendar plus every schedule the office imported, in import order.
    ``end``: a read-only transaction's last statement, ended with it (``read_and_end``)."""
    return WorkCalendar.official(stored_schedules(conn, end=end))


def calendar_revision(conn: Any) -> int:
    """Changes whenever a schedule is imported (schedules are only ever added)."""
    return int(_REVISION.run(conn).fetchone()[0])


def content_sha256(text: str) -> str:
    """The SHA-256 a schedule's text is stored with (and its import event records)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def add_schedule(conn: Any, text: str, *, source_name: str, now: datetime) -> Schedule:
    schedule = parse_schedule(text, source_name=source_name)
    _ADD.run(
        conn,
        {
            "year": schedule.year,
            "kind": schedule.kind,
            "source": schedule.source,
            "content": text,
            "sha256": content_sha256(text),
            "imported_at": now,
        },
    )
    return schedule
