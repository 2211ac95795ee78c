"""``decide audit``: a decision's timeline, verification, export and signed checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from cli import render, tables
from cli.common import Json, app, commands, reader, show
from procedures import InputError


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

    from app.queries import audit_events

    cmds = commands()
    events = audit_events(cmds, decision, reader(cmds))
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
    table = tables.audit_table(decision, events)
    show(as_json, doc, table)


@audit_app.command("verify")
def audit_verify(
    file: Annotated[
        Path | None, typer.Option("--file", help="verify an export instead of the database")
    ] = None,
    chain_only: Annotated[
        bool, typer.Option("--chain-only", help="skip replaying each decision's state")
    ] = False,
    trusted_key: Annotated[
        list[Path] | None,
        typer.Option(
            "--trusted-key",
            help="a public key the checkpoints must be signed with (PEM, or the verifier key "
            "from decide audit public-key), kept by the auditor, not read from this home",
        ),
    ] = None,
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option(
            "--checkpoint",
            help="a checkpoint a witness kept (the signed note as handed out): the log must "
            "be consistent with it",
        ),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            help="processes checking parts of the chain, and replaying shares of the decisions, "
            "side by side (default: one per core for a long chain or many decisions); the "
            "report is the same",
        ),
    ] = None,
    tsa_roots: Annotated[
        Path | None,
        typer.Option(
            "--tsa-roots",
            help="PEM certificates the checkpoints' RFC 3161 time stamps must chain to "
            "(default: DECIDE_TSA_ROOTS)",
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """验证 check the hash chain, checkpoints (and their time stamps) and stored documents."""
    from app.admin import audit_verify as run

    cmds = commands()
    reader(cmds, auditing=True)
    report = run(
        cmds,
        file,
        replay=not chain_only,
        jobs=jobs,
        trusted=trusted_key or (),
        witnesses=checkpoint or (),
        tsa_roots=tsa_roots,
    )
    doc = {
        "ok": report.ok,
        "events": report.events,
        "head_seq": report.head_seq,
        "head_hash": report.head_hash,
        "checkpoints": report.checkpoints,
        "signed_upto": report.signed_upto,
        "unsigned_tail": {"events": report.unsigned_tail, "since": report.tail_since},
        "trusted_key": bool(trusted_key),
        "documents": report.documents,
        "problems": [{"seq": p.seq, "kind": p.kind, "message": p.message} for p in report.problems],
        "notes": list(report.notes),  # e.g. how many acts were recorded unauthenticated
    }
    if report.ok:
        show(
            as_json,
            doc,
            f"[green]审计链完好 audit chain verified[/]: {report.events} events, "
            f"head #{report.head_seq} {report.head_hash[:16]}…, {report.checkpoints} "
            f"checkpoints, {report.documents} documents",
            *(f"  [dim]{render.escape(n)}[/]" for n in report.notes),
        )
    else:
        show(
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
    force: Annotated[
        bool, typer.Option("--force", help="replace an existing file (never the store's own)")
    ] = False,
    as_json: Json = False,
) -> None:
    """导出 export a decision's events (or --all) as JSON Lines, verifiable offline."""
    from app.admin import audit_export as run

    if (decision is None) == (not all_) or out is None:
        raise InputError(
            "须写明决策编号或 --all，以及 --out 文件 give a DECISION or --all, and --out FILE"
        )
    cmds = commands()
    reader(cmds, auditing=True)
    n = run(cmds, out, None if all_ else decision, force=force)
    show(as_json, {"events": n, "out": str(out)}, f"已导出 exported {n} events → {out}")


@audit_app.command("checkpoint")
def audit_checkpoint(as_json: Json = False) -> None:
    """签名检查点 sign the Merkle tree head of the log (key: DECIDE_AUDIT_KEY), time-stamp it
    (DECIDE_TSA_URL) and queue it for the notifiers (decide serve sends it); the note printed is
    what a witness keeps."""
    from app.witness import witness_checkpoint

    cmds = commands()
    reader(cmds, admin=True)
    made = witness_checkpoint(cmds, min_events=0)
    assert made is not None  # min_events=0: always made
    doc = made.to_json()
    lines = [
        f"已签名 checkpoint signed at #{made.seq} {made.hash[:16]}…; 交给见证方 give this note "
        "to a witness:",
        render.escape(made.text),
    ]
    if made.stamped_at is not None:
        lines.append(f"  时间戳 time-stamped {made.stamped_at:%Y-%m-%d %H:%M:%S} UTC by {made.tsa}")
    elif made.stamp_error is not None:
        lines.append(f"  [red]未加时间戳 NOT time-stamped[/]: {render.escape(made.stamp_error)}")
    show(as_json, doc, *lines)


@audit_app.command("public-key")
def audit_public_key(
    out: Annotated[
        Path | None, typer.Option("--out", help="also write the PEM public key to this file")
    ] = None,
    as_json: Json = False,
) -> None:
    """审计公钥 the signing key's public half, for auditors' --trusted-key (never the private)."""
    from app.checkpoints import public_key

    cmds = commands()
    reader(cmds, auditing=True)
    pem, verifier = public_key(cmds, out)
    show(
        as_json,
        {"verifier_key": verifier, "pem": pem, "out": str(out) if out else None},
        f"验证密钥 verifier key: {verifier}",
        render.escape(pem),
    )
