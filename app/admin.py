"""Administrative commands: people and roles, holiday schedules, the audit log."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from app.checkpoints import (
    checkpoint_log,
    home_keys,
    key_path,
    log_heads,
    make_checkpoint,
    signed_export,
    truncation_problems,
    trusted_keys,
    witness_heads,
)
from app.commands import Actor, Commands, clean_text
from app.permissions import as_admin
from app.queries import OPEN_STATUSES, plan_of
from procedures import AccessDenied, InputError, NotFound, load_procedure, preset_ids, resolve
from procedures.calendar import Schedule
from procedures.files import read_text
from store.audit import VerifyReport, verify, verify_export
from store.schedules import content_sha256
from store.tables import CheckpointRow
from store.uow import UnitOfWork

__all__ = [
    "Recomputed",
    "add_person",
    "audit_checkpoint",
    "audit_export",
    "audit_verify",
    "import_schedule",
    "remove_person",
]


def known_roles() -> set[str]:
    """Every role any preset names (people are registered before decisions pick a procedure)."""
    return {r.id for p in preset_ids() for r in load_procedure(p).roles}


def _no_accounts(uow: UnitOfWork) -> None:
    if uow.accounts.any():
        raise AccessDenied(
            "本系统已启用账户，人员名册不再使用 this home has accounts: roles are granted to "
            "accounts now",
            rule="permission.accounts",
            remedy="decide accounts add LOGIN … / decide accounts change LOGIN --grant ROLE",
        )


def add_person(cmds: Commands, name: str, role: str, unit: str | None, actor: str) -> bool:
    name_text = clean_text(name, "name", required=True, limit=128, name=True)
    # a role by its id or by the Chinese name any preset gives it (区司法局 in Tianjin)
    roles = [r for p in preset_ids() for r in load_procedure(p).roles]
    role = resolve("role", role, sorted(roles, key=lambda r: r.id))
    assert name_text is not None
    unit_text = clean_text(unit, "unit", limit=200, name=True)
    with cmds.unit() as uow:
        _no_accounts(uow)
        added = uow.people.add(name_text, role, unit_text)
        if added:
            uow.audit.append(
                decision_id=None,
                action="person_add",
                actor=actor,
                effective_on=cmds.today(),
                recorded_at=cmds.clock(),
                # the unit as stored: verification replays the people table from these events
                payload={"name": name_text, "role": role, "unit": unit_text},
            )
        uow.commit()
    return added


def remove_person(cmds: Commands, name: str, role: str | None, actor: str) -> list[str]:
    """Remove a person's role (or every role); the roles removed, audited as ``person_remove``."""
    name_text = clean_text(name, "name", required=True, limit=128, name=True)
    assert name_text is not None
    roles = known_roles()
    if role is not None and role not in roles:
        raise InputError(f"未知角色 unknown role {role!r}; roles: {', '.join(sorted(roles))}")
    with cmds.unit() as uow:
        _no_accounts(uow)
        removed = sorted(uow.people.remove(name_text, role))
        if not removed:
            held = sorted(uow.people.roles(name_text))
            if role is None or not held:
                raise NotFound(f"没有此人员 no such person: {name_text} — see decide people list")
            raise NotFound(
                f"{name_text} 没有角色 {role} has no role {role} (has {', '.join(held)}) — "
                "see decide people list"
            )
        uow.audit.append(
            decision_id=None,
            action="person_remove",
            actor=actor,
            effective_on=cmds.today(),
            recorded_at=cmds.clock(),
            payload={"name": name_text, "roles": removed},
        )
        uow.commit()
    return removed


@dataclass(frozen=True)
class Recomputed:
    decision: str
    step: str
    before: date | None
    after: date | None
    provisional_before: bool
    provisional_after: bool


