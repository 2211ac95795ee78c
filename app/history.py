"""A decision as its audit events made it: the one replay of the recorded facts.

The events that change a decision (register, start, complete, skip, extend, amend, and
``procedure_migrate``) carry each fact and its effective date.  ``fold`` replays them, in the
order they were recorded, through the same pure rules that first accepted them
(``procedures.apply``, ``procedures.amend``) and under the definitions the decision was pinned to:
the one its ``register`` event names, then from each migration on the one that migration names
(a migration replays the history so far under the new definition, as ``decide procedures
migrate`` did).  The deep verification (``app.replay``) compares the result with the stored
state; ``decide status --as-of`` replays only the facts effective on or before a date;
``decide procedures migrate`` replays a history under a new definition (``rebuild``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from procedures import (
    Complete,
    DecideError,
    Extend,
    InputError,
    MeetingRecord,
    Procedure,
    Skip,
    Start,
    WorkCalendar,
    apply,
    check_flags,
    plan,
    register,
)
from procedures.amend import check_amend
from procedures.planner import Plan
from procedures.state import Action, Attach, Attempt, Decision, Hearing, Reuse
from store.audit import AppendedEvent

__all__ = [
    "CHANGES",
    "MIGRATE",
    "Broken",
    "History",
    "Refused",
    "as_of",
    "definitions_named",
    "fold",
    "rebuild",
]

ACTIONS = {"start", "complete", "skip", "extend", "reuse", "attach"}
MIGRATE = "procedure_migrate"
CHANGES = ("amend", "register", MIGRATE, *sorted(ACTIONS))

# Resolves a definition's sha256 to the procedure (``Broken`` when it is missing or altered);
# the int is the event that names it, for the message.
Resolver = Callable[[str | None, int | None], Procedure]


@dataclass(frozen=True)
class History:
    """What the events say: the decision's title, flags, target date and attempts, how many
    changes (the version), and the definition it ends pinned to."""

    title: str
    flags: frozenset[str]
    target_on: date | None
    attempts: tuple[Attempt, ...]
    changes: int
    sha256: str | None = None
    # what the register event (and, for the procedure, each migration) records of the rest
    procedure: tuple[str | None, str | None] = (None, None)  # id, version
    sponsor: str | None = None
    co_sponsors: tuple[str, ...] = ()
    assignments: tuple[tuple[str, tuple[str, ...]], ...] = ()
    catalogue_year: int | None = None
    registered_on: date | None = None


class Refused(Exception):
    """An event the rules refuse on replay (``error`` says why)."""

    def __init__(self, event: AppendedEvent, data: dict[str, Any], error: DecideError) -> None:
        self.event, self.data, self.error = event, data, error
        super().__init__(str(error))

    @property
    def step(self) -> str | None:
        step = self.data.get("step")
        return str(step) if step else None


class Broken(Exception):
    """The definitions the events name do not hold: missing, altered, or a migration from a
    definition the decision was not under (``seq``: the event, ``message``: what)."""

    def __init__(self, seq: int | None, message: str) -> None:
        self.seq, self.message = seq, message
        super().__init__(message)


def _action(kind: str, on: date, data: dict[str, Any]) -> Action:
    step = data["step"]
    if kind == "start":
        return Start(
            step=step,
            on=on,
            shorten_reason=data.get("shorten_reason"),
            respond_by=_day(data.get("respond_by")),
            methods=tuple(data.get("methods", ())),
            comment_until=_day(data.get("comment_until")),
        )
    if kind == "reuse":
        return Reuse(step=step, on=on, reason=data.get("reason"))
    if kind == "attach":
        return Attach(step=step, on=on, documents=tuple(d["kind"] for d in data["documents"]))
    if kind == "skip":
        return Skip(step=step, on=on, reason=data.get("reason"))
    if kind == "extend":
        return Extend(step=step, on=on, reason=data.get("reason"))
    meeting = data.get("meeting")
    next_on = data.get("next_meeting_on")
    return Complete(
        step=step,
        on=on,
        outcome=data.get("outcome"),
        documents=tuple(d["kind"] for d in data.get("documents", ())),
        meeting=MeetingRecord.model_validate(meeting) if meeting else None,
        next_meeting_on=date.fromisoformat(next_on) if next_on else None,
        provisional=bool(data.get("provisional")),
        hearing=Hearing.model_validate(data["hearing"]) if data.get("hearing") else None,
    )


def _assigned(value: dict[str, list[str]]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((k, tuple(v)) for k, v in sorted(value.items()) if v)


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _step(proc: Procedure, now: History, event: AppendedEvent, cal: WorkCalendar) -> History:
    """The history after one change event (not a migration) under ``proc``."""
    data = json.loads(event.payload)
    try:
        if event.action == "register":
            flags = check_flags(proc, data.get("flags", ()))
            return History(
                title=data.get("title", ""),
                flags=flags,
                target_on=_day(data.get("target_on")),
                attempts=register(proc, event.effective_on),
                changes=now.changes + 1,
                sha256=now.sha256,
                # before revision 0005 the upgrade re-pinned the preset as then on disk (its
                # version may be newer): only the id is recorded for sure
                procedure=(
                    data.get("procedure"),
                    data.get("procedure_version") if data.get("procedure_sha256") else None,
                ),
                sponsor=data.get("sponsor"),
                co_sponsors=tuple(data.get("co_sponsors", ())),
                assignments=_assigned(data.get("assignments", {})),
                catalogue_year=data.get("catalogue_year"),
                registered_on=event.effective_on,
            )
        if event.action == "amend":
            flags = now.flags
            if "flags" in data:
                flags = frozenset(data["flags"]["to"])
                check_amend(proc, now.flags, flags, now.attempts)
            return replace(
                now,
                title=data["title"]["to"] if "title" in data else now.title,
                flags=flags,
                target_on=_day(data["target_on"]["to"]) if "target_on" in data else now.target_on,
                assignments=_assigned(data["assignments"]["to"])
                if "assignments" in data
                else now.assignments,
                changes=now.changes + 1,
            )
        if event.action in ACTIONS:
            action = _action(event.action, event.effective_on, data)
            attempts = apply(proc, now.flags, now.attempts, action, cal)
            return replace(now, attempts=attempts, changes=now.changes + 1)
    except DecideError as exc:
        raise Refused(event, data, exc) from None
    return now


def rebuild(proc: Procedure, events: Sequence[AppendedEvent], cal: WorkCalendar) -> History:
    """The history ``events`` give under ``proc`` alone, migrations left out (``Refused`` at the
    first event it refuses, the registration included: a flag the definition does not know)."""
    now = History("", frozenset(), None, (), 0)
    for event in events:
        if event.action != MIGRATE:
            now = _step(proc, now, event, cal)
    return now


def _first_definition(events: Sequence[AppendedEvent], pinned: str | None) -> str | None:
    """The definition the decision was registered under: named by its register event (and
    from before revision 0005, the one the first migration left, or the one pinned at upgrade)."""
    for event in events:
        if event.action in ("register", MIGRATE):
            data = json.loads(event.payload)
            named = data.get("procedure_sha256") or data.get("from_sha256")
            if named or event.action == MIGRATE:
                return str(named) if named else None
    return pinned


def definitions_named(events: Sequence[AppendedEvent]) -> set[str]:
    """Every definition sha256 the events name (to load them in one query)."""
    names = set()
    for event in events:
        if event.action in ("register", MIGRATE):
            data = json.loads(event.payload)
            names |= {
                data[k] for k in ("procedure_sha256", "from_sha256", "to_sha256") if data.get(k)
            }
    return names


def fold(
    events: Sequence[AppendedEvent],
    cal: WorkCalendar,
    resolve: Resolver,
    *,
    pinned: str | None,
    upto: date | None = None,
) -> tuple[History, Procedure | None]:
    """The decision its change events make (only those effective on or before ``upto``) and
    the definition it ends under; ``Refused`` at the first event the rules refuse, ``Broken``
    when the definitions the events name do not hold.  ``pinned``: the decision's definition,
    for a decision from before revision 0005 whose register event names none."""
    sha = _first_definition(events, pinned)
    first = events[0].seq if events else None
    # a decision from before revision 0005 whose procedure file was lost has no definition until
    # its first migration: its earlier events are replayed then, under the new one
    unpinned = sha is None and any(e.action == MIGRATE for e in events)
    proc = None if unpinned else resolve(sha, first)
    now = History("", frozenset(), None, (), 0, sha)
    done: list[AppendedEvent] = []
    migrations = 0
    for event in events:
        # ``upto`` filters the facts, never the migrations: a migration replayed the whole
        # history under its definition, and facts recorded after it (backdated ones too) were
        # accepted under that one — so the decision as of a date is its facts of then, under
        # the definition it is pinned to now (review finding: a backdated fact made an earlier
        # date impossible to show)
        if upto is not None and event.effective_on > upto and event.action != MIGRATE:
            continue
        if event.action == MIGRATE:
            data = json.loads(event.payload)
            if data.get("from_sha256") != sha:
                raise Broken(
                    event.seq,
                    f"event {event.seq} migrates from definition "
                    f"{str(data.get('from_sha256'))[:12]}…, but the decision was then under "
                    f"{str(sha)[:12]}…",
                )
            sha = data.get("to_sha256")
            proc = resolve(sha, event.seq)
            migrations += 1
            rebuilt = rebuild(proc, done, cal)
            now = replace(
                rebuilt,
                changes=rebuilt.changes + migrations,
                sha256=sha,
                procedure=(data.get("to_procedure"), data.get("to_version")),
            )
            continue
        done.append(event)
        if proc is not None:
            now = _step(proc, now, event, cal)
    return now, proc


def as_of(
    decision: Decision,
    events: Sequence[AppendedEvent],
    day: date,
    cal: WorkCalendar,
    resolve: Resolver,
) -> tuple[Decision, Plan]:
    """The decision as the facts effective on or before ``day`` made it, planned as of ``day``
    under the definition it is pinned to (a date before the registration is refused: the
    decision did not exist yet)."""
    if day < decision.registered_on:
        raise InputError(
            f"--as-of {day} 早于决策登记日期 {decision.registered_on} is before the decision "
            f"was registered ({decision.registered_on}): it did not exist yet"
        )
    try:
        then, proc = fold(events, cal, resolve, pinned=decision.procedure_sha256, upto=day)
    except (Refused, Broken) as refused:
        raise InputError(
            f"决策 {decision.id} 无法按 {day} 重现 cannot be shown as of {day}: {refused}"
        ) from None
    if proc is None:
        raise InputError(f"决策 {decision.id} 没有程序定义 no procedure definition is pinned")
    view = plan(proc, then.flags, then.attempts, day, cal, target_on=then.target_on)
    shown = decision.model_copy(
        update={
            "title": then.title,
            "flags": then.flags,
            "target_on": then.target_on,
            "attempts": then.attempts,
            "status": view.status,
            "version": then.changes,
        }
    )
    return shown, view
