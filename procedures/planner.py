"""The planner: for a decision on a date, where each step stands, when it may close, when it is due.

Pure: a function of (procedure, flags, attempts, as-of date, calendar); no database, no clock.
Statuses follow SPEC §2: a step the flags do not require is skipped from the start; a step is
ready when every step it comes after is done (with an accepted outcome) or lawfully skipped, and
opens only by an explicit start.  Periods follow SPEC §3 (``procedures.calendar``); alert levels
follow SPEC §4: ``due_soon`` within 3 working days, ``due_today``, ``overdue``, and ``escalated``
when overdue by 5 working days or more (reflecting Decree 713 Art. 38 on undue delay).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict

from procedures.calendar import Dated, WorkCalendar
from procedures.errors import InputError
from procedures.model import Period, Procedure, Step
from procedures.state import Attempt

__all__ = [
    "ALERT_LABELS",
    "ALERT_LEVELS",
    "DECISION_STATUS_LABELS",
    "DUE_BASIS_LABELS",
    "STATUS_LABELS",
    "Plan",
    "Situation",
    "StepView",
    "alert_level",
    "check_flags",
    "current_attempt",
    "decision_status",
    "plan",
    "situation",
]

StepStatus = Literal["waiting", "ready", "open", "paused", "done", "skipped"]
AlertLevel = Literal["due_soon", "due_today", "overdue", "escalated"]
DecisionStatus = Literal["in_progress", "approved", "rejected", "closed"]

ALERT_LEVELS: tuple[AlertLevel, ...] = ("due_soon", "due_today", "overdue", "escalated")
DUE_SOON_WORKING_DAYS = 3
ESCALATE_AFTER_WORKING_DAYS = 5

STATUS_LABELS: dict[str, str] = {
    "waiting": "等待前序步骤",
    "ready": "可以开始",
    "open": "办理中",
    "paused": "已退回，暂停计时",
    "done": "已完成",
    "skipped": "已跳过",
}
ALERT_LABELS: dict[str, str] = {
    "due_soon": "即将到期",
    "due_today": "今日到期",
    "overdue": "已逾期",
    "escalated": "逾期升级（报告决策机关）",
}
DUE_BASIS_LABELS: dict[str, str] = {
    "statute": "法定 statute",
    "local_rule": "地方规定 local rule",
    "office_policy": "办公室政策 office policy",
    "analogy": "参照适用 by analogy",
    "meeting": "会议确定 set by the meeting",
    "target": "目录目标 catalogue target",
}
DECISION_STATUS_LABELS: dict[str, str] = {
    "in_progress": "办理中",
    "approved": "已决定通过",
    "rejected": "未通过",
    "closed": "已办结",
}


def check_flags(proc: Procedure, flags: Iterable[str]) -> frozenset[str]:
    """The decision's flags, refusing any the procedure does not know."""
    result = frozenset(flags)
    unknown = sorted(result - {f.id for f in proc.flags})
    if unknown:
        known = ", ".join(f"{f.id} ({f.zh})" for f in proc.flags)
        raise InputError(
            f"未知标记 unknown flag {unknown[0]!r} for procedure {proc.id}; 可选 known flags: {known}"
        )
    return result


def current_attempt(attempts: Sequence[Attempt], step_id: str) -> Attempt | None:
    """The step's latest attempt that a return has not superseded."""
    for attempt in reversed(attempts):
        if attempt.step == step_id and not attempt.superseded:
            return attempt
    return None


@dataclass(frozen=True)
class Situation:
    """Where a step stands, before any date arithmetic."""

    status: StepStatus
    attempt: Attempt | None
    number: int  # the current attempt's number, or the next one's
    reason: str | None = None
    lawful_skip: bool = False
    blocked_by: tuple[str, ...] = ()
    not_applicable: bool = False


def situation(
    proc: Procedure, flags: frozenset[str], attempts: Sequence[Attempt]
) -> dict[str, Situation]:
    """Each step's status, in the procedure's (topological) order."""
    counts: dict[str, int] = {}
    latest: dict[str, Attempt] = {}  # each step's latest attempt no return has superseded
    for a in attempts:  # one pass: a command plans on every change
        counts[a.step] = counts.get(a.step, 0) + 1
        if not a.superseded:
            latest[a.step] = a
    out: dict[str, Situation] = {}
    ended = _ended(proc, latest)
    for step in proc.steps:
        count = counts.get(step.id, 0)
        cur = latest.get(step.id)
        if not step.required.holds(flags):
            out[step.id] = Situation("skipped", None, count, _not_required(proc, step), True)
        elif (
            ended is not None
            and (cur is None or cur.status in ("open", "paused"))
            and not _follows(proc, step, ended)
        ):
            # the decision will not go on (e.g. rejected): only what follows that outcome remains
            out[step.id] = Situation(
                "skipped",
                cur,
                cur.number if cur else count + 1,
                f"不适用 not applicable: {ended[0]} → {ended[1]}",
                not_applicable=True,
            )
        elif cur is not None:
            reason = cur.skip_reason if cur.status == "skipped" else None
            out[step.id] = Situation(cur.status, cur, cur.number, reason, cur.status == "skipped")
        else:
            out[step.id] = _unstarted(proc, step, out, count + 1)
    return out


