"""Read-side commands: the list of decisions and what is due or overdue as of a date."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from app import permissions
from app.accounts import Identity
from app.commands import Commands
from procedures import Procedure, WorkCalendar, plan
from procedures.planner import ALERT_LEVELS, AlertLevel, Plan, alert_level
from procedures.state import Decision
from store.audit import AppendedEvent
from store.repository import Person, RaisedAlert

__all__ = [
    "OverdueItem",
    "OverdueReport",
    "alert_bound",
    "alerts_of",
    "audit_events",
    "decisions_with_plans",
    "overdue",
    "people",
    "plan_all",
    "plan_of",
]

OPEN_STATUSES = ("in_progress", "approved", "rejected")


@dataclass(frozen=True)
class OverdueItem:
    decision: str
    title: str
    step: str | None  # None: the decision itself is past its target date
    zh: str
    level: AlertLevel
    due_on: date
    overdue_working_days: int
    provisional: bool
    due_basis: str | None = None


# How far ahead a due date can still raise ``due_soon`` (3 working days): the longest run of
# days off (Spring Festival plus weekends) keeps that under 30 calendar days.
HORIZON = timedelta(days=30)


def decisions_with_plans(
    cmds: Commands,
    as_of: date,
    *,
    open_only: bool = False,
    sponsor: str | None = None,
    limit: int | None = None,
    who: Identity | None = None,
) -> tuple[int, list[tuple[Decision, Plan]]]:
    """How many decisions there are, and the first ``limit`` of them (in id order) with their
    plans as of a date; ``open_only``: not closed (archived); ``sponsor``: only that unit's;
    ``who``: only those the caller may read (``app.permissions``)."""
    with cmds.unit(write=False) as uow:
        ids = uow.decisions.ids(
            status=OPEN_STATUSES if open_only else None,
            sponsor=sponsor,
            unit=None if permissions.reads_all(who) else (who.unit if who else None),
            without_flag=permissions.hidden_flag(who),
        )
        if who is not None and not permissions.reads_all(who):  # a superset: check each
            ids = [d.id for d in uow.decisions.many(ids) if permissions.may_read(who, d)]
        decisions = uow.decisions.many(ids if limit is None else ids[:limit])
        cal = uow.calendar()
        procs = cmds.pinned(uow, decisions, plannable_only=True)
    return len(ids), plan_all(decisions, as_of, cal, procs)


def plan_of(proc: Procedure, d: Decision, as_of: date, cal: WorkCalendar) -> Plan:
    """The plan of the whole decision, its target date included: what every reader shows and
    every writer derives the deadline index from."""
    return plan(proc, d.flags, d.attempts, as_of, cal, target_on=d.target_on)


def plan_all(
    decisions: list[Decision],
    as_of: date,
    cal: WorkCalendar,
    procs: Mapping[str, Procedure],
) -> list[tuple[Decision, Plan]]:
    """Each decision with its plan as of a date, under its pinned definition (``procs``, by
    SHA-256: ``Commands.pinned``)."""
    return [
        (d, plan_of(procs[d.procedure_sha256 or ""], d, as_of, cal))
        for d in decisions
        if (d.procedure_sha256 or "") in procs  # an unpinned one cannot be planned
    ]


@dataclass(frozen=True)
class OverdueReport:
    """What is due as of a date, most urgent first, and how many decisions need attention."""

    as_of: date
    items: list[OverdueItem]  # the most urgent ``limit`` items (all when ``complete``)
    decisions: int  # decisions with at least one item, shown or not
    by_level: dict[str, int]  # those decisions counted by their most urgent level
    complete: bool  # every item is in ``items``


def alert_bound(cal: WorkCalendar, as_of: date) -> date:
    """The last due date that has an alert level as of ``as_of`` (``due_soon`` reaches ahead)."""
    day = as_of
    while alert_level(cal, day + timedelta(days=1), as_of)[0] is not None:
        day += timedelta(days=1)
    return day


def _items(decision: Decision, view: Plan) -> list[OverdueItem]:
    items = [
        OverdueItem(
            decision.id,
            decision.title,
            s.step,
            s.zh,
            s.alert,
            s.due_on,
            s.overdue_working_days,
            s.provisional,
            s.due_basis,
        )
        for s in view.steps
        if s.alert and s.due_on
    ]
    if view.target_alert and decision.target_on:
        items.append(
            OverdueItem(
                decision.id,
                decision.title,
                None,
                "决策目标日期",
                view.target_alert,
                decision.target_on,
                view.target_overdue_working_days,
                False,
                "target",
            )
        )
    return items


def _urgency(item: OverdueItem) -> tuple[int, date, str, str]:
    return (-ALERT_LEVELS.index(item.level), item.due_on, item.decision, item.step or "")


def overdue(
    cmds: Commands,
    as_of: date,
    *,
    limit: int | None = None,
    sponsor: str | None = None,
    who: Identity | None = None,
) -> OverdueReport:
    """Every open step (and undecided decision past its target) with an alert level, most
    urgent first; with ``limit``, only that many.

    A decision's ``next_due_on`` is the earliest due date of the very things that can carry an
    alert, and the alert level only rises as a due date gets older, so the decisions are planned
    in ``next_due_on`` order and planning stops once ``limit`` items are known to come before
    everything not yet planned: the cost follows the page, not the open work.  The count of
    decisions per level comes from the index alone.
    """
    by_level = dict.fromkeys(reversed(ALERT_LEVELS), 0)
    items: list[OverdueItem] = []
    with cmds.unit(write=False) as uow:  # one snapshot for the counts and the items
        cal = uow.calendar()
        unit = None if permissions.reads_all(who) else (who.unit if who else None)
        queue = uow.decisions.due_order(alert_bound(cal, as_of), sponsor=sponsor, unit=unit)
        if who is not None and (unit is not None or not permissions.reads_undisclosable(who)):
            visible = {
                d.id
                for d in uow.decisions.many([i for i, _ in queue])
                if permissions.may_read(who, d)
            }
            queue = [(i, due) for i, due in queue if i in visible]
        for _, due in queue:
            if due is not None:
                level = alert_level(cal, due, as_of)[0]
                assert level is not None  # due on or before the bound
                by_level[level] += 1
        counted = sum(by_level.values())
        undated = {i for i, due in queue if due is None}  # from before revision 0002
        position, chunk = 0, min(limit or 50, 50)  # about one decision per item shown
        while position < len(queue):
            batch = queue[position : position + chunk]
            position += len(batch)
            batch_ids = [i for i, _ in batch]
            many = uow.decisions.many(batch_ids)
            for decision, view in plan_all(
                many, as_of, cal, cmds.pinned(uow, many, plannable_only=True)
            ):
                found = _items(decision, view)
                items.extend(found)
                if found and decision.id in undated:
                    by_level[min(found, key=_urgency).level] += 1
                    counted += 1
            later = queue[position][1] if position < len(queue) else None
            if (  # nothing not yet planned is due before ``later``
                limit is not None
                and later is not None
                and sum(1 for i in items if i.due_on < later) >= limit
            ):
                break
            chunk = min(chunk * 2, 500)
    items.sort(key=_urgency)
    complete = position >= len(queue) and (limit is None or len(items) <= limit)
    return OverdueReport(
        as_of=as_of,
        items=items if limit is None else items[:limit],
        decisions=counted,
        by_level={k: v for k, v in by_level.items() if v},
        complete=complete,
    )


def audit_events(
    cmds: Commands, decision_id: str, who: Identity | None = None
) -> list[AppendedEvent]:
    """A decision's audit events in order (``NotFound`` for an unknown decision)."""
    with cmds.unit(write=False) as uow:
        decision = uow.decisions.get(decision_id)
        if who is not None:
            permissions.check_read(who, decision)
        return uow.audit.events(decision_id)


def alerts_of(cmds: Commands, decision_id: str) -> list[RaisedAlert]:
    with cmds.unit(write=False) as uow:
        return uow.alerts.of(decision_id)


def people(cmds: Commands) -> list[Person]:
    with cmds.unit(write=False) as uow:
        return uow.people.all()
