"""``decide build package|archive DECISION``: the Art. 29 package manifest or the archive ZIP
now, as ``decide serve``'s flows would build it (``app.builds``)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli import render
from cli.common import Actor, Json, app, commands, show, who

build_app = typer.Typer(
    help="生成 build a decision's package manifest or archive ZIP now", no_args_is_help=True
)
app.add_typer(build_app, name="build")

Decision = Annotated[str, typer.Argument(help="the decision id (2025-0001)")]


def _build(kind: str, decision: str, actor: str | None, as_json: bool) -> None:
    from app.builds import build_now

    cmds = commands()
    out = build_now(cmds, who(actor, cmds), decision, kind)
    missing = [f"{m['step']}:{m['kind']}" for m in out.detail.get("missing", ())]
    doc = {
        "decision": decision,
        "kind": kind,
        "built": out.built,
        "file": str(out.path) if out.path else None,
        "complete": out.detail.get("complete"),
        "missing": missing,
    }
    said = "已生成 built" if out.built else "已是最新，未重复生成 already built for this state"
    lines = [f"{said}: {render.escape(str(out.path))}"]
    if missing:
        lines.append(f"材料缺少 the package lacks: {', '.join(missing)}")
    show(as_json, doc, *lines)


@build_app.command(
    "package", short_help="提请审议材料清单 package manifest (Art. 29): sponsor, office, legal"
)
def build_package(decision: Decision, actor: Actor = None, as_json: Json = False) -> None:
    """提请审议材料清单 the Art. 29 package manifest (sponsor, decision body, legal office)."""
    _build("package", decision, actor, as_json)


@build_app.command("archive", short_help="归档包 archive ZIP (Art. 33), once decided: archivist")
def build_archive(decision: Decision, actor: Actor = None, as_json: Json = False) -> None:
    """归档包 the archive ZIP, once the decision is made (archivist; Art. 33)."""
    _build("archive", decision, actor, as_json)
