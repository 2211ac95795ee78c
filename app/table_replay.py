"""Deep verification of the tables beside the decisions: each is derived by replay from the
audit chain, or hashed into it, so that an edit made with the database alone is named.

- ``people`` (the roles of a home without accounts: who may act) — replayed from the
  ``person_add`` / ``person_remove`` events: a role granted or removed by SQL, or a unit changed,
  is named with the row.
- ``calendar_schedules`` (the imported holiday schedules every period is counted on, SPEC §3) —
  replayed from the ``calendar_import`` events, which record each schedule's year, kind, source,
  days off and make-up working days (and, from this version on, the SHA-256 of the file as
  imported): a day moved, added or removed, a row added, removed or reordered is named with the
  row and the days.  The decisions themselves are replayed under the calendar the events record
  (``recorded_calendar``), not under the table, so a period shortened by editing the table is
  also named at the event that used it.  Events from before the SHA-256 was recorded are checked
  by the days they record, not by the file's exact text (a note says how many).
- ``procedure_definitions`` (content-addressed) — every row's content is hashed again and must
  give its key; its id and version columns must be the content's.  Which definition each
  decision runs under is bound into the chain by its register and migration events
  (``app.replay``).
- ``decisions`` — every decision the log names must have its row (a deleted row is named); the
  rows themselves are replayed by ``app.replay``, the accounts and tokens by
  ``app.accounts.account_problems``, the documents by ``store.audit_verify.document_problems``.
- ``alerts`` and the deadline scan's index dates — per decision, in ``app.alert_replay``.
- ``step_attempts``' own ``due_on``, ``earliest_close_on`` and ``provisional`` are not
  checked: nothing reads them (every command plans again from the replayed attempts and the
  verified calendar), so an edit there decides nothing.

Comparison over what ``store.table_rows`` reads; no rule of the procedure here.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from typing import Any

from procedures import DecideError
from procedures.calendar import Schedule, WorkCalendar, parse_schedule
from store.audit import AppendedEvent, Problem
from store.repository import Person
from store.schedules import content_sha256
from store.table_rows import (
    DefinitionRow,
    ScheduleRecord,
    decisions_in_events,
    definition_rows,
    events_of_no_decision,
    first_event,
    schedule_rows,
)
from store.uow import UnitOfWork

__all__ = [
    "CALENDAR_EVENTS",
    "PEOPLE_EVENTS",
    "calendar_problems",
    "decision_row_problems",
    "definition_problems",
    "people_problems",
    "recorded_calendar",
    "table_problems",
]

PEOPLE_EVENTS = ("person_add", "person_remove")
CALENDAR_EVENTS = ("calendar_import",)
EDITED = "edited outside the engine"
# a row without its event is also what cutting the newest events off the log leaves behind
OR_CUT = " (or the newest events were cut off the log: see the checkpoints)"


def table_problems(uow: UnitOfWork, notes: list[str] | None = None) -> Iterator[Problem]:
    """Every check of this module, in one read-only unit of work (``notes``: what could only
    be checked in part, for the report)."""
    events = events_of_no_decision(uow.link, (*PEOPLE_EVENTS, *CALENDAR_EVENTS))
    yield from people_problems(uow.people.all(), [e for e in events if e.action in PEOPLE_EVENTS])
    imports = [e for e in events if e.action in CALENDAR_EVENTS]
    yield from calendar_problems(schedule_rows(uow.link), imports, notes)
    yield from definition_problems(definition_rows(uow.link))
    stored = set(uow.decisions.ids())
    missing = {d: first_event(uow.link, d) for d in decisions_in_events(uow.link) - stored}
    yield from decision_row_problems(missing)
    if notes is not None:
        notes.append(
            "people and calendar schedules were replayed from their audit events, procedure "
            "definitions hashed again, and every decision the log names found in the table"
        )


# -- people ------------------------------------------------------------------------------------


def _as_stored(unit: object) -> str | None:
    """A unit as ``add_person`` stores it (NFC, trimmed, empty as none): events from before the
    event recorded the stored form carry the text as typed."""
    if not isinstance(unit, str) or not unit.strip():
        return None
    return unicodedata.normalize("NFC", unit.strip())


def people_problems(rows: Iterable[Person], events: Sequence[AppendedEvent]) -> Iterator[Problem]:
    """The people table must be what its ``person_add`` / ``person_remove`` events leave."""
    held: dict[tuple[str, str], tuple[str | None, int]] = {}
    for event in events:
        try:
            data = json.loads(event.payload)
            name = data["name"]
            if event.action == "person_add":
                held[(name, data["role"])] = (_as_stored(data.get("unit")), event.seq)
                continue
            for role in data["roles"]:
                if held.pop((name, role), None) is None:
                    yield Problem(
                        event.seq,
                        "people",
                        f"人员名册 people: event {event.seq} removes role {role} of {name}, "
                        "which no earlier person_add event gave: the role was granted outside "
                        "the engine",
                    )
        except (ValueError, KeyError, TypeError):
            yield Problem(
                event.seq, "people", f"event {event.seq} ({event.action}) is not readable"
            )
    for row in rows:
        what = f"人员名册 people row ({row.name}, role {row.role})"
        want = held.pop((row.name, row.role), None)
        if want is None:
            yield Problem(
                None,
                "people",
                f"{what} has no person_add event: the role was granted by editing the people "
                f"table ({EDITED}){OR_CUT}",
            )
        elif want[0] != row.unit:
            yield Problem(
                want[1],
                "people",
                f"{what}: unit {row.unit!r} stored, {want[0]!r} recorded by event {want[1]}: "
                f"the people table was {EDITED}",
            )
    for (name, role), (_, seq) in sorted(held.items(), key=lambda kv: kv[1][1]):
        yield Problem(
            seq,
            "people",
            f"人员名册 people: {name}'s role {role}, added by event {seq} and never removed, "
            f"is missing from the people table: it was removed {EDITED}",
        )


# -- calendar schedules ------------------------------------------------------------------------

_Key = tuple[Any, ...]


def _schedule_of(data: dict[str, Any]) -> Schedule:
    return Schedule(
        year=data["year"],
        kind=data["kind"],
        source=data["source"],
        holidays=tuple(sorted(date.fromisoformat(d) for d in data.get("holidays", ()))),
        workdays=tuple(sorted(date.fromisoformat(d) for d in data.get("workdays", ()))),
    )


def _recorded(events: Sequence[AppendedEvent]) -> list[tuple[AppendedEvent, Schedule | None]]:
    """Each import event with the schedule it records (None: not readable)."""
    found: list[tuple[AppendedEvent, Schedule | None]] = []
    for event in events:
        try:
            found.append((event, _schedule_of(json.loads(event.payload))))
        except (ValueError, KeyError, TypeError, DecideError):
            found.append((event, None))
    return found


def recorded_calendar(uow: UnitOfWork) -> tuple[WorkCalendar, int]:
    """The working-day calendar as the ``calendar_import`` events recorded it (the official
    calendar plus each imported schedule, in the order imported), and how many imports it
    holds.  An unreadable event is left out: ``calendar_problems`` names it."""
    events = events_of_no_decision(uow.link, CALENDAR_EVENTS)
    schedules = [s for _, s in _recorded(events) if s is not None]
    return WorkCalendar.official(schedules), len(events)


def _key(schedule: Schedule | None, marker: object) -> _Key:
    if schedule is None:
        return ("unreadable", id(marker))  # never equal to anything else
    return (schedule.year, schedule.kind, schedule.source, schedule.holidays, schedule.workdays)


def _parsed(row: ScheduleRecord) -> tuple[Schedule | None, str | None]:
    if not isinstance(row.content, str):
        return None, f"its content is not text ({type(row.content).__name__})"
    try:
        return parse_schedule(row.content, source_name=f"calendar_schedules row #{row.id}"), None
    except DecideError as exc:
        return None, f"its content does not parse: {exc}"


def _days(label: str, stored: tuple[date, ...], recorded: tuple[date, ...]) -> str | None:
    extra = sorted(set(stored) - set(recorded))
    gone = sorted(set(recorded) - set(stored))
    if not extra and not gone:
        return None
    parts = []
    if extra:
        parts.append(f"stored has {', '.join(map(str, extra))}")
    if gone:
        parts.append(f"the event recorded {', '.join(map(str, gone))}")
    return f"{label}: {' but '.join(parts)}"


def _schedule_diff(stored: Schedule, recorded: Schedule) -> list[str]:
    out = [
        f"{field} {getattr(stored, field)!r} stored, {getattr(recorded, field)!r} recorded"
        for field in ("year", "kind", "source")
        if getattr(stored, field) != getattr(recorded, field)
    ]
    for label, a, b in (
        ("days off (holidays)", stored.holidays, recorded.holidays),
        ("make-up working days (workdays, 调休)", stored.workdays, recorded.workdays),
    ):
        text = _days(label, a, b)
        if text:
            out.append(text)
    return out


def _row_name(row: ScheduleRecord) -> str:
    return f"日历 calendar_schedules row #{row.id} ({row.year} {row.kind}, {row.source})"


def _row_self(row: ScheduleRecord, parsed: Schedule) -> list[str]:
    """What a row's own columns say against its content (and its sha256 against the text)."""
    out = [
        f"the {field} column says {getattr(row, field)!r}, its content {getattr(parsed, field)!r}"
        for field in ("year", "kind", "source")
        if getattr(row, field) != getattr(parsed, field)
    ]
    digest = content_sha256(row.content)
    if row.sha256 != digest:
        out.append(f"its content hashes to {digest[:12]}…, not to its sha256 column")
    return out