def import_schedule(cmds: Commands, path: Path, actor: Actor) -> tuple[Schedule, list[Recomputed]]:
    """Import a year's schedule; recompute (and audit) every date it changes."""
    text = read_text(path, what="calendar import")  # a regular file of at most 1 MiB
    today = cmds.today()
    who = cmds.who_of(actor)
    with cmds.unit() as uow:
        as_admin(uow, who, "导入日历 calendar import")
        old_cal = uow.calendar()
        schedule = uow.add_schedule(text, source_name=path.name, now=cmds.clock())
        new_cal = uow.calendar()
        uow.decisions.forget_alert_dates()
        changes: list[Recomputed] = []
        decisions = uow.decisions.many(uow.decisions.ids(status=OPEN_STATUSES))
        procs = cmds.pinned(uow, decisions, plannable_only=True)
        for decision in decisions:
            proc = procs.get(decision.procedure_sha256 or "")
            if proc is None:
                continue  # unpinned: nothing to plan until it is migrated
            old = plan_of(proc, decision, today, old_cal)
            new = plan_of(proc, decision, today, new_cal)
            diff = [
                Recomputed(decision.id, a.step, a.due_on, b.due_on, a.provisional, b.provisional)
                for a, b in zip(old.steps, new.steps, strict=True)
                if (a.due_on, a.earliest_close_on, a.provisional)
                != (b.due_on, b.earliest_close_on, b.provisional)
            ]
            if diff:
                uow.decisions.set_dates(decision, new)
                uow.audit.append(
                    decision_id=decision.id,
                    action="recompute_dates",
                    actor=who.name,
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
            actor=who.name,
            effective_on=today,
            recorded_at=cmds.clock(),
            payload={
                "year": schedule.year,
                "kind": schedule.kind,
                "source": schedule.source,
                "file": path.name,
                "holidays": schedule.holidays,
                "workdays": schedule.workdays,
                "sha256": content_sha256(text),  # the file as stored (app.table_replay)
                "recomputed": len(changes),
            },
        )
        uow.commit()
    return schedule, changes


def audit_checkpoint(cmds: Commands) -> CheckpointRow:
    """Make a checkpoint now (the Merkle tree head of the whole log, signed); the row made.
    It is kept in the database and in the log beside the key (``app.checkpoints``)."""
    return make_checkpoint(cmds)


def audit_verify(
    cmds: Commands,
    export: Path | None = None,
    *,
    replay: bool = True,
    jobs: int | None = None,
    trusted: Sequence[Path] = (),
    witnesses: Sequence[Path] = (),
    tsa_roots: Path | None = None,
) -> VerifyReport:
    """The chain, the checkpoints (in the database, in the log beside the key, and the
    ``witnesses``' files) and their time stamps (against ``tsa_roots`` or DECIDE_TSA_ROOTS),
    the stored documents, and (``replay``) every decision's state against its audit events.
    Signatures are checked with the ``trusted`` public keys, or without them with the home's
    own key (the report says which)."""
    keys = trusted_keys(trusted) if trusted else None
    notes: list[str] = []
    if keys is None:
        keys = home_keys(cmds)
        if keys is not None:
            notes.append(
                f"checkpoints were checked with this home's own signing key ({key_path(cmds)}), "
                "not a trusted key: a whole history rewritten and signed with a new key is "
                "caught only with --trusted-key (the public key the auditor keeps)"
            )
    heads = witness_heads(witnesses, keys)
    if export is not None:
        if not export.is_file():
            raise InputError(f"文件不存在 file not found: {export}")
        report = verify_export(export, public_keys=keys, heads=heads)
        return dataclasses.replace(report, notes=(*notes, *report.notes))
    if jobs is not None and jobs < 1:
        raise InputError(f"--jobs 至少为 1 --jobs must be at least 1 (got {jobs})")
    with cmds.unit(write=False) as uow:
        stored = uow.audit.checkpoint_count()
    logged, extra = log_heads(cmds, stored)
    report = verify(
        cmds.engine,
        documents_dir=cmds.home / "documents",
        public_keys=keys,
        jobs=jobs,
        heads=[*logged, *heads],
    )
    notes += report.notes
    if report.unsigned_tail:
        notes.append(_tail_note(cmds, report))
    from app.witness import stamp_problems  # the checkpoints' RFC 3161 time stamps

    stamped, stamp_notes = stamp_problems(cmds, tsa_roots)
    extra += stamped
    notes += stamp_notes
    if replay:
        from app.accounts import account_problems
        from app.replay import replay_problems
        from app.table_replay import table_problems

        replayed = list(replay_problems(cmds, jobs, notes))
        if any(p.kind in ("state", "replay") for p in replayed):
            extra += truncation_problems(cmds)
        extra += replayed
        notes.append("every decision's state was replayed from its audit events")
        with UnitOfWork(cmds.db, write=False, snapshot=True) as uow:
            extra += list(account_problems(uow))
            extra += list(table_problems(uow, notes))
            anonymous = uow.audit.count_unauthenticated()
            accounts = uow.accounts.any()
        notes.append("accounts and tokens were replayed from their audit events")
        if anonymous:
            notes.append(
                f"{anonymous} 项未经认证 acts recorded without authentication (a single-user "
                "home, or before the first account): their actor is a typed name"
                + ("" if not accounts else "; every act since the first account is a token's")
            )
    if not extra:
        return dataclasses.replace(report, notes=tuple(notes))
    problems = sorted((*report.problems, *extra), key=lambda p: (p.seq is None, p.seq or 0))
    return dataclasses.replace(report, ok=False, problems=tuple(problems), notes=tuple(notes))


