"""``decide procedures``: the presets, and one procedure's steps, periods and outcomes."""

from __future__ import annotations

import typer

from cli import tables
from cli.common import Json, app, show

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
