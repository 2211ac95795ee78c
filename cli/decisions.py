"""Register and advance decisions; read their status, the list and what is due."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.requests import (
    AttachmentIn,
    Changed,
    CompleteRequest,
    ExtendRequest,
    MeetingIn,
    RegisterRequest,
    SkipRequest,
    StartRequest,
)
from cli import render, tables
from cli.common import Actor, AsOf, Json, On, app, commands, pairs, parse_date, show, who
from cli.help import valid_ids
from procedures import load_procedure
from procedures.planner import ALERT_LABELS


@app.command(cls=valid_ids("flags"))
def register(
    title: Annotated[str, typer.Option("--title", help="决策事项名称")],
    procedure: Annotated[str, typer.Option("--procedure", help="preset id or procedure file")],
    sponsor: Annotated[str, typer.Option("--sponsor", help="决策承办单位")],
    flag: Annotated[
        list[str] | None, typer.Option("--flag", help="technical / stability_risk / undisclosable")
    ] = None,
    target: Annotated[
        str | None, typer.Option("--target", help="target date from the catalogue")
    ] = None,
    catalogue_year: Annotated[int | None, typer.Option("--catalogue-year")] = None,
    on: On = None,
    actor: Actor = None,
    as_json: Json = False,
) -> None:
    """登记决策 register a decision (决策启动 is done at registration)."""
    request = RegisterRequest(
        title=title,
        procedure=procedure,
        sponsor=sponsor,
        flag=tuple(flag or ()),
        target=parse_date(target, "--target"),
        catalogue_year=catalogue_year,
        on=parse_date(on, "--on"),
    )
    done = commands().execute(request, actor=who(actor))
    d, view = done.decision, done.plan
    show(
        as_json,
        render.decision_json(d, view),
        f"已登记 registered [bold]{d.id}[/]",
        tables.status_table(d, view, load_procedure(d.procedure_id)),
    )


def _changed(as_json: bool, action: str, done: Changed) -> None:
    d, view, step = done.decision, done.plan, done.step or ""
    proc = load_procedure(d.procedure_id)
    show(
        as_json,
        render.decision_json(d, view),
        render.change_line(action, d, view, proc, step),
        tables.status_table(d, view, proc),
    )


@app.command(cls=valid_ids("steps"))
def start(
    decision: str,
    step: str,
    on: On = None,
    shorten_reason: Annotated[
        str | None,
        typer.Option(
            "--shorten-reason",
            help="reason to shorten a statutory minimum (stated when the step opens)",
        ),
    ] = None,
    actor: Actor = None,
    as_json: Json = False,
) -> None:
    """开始步骤 open a step (or resubmit returned materials)."""
    request = StartRequest(
        decision=decision, step=step, on=parse_date(on, "--on"), shorten_reason=shorten_reason
    )
    done = commands().execute(request, actor=who(actor))
    _changed(as_json, "start", done)


@app.command(cls=valid_ids("steps", "outcomes"))
def complete(
    decision: str,
    step: str,
    outcome: Annotated[
        str | None, typer.Option("--outcome", help="结果 (may be left out when the step has one)")
    ] = None,
    on: On = None,
    note: Annotated[str | None, typer.Option("--note")] = None,
    attach: Annotated[
        list[str] | None,
        typer.Option("--attach", help="KIND=FILE, or FILE where the step takes one kind only"),
    ] = None,
    meeting_type: Annotated[
        str | None,
        typer.Option("--meeting-type", help="executive 常务会议 or plenary 全体会议"),
    ] = None,
    chair: Annotated[str | None, typer.Option("--chair", help="the head, who speaks last")] = None,
    position: Annotated[
        list[str] | None,
        typer.Option("--position", help="MEMBER=POSITION for each attending member"),
    ] = None,
    dissent: Annotated[
        list[str] | None, typer.Option("--dissent", help="MEMBER=TEXT, recorded as stated")
    ] = None,
    head_reason: Annotated[
        str | None,
        typer.Option("--head-reason", help="required when the head departs from the majority"),
    ] = None,
    next_meeting: Annotated[
        str | None, typer.Option("--next-meeting", help="for deferred: the new meeting date")
    ] = None,
    actor: Actor = None,
    as_json: Json = False,
) -> None:
    """完成步骤 record that a step finished, with its outcome."""
    attachments = []
    for item in attach or ():
        kind, sep, path = item.partition("=")
        if not sep:
            kind, path = "", item
        attachments.append(AttachmentIn(kind=kind.strip(), path=Path(path)))
    meeting = None
    if meeting_type or chair or position:
        meeting = MeetingIn(
            meeting_type=meeting_type or "",
            chair=chair or "",
            position=pairs(position, "--position"),
            dissent=pairs(dissent, "--dissent"),
            head_reason=head_reason,
        )
    request = CompleteRequest(
        decision=decision,
        step=step,
        on=parse_date(on, "--on"),
        outcome=outcome,
        note=note,
        attach=tuple(attachments),
        meeting=meeting,
        next_meeting=parse_date(next_meeting, "--next-meeting"),
    )
    done = commands().execute(request, actor=who(actor))
    _changed(as_json, "complete", done)


@app.command(cls=valid_ids("skippable"))
def skip(
    decision: str,
    step: str,
    reason: Annotated[str, typer.Option("--reason", help="why the law allows skipping it")],
    on: On = None,
    actor: Actor = None,
    as_json: Json = False,
) -> None:
    """跳过步骤 skip a conditional step, with the reason (only where the procedure allows)."""
    request = SkipRequest(decision=decision, step=step, reason=reason, on=parse_date(on, "--on"))
    done = commands().execute(request, actor=who(actor))
    _changed(as_json, "skip", done)


@app.command(cls=valid_ids("steps"))
def extend(
    decision: str,
    step: str,
    reason: Annotated[str, typer.Option("--reason")],
    on: On = None,
    actor: Actor = None,
    as_json: Json = False,
) -> None:
    """延长办理期限 extend a step's due date (where the procedure allows, with a reason)."""
    request = ExtendRequest(decision=decision, step=step, reason=reason, on=parse_date(on, "--on"))
    done = commands().execute(request, actor=who(actor))
    _changed(as_json, "extend", done)


