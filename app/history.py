"""A decision as its audit events made it: the one replay of the recorded facts.

The events that change a decision (register, start, complete, skip, extend, amend) carry each
fact and its effective date.  ``fold`` replays them, in the order they were recorded, through the
same pure rules that first accepted them (``procedures.apply``, ``procedures.amend``).  The deep
verification (``app.replay``) compares the result with the stored state; ``decide status
--as-of`` replays only the facts effective on or before a date, to show the decision as it stood.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
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
    plan,
    register,
)
from procedures.amend import check_amend
from procedures.planner import Plan
from procedures.state import Action, Attempt, Decision
from store.audit import AppendedEvent

__all__ = ["CHANGES", "History", "Refused", "as_of", "fold"]

ACTIONS = {"start", "complete", "skip", "extend"}
CHANGES = ("amend", "register", *sorted(ACTIONS))


@dataclass(frozen=True)
class History:
    """What the events say: the decision's title, flags, target date and attempts, and how many
    changes (the version)."""

    title: str
    flags: frozenset[str]
    target_on: date | None
    attempts: tuple[Attempt, ...]
    changes: int


class Refused(Exception):
    """An event the rules refuse on replay (``error`` says why)."""

    def __init__(self, event: AppendedEvent, data: dict[str, Any], error: DecideError) -> None:
        self.event, self.data, self.error = event, data, error
        super().__init__(str(error))


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


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _amended(proc: Procedure, now: History, data: dict[str, Any]) -> History:
    """The history after an ``amend`` event (each changed field recorded as from/to)."""
    flags = now.flags
    if "flags" in data:
        flags = frozenset(data["flags"]["to"])
        check_amend(proc, now.flags, flags, now.attempts)
    return History(
        title=data["title"]["to"] if "title" in data else now.title,
        flags=flags,
        target_on=_day(data["target_on"]["to"]) if "target_on" in data else now.target_on,
        attempts=now.attempts,
        changes=now.changes + 1,
    )


def fold(
    proc: Procedure,
    events: Sequence[AppendedEvent],
    cal: WorkCalendar,
    *,
    upto: date | None = None,
) -> History:
    """The decision its change events make (only those effective on or before ``upto``);
    ``Refused`` at the first event the rules refuse."""
    now = History("", frozenset(), None, (), 0)
    for event in events:
        if upto is not None and event.effective_on > upto:
            continue
        data = json.loads(event.payload)
        try:
            if event.action == "register":
                now = History(
                    title=data.get("title", ""),
                    flags=frozenset(data.get("flags", ())),
                    target_on=_day(data.get("target_on")),
                    attempts=register(proc, event.effective_on),
                    changes=1,
                )
            elif event.action == "amend":
                now = _amended(proc, now, data)
            elif event.action in ACTIONS:
                action = _action(event.action, event.effective_on, data)
                attempts = apply(proc, now.flags, now.attempts, action, cal)
                now = History(now.title, now.flags, now.target_on, attempts, now.changes + 1)
        except DecideError as exc:
            raise Refused(event, data, exc) from None
    return now


def as_of(
    decision: Decision,
    proc: Procedure,
    events: Sequence[AppendedEvent],
    day: date,
    cal: WorkCalendar,
) -> tuple[Decision, Plan]:
    """The decision as the facts effective on or before ``day`` made it, planned as of ``day``
    (a date before the registration is refused: the decision did not exist yet)."""
    if day < decision.registered_on:
        raise InputError(
            f"--as-of {day} 早于决策登记日期 {decision.registered_on} is before the decision "
            f"was registered ({decision.registered_on}): it did not exist yet"
        )
    try:
        then = fold(proc, events, cal, upto=day)
    except Refused as refused:
        raise InputError(
            f"决策 {decision.id} 无法按 {day} 重现 cannot be shown as of {day}: event "
            f"{refused.event.seq} ({refused.event.action}) is refused on replay: {refused.error}"
        ) from None
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
