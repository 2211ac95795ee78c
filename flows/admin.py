"""Administrative commands: people and roles, holiday schedules, the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from flows.commands import Commands, clean_text
from procedures import InputError, load_procedure, plan, preset_ids
from procedures.calendar import Schedule
from store.audit import VerifyReport, export_jsonl, verify, verify_export
from store.schedules import add_schedule, load_calendar
from store.signing import checkpoint, load_or_create_key, public_key_bytes
from store.tables import CheckpointRow
from store.uow import UnitOfWork

__all__ = [
    "Recomputed",
    "add_person",
    "audit_checkpoint",
    "audit_export",
    "audit_verify",
    "import_schedule",
]


def known_roles() -> set[str]:
    """Every role any preset names (people are registered before decisions pick a procedure)."""
    return {r.id for p in preset_ids() for r in load_procedure(p).roles}


def add_person(cmds: Commands, name: str, role: str, unit: str | None, actor: str) -> bool:
    name_text = clean_text(name, "name", required=True, limit=128)
    roles = known_roles()
    if role not in roles:
        raise InputError(f"unknown role {role!r}; roles: {', '.join(sorted(roles))}")
    assert name_text is not None
    with UnitOfWork(cmds.db) as uow:
        added = uow.people.add(name_text, role, clean_text(unit, "unit", limit=200))
        if added:
            uow.audit.append(
                decision_id=None,
                action="person_add",
                actor=actor,
                effective_on=cmds.today(),
                recorded_at=cmds.clock(),
                payload={"name": name_text, "role": role, "unit": unit},
            )
        uow.commit()
    return added


@dataclass(frozen=True)
class Recomputed:
    decision: str
    step: str
    before: date | None
    after: date | None
    provisional_before: bool
    provisional_after: bool


def import_schedule(cmds: Commands, path: Path, actor: str) -> tuple[Schedule, list[Recomputed]]:
    """Import a year's schedule; recompute (and audit) every date it changes."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    today = cmds.today()
    with UnitOfWork(cmds.db) as uow:
        old_cal = load_calendar(uow.link)
        schedule = add_schedule(uow.link, text, source_name=path.name, now=cmds.clock())
        new_cal = load_calendar(uow.link)
        changes: list[Recomputed] = []
        for decision in uow.decisions.many(
            uow.decisions.ids(status=("in_progress", "approved", "rejected"))
        ):
            proc = load_procedure(decision.procedure_id)
            old = plan(proc, decision.flags, decision.attempts, today, old_cal)
            new = plan(proc, decision.flags, decision.attempts, today, new_cal)
            diff = [
                Recomputed(decision.id, a.step, a.due_on, b.due_on, a.provisional, b.provisional)
                for a, b in zip(old.steps, new.steps, strict=True)
                if (a.due_on, a.earliest_close_on, a.provisional)
                != (b.due_on, b.earliest_close_on, b.provisional)
            ]
            if diff:
                uow.decisions.set_dates(decision.id, new, decision.attempts)
                uow.audit.append(
                    decision_id=decision.id,
                    action="recompute_dates",
                    actor=actor,
                    effective_on=today,
                    recorded_at=cmds.clock(),
                    payload={
                        "schedule": {
                            "year": schedule.year,
                            "kind": schedule.kind,
                            "source": schedule.source,
                        },
                        "changes": [
                            {
                                "step": c.step,
                                "due_before": c.before,
                                "due_after": c.after,
                                "provisional_before": c.provisional_before,
                                "provisional_after": c.provisional_after,
                            }
                            for c in diff
                        ],
                    },
                )
                changes.extend(diff)
        uow.audit.append(
            decision_id=None,
            action="calendar_import",
            actor=actor,
            effective_on=today,
            recorded_at=cmds.clock(),
            payload={
                "year": schedule.year,
                "kind": schedule.kind,
                "source": schedule.source,
                "file": path.name,
                "holidays": schedule.holidays,
                "workdays": schedule.workdays,
                "recomputed": len(changes),
            },
        )
        uow.commit()
    return schedule, changes


def key_path(cmds: Commands) -> Path:
    return cmds.home / "keys" / "audit-signing.pem"


def audit_checkpoint(cmds: Commands) -> CheckpointRow:
    key = load_or_create_key(key_path(cmds))
    from sqlmodel import Session

    # The signing code works on a SQLModel session; IMMEDIATE takes SQLite's write lock at once.
    with Session(cmds.engine.execution_options(sqlite_begin="IMMEDIATE")) as session:
        row = checkpoint(session, key, signed_at=cmds.clock())
        session.commit()
        session.refresh(row)
    return row


def _known_keys(cmds: Commands) -> list[bytes] | None:
    path = key_path(cmds)
    return [public_key_bytes(load_or_create_key(path))] if path.exists() else None


def audit_verify(cmds: Commands, export: Path | None = None) -> VerifyReport:
    if export is not None:
        if not export.is_file():
            raise InputError(f"file not found: {export}")
        return verify_export(export, public_keys=_known_keys(cmds))
    return verify(cmds.engine, documents_dir=cmds.home / "documents", public_keys=_known_keys(cmds))


def audit_export(cmds: Commands, out: Path, decision_id: str | None) -> int:
    if decision_id is not None:
        with UnitOfWork(cmds.db, write=False) as uow:
            uow.decisions.get(decision_id)  # NotFound for an unknown id
    if out.is_dir():
        raise InputError(f"--out {out} is a directory; give a file name")
    if out.parent and not out.parent.exists():
        raise InputError(f"directory does not exist: {out.parent}")
    return export_jsonl(cmds.engine, out, decision_id=decision_id)
