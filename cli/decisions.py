"""Register and advance decisions; read their status, the list and what is due."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.requests import (
    AmendRequest,
    AttachmentIn,
    AttachRequest,
    Changed,
    CompleteRequest,
    ExtendRequest,
    HearingIn,
    MeetingIn,
    RegisterRequest,
    ReuseRequest,
    SkipRequest,
    StartRequest,
)
from cli import render, tables
from cli.common import Actor, AsOf, Json, On, app, commands, pairs, parse_date, reader, show, who
from cli.help import valid_ids
from procedures.planner import ALERT_LABELS

if TYPE_CHECKING:
    from app.commands import Commands

OnBehalfOf = Annotated[
    str | None,
    typer.Option(
        "--on-behalf-of",
        help="代录 the external party whose act this records (an expert panel, the Party "
        "committee); with its document",
    ),
]


@app.command(cls=valid_ids("flags"))
def register(
    title: Annotated[str, typer.Option("--title", help="决策事项名称")],
    procedure: Annotated[str, typer.Option("--procedure", help="preset id or procedure file")],
    sponsor: Annotated[str, typer.Option("--sponsor", help="决策承办单位（牵头）the lead sponsor")],
    flag: Annotated[
        list[str] | None, typer.Option("--flag", help="technical / stability_risk / undisclosable")
    ] = None,
    co_sponsor: Annotated[
        list[str] | None,
        typer.Option("--co-sponsor", help="协办单位 a unit taking part with the lead sponsor"),
    ] = None,
    assign: Annotated[
        list[str] | None,
        typer.Option("--assign", help="ROLE=UNIT: the unit acting as risk_assessor or expert"),
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
        co_sponsor=tuple(co_sponsor or ()),
        assign=tuple(assign or ()),
    )
    cmds = commands()
    done = cmds.execute(request, actor=who(actor, cmds))
    d, view = done.decision, done.plan
    show(
        as_json,
        render.decision_json(d, view),
        f"已登记 registered [bold]{d.id}[/]",
        tables.status_table(d, view, cmds.procedure_of(d)),
    )


def _changed(as_json: bool, action: str, done: Changed, cmds: Commands) -> None:
    d, view, step = done.decision, done.plan, done.step or ""
    proc = cmds.procedure_of(d)  # pinned; cached by the command that just ran
    show(
        as_json,
        render.decision_json(d, view),
        render.change_line(action, d, view, proc, step),
        tables.status_table(d, view, proc),
    )


@app.command(cls=valid_ids("steps", "methods"))
def start(
    decision: str,
    step: str,
    on: On = None,
    shorten_reason: Annotated[
        str | None,
        typer.Option(
            "--shorten-reason",
            help="reason to shorten a statutory period (stated when the step opens, or when "
            "the materials are submitted for review)",
        ),
    ] = None,
    respond_by: Annotated[
        str | None,
        typer.Option(
            "--respond-by",
            help="请求答复日期 the response date asked of the reviewer (default: the end of the "
            "guaranteed review time, Decree 713 Art. 26)",
        ),
    ] = None,
    method: Annotated[
        list[str] | None,
        typer.Option(
            "--method",
            help="公众参与方式 a participation method, repeatable (default public_comment; "
            "Decree 713 Art. 14)",
        ),
    ] = None,
    comment_until: Annotated[
        str | None,
        typer.Option(
            "--comment-until",
            help="征求意见截止日期 the deadline the comment notice publishes (default: the "
            "earliest lawful one, 30 days after --on; Art. 15)",
        ),
    ] = None,
    on_behalf_of: OnBehalfOf = None,
    actor: Actor = None,
    as_json: Json = False,
) -> None:
    """开始步骤 open a step (or resubmit returned materials)."""
    request = StartRequest(
        decision=decision,
        step=step,
        on=parse_date(on, "--on"),
        shorten_reason=shorten_reason,
        respond_by=parse_date(respond_by, "--respond-by"),
        method=tuple(method or ()),
        comment_until=parse_date(comment_until, "--comment-until"),
        on_behalf_of=on_behalf_of,
    )
    cmds = commands()
    done = cmds.execute(request, actor=who(actor, cmds))
    _changed(as_json, "start", done, cmds)


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
    hearing_notice_on: Annotated[
        str | None,
        typer.Option("--hearing-notice-on", help="听证公告日期 the day the hearing was announced"),
    ] = None,
    hearing_materials_on: Annotated[
        str | None,
        typer.Option(
            "--hearing-materials-on",
            help="听证材料送达日期 the day the materials reached the participants (≥ 7 days "
            "before the hearing, Art. 16)",
        ),
    ] = None,
    hearing_on: Annotated[
        str | None, typer.Option("--hearing-on", help="听证会举行日期 the day of the hearing")
    ] = None,
    on_behalf_of: OnBehalfOf = None,
    actor: Actor = None,
    as_json: Json = False,
) -> None:
    """完成步骤 record that a step finished, with its outcome."""
    attachments = _attachments(attach)
    hearing = None
    dates = (hearing_notice_on, hearing_materials_on, hearing_on)
    if any(dates):
        if not all(dates):
            raise typer.BadParameter(
                "听证会须同时写明三个日期 a hearing needs --hearing-notice-on, "
                "--hearing-materials-on and --hearing-on together"
            )
        hearing = HearingIn(
            notice_on=parse_date(hearing_notice_on, "--hearing-notice-on"),
            materials_on=parse_date(hearing_materials_on, "--hearing-materials-on"),
            on=parse_date(hearing_on, "--hearing-on"),
        )
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
        hearing=hearing,
        on_behalf_of=on_behalf_of,
    )
    cmds = commands()
    done = cmds.execute(request, actor=who(actor, cmds))
    _changed(as_json, "complete", done, cmds)


def _attachments(items: list[str] | None) -> tuple[AttachmentIn, ...]:
    attachments = []
    for item in items or ():
        kind, sep, path = item.partition("=")
        if not sep:
            kind, path = "", item
        attachments.append(AttachmentIn(kind=kind.strip(), path=Path(path)))
    return tuple(attachments)


@app.command(cls=valid_ids("reusable"))
def reuse(
    decision: str,
    step: str,
    reason: Annotated[
        str, typer.Option("--reason", help="why the earlier result still stands for the draft")
    ],
    on: On = None,
    actor: Actor = None,
    as_json: Json = False,
) -> None:
    """沿用前次结果 keep a step's earlier result after a return, with the reason (public
    participation, expert review, risk assessment; never the legality review or the collective
    discussion of a changed draft)."""
    request = ReuseRequest(decision=decision, step=step, reason=reason, on=parse_date(on, "--on"))
    cmds = commands()
    done = cmds.execute(request, actor=who(actor, cmds))
    _changed(as_json, "reuse", done, cmds)


@app.command(cls=valid_ids("documents"))
def attach(
    decision: str,
    step: str,
    attach: Annotated[
        list[str],
        typer.Option("--attach", help="KIND=FILE, or FILE where the step takes one kind only"),
    ],
    note: Annotated[str | None, typer.Option("--note")] = None,
    on: On = None,
    on_behalf_of: OnBehalfOf = None,
    actor: Actor = None,
    as_json: Json = False,
) -> None:
    """附加材料 file documents on a step's current attempt (they count for the Art. 29
    package like those attached when the step closed)."""
    request = AttachRequest(
        decision=decision,
        step=step,
        attach=_attachments(attach),
        note=note,
        on=parse_date(on, "--on"),
        on_behalf_of=on_behalf_of,
    )
    cmds = commands()
    done = cmds.execute(request, actor=who(actor, cmds))
    _changed(as_json, "attach", done, cmds)


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
    cmds = commands()
    done = cmds.execute(request, actor=who(actor, cmds))
    _changed(as_json, "skip", done, cmds)


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
    cmds = commands()
    done = cmds.execute(request, actor=who(actor, cmds))
    _changed(as_json, "extend", done, cmds)


# -- reading ---------------------------------------------------------------------------------
@app.command()
def status(decision: str, as_of: AsOf = None, as_json: Json = False) -> None:
    """决策状态 every step of a decision as of a date."""
    cmds = commands()
    d, view = cmds.status(decision, parse_date(as_of, "--as-of"), who=reader(cmds))
    proc = cmds.procedure_of(d)
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
        who=reader(cmds),
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
    procs = {d.id: cmds.procedure_of(d) for d, _ in rows}
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
    report = find(cmds, day, limit=None if show_all else limit, sponsor=sponsor, who=reader(cmds))
    items = report.items
    from app.shapes import overdue_json

    doc = overdue_json(report)
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


# -- corrections and documents ---------------------------------------------------------------
@app.command()
def amend(
    decision: str,
    reason: Annotated[str, typer.Option("--reason", help="why the decision is amended")],
    title: Annotated[str | None, typer.Option("--title", help="the corrected title")] = None,
    flag: Annotated[list[str] | None, typer.Option("--flag", help="a flag to add")] = None,
    unflag: Annotated[list[str] | None, typer.Option("--unflag", help="a flag to remove")] = None,
    target: Annotated[
        str | None, typer.Option("--target", help="the new target date YYYY-MM-DD")
    ] = None,
    no_target: Annotated[bool, typer.Option("--no-target", help="remove the target date")] = False,
    assign: Annotated[
        list[str] | None,
        typer.Option("--assign", help="ROLE=UNIT to assign (risk_assessor, expert)"),
    ] = None,
    unassign: Annotated[list[str] | None, typer.Option("--unassign", help="ROLE=UNIT")] = None,
    on: On = None,
    actor: Actor = None,
    as_json: Json = False,
) -> None:
    """修改决策 correct a decision's title, flags, target date or assigned units (audited)."""
    request = AmendRequest(
        decision=decision,
        reason=reason,
        title=title,
        flag=tuple(flag or ()),
        unflag=tuple(unflag or ()),
        target=parse_date(target, "--target"),
        no_target=no_target,
        on=parse_date(on, "--on"),
        assign=tuple(assign or ()),
        unassign=tuple(unassign or ()),
    )
    cmds = commands()
    done = cmds.execute(request, actor=who(actor, cmds))
    d, view = done.decision, done.plan
    show(
        as_json,
        render.decision_json(d, view),
        f"已修改 amended [bold]{d.id}[/]: {render.escape(reason)}",
        tables.status_table(d, view, cmds.procedure_of(d)),
    )


