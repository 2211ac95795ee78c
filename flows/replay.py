"""Deep verification: the decisions' state must be what their audit events say.

The chain proves the events were not altered; this proves the state tables were not altered
either.  Each decision's events (register, start, complete, skip, extend) are replayed through
the same pure transitions that first accepted them, and the result is compared with the stored
attempts, status and version.  An event the rules now refuse is reported too (it can also mean
an imported holiday schedule moved a minimum period after the fact: the message says so).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

from flows.commands import Commands
from procedures import (
    Complete,
    DecideError,
    Extend,
    MeetingRecord,
    Skip,
    Start,
    apply,
    load_procedure,
    plan,
    register,
)
from procedures.state import Action, Attempt
from store.audit import Problem
from store.schedules import load_calendar
from store.uow import UnitOfWork

__all__ = ["replay_problems"]

ACTIONS = {"start", "complete", "skip", "extend"}
CHANGES = ("register", *sorted(ACTIONS))


def _action(kind: str, on: date, data: dict[str, Any]) -> Action:
    step = data["step"]
    if kind == "start":
        return Start(step=step, on=on, shorten_reason=data.get("shorten_reason"))
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
    )


def replay_problems(cmds: Commands) -> Iterator[Problem]:
    with UnitOfWork(cmds.db, write=False) as uow:
        cal = load_calendar(uow.link)
        ids = uow.decisions.ids()
    for start in range(0, len(ids), 500):
        with UnitOfWork(cmds.db, write=False) as uow:
            decisions = uow.decisions.many(ids[start : start + 500])
            # only the events that change a decision's state (most are notes and alerts)
            events = uow.audit.events_of([d.id for d in decisions], CHANGES)
        for decision in decisions:
            yield from _replay_one(decision, events[decision.id], cal)


def _replay_one(decision: Any, events: list[Any], cal: Any) -> Iterator[Problem]:
    proc = load_procedure(decision.procedure_id)
    attempts: tuple[Attempt, ...] = ()
    changes = 0
    for event in events:
        data = json.loads(event.payload)
        if event.action == "register":
            attempts = register(proc, event.effective_on)
            changes += 1
        elif event.action in ACTIONS:
            try:
                attempts = apply(
                    proc,
                    decision.flags,
                    attempts,
                    _action(event.action, event.effective_on, data),
                    cal,
                )
            except DecideError as exc:
                yield Problem(
                    event.seq,
                    "replay",
                    f"decision {decision.id}: event {event.seq} "
                    f"({event.action} {data.get('step')}) is refused on replay: {exc} "
                    "— the state was edited, or a holiday schedule imported since "
                    "moved a period",
                )
                return
            changes += 1
    first = events[0].seq if events else None
    if attempts != decision.attempts:
        where = next(
            (
                i
                for i, (a, b) in enumerate(zip(attempts, decision.attempts, strict=False))
                if a != b
            ),
            min(len(attempts), len(decision.attempts)),
        )
        step = attempts[where].step if where < len(attempts) else decision.attempts[where].step
        yield Problem(
            first,
            "state",
            f"decision {decision.id}: the stored step attempts differ "
            f"from what its audit events record (first at position {where}, step "
            f"{step}): the state tables were edited outside the engine",
        )
        return
    view = plan(
        proc, decision.flags, attempts, decision.registered_on, cal, target_on=decision.target_on
    )
    if (decision.status, decision.version) != (view.status, changes):
        yield Problem(
            first,
            "state",
            f"decision {decision.id}: stored status/version "
            f"{decision.status}/{decision.version} ≠ {view.status}/{changes} from its "
            "audit events: the decisions table was edited outside the engine",
        )
