"""Administration: the holiday calendar, people and roles, schema upgrades."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import Actor, Json, app, commands, reader, show, who
from cli.help import valid_ids

calendar_app = typer.Typer(help="日历 the working-day calendar", no_args_is_help=True)
app.add_typer(calendar_app, name="calendar")


@calendar_app.command("status")
def calendar_status(as_json: Json = False) -> None:
    """Covered years, imported schedules, provisional dates in use."""
    from app.queries import decisions_with_plans

    cmds = commands()
    who = reader(cmds)  # the provisional dates of the decisions the caller may read
    cal = cmds.calendar()
    years = sorted(cal.covered_years)
    provisional = [
        (d.id, s.step, s.due_on)
        for d, v in decisions_with_plans(cmds, cmds.today(), open_only=True, who=who)[1]
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
    show(as_json, doc, *lines)


@calendar_app.command("import")
def calendar_import(file: Path, actor: Actor = None, as_json: Json = False) -> None:
    """Import a year's official schedule (or local days off); recompute affected dates."""
    from app.admin import import_schedule

    cmds = commands()
    schedule, changes = import_schedule(cmds, file, who(actor, cmds))
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
    show(
        as_json,
        doc,
        f"已导入 imported {schedule.year} ({schedule.kind}): {schedule.source}",
        *(f"  {c.decision} {c.step}: {c.before} → {c.after}" for c in changes),
    )


people_app = typer.Typer(help="人员 people and roles", no_args_is_help=True)
app.add_typer(people_app, name="people")


@people_app.command("add", cls=valid_ids("roles"))
def people_add(
    name: str,
    role: Annotated[str, typer.Option("--role", help="role id or Chinese name")],
    unit: Annotated[str | None, typer.Option("--unit")] = None,
    actor: Actor = None,
    as_json: Json = False,
) -> None:
    """Register a person with a role; from then on commands check the acting person's role."""
    from app.admin import add_person

    cmds = commands()
    added = add_person(cmds, name, role, unit, who(actor or name, cmds).name)
    show(
        as_json,
        {"name": name, "role": role, "unit": unit, "added": added},
        f"{'已添加 added' if added else '已存在 already there'}: {name} ({role})",
    )


@people_app.command("list")
def people_list(as_json: Json = False) -> None:
    from app.queries import people

    rows = people(commands())
    show(
        as_json,
        {"people": [{"name": r.name, "role": r.role, "unit": r.unit} for r in rows]},
        *(f"{r.name}  {r.role}  {r.unit or ''}" for r in rows),
    )


@people_app.command("remove")
def people_remove(
    name: str,
    role: Annotated[
        str | None, typer.Option("--role", help="only this role (default: every role)")
    ] = None,
    actor: Actor = None,
    as_json: Json = False,
) -> None:
    """Remove a person's role (or every role they hold); audited."""
    from app.admin import remove_person

    cmds = commands()
    removed = remove_person(cmds, name, role, who(actor, cmds).name)
    show(
        as_json,
        {"name": name, "removed": removed},
        f"已移除 removed: {name} ({', '.join(removed)})",
    )
