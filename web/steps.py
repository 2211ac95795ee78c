"""The decision page: its steps with the actions the planner and the caller's roles allow now
(each checked with ``procedures.check`` as of today, so a refusal is shown before it is tried),
its documents and Art. 29 package, its timeline, and the files the flows built for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from app import permissions
from app.accounts import Identity
from app.builds import built_files
from app.commands import Commands
from procedures import (
    AccessDenied,
    Complete,
    DecideError,
    Extend,
    Procedure,
    RuleViolation,
    Skip,
    Start,
    Step,
    StepView,
    WorkCalendar,
    check,
)
from procedures.state import Action, Attach, Decision, Reuse
from web import builds, timeline
from web.common import page

__all__ = ["Offer", "StepOffers", "built_files", "decision_page", "offers_for"]

VERBS_ZH = {
    "start": "开始",
    "complete": "完成",
    "attach": "上传材料",
    "extend": "延期",
    "skip": "跳过",
    "reuse": "沿用前次结果",
}


@dataclass(frozen=True)
class Offer:
    verb: str
    zh: str
    refusal: RuleViolation | None = None  # what the procedure would say if it were done today


@dataclass
class StepOffers:
    view: StepView
    step: Step
    offers: list[Offer] = field(default_factory=list)


def _candidates(step: Step, view: StepView, decision: Decision, on: date) -> list[Action]:
    found: list[Action] = []
    earlier = any(a.step == step.id and a.number < view.attempt for a in decision.attempts)
    if view.status == "ready":
        found.append(Start(step=step.id, on=on))
        if step.reusable and earlier:
            found.append(Reuse(step=step.id, on=on))
        if step.skippable:
            found.append(Skip(step=step.id, on=on))
    elif view.status in ("open", "paused"):
        found.append(Complete(step=step.id, on=on))
        found.append(Attach(step=step.id, on=on))
        if step.due is not None:
            found.append(Extend(step=step.id, on=on))
        if step.skippable:
            found.append(Skip(step=step.id, on=on))
    elif view.status == "done" and step.documents:
        found.append(Attach(step=step.id, on=on))
    return found


def offers_for(
    cmds: Commands,
    who: Identity,
    decision: Decision,
    view: Any,
    proc: Procedure,
    cal: WorkCalendar | None = None,
) -> list[StepOffers]:
    """Every step, with what ``who`` may do on it now (``cal``: the calendar, if read)."""
    cal = cal or cmds.calendar()
    today = cmds.today()
    rows: list[StepOffers] = []
    for s in view.steps:
        step = proc.step(s.step)
        if step is None:
            continue
        row = StepOffers(s, step)
        if decision.status == "in_progress" or s.status in ("ready", "open", "done"):
            for action in _candidates(step, s, decision, today):
                try:
                    permissions.check_act(who, proc, decision, step, action)
                except AccessDenied:
                    continue
                refusal = None
                if action.kind not in ("attach", "complete"):  # complete: the form's fields
                    refusal = check(proc, decision.flags, decision.attempts, action, cal)
                row.offers.append(Offer(action.kind, VERBS_ZH[action.kind], refusal))
        rows.append(row)
    return rows


MEETING_ROWS = 12  # member rows of the meeting form (an executive meeting: head, deputies, ...)


def decision_page(
    request: Request,
    cmds: Commands,
    who: Identity,
    decision_id: str,
    *,
    refusal: DecideError | None = None,
    failed: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    from app.documents import decision_with_documents

    read = decision_with_documents(cmds, decision_id, who)
    d, view, proc, docs, cal = (
        read.decision,
        read.plan,
        read.procedure,
        read.documents,
        read.calendar,
    )
    today = view.as_of
    picture = timeline.svg(timeline.rows_of(d, view), cal, today)
    return page(
        request,
        "decision.html",
        who,
        status=status,
        today=today,
        d=d,
        view=view,
        proc=proc,
        rows=offers_for(cmds, who, d, view, proc, cal),
        docs=docs,
        timeline=picture,
        files=[p.name for p in built_files(cmds, decision_id)],
        builds=builds.offers(who, d, view.status),
        refusal=refusal,
        failed=failed,
        done=request.query_params.get("done"),
        max_bytes=cmds.max_attachment_bytes,
        methods={m.id: m for m in proc.methods},
        kinds={k.id: k for k in proc.documents},
        members=MEETING_ROWS,
    )
