"""Repositories: decisions and their attempts, mapped between rows and ``procedures`` types.

Repositories never commit (the unit of work does).  ``save`` applies optimistic concurrency:
it writes only if the decision still has the version it was read at, else raises ``Conflict``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, func
from sqlmodel import Session, col, select

from procedures.errors import Conflict, NotFound
from procedures.planner import Plan
from procedures.state import Attempt, Decision, Deferral, Pause
from store.fastsql import SQL
from store.tables import AttemptRow, DecisionRow, IdCounterRow, PersonRow

__all__ = ["DecisionRepository", "PeopleRepository"]


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def _attempt_from_row(row: AttemptRow) -> Attempt:
    return Attempt(
        step=row.step,
        number=row.number,
        status=row.status,
        opened_on=row.opened_on,
        shorten_reason=row.shorten_reason,
        closed_on=row.closed_on,
        outcome=row.outcome,
        skip_reason=row.skip_reason,
        pauses=tuple(Pause.model_validate(p) for p in json.loads(row.pauses)),
        extensions=tuple(json.loads(row.extensions)),
        deferrals=tuple(Deferral.model_validate(d) for d in json.loads(row.deferrals)),
        documents=tuple(json.loads(row.documents)),
        superseded=row.superseded,
    )


def _attempt_columns(attempt: Attempt) -> dict[str, Any]:
    return {
        "step": attempt.step,
        "number": attempt.number,
        "status": attempt.status,
        "opened_on": attempt.opened_on,
        "shorten_reason": attempt.shorten_reason,
        "closed_on": attempt.closed_on,
        "outcome": attempt.outcome,
        "skip_reason": attempt.skip_reason,
        "pauses": _dump([p.model_dump(mode="json") for p in attempt.pauses]),
        "extensions": _dump(list(attempt.extensions)),
        "deferrals": _dump([d.model_dump(mode="json") for d in attempt.deferrals]),
        "documents": _dump(list(attempt.documents)),
        "superseded": attempt.superseded,
    }


_ATTEMPT_COLUMNS = (
    "step",
    "number",
    "status",
    "opened_on",
    "shorten_reason",
    "closed_on",
    "outcome",
    "skip_reason",
    "pauses",
    "extensions",
    "deferrals",
    "documents",
    "superseded",
    "due_on",
    "earliest_close_on",
    "provisional",
)
_SAVE = SQL(
    "UPDATE decisions SET version = version + 1, status = :status "
    "WHERE id = :id AND version = :version"
)
_UPDATE_ATTEMPT = SQL(
    "UPDATE step_attempts SET "
    + ", ".join(f"{c} = :{c}" for c in _ATTEMPT_COLUMNS)
    + " WHERE decision_id = :decision_id AND position = :position"
)
_INSERT_ATTEMPT = SQL(
    "INSERT INTO step_attempts (decision_id, position, "
    + ", ".join(_ATTEMPT_COLUMNS)
    + ") VALUES (:decision_id, :position, "
    + ", ".join(f":{c}" for c in _ATTEMPT_COLUMNS)
    + ")"
)
_SET_DATES = SQL(
    "UPDATE step_attempts SET due_on = :due_on, earliest_close_on = :earliest_close_on, "
    "provisional = :provisional WHERE decision_id = :decision_id AND position = :position"
)


class DecisionRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self._connection: Connection | None = None

    def _conn(self) -> Connection:
        """The transaction's connection, looked up once (the session keeps it until the end)."""
        if self._connection is None:
            self._connection = self.session.connection()
        return self._connection

    def next_id(self, year: int) -> str:
        """The next decision id of a registration year, e.g. ``2025-0007`` (row-locked counter)."""
        counter = self.session.exec(
            select(IdCounterRow).where(IdCounterRow.year == year).with_for_update()
        ).first()
        if counter is None:
            counter = IdCounterRow(year=year, last=0)
        counter.last += 1
        self.session.add(counter)
        self.session.flush()
        return f"{year}-{counter.last:04d}"

    def add(self, decision: Decision) -> None:
        self.session.add(
            DecisionRow(
                id=decision.id,
                title=decision.title,
                procedure_id=decision.procedure_id,
                procedure_version=decision.procedure_version,
                flags=_dump(sorted(decision.flags)),
                sponsor=decision.sponsor,
                target_on=decision.target_on,
                catalogue_year=decision.catalogue_year,
                registered_on=decision.registered_on,
                status=decision.status,
                version=decision.version,
            )
        )
        self.session.flush()
        for position, attempt in enumerate(decision.attempts):
            self.session.add(
                AttemptRow(decision_id=decision.id, position=position, **_attempt_columns(attempt))
            )
        self.session.flush()

    def get(self, decision_id: str) -> Decision:
        row = self.session.get(DecisionRow, decision_id)
        if row is None:
            raise NotFound(f"no decision {decision_id!r}")
        rows = self.session.exec(
            select(AttemptRow)
            .where(AttemptRow.decision_id == decision_id)
            .order_by(col(AttemptRow.position))
        ).all()
        return self._decision(row, tuple(_attempt_from_row(r) for r in rows))

    @staticmethod
    def _decision(row: DecisionRow, attempts: tuple[Attempt, ...]) -> Decision:
        return Decision(
            id=row.id,
            title=row.title,
            procedure_id=row.procedure_id,
            procedure_version=row.procedure_version,
            flags=frozenset(json.loads(row.flags)),
            sponsor=row.sponsor,
            target_on=row.target_on,
            catalogue_year=row.catalogue_year,
            registered_on=row.registered_on,
            status=row.status,
            version=row.version,
            attempts=attempts,
        )

    def save(self, before: Decision, attempts: Sequence[Attempt], plan: Plan) -> int:
        """Write the new attempts and status if nobody changed the decision since ``before``.

        Returns the new version.  Attempts are only ever appended or updated in place (the
        planner never removes one), so rows are matched by position; unchanged rows are not
        touched.  Core statements on the session's connection: this is the hot path.
        """

        def changed_meanwhile(cursor: Any) -> None:
            if cursor.rowcount != 1:
                raise Conflict(
                    f"决策 {before.id} 已被他人修改 the decision changed meanwhile (it was at "
                    f"version {before.version} when read); nothing was written — look at its "
                    "status and run the command again"
                )

        # Checked when sent (with the next statement that needs an answer, or at commit): a
        # conflict raises inside the unit of work, which then rolls everything back.
        _SAVE.defer(
            self._conn(),
            {"id": before.id, "version": before.version, "status": plan.status},
            check=changed_meanwhile,
        )
        self._write_attempts(before.id, before.attempts, attempts, plan)
        return before.version + 1

    def _write_attempts(
        self, decision_id: str, old: Sequence[Attempt], new: Sequence[Attempt], plan: Plan
    ) -> None:
        views = {v.step: v for v in plan.steps}
        current = {a.step: i for i, a in enumerate(new) if not a.superseded}
        conn = self._conn()
        for position, attempt in enumerate(new):
            if position < len(old) and old[position] == attempt:
                continue
            columns = _attempt_columns(attempt)
            view = views.get(attempt.step) if current.get(attempt.step) == position else None
            columns.update(
                due_on=view.due_on if view else None,
                earliest_close_on=view.earliest_close_on if view else None,
                provisional=bool(view and view.provisional),
                decision_id=decision_id,
                position=position,
            )
            (_UPDATE_ATTEMPT if position < len(old) else _INSERT_ATTEMPT).defer(conn, columns)

    def ids(self, *, status: Sequence[str] | None = None) -> list[str]:
        query = select(DecisionRow.id).order_by(col(DecisionRow.id))
        if status is not None:
            query = query.where(col(DecisionRow.status).in_(status))
        return list(self.session.exec(query).all())

    def many(self, ids: Sequence[str]) -> list[Decision]:
        """Several decisions with their attempts, in two queries."""
        if not ids:
            return []
        rows = self.session.exec(select(DecisionRow).where(col(DecisionRow.id).in_(ids))).all()
        attempts: dict[str, list[Attempt]] = {i: [] for i in ids}
        for arow in self.session.exec(
            select(AttemptRow)
            .where(col(AttemptRow.decision_id).in_(ids))
            .order_by(col(AttemptRow.decision_id), col(AttemptRow.position))
        ).all():
            attempts[arow.decision_id].append(_attempt_from_row(arow))
        by_id = {r.id: self._decision(r, tuple(attempts[r.id])) for r in rows}
        return [by_id[i] for i in ids if i in by_id]

    def count(self) -> int:
        return int(self.session.exec(select(func.count()).select_from(DecisionRow)).one())

    def set_dates(self, decision_id: str, plan: Plan, attempts: Sequence[Attempt]) -> None:
        """Rewrite the denormalised dates (after a calendar change), not the history."""
        views = {v.step: v for v in plan.steps}
        current = {a.step: i for i, a in enumerate(attempts) if not a.superseded}
        conn = self._conn()
        for step, position in current.items():
            view = views[step]
            _SET_DATES.run(
                conn,
                {
                    "due_on": view.due_on,
                    "earliest_close_on": view.earliest_close_on,
                    "provisional": view.provisional,
                    "decision_id": decision_id,
                    "position": position,
                },
            )


class PeopleRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, name: str, role: str, unit: str | None) -> bool:
        if self.session.get(PersonRow, (name, role)) is not None:
            return False
        self.session.add(PersonRow(name=name, role=role, unit=unit))
        self.session.flush()
        return True

    def any(self) -> bool:
        return self.session.exec(select(PersonRow).limit(1)).first() is not None

    def roles(self, name: str) -> set[str]:
        rows = self.session.exec(select(PersonRow).where(PersonRow.name == name)).all()
        return {r.role for r in rows}

    def all(self) -> list[PersonRow]:
        return list(self.session.exec(select(PersonRow).order_by(col(PersonRow.name))).all())