def calendar_problems(
    rows: Sequence[ScheduleRecord],
    events: Sequence[AppendedEvent],
    notes: list[str] | None = None,
) -> Iterator[Problem]:
    """The schedules table must hold, in import order, the schedules the ``calendar_import``
    events record: the same days, and (where the event records it) the same file."""
    recorded = _recorded(events)
    parsed = [_parsed(row) for row in rows]
    old = 0
    for event, schedule in recorded:
        if schedule is None:
            yield Problem(
                event.seq,
                "calendar",
                f"日历 calendar: event {event.seq} (calendar_import) does not record a readable "
                "schedule",
            )
    a = [_key(s, e) for e, s in recorded]
    b = [_key(s, r) for r, (s, _) in zip(rows, parsed, strict=True)]
    pairs: list[tuple[int, int]] = []
    unrecorded: list[int] = []
    lost: list[int] = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        common = min(i2 - i1, j2 - j1) if tag == "replace" else 0
        if tag == "equal":
            common = i2 - i1
        pairs += [(i1 + k, j1 + k) for k in range(common)]
        lost += list(range(i1 + common, i2))
        unrecorded += list(range(j1 + common, j2))
    for i, j in pairs:
        event, schedule = recorded[i]
        row, (stored, fault) = rows[j], parsed[j]
        where = f"{_row_name(row)}, imported by event {event.seq}"
        if stored is None:
            yield Problem(event.seq, "calendar", f"{where}: {fault} ({EDITED})")
            continue
        differ = _row_self(row, stored)
        if schedule is not None:
            differ = _schedule_diff(stored, schedule) + differ
        sha = _event_sha(event)
        if sha is None:
            old += 1
        elif sha != row.sha256 or sha != content_sha256(row.content):
            differ.append(
                f"the event recorded the file's sha256 {sha[:12]}…, the row's text differs"
            )
        if differ:
            yield Problem(
                event.seq,
                "calendar",
                f"{where}: {'; '.join(differ)} — the calendar_schedules table was {EDITED}",
            )
    for i in lost:
        event, schedule = recorded[i]
        what = (
            f"the {schedule.year} {schedule.kind} schedule ({schedule.source})"
            if schedule
            else "a schedule"
        )
        yield Problem(
            event.seq,
            "calendar",
            f"日历 calendar: {what} imported by event {event.seq} has no calendar_schedules row "
            f"(in import order): the row was removed or replaced {EDITED}",
        )
    for j in unrecorded:
        row, (stored, fault) = rows[j], parsed[j]
        detail = f" ({fault})" if fault else ""
        yield Problem(
            None,
            "calendar",
            f"{_row_name(row)} has no calendar_import event at its place in the import "
            f"order{detail}: it was added or moved {EDITED}{OR_CUT}",
        )
    if old and notes is not None:
        notes.append(
            f"{old} 项日历导入 calendar imports were recorded before their events carried the "
            "file's SHA-256: those schedules were checked by the days they record, not by the "
            "file's exact text"
        )