def _ended(proc: Procedure, latest: dict[str, Attempt]) -> tuple[str, str] | None:
    """The step and outcome that ended the decision (an ``end`` effect, e.g. rejected), if any."""
    for step in proc.steps:
        att = latest.get(step.id)
        if att is not None and att.status == "done" and att.outcome:
            outcome = step.outcome(att.outcome)
            if outcome is not None and outcome.effect == "end":
                return step.id, outcome.id
    return None


def _follows(proc: Procedure, step: Step, ended: tuple[str, str]) -> bool:
    """Whether ``step`` comes explicitly after the ending outcome (archiving after rejected),
    directly or through steps that do (a district's dossier review after its sending)."""
    if step.id == ended[0]:
        return True
    for pre in step.after:
        if pre.step == ended[0]:
            if pre.outcomes is not None and ended[1] in pre.outcomes:
                return True
            continue
        before = proc.step(pre.step)
        if before is not None and _follows(proc, before, ended):
            return True
    return False


def _not_required(proc: Procedure, step: Step) -> str:
    flag = proc.flag(step.required.flag or "")
    assert flag is not None
    cond = "未标记" if step.required.kind == "when" else "已标记"
    return f"不需要 not required: {cond}「{flag.zh}」({flag.id}; {flag.article or step.article})"


def _unstarted(proc: Procedure, step: Step, known: dict[str, Situation], number: int) -> Situation:
    blocked: list[str] = []
    for pre in step.after:
        before = known[pre.step]
        if before.status == "skipped":
            if not before.lawful_skip:
                return _not_applicable(step, number, pre.step, before.reason)
            continue
        if before.status == "done":
            assert before.attempt is not None
            accepted = proc.accepted(pre)
            if before.attempt.outcome not in accepted:
                return _not_applicable(step, number, pre.step, before.attempt.outcome)
            continue
        blocked.append(pre.step)
    if blocked:
        return Situation("waiting", None, number, None, blocked_by=tuple(blocked))
    return Situation("ready", None, number)


def _not_applicable(step: Step, number: int, pre: str, why: str | None) -> Situation:
    reason = f"不适用 not applicable: {pre} → {why}" if why and "→" not in why else why
    return Situation("skipped", None, number, reason, lawful_skip=False, not_applicable=True)


class StepView(BaseModel):
    """One step of one decision as of a date (its latest attempt)."""

    model_config = ConfigDict(frozen=True)

    step: str
    zh: str
    en: str
    role: str
    status: StepStatus
    attempt: int
    opened_on: date | None = None
    earliest_close_on: date | None = None
    # the end of the review time guaranteed from the latest receipt (Decree 713 Art. 26), and
    # the response date the submitter asked for (that end, unless it asked otherwise)
    guaranteed_until: date | None = None
    respond_by: date | None = None
    due_on: date | None = None
    # where the due date comes from: statute / local_rule / office_policy, or meeting (the next
    # meeting date set by a deferral) — office-policy dates are never shown as statutory
    due_basis: str | None = None
    closed_on: date | None = None
    outcome: str | None = None
    provisional: bool = False
    close_provisional: bool = False  # closed on a provisional minimum end (SPEC §3)
    alert: AlertLevel | None = None
    overdue_working_days: int = 0
    shortened: bool = False
    reason: str | None = None
    blocked_by: tuple[str, ...] = ()
    # public participation (Decree 713 Arts. 14-15): the methods used, the deadline the comment
    # notice published, and the day the window runs to (rolled to a working day, Civil Code
    # Art. 203 by analogy)
    methods: tuple[str, ...] = ()
    comment_until: date | None = None
    window_until: date | None = None
    reused_from: int | None = None  # kept from this earlier attempt (沿用前次结果)
    # the basis of the earliest close or the guaranteed review time shown (statute, local rule…)
    minimum_basis: str | None = None
    # a ready step that needs the Art. 29 package: the document kinds it still lacks
    package_missing: tuple[str, ...] = ()


