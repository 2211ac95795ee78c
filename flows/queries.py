"""Read-side commands: the list of decisions and what is due or overdue as of a date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from flows.commands import Commands
from procedures import load_procedure, plan
from procedures.planner import ALERT_LEVELS, Plan
from procedures.state import Decision
from store.schedules import load_calendar
from store.uow import UnitOfWork

__all__ = ["OverdueItem", "decisions_with_plans", "overdue"]

OPEN_STATUSES = ("in_progress", "approved", "rejected")


@dataclass(frozen=True)
class OverdueItem:
    decision: str
    title: str
    step: str | None  # None: the decision itself is past its target date
    zh: str
    level: str
    due_on: date
    overdue_working_days: int
    provisional: bool
    due_basis: str | None = None


# How far ahead a due date can still raise ``due_soon`` (3 working days): the longest run of
# days off (Spring Festival plus weekends) keeps that under 30 calendar days.
HORIZON = timedelta(days=30)


def decisions_with_plans(
    cmds: Commands, as_of: date, *, open_only: bool = False, due_only: bool = False
) -> list[tuple[Decision, Plan]]:
    """Decisions with their plans as of a date; ``due_only``: only those with something due
    within the alert horizon (read through the next_due_on index: cost follows open work)."""
    with UnitOfWork(cmds.db, write=False) as uow:
        if due_only:
            ids = uow.decisions.due_by(as_of + HORIZON)
        else:
            ids = uow.decisions.ids(status=OPEN_STATUSES if open_only else None)
        decisions = uow.decisions.many(ids)
        cal = load_calendar(uow.link)
    result = []
    for d in decisions:
        proc = load_procedure(d.procedure_id)
        result.append((d, plan(proc, d.flags, d.attempts, as_of, cal, target_on=d.target_on)))
    return result


def overdue(cmds: Commands, as_of: date) -> list[OverdueItem]:
    """Every open step (and undecided decision past its target) with an alert level."""
    items: list[OverdueItem] = []
    for decision, view in decisions_with_plans(cmds, as_of, due_only=True):
        for s in view.steps:
            if s.alert and s.due_on:
                items.append(
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
                )
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
    items.sort(key=lambda i: (-ALERT_LEVELS.index(i.level), i.due_on, i.decision))  # type: ignore[arg-type]
    return items