def _event_sha(event: AppendedEvent) -> str | None:
    try:
        sha = json.loads(event.payload).get("sha256")
    except (ValueError, AttributeError):
        return None
    return sha if isinstance(sha, str) else None


# -- procedure definitions ---------------------------------------------------------------------


def definition_problems(rows: Iterable[DefinitionRow]) -> Iterator[Problem]:
    """Each stored definition's content must hash to its key and name its id and version."""
    for row in rows:
        what = (
            f"程序定义 procedure_definitions row {str(row.sha256)[:12]}… ({row.id} {row.version})"
        )
        if not isinstance(row.content, str):
            yield Problem(None, "definition", f"{what}: its content is not text ({EDITED})")
            continue
        digest = hashlib.sha256(row.content.encode("utf-8")).hexdigest()
        if digest != row.sha256:
            yield Problem(
                None,
                "definition",
                f"{what}: its content hashes to {digest[:12]}…, not to its key: the row was "
                f"{EDITED}",
            )
            continue
        try:
            data = json.loads(row.content)
            named = (data["id"], data["version"])
        except (ValueError, KeyError, TypeError):
            named = None
        if named != (row.id, row.version):
            says = "nothing readable" if named is None else f"{named[0]} {named[1]}"
            yield Problem(
                None,
                "definition",
                f"{what}: its content says {says}, its id and version columns differ: the row "
                f"was {EDITED}",
            )


# -- decisions ---------------------------------------------------------------------------------


def decision_row_problems(missing: dict[str, int | None]) -> Iterator[Problem]:
    """The decisions the audit events name that have no row (with their first event's seq);
    ``app.replay`` compares the rows there are."""
    for decision_id, seq in sorted(missing.items()):
        yield Problem(
            seq,
            "decisions",
            f"决策 decision {decision_id} has audit events (the first is event {seq}) but no "
            f"row in the decisions table: the row was deleted {EDITED}",
        )