# -- reading ---------------------------------------------------------------------------------
@app.command()
def status(decision: str, as_of: AsOf = None, as_json: Json = False) -> None:
    """决策状态 every step of a decision as of a date."""
    d, view = commands().status(decision, parse_date(as_of, "--as-of"))
    proc = load_procedure(d.procedure_id)
    show(as_json, render.decision_json(d, view), tables.status_table(d, view, proc))


@app.command("list")
def list_(
    as_of: AsOf = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="closed (archived) decisions too")
    ] = False,
    sponsor: Annotated[
        str | None, typer.Option("--sponsor", help="only this sponsor unit's decisions")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="show the first N decisions (default 50)")
    ] = 50,
    as_json: Json = False,
) -> None:
    """决策清单 open decisions (--all: every decision) with their current step and worst alert."""
    from app.queries import decisions_with_plans

    cmds = commands()
    total, rows = decisions_with_plans(
        cmds,
        parse_date(as_of, "--as-of") or cmds.today(),
        open_only=not show_all,
        sponsor=sponsor,
        limit=limit,
    )
    doc = {
        "total": total,
        "items": [
            {
                "id": d.id,
                "title": d.title,
                "sponsor": d.sponsor,
                "procedure": d.procedure_id,
                "status": v.status,
                "current": [s.step for s in v.current],
                "alert": v.worst_alert,
            }
            for d, v in rows
        ],
    }
    procs = {d.id: load_procedure(d.procedure_id) for d, _ in rows}
    show(as_json, doc, tables.list_table(rows, total, closed_too=show_all, procs=procs))


@app.command()
def overdue(
    as_of: AsOf = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="show the N most urgent items (one screen: 20)")
    ] = 20,
    show_all: Annotated[bool, typer.Option("--all", help="show every item")] = False,
    sponsor: Annotated[
        str | None, typer.Option("--sponsor", help="only this sponsor unit's decisions")
    ] = None,
    as_json: Json = False,
) -> None:
    """到期提醒 what is due soon, due today, overdue or escalated as of a date, most urgent first."""
    from app.queries import overdue as find

    cmds = commands()
    day = parse_date(as_of, "--as-of") or cmds.today()
    report = find(cmds, day, limit=None if show_all else limit, sponsor=sponsor)
    items = report.items
    doc = {
        "as_of": day,
        "decisions": report.decisions,
        "decisions_by_level": report.by_level,
        "complete": report.complete,
        "items": [
            {
                "decision": i.decision,
                "step": i.step,
                "level": i.level,
                "due_on": i.due_on,
                "overdue_working_days": i.overdue_working_days,
                "provisional": i.provisional,
                "due_basis": i.due_basis,
            }
            for i in items
        ],
    }
    levels = " · ".join(f"{ALERT_LABELS[k]} {k} {n:,}" for k, n in report.by_level.items())
    noun = "item" if len(items) == 1 else "items"
    shown = (
        f"{len(items)} {noun}"
        if report.complete
        else f"the {len(items)} most urgent {noun} (--all for every item)"
    )
    title = (
        f"到期提醒 alerts as of {day}: {report.decisions:,} 件决策 decisions ({levels}); "
        f"showing {shown}"
    )
    table = tables.overdue_table(title, items)
    show(as_json, doc, table if items else "没有到期事项 nothing due")
