"""``decide procedures migrate``: move decisions to another procedure definition, audited.

A decision runs under the definition pinned when it was registered (SPEC §5); a changed preset
or office file reaches it only through this command.  Each decision's recorded history is
replayed under the new definition (``app.history.rebuild``, the same transitions that first
accepted it); if any event would be refused the whole command is refused, naming the decision,
the event and the rule, and nothing is written.  Otherwise, in one transaction, each decision is
pinned to the new definition with its replayed attempts and its dates planned again, and a
``procedure_migrate`` event records the old and new SHA-256 and the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.commands import Actor, Commands, clean_text
from app.history import CHANGES, MIGRATE, Refused, rebuild
from app.permissions import as_admin
from app.queries import OPEN_STATUSES, plan_of
from procedures import InputError, RuleViolation
from procedures.definition import Definition, pin
from procedures.state import Decision
from store.uow import UnitOfWork

__all__ = ["Migrated", "migrate"]


@dataclass(frozen=True)
class Migrated:
    decision: str
    from_sha256: str | None
    to_sha256: str
    status: str
    changed: bool  # False: already pinned to that definition (nothing written for it)


def migrate(
    cmds: Commands,
    decision_ids: list[str],
    *,
    all_open: bool,
    to: str,
    reason: str,
    actor: Actor,
) -> list[Migrated]:
    """Migrate the named decisions (or every open one) to the definition ``to`` resolves to."""
    if bool(decision_ids) == all_open:
        raise InputError(
            "请指定决策或 --all-open name the decisions to migrate, or give --all-open (not both)"
        )
    why = clean_text(reason, "--reason", required=True)
    who = cmds.who_of(actor)
    actor_text = who.name
    proc = cmds.procedure(to)
    definition = pin(proc)
    on = cmds.today()
    done: list[Migrated] = []
    with cmds.unit() as uow:
        as_admin(uow, who, "迁移程序定义 procedure migration")
        ids = uow.decisions.ids(status=OPEN_STATUSES) if all_open else decision_ids
        decisions = [uow.decisions.get(i) for i in dict.fromkeys(ids)]
        events = uow.audit.events_of([d.id for d in decisions], CHANGES)
        cal = uow.calendar()
        uow.definitions.add(definition, stored_at=cmds.clock())
        for before in decisions:
            if before.procedure_sha256 == definition.sha256:
                done.append(
                    Migrated(before.id, definition.sha256, definition.sha256, before.status, False)
                )
                continue
            try:
                attempts = rebuild(proc, events[before.id], cal).attempts
            except Refused as refused:
                raise _refusal(before, proc.id, proc.version, refused) from None
            after = before.model_copy(update={"attempts": attempts})
            view = plan_of(proc, after, on, cal)
            version = uow.decisions.save(before, attempts, view, definition=definition)
            _audit(uow, cmds, before, definition, why, actor_text, version, view.status)
            done.append(
                Migrated(before.id, before.procedure_sha256, definition.sha256, view.status, True)
            )
        uow.commit()
    return done


def _audit(
    uow: UnitOfWork,
    cmds: Commands,
    before: Decision,
    to: Definition,
    reason: str | None,
    actor: str | None,
    version: int,
    status: str,
) -> None:
    uow.audit.append(
        decision_id=before.id,
        action=MIGRATE,
        actor=actor or "",
        effective_on=cmds.today(),
        recorded_at=cmds.clock(),
        payload={
            "from_sha256": before.procedure_sha256,
            "from_procedure": before.procedure_id,
            "from_version": before.procedure_version,
            "to_sha256": to.sha256,
            "to_procedure": to.id,
            "to_version": to.version,
            "reason": reason,
            "version": version,
            "status": status,
        },
    )


def _refusal(decision: Decision, proc_id: str, version: str, refused: Refused) -> RuleViolation:
    error = refused.error
    event = refused.event
    what = f"{event.action} {refused.step}" if refused.step else f"{event.action} (flags)"
    return RuleViolation(
        getattr(error, "rule", "procedure.history_holds"),
        f"决策 {decision.id} 的办理记录在新程序定义下不成立 the history of {decision.id} does not hold "
        f"under {proc_id} v{version}: event {event.seq} ({what}, effective {event.effective_on}) "
        f"is refused: {getattr(error, 'message', str(error))}",
        article=getattr(error, "article", "the procedure definition"),
        remedy="nothing was written; a decision keeps the definition it is pinned to and needs "
        "no migration — migrate only those whose history the new one allows (or correct it)",
    )