@app.command()
def documents(decision: str, as_json: Json = False) -> None:
    """决策材料 a decision's documents (kinds, sizes, SHA-256) and its Art. 29 package state."""
    from app.documents import documents_of

    cmds = commands()
    found = documents_of(cmds, decision, reader(cmds))
    show(as_json, _documents_json(found), *_documents_view(found))


def _documents_json(found: Any) -> dict[str, Any]:
    from app.shapes import documents_json

    return documents_json(found)


def _documents_view(found: Any) -> list[Any]:
    from rich.table import Table

    d = found.decision
    table = Table(title=f"决策材料 documents {d.id} ({len(found.documents)})", title_justify="left")
    # ids never split: the step and kind columns keep their width, the file name folds
    table.add_column("步骤 step", no_wrap=True)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("类型 kind", no_wrap=True)
    table.add_column("文件 file", overflow="fold", ratio=1)
    table.add_column("大小\nsize", justify="right", no_wrap=True)
    table.add_column("SHA-256", no_wrap=True)
    for doc in found.documents:
        table.add_row(
            doc.step,
            str(doc.attempt),
            f"{found.kinds.get(doc.kind, doc.kind)}\n{doc.kind}",
            render.escape(doc.filename),
            f"{doc.size:,}",
            f"{doc.sha256[:12]}…",
        )
    package = found.package
    state = "齐全 complete" if package.complete else "不齐全 incomplete"
    lines: list[Any] = [table if found.documents else "尚无材料 no documents yet"]
    lines.append(f"报送材料 Art. 29 package: {state}")
    for label, entries in (
        ("已有 present", package.present),
        ("缺少 missing", package.missing),
        ("待办 pending", package.pending),
    ):
        for e in entries:
            kept = (
                f" 沿用#{e.document.attempt if e.document else e.reused_from}"
                if e.reused_from
                else ""
            )
            lines.append(f"  {label}: {e.zh} {e.kind} ({e.step} #{e.attempt}{kept})")
    return lines