class Plan(BaseModel):
    model_config = ConfigDict(frozen=True)

    procedure: str
    as_of: date
    status: DecisionStatus
    steps: tuple[StepView, ...]
    target_on: date | None = None
    target_alert: AlertLevel | None = None
    target_overdue_working_days: int = 0

    def step(self, step_id: str) -> StepView:
        return next(s for s in self.steps if s.step == step_id)

    @property
    def current(self) -> tuple[StepView, ...]:
        return tuple(s for s in self.steps if s.status in ("open", "paused", "ready"))

    @property
    def falling_due(self) -> tuple[StepView, ...]:
        """The steps whose due date can carry an alert: open, ready or waiting, and dated."""
        return tuple(s for s in self.steps if s.status in ("open", "ready", "waiting") and s.due_on)

    @property
    def target_due(self) -> date | None:
        """The target date while it can carry an alert (the decision is still undecided)."""
        return self.target_on if self.status == "in_progress" else None

    @property
    def worst_alert(self) -> AlertLevel | None:
        levels = [s.alert for s in self.steps if s.alert] + [self.target_alert]
        ranked = [ALERT_LEVELS.index(a) for a in levels if a]
        return ALERT_LEVELS[max(ranked)] if ranked else None


def alert_level(cal: WorkCalendar, due: date, as_of: date) -> tuple[AlertLevel | None, int]:
    """The alert level of something due on ``due`` as of ``as_of``, and working days overdue."""
    if as_of == due:
        return "due_today", 0
    if as_of < due:
        soon = cal.working_days_between(as_of, due) <= DUE_SOON_WORKING_DAYS
        return ("due_soon" if soon else None), 0
    late = cal.working_days_between(due, as_of)
    if late >= ESCALATE_AFTER_WORKING_DAYS:
        return "escalated", late
    return "overdue", late


def period_end(cal: WorkCalendar, start: date, period: Period) -> Dated:
    if period.unit == "working_days":
        return cal.add_working_days(start, period.amount)
    return cal.add_calendar_days(start, period.amount)


@dataclass(frozen=True)
class Dates:
    minimum_end: Dated | None  # unshortened: the statutory minimum as computed
    earliest_close: date | None  # None when no minimum, or shortened with a reason
    due: Dated | None
    # the end of the review time guaranteed from the latest receipt (Art. 26), when the step has one
    review_end: Dated | None = None


def step_dates(
    proc: Procedure,
    step: Step,
    attempt: Attempt | None,
    attempts: Sequence[Attempt],
    cal: WorkCalendar,
) -> Dates:
    """Minimum end and due date of a step's attempt (or of a ready step anchored elsewhere)."""
    start = attempt.clock_start if attempt is not None else None
    if attempt is not None and attempt.reused_from is not None:
        return Dates(None, None, None)  # an earlier result kept: no period of its own ran
    window = step.minimum is not None and step.minimum.method is not None
    review = period_end(cal, start, step.review_time) if step.review_time and start else None
    if window:
        minimum, earliest = _window(cal, step, attempt)
    else:
        minimum = period_end(cal, start, step.minimum) if step.minimum and start else None
        shortened = attempt is not None and attempt.shorten_reason is not None
        earliest = minimum.on if minimum and not shortened else None
    due: Dated | None = None
    if step.due is not None:
        anchor: date | None
        if step.due.anchor == "opened":
            anchor = start
        elif step.due.anchor == "minimum_end":
            # a step whose methods include no comment window counts from its opening
            anchor = minimum.on if minimum else (start if window else None)
        else:
            other = current_attempt(attempts, step.due.anchor)
            anchor = other.closed_on if other else None
        if anchor is not None:
            due = period_end(cal, anchor, step.due)
            ext = step.due.extension
            for _ in attempt.extensions if (attempt and ext) else ():
                assert ext is not None
                more = period_end(
                    cal, due.on, Period(amount=ext.amount, unit=ext.unit, basis=ext.basis)
                )
                due = Dated(more.on, due.provisional or more.provisional)
            if attempt is not None and attempt.deferrals:
                due = Dated(attempt.deferrals[-1].next_meeting_on, False)
            if minimum is not None and step.due.anchor == "minimum_end":
                due = Dated(due.on, due.provisional or minimum.provisional)
    return Dates(minimum, earliest, due, review)


