"""Holiday schedules imported by an office, kept in the database so every process agrees."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlmodel import Session, col, select

from procedures.calendar import Schedule, WorkCalendar, parse_schedule
from store.tables import ScheduleRow

__all__ = ["add_schedule", "load_calendar", "stored_schedules"]


def stored_schedules(session: Session) -> list[Schedule]:
    rows = session.exec(select(ScheduleRow).order_by(col(ScheduleRow.id))).all()
    return [parse_schedule(r.content, source_name=f"schedule #{r.id}") for r in rows]


def load_calendar(session: Session) -> WorkCalendar:
    """The official calendar plus every schedule the office imported, in import order."""
    return WorkCalendar.official(stored_schedules(session))


def add_schedule(session: Session, text: str, *, source_name: str, now: datetime) -> Schedule:
    schedule = parse_schedule(text, source_name=source_name)
    session.add(
        ScheduleRow(
            year=schedule.year,
            kind=schedule.kind,
            source=schedule.source,
            content=text,
            sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
            imported_at=now,
        )
    )
    session.flush()
    return schedule
