"""A decision's documents and the state of its Art. 29 package (``decide documents``): read only.

The documents are the rows the commands wrote when files were attached (step attempt, kind,
file name, size, SHA-256); the package state is ``procedures.package``'s answer, the same one the
package builder (``app.work.build_package``) writes into its manifest.
"""

from __future__ import annotations

from dataclasses import dataclass

from app import permissions
from app.accounts import Identity
from app.commands import Commands
from procedures import Plan, Procedure, WorkCalendar
from procedures.package import PackageState, package_state
from procedures.state import Decision
from store.repository import StoredDocument
from store.schedules import load_calendar

__all__ = ["DecisionDocuments", "DecisionRead", "decision_with_documents", "documents_of"]


@dataclass(frozen=True)
class DecisionDocuments:
    decision: Decision
    documents: list[StoredDocument]  # in the order they were attached
    kinds: dict[str, str]  # document kind id → 中文 name, for every kind the procedure knows
    package: PackageState[StoredDocument]


def documents_of(
    cmds: Commands, decision_id: str, who: Identity | None = None
) -> DecisionDocuments:
    """The decision's documents and what its Art. 29 package holds, lacks and still awaits."""
    with cmds.unit(write=False) as uow:
        decision = uow.decisions.get(decision_id)
        if who is not None:
            permissions.check_read(who, decision)
        docs = uow.documents.of(decision_id)
        proc = cmds.procedure_of(decision, uow)
    return _documents(decision, proc, docs)


def _documents(
    decision: Decision, proc: Procedure, docs: list[StoredDocument]
) -> DecisionDocuments:
    return DecisionDocuments(
        decision=decision,
        documents=docs,
        kinds={d.id: d.zh for d in proc.documents},
        package=package_state(proc, decision.flags, decision.attempts, docs),
    )


@dataclass(frozen=True)
class DecisionRead:
    """What the console's decision page shows, read in one transaction."""

    decision: Decision
    plan: Plan  # as of today
    procedure: Procedure
    documents: DecisionDocuments
    calendar: WorkCalendar


def decision_with_documents(cmds: Commands, decision_id: str, who: Identity) -> DecisionRead:
    """``Commands.status`` (as of today) and ``documents_of`` together: one read transaction
    instead of three (the decision read once; on PostgreSQL 3 round trips instead of 9)."""
    from app.queries import plan_of

    with cmds.unit(write=False) as uow:
        decision = uow.decisions.get(decision_id)
        permissions.check_read(who, decision)
        docs = uow.documents.of(decision_id)
        proc = cmds.procedure_of(decision, uow)
        cal = load_calendar(uow.link, end=True)  # last: ends the transaction with it
    return DecisionRead(
        decision=decision,
        plan=plan_of(proc, decision, cmds.today(), cal),
        procedure=proc,
        documents=_documents(decision, proc, docs),
        calendar=cal,
    )