def _window(
    cal: WorkCalendar, step: Step, attempt: Attempt | None
) -> tuple[Dated | None, date | None]:
    """The public comment window (Decree 713 Art. 15) of an attempt that used it: the day it
    runs to — the published deadline, moved to the next working day when it is not one — and
    the first day the step may close, the day after (the last day runs to 24:00; Civil Code
    Arts. 201, 203 by analogy).  Shortened or not, a published window runs its course."""
    assert step.minimum is not None
    if (
        attempt is None
        or attempt.opened_on is None
        or attempt.comment_until is None
        or step.minimum.method not in attempt.methods
    ):
        return None, None
    opened = attempt.opened_on
    end = cal.add_calendar_days(opened, (attempt.comment_until - opened).days)
    return end, end.on + timedelta(days=1)


def _package_missing(
    proc: Procedure, flags: frozenset[str], attempts: Sequence[Attempt], step: Step, sit: Situation
) -> tuple[str, ...]:
    if not step.requires_package or sit.status != "ready":
        return ()
    from procedures.package import package_gaps  # the package module builds on the planner

    return tuple(g.kind for g in package_gaps(proc, flags, attempts))


def _minimum_basis(step: Step, dates: Dates) -> str | None:
    if dates.review_end is not None and step.review_time is not None:
        return step.review_time.basis.kind
    if dates.minimum_end is not None and step.minimum is not None:
        return step.minimum.basis.kind
    return None


def _due_basis(step: Step, attempt: Attempt | None) -> str | None:
    if attempt is not None and attempt.deferrals:
        return "meeting"
    return step.due.basis.kind if step.due else None


def decision_status(proc: Procedure, where: dict[str, Situation]) -> DecisionStatus:
    if all(s.status in ("done", "skipped") for s in where.values()):
        return "closed"
    for step in proc.steps:
        sit = where[step.id]
        if step.decides and sit.status == "done" and sit.attempt is not None:
            outcome = step.outcome(sit.attempt.outcome or "")
            return "approved" if outcome and outcome.passing else "rejected"
    return "in_progress"


def plan(
    proc: Procedure,
    flags: frozenset[str],
    attempts: Sequence[Attempt],
    as_of: date,
    cal: WorkCalendar,
    *,
    target_on: date | None = None,
) -> Plan:
    """Every step's status, dates and alert level as of ``as_of``."""
    where = situation(proc, flags, attempts)
    views = []
    for step in proc.steps:
        sit = where[step.id]
        att = sit.attempt
        dates = Dates(None, None, None)
        if sit.status in ("open", "done", "ready", "waiting"):
            # a waiting step has a due date only when it counts from an earlier step's close:
            # publication's 20 working days run from the decision even while the report to the
            # Party committee is awaited (政府信息公开条例 Art. 26)
            unopened = sit.status in ("ready", "waiting")
            dates = step_dates(proc, step, None if unopened else att, attempts, cal)
        alert: AlertLevel | None = None
        late = 0
        if sit.status in ("open", "ready", "waiting") and dates.due is not None:
            alert, late = alert_level(cal, dates.due.on, as_of)
        provisional = any(
            d is not None and d.provisional
            for d in (dates.minimum_end, dates.due, dates.review_end)
        )
        guaranteed = dates.review_end.on if dates.review_end else None
        views.append(
            StepView(
                step=step.id,
                zh=step.zh,
                en=step.en,
                role=step.role,
                status=sit.status,
                attempt=sit.number,
                opened_on=att.opened_on if att else None,
                earliest_close_on=dates.earliest_close,
                guaranteed_until=guaranteed,
                respond_by=(att.respond_by if att else None) or guaranteed,
                due_on=dates.due.on if dates.due else None,
                due_basis=_due_basis(step, att) if dates.due else None,
                closed_on=att.closed_on if att else None,
                outcome=att.outcome if att else None,
                provisional=provisional,
                close_provisional=bool(att and att.close_provisional),
                alert=alert,
                overdue_working_days=late,
                shortened=bool(att and att.shorten_reason),
                reason=sit.reason
                or (att.reuse_reason if att and att.reused_from else None)
                or (att.shorten_reason if att else None),
                blocked_by=sit.blocked_by,
                methods=att.methods if att else (),
                comment_until=att.comment_until if att else None,
                window_until=dates.minimum_end.on
                if dates.minimum_end and step.minimum and step.minimum.method
                else None,
                reused_from=att.reused_from if att else None,
                minimum_basis=_minimum_basis(step, dates),
                package_missing=_package_missing(proc, flags, attempts, step, sit),
            )
        )
    status = decision_status(proc, where)
    target_alert: AlertLevel | None = None
    target_late = 0
    if target_on is not None and status == "in_progress":
        target_alert, target_late = alert_level(cal, target_on, as_of)
    return Plan(
        procedure=proc.id,
        as_of=as_of,
        status=status,
        steps=tuple(views),
        target_on=target_on,
        target_alert=target_alert,
        target_overdue_working_days=target_late,
    )
