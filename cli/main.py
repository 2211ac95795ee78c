"""The ``decide`` command line (Typer + Rich).  Thin: parse, call a command, render, map errors.

Exit codes: 0 done; 2 bad usage or input; 3 refused by a rule of the procedure; 4 not found;
5 the decision changed meanwhile; 1 anything else.  Every command takes ``--json`` and then
prints exactly one JSON document on stdout, errors included.  Never imports Prefect: the
interactive path must answer at once (``decide serve`` and ``decide demo`` import it lazily).
"""

from __future__ import annotations

import os
import signal
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from cli import render
from procedures import DecideError, InputError, MeetingRecord
from procedures.planner import ALERT_LABELS, DUE_BASIS_LABELS, STATUS_LABELS

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    help="重大行政决策程序 — the major administrative decision procedure.",
)

Json = Annotated[bool, typer.Option("--json", help="print one JSON document (English ids)")]
On = Annotated[
    str | None,
    typer.Option("--on", help="effective date YYYY-MM-DD (default: today, Asia/Shanghai)"),
]
AsOf = Annotated[str | None, typer.Option("--as-of", help="date YYYY-MM-DD (may be in the future)")]
Actor = Annotated[
    str | None, typer.Option("--actor", envvar="DECIDE_ACTOR", help="who acts (or DECIDE_ACTOR)")
]


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InputError(f"{option} {value!r} is not a date (expected YYYY-MM-DD)") from None


def _commands() -> Any:
    from app.bootstrap import bootstrap

    return bootstrap()


def _actor(actor: str | None) -> str:
    if actor is None or not actor.strip():
        raise InputError("who is acting? give --actor NAME or set DECIDE_ACTOR")
    return actor


def _out(as_json: bool, doc: Any, *renderables: Any) -> None:
    if as_json:
        sys.stdout.write(render.dump(doc) + "\n")
        return
    con = render.console()
    for r in renderables:
        con.print(r)


# -- procedures -----------------------------------------------------------------------------
procedures_app = typer.Typer(help="程序定义 the procedure presets", invoke_without_command=True)
app.add_typer(procedures_app, name="procedures")


@procedures_app.callback()
def procedures_list(ctx: typer.Context, as_json: Json = False) -> None:
    """List the presets."""
    if ctx.invoked_subcommand is not None:
        return
    from procedures import load_procedure, preset_ids

    procs = [load_procedure(p) for p in preset_ids()]
    doc = {
        "procedures": [
            {"id": p.id, "version": p.version, "zh": p.zh, "en": p.en, "steps": len(p.steps)}
            for p in procs
        ]
    }
    lines = [f"{p.id:24} v{p.version:8} {p.zh} — {p.en} ({len(p.steps)} 步 steps)" for p in procs]
    _out(as_json, doc, *lines)


@procedures_app.command("show")
def procedures_show(procedure: str, as_json: Json = False) -> None:
    """A procedure's steps, periods (statutory with article, or office policy) and outcomes."""
    from procedures import load_procedure

    proc = load_procedure(procedure)
    _out(as_json, proc.model_dump(mode="json"), render.procedure_table(proc))


# -- register and advance -------------------------------------------------------------------
@app.command()
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
    cmds = _commands()
    d = cmds.register(
        title=title,
        procedure_id=procedure,
        sponsor=sponsor,
        actor=_actor(actor),
        flags=flag or (),
        target_on=_date(target, "--target"),
        catalogue_year=catalogue_year,
        on=_date(on, "--on"),
    )
    d, view = cmds.status(d.id, d.registered_on)
    _out(
        as_json,
        render.decision_json(d, view),
        f"已登记 registered [bold]{d.id}[/]",
        render.status_table(d, view),
    )


def _changed(as_json: bool, verb: str, d: Any, view: Any, step: str) -> None:
    s = view.step(step)
    _out(
        as_json,
        render.decision_json(d, view),
        f"{verb} {d.id} · {s.zh} {step}: {STATUS_LABELS[s.status]} {s.status}"
        + (f" · 到期 due {s.due_on}" if s.due_on and s.status == "open" else ""),
        render.status_table(d, view),
    )


