"""The rows verification compares with the audit chain: the people, the imported holiday
schedules, the stored procedure definitions, which decisions the events name, the alert levels
raised, the deadline scan's index dates and the to-do index rows of a batch of decisions, and
the events of no decision that made those tables (``app.table_replay`` and ``app.replay`` do the comparing).

Read inside the caller's read-only unit of work; every query here is cheap at province scale:
the events of no decision come through the ``(decision_id, seq)`` index (``decision_id IS
NULL``), the decisions the events name through the same index (one seek per decision), the
other tables are small.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, NamedTuple

from store.audit import EVENT_COLUMNS, AppendedEvent
from store.fastsql import SQL, as_date

__all__ = [
    "AlertKey",
    "DefinitionRow",
    "ScheduleRecord",
    "alert_events",
    "alert_rows",
    "decisions_in_events",
    "definition_rows",
    "events_of_no_decision",
    "first_event",
    "index_dates",
    "schedule_rows",
    "todo_rows",
]


class ScheduleRecord(NamedTuple):
    """A ``calendar_schedules`` row as stored."""

    id: int
    year: Any  # as stored (SQLite keeps any type): compared, never trusted
    kind: Any
    source: Any
    content: Any
    sha256: Any


class AlertKey(NamedTuple):
    """One alert level raised, as the ``alerts`` row and its ``alert`` event both give it."""

    step: str
    attempt: int
    level: str
    due_on: date | None
    first_reached_on: date | None


class DefinitionRow(NamedTuple):
    """A ``procedure_definitions`` row as stored."""

    sha256: Any
    id: Any
    version: Any
    content: Any


_SCHEDULES = SQL(
    "SELECT id, year, kind, source, content, sha256 FROM calendar_schedules ORDER BY id"
)
_DEFINITIONS = SQL("SELECT sha256, id, version, content FROM procedure_definitions ORDER BY sha256")
# every decision id the log names, one index seek per decision (a loose index scan of
# ``ix_audit_events_decision_seq``): its cost follows the decisions, not the events
_NAMED = SQL(
    "WITH RECURSIVE named(d) AS ("
    "SELECT min(decision_id) FROM audit_events WHERE decision_id IS NOT NULL "
    "UNION ALL SELECT (SELECT min(decision_id) FROM audit_events WHERE decision_id > named.d) "
    "FROM named WHERE named.d IS NOT NULL) "
    "SELECT d FROM named WHERE d IS NOT NULL"
)
_FIRST = SQL("SELECT min(seq) FROM audit_events WHERE decision_id = :d")


def events_of_no_decision(link: Any, actions: Sequence[str]) -> list[AppendedEvent]:
    """The events of no decision (people, accounts, calendar imports …) with one of
    ``actions``, in seq order."""
    if not actions:
        return []
    marks = ", ".join(f":a{i}" for i in range(len(actions)))
    query = SQL(
        f"SELECT {', '.join(EVENT_COLUMNS)} FROM audit_events "
        f"WHERE decision_id IS NULL AND action IN ({marks}) ORDER BY seq"
    )
    found = []
    for row in query.rows(link, {f"a{i}": a for i, a in enumerate(actions)}):
        fields = dict(zip(EVENT_COLUMNS, row, strict=True))
        fields["effective_on"] = as_date(fields["effective_on"]) or date.min
        found.append(AppendedEvent(**fields))
    return found


def schedule_rows(link: Any) -> list[ScheduleRecord]:
    return [ScheduleRecord(*r) for r in _SCHEDULES.rows(link)]


def definition_rows(link: Any) -> list[DefinitionRow]:
    return [DefinitionRow(*r) for r in _DEFINITIONS.rows(link)]


def decisions_in_events(link: Any) -> set[str]:
    """Every decision id the audit events name."""
    return {str(r[0]) for r in _NAMED.rows(link)}


def first_event(link: Any, decision_id: str) -> int | None:
    """The seq of a decision's first event (None: it has none)."""
    row = _FIRST.run(link, {"d": decision_id}).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def _marks(ids: Sequence[str]) -> tuple[str, dict[str, str]]:
    return ", ".join(f":d{i}" for i in range(len(ids))), {f"d{i}": v for i, v in enumerate(ids)}


def alert_events(link: Any, ids: Sequence[str]) -> dict[str, list[tuple[int, str]]]:
    """The ``alert`` events of these decisions as (seq, payload), in seq order (only what the
    comparison needs: they are as many as the change events)."""
    found: dict[str, list[tuple[int, str]]] = {d: [] for d in ids}
    if not ids:
        return found
    marks, params = _marks(ids)
    query = SQL(
        "SELECT decision_id, seq, payload FROM audit_events "
        f"WHERE decision_id IN ({marks}) AND action = 'alert' ORDER BY decision_id, seq"
    )
    for decision_id, seq, payload in query.rows(link, params):
        found[decision_id].append((seq, payload))
    return found


def alert_rows(link: Any, ids: Sequence[str]) -> dict[str, list[AlertKey]]:
    """The ``alerts`` rows of these decisions (each decision listed, perhaps with none)."""
    found: dict[str, list[AlertKey]] = {d: [] for d in ids}
    if not ids:
        return found
    marks, params = _marks(ids)
    query = SQL(
        "SELECT decision_id, step, attempt, level, due_on, first_reached_on FROM alerts "
        f"WHERE decision_id IN ({marks}) ORDER BY id"
    )
    for decision_id, step, attempt, level, due, first in query.rows(link, params):
        if decision_id in found:
            found[decision_id].append(AlertKey(step, attempt, level, as_date(due), as_date(first)))
    return found


def index_dates(link: Any, ids: Sequence[str]) -> dict[str, tuple[date | None, date | None]]:
    """Each decision's ``next_due_on`` and ``next_alert_on`` (the deadline scan's index)."""
    if not ids:
        return {}
    marks, params = _marks(ids)
    query = SQL(f"SELECT id, next_due_on, next_alert_on FROM decisions WHERE id IN ({marks})")
    return {str(i): (as_date(d), as_date(a)) for i, d, a in query.rows(link, params)}


def todo_rows(link: Any, ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """The to-do index rows of these decisions (``store.todo``), as ``rows_for`` gives them."""
    from store.todo import COLUMNS

    found: dict[str, list[dict[str, Any]]] = {d: [] for d in ids}
    if not ids:
        return found
    marks, params = _marks(ids)
    query = SQL(f"SELECT {', '.join(COLUMNS)} FROM todo WHERE decision_id IN ({marks})")
    for row in query.rows(link, params):
        item = dict(zip(COLUMNS, row, strict=True))
        item["due_on"], item["order_on"] = as_date(item["due_on"]), as_date(item["order_on"])
        item["provisional"] = bool(item["provisional"])
        if item["decision_id"] in found:
            found[item["decision_id"]].append(item)
    return found
