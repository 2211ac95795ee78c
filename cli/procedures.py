"""``decide procedures``: the presets, one procedure's steps, periods and outcomes, and the
audited migration of decisions to a changed definition."""

from __future__ import annotations

from typing import Annotated

import typer

from cli import tables
from cli.common import Actor, Json, app, commands, show, who
from procedures import InputError

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
    show(as_json, doc, *lines)


@procedures_app.command("show")
def procedures_show(procedure: str, as_json: Json = False) -> None:
    """A procedure's steps, periods (statutory with article, or office policy) and outcomes."""
    from procedures import load_procedure

    proc = load_procedure(procedure)
    show(as_json, proc.model_dump(mode="json"), tables.procedure_table(proc))


@procedures_app.command("migrate")
def procedures_migrate(
    decisions: Annotated[list[str] | None, typer.Argument(help="decision ids")] = None,
    all_open: Annotated[
        bool, typer.Option("--all-open", help="every decision not yet archived")
    ] = False,
    to: Annotated[str, typer.Option("--to", help="preset id or procedure file")] = "",
    reason: Annotated[str, typer.Option("--reason", help="why (kept in the audit log)")] = "",
    actor: Actor = None,
    as_json: Json = False,
) -> None:
    """迁移程序定义 move decisions to a changed definition (their history replayed under it;
    refused, with nothing written, if it would not hold)."""
    from app.migrate import migrate

    if not to.strip():
        raise InputError("--to PRESET_OR_FILE is required (the definition to migrate to)")
    cmds = commands()
    done = migrate(
        cmds, list(decisions or ()), all_open=all_open, to=to, reason=reason, actor=who(actor, cmds)
    )
    doc = {
        "migrated": [
            {
                "decision": m.decision,
                "from_sha256": m.from_sha256,
                "to_sha256": m.to_sha256,
                "status": m.status,
                "changed": m.changed,
            }
            for m in done
        ]
    }
    lines = [
        f"{m.decision}: "
        + (
            f"已迁移 migrated {(m.from_sha256 or 'none')[:12]} → {m.to_sha256[:12]} ({m.status})"
            if m.changed
            else f"已是该定义 already on {m.to_sha256[:12]}"
        )
        for m in done
    ]
    show(as_json, doc, *(lines or ["没有需要迁移的决策 no decisions to migrate"]))