def _tail_note(cmds: Commands, report: VerifyReport) -> str:
    age = ""
    if report.tail_since:
        try:
            since = datetime.fromisoformat(report.tail_since.replace("Z", "+00:00"))
            hours = (cmds.clock() - since).total_seconds() / 3600
            age = f", the oldest recorded {report.tail_since} ({hours:.1f} hours ago)"
        except ValueError:
            age = f", the oldest recorded {report.tail_since}"
    return (
        f"未签名尾部 unsigned tail: {report.unsigned_tail} events after event "
        f"{report.signed_upto} are not yet covered by a checkpoint{age} — they could be cut "
        "off unnoticed until the next checkpoint reaches a witness (decide audit checkpoint)"
    )


def audit_export(cmds: Commands, out: Path, decision_id: str | None, *, force: bool = False) -> int:
    """Export the log (or one decision's events) to ``out``: a new file unless ``force``, and
    never one of the store's own files (``force`` or not)."""
    if decision_id is not None:
        with cmds.unit(write=False) as uow:
            uow.decisions.get(decision_id)  # NotFound for an unknown id
    if out.is_dir():
        raise InputError(f"--out {out} 是目录 is a directory; give a file name")
    if out.parent and not out.parent.exists():
        raise InputError(f"目录不存在 directory does not exist: {out.parent}")
    _refuse_store_file(cmds, out)
    exists = f"文件已存在 file exists: {out} (give --force to replace it)"
    if os.path.lexists(out) and not force:
        raise InputError(exists)
    try:
        return signed_export(cmds, out, decision_id, replace=force)
    except FileExistsError:  # created while the export was written
        raise InputError(exists) from None
    except OSError as exc:  # not a directory, not writable, a full disk, /proc …
        raise InputError(
            f"无法写入 cannot write {out}: {exc.strerror or exc} — choose another file"
        ) from None


def _refuse_store_file(cmds: Commands, out: Path) -> None:
    """Refuse ``out`` (and the partial file written beside it) when it is, or lies in, one of
    the store's own files: the database with its journals, the keys and checkpoint log, the
    documents — by resolved path (symlinks followed) and by identity (hard links)."""
    db = cmds.db.file
    files = [Path(f"{db}{end}") for end in ("", "-wal", "-shm", "-journal")] if db else []
    folders = [key_path(cmds).parent, checkpoint_log(cmds).parent, cmds.home / "documents"]
    for candidate in (out,):
        target = candidate.resolve()
        hit = next((f for f in files if target == f.resolve() or _same(candidate, f)), None)
        hit = hit or next((d for d in folders if target.is_relative_to(d.resolve())), None)
        if hit is not None:
            raise InputError(
                f"不能覆盖数据存储自身的文件 refusing to write over the store's own files: "
                f"--out {out} is {hit} (the database, the signing keys and checkpoint log, "
                "and the documents are never replaced, even with --force); choose another file"
            )


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # either does not exist
        return False
