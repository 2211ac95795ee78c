"""The deadline scan: raise each alert level once per step attempt (SPEC §4).

For every open step (and undecided decision with a target date) the scan works out the day each
level was first reached — ``due_soon`` (3 working days before), ``due_today``, ``overdue`` (the
day after) and ``escalated`` (5 working days overdue: the decision body is told, reflecting
Decree 713 Art. 38 on undue delay) — and raises every level reached by the scan date that was
not raised before.  So a scan after a month of downtime raises each missed level once, each
saying when it was first reached; running it twice raises nothing new.  Raising writes the alert
row and its audit event per level; the recipients get ONE message per step attempt per scan (one
outbox row, in the same transaction): the highest level reached, with the day each level was
first reached — a catch-up after days of downtime is one message, not four.

Payloads: ``overdue_working_days`` only on ``overdue``/``escalated`` (working days after the due
date up to the scan date); ``notify`` lists each recipient role once; ``provisional`` says the
due date depends on a year without the official holiday schedule (SPEC §3).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from app.commands import Commands
from app.queries import HORIZON, plan_all
from procedures import WorkCalendar
from procedures.planner import (
    ALERT_LABELS,
    ALERT_LEVELS,
    DUE_SOON_WORKING_DAYS,
    ESCALATE_AFTER_WORKING_DAYS,
    Plan,
)
from store.repository import NOTHING_DUE

__all__ = ["Alert", "DueItem", "due_items", "level_dates", "message_payload", "reached", "scan"]

SCAN_ACTOR = "decide-scan"


LATE_LEVELS = ("overdue", "escalated")


@dataclass(frozen=True)
class Alert:
    decision: str
    title: str
    step: str  # "" for the decision's target date
    zh: str
    role: str
    attempt: int
    level: str
    due_on: date
    first_reached_on: date
    overdue_working_days: int  # as of the scan date
    due_basis: str | None = None
    provisional: bool = False

    def recipients(self) -> list[str]:
        """Who is told, each once (escalation adds the decision body, Art. 38)."""
        roles = ["decision_body", self.role] if self.level == "escalated" else [self.role]
        return list(dict.fromkeys(roles))

    def payload(self) -> dict[str, object]:
        doc: dict[str, object] = {
            "level": self.level,
            "label": ALERT_LABELS[self.level],
            "step": self.step,
            "zh": self.zh,
            "role": self.role,
            "attempt": self.attempt,
            "due_on": self.due_on,
            "first_reached_on": self.first_reached_on,
            "title": self.title,
            "due_basis": self.due_basis,
            "provisional": self.provisional,
            "notify": self.recipients(),
        }
        if self.level in LATE_LEVELS:
            doc["overdue_working_days"] = self.overdue_working_days
        return doc


def message_payload(alerts: list[Alert], as_of: date) -> dict[str, object]:
    """The one message for one step attempt's levels reached by one scan: the highest level's
    payload, with the day each reached level was first reached (``reached``: [level, day] pairs
    in level order — a list, as stored JSON objects have their keys sorted)."""
    ranked = sorted(alerts, key=lambda a: ALERT_LEVELS.index(a.level))
    doc = ranked[-1].payload()
    doc["reached"] = [[a.level, a.first_reached_on] for a in ranked]
    doc["as_of"] = as_of
    return doc


def level_dates(cal: WorkCalendar, due: date, start: date) -> dict[str, date]:
    """The first day each level is reached for something due on ``due`` (never before ``start``)."""
    working: list[date] = []
    day = due
    while len(working) <= DUE_SOON_WORKING_DAYS:  # from this day, only that many are left
        if cal.is_working_day(day):
            working.append(day)
        day -= timedelta(days=1)
    return {
        "due_soon": max(working[DUE_SOON_WORKING_DAYS], start),
        "due_today": due,
        "overdue": due + timedelta(days=1),
        "escalated": cal.add_working_days(due, ESCALATE_AFTER_WORKING_DAYS).on,
    }


@dataclass(frozen=True)
class DueItem:
    """Something of a decision that falls due: an open or ready step, or the target date."""

    step: str  # "" for the decision's target date
    zh: str
    role: str
    attempt: int
    due_on: date
    start: date  # levels are never reached before this day (the step's opening)
    basis: str | None
    provisional: bool = False


def due_items(view: Plan, registered_on: date) -> list[DueItem]:
    """What ``next_due`` takes the earliest of (``Plan.falling_due`` and ``Plan.target_due``)."""
    items = [
        DueItem(
            s.step,
            s.zh,
            s.role,
            s.attempt,
            s.due_on,
            s.opened_on or registered_on,
            s.due_basis,
            s.provisional,
        )
        for s in view.falling_due
        if s.due_on
    ]
    if view.target_due is not None:
        items.append(
            DueItem(
                "",
                "决策目标日期 target date",
                "decision_body",
                0,
                view.target_due,
                registered_on,
                "target",
            )
        )
    return items


def reached(
    cal: WorkCalendar, view: Plan, registered_on: date, as_of: date
) -> tuple[list[tuple[DueItem, str, date]], date]:
    """The levels reached by ``as_of`` (item, level, first day) and the first day after it on
    which another level is reached (``NOTHING_DUE`` when none ever will be)."""
    now: list[tuple[DueItem, str, date]] = []
    later = NOTHING_DUE
    for item in due_items(view, registered_on):
        for level, first in level_dates(cal, item.due_on, item.start).items():
            if first < item.start:
                continue  # reached before the step opened: never raised
            if first <= as_of:
                now.append((item, level, first))
            elif first < later:
                later = first
    return now, later


def scan(cmds: Commands, as_of: date) -> list[Alert]:
    """Raise every level reached by ``as_of`` and not raised before; return what was raised.

    Only decisions whose recorded next alert date has come, or that changed since the last scan
    and have something due within the horizon, are planned; each planned decision gets its next
    alert date back (unless a command or a calendar import changed it meanwhile), so a daily
    scan's cost follows what reaches a level that day, not the open work or the history.
    """
    with cmds.unit(write=False) as uow:
        revision = uow.calendar_revision()
        cal = uow.calendar()
        decisions = uow.decisions.many(uow.decisions.alert_candidates(as_of, as_of + HORIZON))
        procs = cmds.pinned(uow, decisions, plannable_only=True)
    planned_now = plan_all(decisions, as_of, cal, procs)
    candidates: list[Alert] = []
    marks: list[tuple[str, int, date]] = []
    for decision, view in planned_now:
        now, later = reached(cal, view, decision.registered_on, as_of)
        marks.append((decision.id, decision.version, later))
        for item, level, first in now:
            late = max(0, cal.working_days_between(item.due_on, as_of))
            candidates.append(
                Alert(
                    decision.id,
                    decision.title,
                    item.step,
                    item.zh,
                    item.role,
                    item.attempt,
                    level,
                    item.due_on,
                    first,
                    late,
                    item.basis,
                    item.provisional,
                )
            )
    raised: list[Alert] = []
    if not marks:
        return raised
    moment = cmds.clock()
    by_attempt: dict[tuple[str, str, int], list[Alert]] = {}
    for alert in candidates:
        by_attempt.setdefault((alert.decision, alert.step, alert.attempt), []).append(alert)
    with cmds.unit() as uow:
        told: dict[tuple[str, str, int], None] = {}  # the step attempts with a new level
        for alert in candidates:
            if not uow.alerts.raise_once(
                decision_id=alert.decision,
                step=alert.step,
                attempt=alert.attempt,
                level=alert.level,
                due_on=alert.due_on,
                first_reached_on=alert.first_reached_on,
                raised_at=moment,
            ):
                continue  # raised before: once per level per step attempt
            payload = alert.payload()
            uow.audit.append(
                decision_id=alert.decision,
                action="alert",
                actor=SCAN_ACTOR,
                effective_on=as_of,
                recorded_at=moment,
                payload=payload,
            )
            raised.append(alert)
            told[(alert.decision, alert.step, alert.attempt)] = None
        for key in told:
            # every level reached, not only the new ones: the message says where the step stands
            payload = message_payload(by_attempt[key], as_of)
            uow.outbox.add(kind="alert", decision_id=key[0], payload=payload, now=moment)
        # Dates worked out with a calendar since replaced are not kept: the import forgot every
        # open decision's date, and the next scan plans them with the new calendar.
        if uow.calendar_revision() == revision:
            for decision_id, version, later in marks:
                uow.decisions.set_next_alert(decision_id, version, later)
        uow.commit()
    raised.sort(key=lambda a: (a.decision, a.step, ALERT_LEVELS.index(a.level)))
    return raised