@app.command()
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
    d, view = _commands().start(
        decision, step, actor=_actor(actor), on=_date(on, "--on"), shorten_reason=shorten_reason
    )
    _changed(as_json, "已开始 started", d, view, step)


def _pairs(values: list[str] | None, option: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for value in values or ():
        name, sep, rest = value.partition("=")
        if not sep or not name.strip() or not rest.strip():
            raise InputError(f"{option} expects NAME=VALUE, got {value!r}")
        result[name.strip()] = rest.strip()
    return result


@app.command()
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
        typer.Option("--attach", help="KIND=FILE, or FILE (kind: the step's first document)"),
    ] = None,
    meeting_type: Annotated[
        str | None,
        typer.Option("--meeting-type", help="executive (常务会议) or plenary (全体会议)"),
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
    from app.commands import Attachment

    cmds = _commands()
    attachments = []
    for item in attach or ():
        kind, sep, path = item.partition("=")
        if not sep:
            kind, path = "", item
        attachments.append((kind.strip(), Path(path)))
    if any(not k for k, _ in attachments):
        d0, _ = cmds.status(decision)
        proc = cmds.procedure(d0.procedure_id)
        s = proc.step(step)
        default = s.documents[0] if s and s.documents else ""
        attachments = [(k or default, p) for k, p in attachments]
    meeting = None
    if meeting_type or chair or position:
        positions = _pairs(position, "--position")
        if not chair:
            raise InputError("the meeting record needs --chair (the head)")
        meeting = MeetingRecord(
            meeting_type=meeting_type or "",
            chair=chair.strip(),
            attendees=(chair.strip(), *positions),
            positions=positions,
            dissent=_pairs(dissent, "--dissent"),
            head_reason=head_reason,
        )
    d, view = cmds.complete(
        decision,
        step,
        actor=_actor(actor),
        on=_date(on, "--on"),
        outcome=outcome,
        note=note,
        meeting=meeting,
        attachments=[Attachment(k, p) for k, p in attachments],
        next_meeting_on=_date(next_meeting, "--next-meeting"),
    )
    _changed(as_json, "已完成 completed", d, view, step)


@app.command()
def skip(
    decision: str,
    step: str,
    reason: Annotated[str, typer.Option("--reason", help="why the law allows skipping it")],
    on: On = None,
    actor: Actor = None,
    as_json: Json = False,
) -> None:
    """跳过步骤 skip a conditional step, with the reason (only where the procedure allows)."""
    d, view = _commands().skip(
        decision, step, actor=_actor(actor), reason=reason, on=_date(on, "--on")
    )
    _changed(as_json, "已跳过 skipped", d, view, step)


@app.command()
def extend(
    decision: str,
    step: str,
    reason: Annotated[str, typer.Option("--reason")],
    on: On = None,
    actor: Actor = None,
    as_json: Json = False,
) -> None:
    """延长办理期限 extend a step's due date (where the procedure allows, with a reason)."""
    d, view = _commands().extend(
        decision, step, actor=_actor(actor), reason=reason, on=_date(on, "--on")
    )
    _changed(as_json, "已延长 extended", d, view, step)


# -- reading ---------------------------------------------------------------------------------
@app.command()
def status(decision: str, as_of: AsOf = None, as_json: Json = False) -> None:
    """决策状态 every step of a decision as of a date."""
    d, view = _commands().status(decision, _date(as_of, "--as-of"))
    _out(as_json, render.decision_json(d, view), render.status_table(d, view))


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

    cmds = _commands()
    total, rows = decisions_with_plans(
        cmds,
        _date(as_of, "--as-of") or cmds.today(),
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
    _out(as_json, doc, render.list_table(rows, total, closed_too=show_all))


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
    from rich.table import Table

    from app.queries import overdue as find

    cmds = _commands()
    day = _date(as_of, "--as-of") or cmds.today()
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
    table = Table(
        title=f"到期提醒 alerts as of {day}: {report.decisions:,} 件决策 decisions ({levels}); "
        f"showing {shown}",
        title_justify="left",
    )
    for col in ("决策 decision", "步骤 step", "提醒 level", "到期 due", "逾期工作日 overdue wd"):
        table.add_column(col, overflow="fold")
    for i in items:
        table.add_row(
            f"{i.decision} {render.escape(i.title)}",
            f"{i.zh} {i.step or 'target'}",
            render.alert_text(i.level),
            f"{i.due_on}{' (暂定 provisional)' if i.provisional else ''}"
            + (f" {DUE_BASIS_LABELS[i.due_basis]}" if i.due_basis else ""),
            str(i.overdue_working_days or ""),
        )
    _out(as_json, doc, table if items else "没有到期事项 nothing due")


# -- audit -----------------------------------------------------------------------------------
class AuditGroup(TyperGroup):
    """``decide audit DECISION`` shows a timeline; ``verify``/``export``/``checkpoint`` act."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args.insert(0, "show")
        return super().resolve_command(ctx, args)


audit_app = typer.Typer(cls=AuditGroup, help="审计 the audit log", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("show", hidden=True)
def audit_show(decision: str, as_json: Json = False) -> None:
    """A decision's audit timeline."""
    import json

    from rich.table import Table

    from app.queries import audit_events

    events = audit_events(_commands(), decision)
    doc = {
        "events": [
            {
                "seq": e.seq,
                "action": e.action,
                "actor": e.actor,
                "effective_on": e.effective_on,
                "recorded_at": e.recorded_at,
                "payload": json.loads(e.payload),
                "prev_hash": e.prev_hash,
                "hash": e.hash,
            }
            for e in events
        ]
    }
    table = Table(title=f"审计记录 audit timeline {decision} ({len(events)})", title_justify="left")
    for col in (
        "#",
        "生效日期 effective",
        "记录时间 recorded (UTC)",
        "操作 action",
        "人员 actor",
        "内容 data",
        "哈希 hash",
    ):
        table.add_column(col, overflow="fold")
    for e in events:
        data = json.loads(e.payload)
        summary = " ".join(
            f"{k}={v}"
            for k, v in data.items()
            if k
            in ("step", "outcome", "title", "reason", "shorten_reason", "note", "status", "attempt")
        )
        table.add_row(
            str(e.seq),
            str(e.effective_on),
            e.recorded_at[:19],
            ACTION_LABELS.get(e.action, e.action),
            render.escape(e.actor),
            render.escape(summary),
            e.hash[:12],
        )
    _out(as_json, doc, table)


ACTION_LABELS = {
    "register": "登记 register",
    "start": "开始 start",
    "complete": "完成 complete",
    "skip": "跳过 skip",
    "extend": "延期 extend",
    "recompute_dates": "重算日期 recompute_dates",
}


@audit_app.command("verify")
def audit_verify(
    file: Annotated[
        Path | None, typer.Option("--file", help="verify an export instead of the database")
    ] = None,
    chain_only: Annotated[
        bool, typer.Option("--chain-only", help="skip replaying each decision's state")
    ] = False,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            help="processes checking parts of the chain, and replaying shares of the decisions, "
            "side by side (default: one per core for a long chain or many decisions); the "
            "report is the same",
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """验证 check the hash chain, checkpoints and stored documents."""
    from app.admin import audit_verify as run

    report = run(_commands(), file, replay=not chain_only, jobs=jobs)
    doc = {
        "ok": report.ok,
        "events": report.events,
        "head_seq": report.head_seq,
        "head_hash": report.head_hash,
        "checkpoints": report.checkpoints,
        "documents": report.documents,
        "problems": [{"seq": p.seq, "kind": p.kind, "message": p.message} for p in report.problems],
    }
    if report.ok:
        _out(
            as_json,
            doc,
            f"[green]审计链完好 audit chain verified[/]: {report.events} events, "
            f"head #{report.head_seq} {report.head_hash[:16]}…, {report.checkpoints} "
            f"checkpoints, {report.documents} documents",
        )
    else:
        _out(
            as_json,
            doc,
            f"[red]审计验证未通过 audit verification FAILED[/] ({len(report.problems)} problems: "
            "tampering, or data that could not be read or found)",
            *(f"  #{p.seq} {p.kind}: {render.escape(p.message)}" for p in report.problems),
        )
        raise typer.Exit(1)


@audit_app.command("export")
def audit_export(
    decision: Annotated[str | None, typer.Argument()] = None,
    all_: Annotated[bool, typer.Option("--all", help="the whole log")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="JSON Lines file to write")] = None,
    as_json: Json = False,
) -> None:
    """导出 export a decision's events (or --all) as JSON Lines, verifiable offline."""
    from app.admin import audit_export as run

    if (decision is None) == (not all_) or out is None:
        raise InputError("give a DECISION or --all, and --out FILE")
    n = run(_commands(), out, None if all_ else decision)
    _out(as_json, {"events": n, "out": str(out)}, f"已导出 exported {n} events → {out}")


@audit_app.command("checkpoint")
def audit_checkpoint(as_json: Json = False) -> None:
    """签名检查点 sign the chain head (key kept under DECIDE_HOME/keys, outside the database)."""
    from app.admin import audit_checkpoint as run

    row = run(_commands())
    _out(
        as_json,
        {"seq": row.seq, "hash": row.hash, "signed_at": row.signed_at},
        f"已签名 checkpoint signed at #{row.seq} {row.hash[:16]}…",
    )


# -- calendar and people ------------------------------------------------------------------------
calendar_app = typer.Typer(help="日历 the working-day calendar", no_args_is_help=True)
app.add_typer(calendar_app, name="calendar")


@calendar_app.command("status")
def calendar_status(as_json: Json = False) -> None:
    """Covered years, imported schedules, provisional dates in use."""
    from app.queries import decisions_with_plans

    cmds = _commands()
    cal = cmds.calendar()
    years = sorted(cal.covered_years)
    provisional = [
        (d.id, s.step, s.due_on)
        for d, v in decisions_with_plans(cmds, cmds.today(), open_only=True)[1]
        for s in v.steps
        if s.provisional and s.due_on
    ]
    doc = {
        "covered_years": [years[0], years[-1]] if years else [],
        "covered": years,
        "schedules": [
            {"year": s.year, "kind": s.kind, "source": s.source} for s in cal.schedules()
        ],
        "provisional": [{"decision": d, "step": s, "due_on": due} for d, s, due in provisional],
    }
    lines = [f"官方日历覆盖 official data: {years[0]}–{years[-1]} ({len(years)} years)"]
    lines += [f"已导入 imported: {s.year} {s.kind} — {s.source}" for s in cal.schedules()]
    lines += [f"[yellow]暂定日期 provisional[/]: {d} {s} due {due}" for d, s, due in provisional]
    _out(as_json, doc, *lines)


@calendar_app.command("import")
def calendar_import(file: Path, actor: Actor = None, as_json: Json = False) -> None:
    """Import a year's official schedule (or local days off); recompute affected dates."""
    from app.admin import import_schedule

    schedule, changes = import_schedule(_commands(), file, _actor(actor))
    doc = {
        "year": schedule.year,
        "kind": schedule.kind,
        "source": schedule.source,
        "recomputed": [
            {
                "decision": c.decision,
                "step": c.step,
                "due_before": c.before,
                "due_after": c.after,
                "provisional_after": c.provisional_after,
            }
            for c in changes
        ],
    }
    _out(
        as_json,
        doc,
        f"已导入 imported {schedule.year} ({schedule.kind}): {schedule.source}",
        *(f"  {c.decision} {c.step}: {c.before} → {c.after}" for c in changes),
    )


people_app = typer.Typer(help="人员 people and roles", no_args_is_help=True)
app.add_typer(people_app, name="people")


@people_app.command("add")
def people_add(
    name: str,
    role: Annotated[str, typer.Option("--role")],
    unit: Annotated[str | None, typer.Option("--unit")] = None,
    actor: Actor = None,
    as_json: Json = False,
) -> None:
    """Register a person with a role; from then on commands check the acting person's role."""
    from app.admin import add_person

    added = add_person(_commands(), name, role, unit, _actor(actor or name))
    _out(
        as_json,
        {"name": name, "role": role, "unit": unit, "added": added},
        f"{'已添加 added' if added else '已存在 already there'}: {name} ({role})",
    )


@people_app.command("list")
def people_list(as_json: Json = False) -> None:
    from app.queries import people

    rows = people(_commands())
    _out(
        as_json,
        {"people": [{"name": r.name, "role": r.role, "unit": r.unit} for r in rows]},
        *(f"{r.name}  {r.role}  {r.unit or ''}" for r in rows),
    )


@app.command()
def serve(
    drain_seconds: Annotated[
        float, typer.Option("--drain-seconds", help="outbox poll interval")
    ] = 5.0,
    scan_at: Annotated[
        str,
        typer.Option(
            "--scan-at", envvar="DECIDE_SCAN_AT", help="daily deadline scan, HH:MM Asia/Shanghai"
        ),
    ] = "08:30",
    once: Annotated[bool, typer.Option("--once", help="scan and drain once, then exit")] = False,
) -> None:
    """后台服务 run the outbox (notifications, packages, archives) and the deadline scan."""
    cmds = _commands()
    from flows.prefect_env import configure, local_server

    configure(cmds.home)
    from flows.orchestration import StoreRef
    from flows.serve import serve as run

    # Until the service's own handlers are in place (set by ``run``), a stop signal ends the
    # start-up through the normal exit path, so Prefect's temporary server is stopped with it.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _exit_on_signal)
    with local_server():
        run(
            StoreRef(database_url=cmds.db.url, home=str(cmds.home)),
            drain_seconds=drain_seconds,
            scan_at=scan_at,
            once=once,
        )


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


@app.command()
def demo() -> None:
    """演示 a district decision driven through the whole national procedure (fresh home)."""
    from cli.demo import main as run

    raise typer.Exit(run())


@app.command("db-upgrade")
def db_upgrade(as_json: Json = False) -> None:
    """Apply pending schema migrations explicitly."""
    from app.admin import db_upgrade as run

    revision = run()
    _out(as_json, {"revision": revision}, f"schema at revision {revision}")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; map the project's errors to one line (or one JSON object) and an exit code."""
    args = sys.argv[1:] if argv is None else argv
    as_json = "--json" in args
    try:
        # Without standalone mode Click returns the code of a ``typer.Exit`` instead of raising it.
        code = app(args=args, prog_name="decide", standalone_mode=False)
    except DecideError as exc:
        _fail(as_json, exc.to_dict(), str(exc), exc.exit_code)
        return exc.exit_code
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        _fail(as_json, {"error": "aborted"}, "aborted", 1)
        return 1
    except typer.TyperException as exc:  # usage errors: unknown command or option, bad value
        formatter = getattr(exc, "format_message", None)
        message = formatter() if formatter else str(exc)
        _fail(as_json, {"error": "usage", "message": message}, message, 2)
        return 2
    return code if isinstance(code, int) else 0


def _fail(as_json: bool, doc: dict[str, Any], text: str, code: int) -> None:
    if as_json:
        sys.stdout.write(render.dump(doc) + "\n")
    else:
        from rich.markup import escape

        render.Console(stderr=True, highlight=False).print(
            f"[red]错误 error[/]: {escape(text)}", soft_wrap=True
        )


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    entry()
