"""Repositories: decisions and their attempts, people, documents — rows mapped to and from the
``procedures`` types (rows never reach the planner).

Repositories never commit (the unit of work does).  ``save`` applies optimistic concurrency:
the decision is written only if it still has the version it was read at, else ``Conflict``.
Plain SQL on the driver connection (``store.fastsql``): this is the interactive path.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from functools import lru_cache
from typing import Any, NamedTuple

from procedures.definition import Definition
from procedures.errors import Conflict, NotFound
from procedures.planner import Plan
from procedures.state import Attempt, Decision, Deferral, Hearing, Pause
from store.dbapi import Link
from store.fastsql import SQL, as_date, read_and_end, run_all
from store.todo import write as write_todo

__all__ = [
    "AccountRecord",
    "AccountRepository",
    "AlertRepository",
    "DecisionRepository",
    "DefinitionRepository",
    "DocumentRepository",
    "PeopleRepository",
    "Person",
    "RaisedAlert",
    "StoredDocument",
    "TokenRecord",
]

_DECISION_COLUMNS = (
    "id",
    "title",
    "procedure_id",
    "procedure_version",
    "procedure_sha256",
    "flags",
    "sponsor",
    "target_on",
    "catalogue_year",
    "registered_on",
    "status",
    "version",
    "co_sponsors",
    "assignments",
)
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
    "respond_by",
    "close_provisional",
    "details",
    "due_on",
    "earliest_close_on",
    "provisional",
)
_ATTEMPT_READ = ("decision_id", *_ATTEMPT_COLUMNS[:16])

_GET = SQL(f"SELECT {', '.join(_DECISION_COLUMNS)} FROM decisions WHERE id = :id")
_ATTEMPTS_OF = SQL(
    f"SELECT {', '.join(_ATTEMPT_READ)} FROM step_attempts "
    "WHERE decision_id = :id ORDER BY position"
)
_INSERT_COLUMNS = (*_DECISION_COLUMNS, "next_due_on", "next_alert_on")
_INSERT_DECISION = SQL(
    f"INSERT INTO decisions ({', '.join(_INSERT_COLUMNS)}) VALUES "
    f"({', '.join(':' + c for c in _INSERT_COLUMNS)})"
)
_SAVE = SQL(
    "UPDATE decisions SET version = version + 1, status = :status, next_due_on = :next_due_on, "
    "next_alert_on = :next_alert_on WHERE id = :id AND version = :version"
)
# An audited migration to another definition (``decide procedures migrate``).
_SAVE_PINNED = SQL(
    "UPDATE decisions SET version = version + 1, status = :status, next_due_on = :next_due_on, "
    "next_alert_on = :next_alert_on, procedure_id = :procedure_id, procedure_version = "
    ":procedure_version, procedure_sha256 = :procedure_sha256 WHERE id = :id AND version = :version"
)
_DROP_ATTEMPTS = SQL("DELETE FROM step_attempts WHERE decision_id = :decision_id")
_SET_NEXT_DUE = SQL(
    "UPDATE decisions SET next_due_on = :next_due_on, next_alert_on = :next_alert_on WHERE id = :id"
)
# Only the scan sets a known date, and only if the decision is still as it planned it.
_SET_NEXT_ALERT = SQL(
    "UPDATE decisions SET next_alert_on = :next_alert_on WHERE id = :id AND version = :version"
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
_COUNTER = SQL(
    "SELECT last FROM id_counters WHERE year = :year",
    pg="SELECT last FROM id_counters WHERE year = :year FOR UPDATE",
)
_COUNTER_NEW = SQL("INSERT INTO id_counters (year, last) VALUES (:year, 1)")
_COUNTER_BUMP = SQL("UPDATE id_counters SET last = :last WHERE year = :year")
_DUE_BY = SQL(
    "SELECT id FROM decisions WHERE next_due_on <= :horizon UNION "
    "SELECT id FROM decisions WHERE next_due_on IS NULL AND status <> 'closed' "
    "ORDER BY id"
)
_FORGET_ALERT_DATES = SQL(
    "UPDATE decisions SET next_alert_on = NULL WHERE status <> 'closed' AND next_alert_on IS NOT NULL"
)
_ALERT_CANDIDATES = SQL(
    "SELECT id FROM decisions WHERE next_alert_on <= :as_of UNION "
    "SELECT id FROM decisions WHERE next_alert_on IS NULL AND next_due_on <= :horizon UNION "
    "SELECT id FROM decisions WHERE next_due_on IS NULL AND status <> 'closed' "
    "ORDER BY id"
)
_COUNT = SQL("SELECT count(*) FROM decisions")
_AMEND = SQL(
    "UPDATE decisions SET title = :title, flags = :flags, target_on = :target_on, "
    "assignments = :assignments WHERE id = :id AND version = :version"
)


NOTHING_DUE = date.max  # NULL is kept for "not dated yet" (rows from before revision 0002)


def no_decision(decision_id: str) -> NotFound:
    """The answer for an unknown decision id (also given for an undisclosable decision the caller
    may not read, so that the answer does not tell it exists)."""
    return NotFound(f"未找到决策 no decision {decision_id!r}")


def next_due(plan: Plan) -> date:
    """The earliest date anything of the decision falls due (``NOTHING_DUE`` when nothing is)."""
    dates = [s.due_on for s in plan.falling_due if s.due_on]
    if plan.target_due is not None:
        dates.append(plan.target_due)
    return min(dates, default=NOTHING_DUE)


def _dates(decision: Decision, plan: Plan) -> dict[str, date | None]:
    """The denormalised dates after a change: the next due date, and the next alert date not
    known (``None``: the next scan plans the decision) unless nothing can ever fall due.

    The one derivation every writer (registration, a change, a migration, a calendar import)
    goes through: it takes a plan of the whole decision, and a plan made without the decision's
    target date is a bug that would drop the target from the index (``decide overdue`` would
    miss the decision), so it is refused here rather than written."""
    if plan.target_on != decision.target_on:
        raise ValueError(
            f"decision {decision.id}: the plan's target date {plan.target_on} is not the "
            f"decision's {decision.target_on}; plan the whole decision (target_on=...)"
        )
    due = next_due(plan)
    return {"next_due_on": due, "next_alert_on": NOTHING_DUE if due == NOTHING_DUE else None}


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def _json_list(text: str) -> list[Any]:
    return [] if text == "[]" else list(json.loads(text))


def _attempt(row: Sequence[Any]) -> Attempt:
    """A row as an ``Attempt`` (empty JSON lists, the common case, are not parsed)."""
    (
        _,
        step,
        number,
        status,
        opened,
        shorten,
        closed,
        outcome,
        skip,
        pauses,
        extensions,
        deferrals,
        documents,
        superseded,
        respond_by,
        close_provisional,
        details,
    ) = row
    extra = {} if details in ("{}", None) else json.loads(details)
    return Attempt(
        step=step,
        number=number,
        status=status,
        opened_on=as_date(opened),
        shorten_reason=shorten,
        closed_on=as_date(closed),
        outcome=outcome,
        skip_reason=skip,
        pauses=tuple(Pause.model_validate(p) for p in _json_list(pauses)),
        extensions=tuple(_json_list(extensions)),
        deferrals=tuple(Deferral.model_validate(d) for d in _json_list(deferrals)),
        documents=tuple(_json_list(documents)),
        superseded=bool(superseded),
        respond_by=as_date(respond_by),
        close_provisional=bool(close_provisional),
        **_details_in(extra),
    )


_DETAILS = ("methods", "comment_until", "hearing", "reused_from", "reuse_reason")


def _details_in(extra: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "methods" in extra:
        out["methods"] = tuple(extra["methods"])
    if "comment_until" in extra:
        out["comment_until"] = as_date(extra["comment_until"])
    if "hearing" in extra:
        out["hearing"] = Hearing.model_validate(extra["hearing"])
    if "reused_from" in extra:
        out["reused_from"] = int(extra["reused_from"])
    if "reuse_reason" in extra:
        out["reuse_reason"] = extra["reuse_reason"]
    return out


def _details_out(attempt: Attempt) -> str:
    data = attempt.model_dump(mode="json", include=set(_DETAILS), exclude_defaults=True)
    return _dump(data) if data else "{}"


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
        "respond_by": attempt.respond_by,
        "close_provisional": attempt.close_provisional,
        "details": _details_out(attempt),
    }


def _decision(row: Sequence[Any], attempts: tuple[Attempt, ...]) -> Decision:
    (
        id_,
        title,
        proc,
        proc_version,
        proc_sha,
        flags,
        sponsor,
        target,
        year,
        registered,
        status,
        version,
        co_sponsors,
        assignments,
    ) = row
    return Decision(
        id=id_,
        title=title,
        procedure_id=proc,
        procedure_version=proc_version,
        procedure_sha256=proc_sha,
        flags=frozenset(json.loads(flags)),
        sponsor=sponsor,
        target_on=as_date(target),
        catalogue_year=year,
        registered_on=as_date(registered),
        status=status,
        version=version,
        attempts=attempts,
        co_sponsors=tuple(_json_list(co_sponsors or "[]")),
        assignments={k: tuple(v) for k, v in json.loads(assignments or "{}").items()},
    )


# the decisions a unit may take part in: lead sponsor, a co-sponsor, or assigned to a role (the
# JSON lists hold the unit's name in quotes; LIKE may over-match, never under-match)
_UNIT_CLAUSE = "(sponsor = :unit OR co_sponsors LIKE :unit_like OR assignments LIKE :unit_like)"


def _unit_params(unit: str) -> dict[str, str]:
    quoted = json.dumps(unit, ensure_ascii=False)
    escaped = quoted.replace("%", "_").replace("\\", "_")  # never under-match
    return {"unit": unit, "unit_like": f"%{escaped}%"}


_HEADS: dict[int, SQL] = {}
_HEADS_DUE: dict[int, SQL] = {}
_NEXT_DUE: dict[int, SQL] = {}


@lru_cache(maxsize=20_000)
def _head(row: tuple[Any, ...]) -> Decision:
    """A decision without its attempts from its row: the row (which holds the version) is the
    whole value, so the decisions a to-do list shows again and again are built once."""
    return _decision(row, ())


def _heads_sql(n: int) -> SQL:
    if n not in _HEADS:
        marks = ", ".join(f":i{i}" for i in range(n))
        _HEADS[n] = SQL(
            f"SELECT {', '.join(_DECISION_COLUMNS)} FROM decisions WHERE id IN ({marks})"
        )
    return _HEADS[n]


class DecisionRepository:
    def __init__(self, link: Link) -> None:
        self.link = link

    def next_id(self, year: int) -> str:
        """The next decision id of a registration year, e.g. ``2025-0007`` (row-locked counter)."""
        row = _COUNTER.run(self.link, {"year": year}).fetchone()
        if row is None:
            _COUNTER_NEW.run(self.link, {"year": year})
            last = 1
        else:
            last = row[0] + 1
            _COUNTER_BUMP.run(self.link, {"year": year, "last": last})
        return f"{year}-{last:04d}"

    def add(self, decision: Decision, plan: Plan) -> None:
        """Insert a registered decision, its attempts and its dates (from ``plan``)."""
        _INSERT_DECISION.run(
            self.link,
            {
                "id": decision.id,
                "title": decision.title,
                "procedure_id": decision.procedure_id,
                "procedure_version": decision.procedure_version,
                "procedure_sha256": decision.procedure_sha256,
                "flags": _dump(sorted(decision.flags)),
                "sponsor": decision.sponsor,
                "target_on": decision.target_on,
                "catalogue_year": decision.catalogue_year,
                "registered_on": decision.registered_on,
                "status": decision.status,
                "version": decision.version,
                "co_sponsors": _dump(list(decision.co_sponsors)),
                "assignments": _dump({k: list(v) for k, v in decision.assignments.items()}),
                **_dates(decision, plan),
            },
        )
        self._write_attempts(decision.id, (), decision.attempts, plan)
        write_todo(self.link, decision, plan, fresh=True)

    def get(self, decision_id: str) -> Decision:
        if "\x00" in decision_id:  # no id holds one (PostgreSQL text cannot even be asked)
            raise no_decision(decision_id.replace("\x00", "\\x00"))
        params = {"id": decision_id}
        head, rows = run_all(self.link, [(_GET, params), (_ATTEMPTS_OF, params)])  # one trip
        row = head.fetchone()
        if row is None:
            raise no_decision(decision_id)
        return _decision(row, tuple(_attempt(r) for r in rows.fetchall()))

    def save(
        self,
        before: Decision,
        attempts: Sequence[Attempt],
        plan: Plan,
        *,
        definition: Definition | None = None,
    ) -> int:
        """Write the new attempts and status if nobody changed the decision since ``before``.

        Returns the new version.  Attempts are only ever appended or updated in place (the
        planner never removes one), so rows are matched by position; unchanged rows are not
        touched.  The version check is sent with the next statement that needs an answer (or at
        commit); a conflict raises inside the unit of work, which rolls everything back.
        ``definition``: the decision is migrated to it (its history was replayed under it).
        """

        def changed_meanwhile(cursor: Any) -> None:
            if cursor.rowcount != 1:
                raise Conflict(
                    f"决策 {before.id} 已被他人修改 the decision changed meanwhile (it was at "
                    f"version {before.version} when read); nothing was written — look at its "
                    "status and run the command again"
                )

        params: dict[str, Any] = {
            "id": before.id,
            "version": before.version,
            "status": plan.status,
            **_dates(before, plan),
        }
        if definition is None:
            _SAVE.defer(self.link, params, check=changed_meanwhile)
        else:
            params.update(
                procedure_id=definition.id,
                procedure_version=definition.version,
                procedure_sha256=definition.sha256,
            )
            _SAVE_PINNED.defer(self.link, params, check=changed_meanwhile)
            # the replayed history is written afresh: updated in place, rows could collide on
            # (step, number) midway; documents and alerts name attempts by number, not row
            _DROP_ATTEMPTS.defer(self.link, {"decision_id": before.id})
        kept = before.attempts if definition is None else ()
        self._write_attempts(before.id, kept, attempts, plan)
        write_todo(self.link, before, plan)  # the units taking part are ``before``'s
        return before.version + 1

    def _write_attempts(
        self, decision_id: str, old: Sequence[Attempt], new: Sequence[Attempt], plan: Plan | None
    ) -> None:
        views = {v.step: v for v in plan.steps} if plan else {}
        current = {a.step: i for i, a in enumerate(new) if not a.superseded}
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
            stmt = _UPDATE_ATTEMPT if position < len(old) else _INSERT_ATTEMPT
            stmt.defer(self.link, columns)

    def set_dates(self, decision: Decision, plan: Plan) -> None:
        """Rewrite the denormalised dates (after a calendar change), not the history."""
        decision_id = decision.id
        _SET_NEXT_DUE.defer(self.link, {"id": decision_id, **_dates(decision, plan)})
        views = {v.step: v for v in plan.steps}
        current = {a.step: i for i, a in enumerate(decision.attempts) if not a.superseded}
        for step, position in current.items():
            view = views[step]
            _SET_DATES.defer(
                self.link,
                {
                    "due_on": view.due_on,
                    "earliest_close_on": view.earliest_close_on,
                    "provisional": view.provisional,
                    "decision_id": decision_id,
                    "position": position,
                },
            )
        write_todo(self.link, decision, plan)

    def due_by(self, horizon: date) -> list[str]:
        """Decisions with something due on or before ``horizon`` (index on next_due_on), plus
        any not yet dated (registered before the column existed) that are still open."""
        return [r[0] for r in _DUE_BY.rows(self.link, {"horizon": horizon})]

    def alert_candidates(self, as_of: date, horizon: date) -> list[str]:
        """Decisions the deadline scan must plan on ``as_of``: those whose next alert date has
        come, those changed since the last scan with something due by ``horizon``, and any not
        yet dated (registered before revision 0002) that are still open."""
        return [
            r[0] for r in _ALERT_CANDIDATES.rows(self.link, {"as_of": as_of, "horizon": horizon})
        ]

    def due_order(
        self, bound: date, *, sponsor: str | None = None, unit: str | None = None
    ) -> list[tuple[str, date | None]]:
        """Decisions with something due on or before ``bound``, earliest first (index on
        next_due_on), after any open ones not yet dated (``None``: plan them to know);
        ``unit``: only those the unit may take part in (``_unit_clause``)."""
        where = "" if sponsor is None else " AND sponsor = :sponsor"
        params: dict[str, Any] = {"bound": bound, "sponsor": sponsor}
        if unit is not None:
            where += f" AND {_UNIT_CLAUSE}"
            params.update(_unit_params(unit))
        undated = SQL(
            f"SELECT id FROM decisions WHERE next_due_on IS NULL AND status <> 'closed'{where} "
            "ORDER BY id"
        ).rows(self.link, params)
        dated = SQL(
            f"SELECT id, next_due_on FROM decisions WHERE next_due_on <= :bound{where} "
            "ORDER BY next_due_on, id"
        ).rows(self.link, params)
        return [(r[0], None) for r in undated] + [(r[0], as_date(r[1])) for r in dated]

    def forget_alert_dates(self) -> None:
        """After a calendar change: a level's first day moves with the working days around a
        due date even where the due date stays, so every open decision is planned again."""
        _FORGET_ALERT_DATES.defer(self.link, {})

    def set_next_alert(self, decision_id: str, version: int, day: date) -> None:
        """Record the scan's next alert date, unless the decision changed since it was read."""
        _SET_NEXT_ALERT.defer(
            self.link, {"id": decision_id, "version": version, "next_alert_on": day}
        )

    def ids(
        self,
        *,
        status: Sequence[str] | None = None,
        sponsor: str | None = None,
        unit: str | None = None,
        without_flag: str | None = None,
        catalogue_year: int | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[str]:
        """Decision ids in order, optionally only those in ``status``, of one sponsor, or that
        ``unit`` may take part in (a superset: the caller checks each, ``app.permissions``);
        of one catalogue year; the first ``limit`` after the id ``after`` (keyset paging)."""
        where: list[str] = []
        params: dict[str, Any] = {}
        if after is not None:
            where.append("id > :after")
            params["after"] = after
        if catalogue_year is not None:
            where.append("catalogue_year = :year")
            params["year"] = catalogue_year
        if unit is not None:
            where.append(_UNIT_CLAUSE)
            params.update(_unit_params(unit))
        if without_flag is not None:
            where.append("flags NOT LIKE :flag_like")
            params["flag_like"] = f'%"{without_flag}"%'

        if status is not None:
            marks = ", ".join(f":s{i}" for i in range(len(status)))
            where.append(f"status IN ({marks})")  # index on status
            params.update({f"s{i}": s for i, s in enumerate(status)})
        if sponsor is not None:
            where.append("sponsor = :sponsor")
            params["sponsor"] = sponsor
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        if limit is not None:
            clause += " ORDER BY id LIMIT :limit"
            params["limit"] = limit
        else:
            clause += " ORDER BY id"
        return [r[0] for r in SQL(f"SELECT id FROM decisions{clause}").rows(self.link, params)]

    def many(self, ids: Sequence[str]) -> list[Decision]:
        """Several decisions with their attempts, a few queries per thousand."""
        found: list[Decision] = []
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ", ".join(f":i{i}" for i in range(len(chunk)))
            params = {f"i{i}": v for i, v in enumerate(chunk)}
            rows = SQL(
                f"SELECT {', '.join(_DECISION_COLUMNS)} FROM decisions WHERE id IN ({marks})"
            ).rows(self.link, params)
            attempts: dict[str, list[Attempt]] = {i: [] for i in chunk}
            for arow in SQL(
                f"SELECT {', '.join(_ATTEMPT_READ)} FROM step_attempts WHERE "
                f"decision_id IN ({marks}) ORDER BY decision_id, position"
            ).rows(self.link, params):
                attempts[arow[0]].append(_attempt(arow))
            by_id = {r[0]: _decision(r, tuple(attempts[r[0]])) for r in rows}
            found.extend(by_id[i] for i in chunk if i in by_id)
        return found

    def heads(self, ids: Sequence[str]) -> list[Decision]:
        """Several decisions without their attempts (``attempts=()``), in the order asked:
        what a list shows and the permissions read (sponsor, co-sponsors, assignments, flags)."""
        found: dict[str, Decision] = {}
        wanted = list(dict.fromkeys(ids))
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            rows = _heads_sql(len(chunk)).rows(self.link, {f"i{i}": v for i, v in enumerate(chunk)})
            found.update((r[0], _head(tuple(r))) for r in rows)
        return [found[i] for i in wanted if i in found]

    def heads_and_due(self, ids: Sequence[str]) -> tuple[list[Decision], dict[str, date | None]]:
        """``heads`` and ``next_due`` of the same decisions in one query (the decision list)."""
        found: dict[str, Decision] = {}
        due: dict[str, date | None] = {}
        wanted = list(dict.fromkeys(ids))
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            if len(chunk) not in _HEADS_DUE:
                marks = ", ".join(f":i{i}" for i in range(len(chunk)))
                _HEADS_DUE[len(chunk)] = SQL(
                    f"SELECT {', '.join(_DECISION_COLUMNS)}, next_due_on FROM decisions "
                    f"WHERE id IN ({marks})"
                )
            params = {f"i{i}": v for i, v in enumerate(chunk)}
            for r in _HEADS_DUE[len(chunk)].rows(self.link, params):
                found[r[0]] = _head(tuple(r[:-1]))
                due[r[0]] = as_date(r[-1])
        return [found[i] for i in wanted if i in found], due

    def next_due(self, ids: Sequence[str]) -> dict[str, date | None]:
        """Each decision's ``next_due_on`` (None: not known, a row from before revision 0002)."""
        found: dict[str, date | None] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            if len(chunk) not in _NEXT_DUE:
                marks = ", ".join(f":i{i}" for i in range(len(chunk)))
                _NEXT_DUE[len(chunk)] = SQL(
                    f"SELECT id, next_due_on FROM decisions WHERE id IN ({marks})"
                )
            params = {f"i{i}": v for i, v in enumerate(chunk)}
            found.update(
                (r[0], as_date(r[1])) for r in _NEXT_DUE[len(chunk)].rows(self.link, params)
            )
        return found

    def count(self) -> int:
        return int(_COUNT.run(self.link).fetchone()[0])

    def amend(
        self,
        before: Decision,
        *,
        title: str,
        flags: frozenset[str],
        target_on: date | None,
        assignments: dict[str, tuple[str, ...]] | None = None,
    ) -> None:
        """Write an amended title, flags and target date (``save`` then bumps the version,
        checking nobody changed the decision since ``before``)."""
        _AMEND.defer(
            self.link,
            {
                "id": before.id,
                "version": before.version,
                "title": title,
                "flags": _dump(sorted(flags)),
                "target_on": target_on,
                "assignments": _dump(
                    {
                        k: list(v)
                        for k, v in (
                            before.assignments if assignments is None else assignments
                        ).items()
                    }
                ),
            },
        )


_DEFINITION_ADD = SQL(
    "INSERT INTO procedure_definitions (sha256, id, version, content, stored_at) VALUES "
    "(:sha256, :id, :version, :content, :stored_at) ON CONFLICT (sha256) DO NOTHING"
)


class DefinitionRepository:
    """Procedure definitions by SHA-256 (content-addressed: a definition is stored once)."""

    def __init__(self, link: Link) -> None:
        self.link = link

    def add(self, definition: Definition, *, stored_at: datetime) -> None:
        _DEFINITION_ADD.defer(self.link, {**definition.model_dump(), "stored_at": stored_at})

    def many(self, shas: Sequence[str]) -> dict[str, Definition]:
        """The stored definitions among ``shas`` (a missing one is simply absent)."""
        wanted = sorted(set(shas))
        if not wanted:
            return {}
        marks = ", ".join(f":s{i}" for i in range(len(wanted)))
        rows = SQL(
            f"SELECT sha256, id, version, content FROM procedure_definitions "
            f"WHERE sha256 IN ({marks})"
        ).rows(self.link, {f"s{i}": v for i, v in enumerate(wanted)})
        return {r[0]: Definition(sha256=r[0], id=r[1], version=r[2], content=r[3]) for r in rows}


class Person:
    __slots__ = ("name", "role", "unit")

    def __init__(self, name: str, role: str, unit: str | None) -> None:
        self.name, self.role, self.unit = name, role, unit


_PERSON = SQL("SELECT 1 FROM people WHERE name = :name AND role = :role")
_PERSON_ADD = SQL("INSERT INTO people (name, role, unit) VALUES (:name, :role, :unit)")
_ANY_PERSON = SQL("SELECT 1 FROM people LIMIT 1")
_ROLES = SQL("SELECT role FROM people WHERE name = :name")
_PEOPLE = SQL("SELECT name, role, unit FROM people ORDER BY name, role")
_PERSON_REMOVE = SQL("DELETE FROM people WHERE name = :name")
_PERSON_REMOVE_ROLE = SQL("DELETE FROM people WHERE name = :name AND role = :role")


class PeopleRepository:
    def __init__(self, link: Link) -> None:
        self.link = link

    def add(self, name: str, role: str, unit: str | None) -> bool:
        if _PERSON.run(self.link, {"name": name, "role": role}).fetchone() is not None:
            return False
        _PERSON_ADD.run(self.link, {"name": name, "role": role, "unit": unit})
        return True

    def any(self) -> bool:
        return _ANY_PERSON.run(self.link).fetchone() is not None

    def roles(self, name: str) -> set[str]:
        return {r[0] for r in _ROLES.rows(self.link, {"name": name})}

    def all(self) -> list[Person]:
        return [Person(*r) for r in _PEOPLE.rows(self.link)]

    def remove(self, name: str, role: str | None = None) -> set[str]:
        """Remove a person's role (every role when ``role`` is None); the roles removed."""
        roles = self.roles(name)
        if role is not None:
            roles &= {role}
            _PERSON_REMOVE_ROLE.run(self.link, {"name": name, "role": role})
        elif roles:
            _PERSON_REMOVE.run(self.link, {"name": name})
        return roles


_DOCUMENT_ADD = SQL(
    "INSERT INTO documents (decision_id, step, attempt, kind, filename, sha256, size, stored_at) "
    "VALUES (:decision_id, :step, :attempt, :kind, :filename, :sha256, :size, :stored_at)"
)


_DOCUMENTS_OF = SQL(
    "SELECT step, attempt, kind, filename, sha256, size FROM documents "
    "WHERE decision_id = :d ORDER BY id"
)


class StoredDocument(NamedTuple):
    step: str
    attempt: int
    kind: str
    filename: str
    sha256: str
    size: int


class DocumentRepository:
    def __init__(self, link: Link) -> None:
        self.link = link

    def of(self, decision_id: str) -> list[StoredDocument]:
        """A decision's documents in the order they were attached."""
        return [StoredDocument(*r) for r in _DOCUMENTS_OF.rows(self.link, {"d": decision_id})]

    def add(
        self,
        *,
        decision_id: str,
        step: str,
        attempt: int,
        kind: str,
        filename: str,
        sha256: str,
        size: int,
        stored_at: datetime,
    ) -> None:
        _DOCUMENT_ADD.defer(
            self.link,
            {
                "decision_id": decision_id,
                "step": step,
                "attempt": attempt,
                "kind": kind,
                "filename": filename,
                "sha256": sha256,
                "size": size,
                "stored_at": stored_at,
            },
        )


# Once per level per step attempt (SPEC §4), whatever later happens to the due date (an
# extension, a deferral, a calendar import): the NOT EXISTS makes it so; the unique key
# (which includes due_on) stops two scans racing on the same due date.
_RAISE_TAIL = (
    " WHERE NOT EXISTS (SELECT 1 FROM alerts WHERE decision_id = :decision_id AND "
    "step = :step AND attempt = :attempt AND level = :level) "
    "ON CONFLICT (decision_id, step, attempt, level, due_on) DO NOTHING"
)
# PostgreSQL needs the parameter types spelled out; SQLite must not get them: CAST(… AS DATE)
# has NUMERIC affinity there and turns '2025-05-06' into 2025.
_RAISE = SQL(
    "INSERT INTO alerts (decision_id, step, attempt, level, due_on, first_reached_on, raised_at) "
    "SELECT :decision_id, :step, :attempt, :level, :due_on, :first, :raised_at" + _RAISE_TAIL,
    pg="INSERT INTO alerts (decision_id, step, attempt, level, due_on, first_reached_on, "
    "raised_at) SELECT CAST(:decision_id AS VARCHAR(32)), CAST(:step AS VARCHAR(64)), "
    "CAST(:attempt AS INTEGER), CAST(:level AS VARCHAR(16)), CAST(:due_on AS DATE), "
    "CAST(:first AS DATE), :raised_at" + _RAISE_TAIL,
)


class RaisedAlert(NamedTuple):
    step: str
    level: str
    due_on: date
    first_reached_on: date
    attempt: int


_ALERTS_OF = SQL(
    "SELECT step, level, due_on, first_reached_on, attempt FROM alerts "
    "WHERE decision_id = :d ORDER BY id"
)


class AlertRepository:
    def __init__(self, link: Link) -> None:
        self.link = link

    def of(self, decision_id: str) -> list[RaisedAlert]:
        """The levels raised for a decision, in the order they were raised."""
        return [
            RaisedAlert(s, lv, as_date(d), as_date(f), a)  # type: ignore[arg-type]
            for s, lv, d, f, a in _ALERTS_OF.rows(self.link, {"d": decision_id})
        ]

    def raise_once(
        self,
        *,
        decision_id: str,
        step: str,
        attempt: int,
        level: str,
        due_on: date,
        first_reached_on: date,
        raised_at: datetime,
    ) -> bool:
        """Record the level unless it was raised before for this step attempt; True if new."""
        cursor = _RAISE.run(
            self.link,
            {
                "decision_id": decision_id,
                "step": step,
                "attempt": attempt,
                "level": level,
                "due_on": due_on,
                "first": first_reached_on,
                "raised_at": raised_at,
            },
        )
        return bool(cursor.rowcount == 1)


class AccountRecord(NamedTuple):
    login: str
    name: str
    unit: str
    roles: tuple[str, ...]
    admin: bool
    password_hash: str
    active: bool
    failures: int
    locked_until: str | None


_ACCOUNT_COLUMNS = "login, name, unit, roles, admin, password_hash, active, failures, locked_until"
_ACCOUNT = SQL(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE login = :login")
_ACCOUNTS = SQL(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts ORDER BY login")
_ANY_ACCOUNT = SQL("SELECT 1 FROM accounts LIMIT 1")
_ACCOUNT_ADD = SQL(
    "INSERT INTO accounts (login, name, unit, roles, admin, password_hash, active, failures) "
    "VALUES (:login, :name, :unit, :roles, :admin, :password_hash, :active, 0)"
)
_ACCOUNT_SET = SQL(
    "UPDATE accounts SET name = :name, unit = :unit, roles = :roles, admin = :admin, "
    "password_hash = :password_hash, active = :active WHERE login = :login"
)
_ACCOUNT_THROTTLE = SQL(
    "UPDATE accounts SET failures = :failures, locked_until = :locked_until WHERE login = :login"
)
_TOKEN_ADD = SQL(
    "INSERT INTO tokens (sha256, login, created_at, expires_at) "
    "VALUES (:sha256, :login, :created_at, :expires_at)"
)
_TOKEN = SQL(
    "SELECT sha256, login, created_at, expires_at, revoked_at FROM tokens WHERE sha256 = :s"
)
_TOKEN_ACCOUNT = SQL(
    "SELECT t.sha256, t.login, t.created_at, t.expires_at, t.revoked_at, a.login, a.name, "
    "a.unit, a.roles, a.admin, a.password_hash, a.active, a.failures, a.locked_until "
    "FROM tokens t LEFT JOIN accounts a ON a.login = t.login WHERE t.sha256 = :s"
)
_TOKENS = SQL(
    "SELECT sha256, login, created_at, expires_at, revoked_at FROM tokens ORDER BY sha256"
)
_TOKENS_REVOKE = SQL(
    "UPDATE tokens SET revoked_at = :now WHERE login = :login AND revoked_at IS NULL"
)


def _account(row: Sequence[Any]) -> AccountRecord:
    login, name, unit, roles, admin, password_hash, active, failures, locked = row
    return AccountRecord(
        login, name, unit, tuple(json.loads(roles)), bool(admin), password_hash, bool(active),
        int(failures or 0), locked,
    )  # fmt: skip


class TokenRecord(NamedTuple):
    sha256: str
    login: str
    created_at: str
    expires_at: str
    revoked_at: str | None


class AccountRepository:
    """Accounts and their API tokens (the audit events that change them are the record)."""

    def __init__(self, link: Link) -> None:
        self.link = link

    def any(self) -> bool:
        return _ANY_ACCOUNT.run(self.link).fetchone() is not None

    def get(self, login: str) -> AccountRecord | None:
        row = _ACCOUNT.run(self.link, {"login": login}).fetchone()
        return _account(row) if row is not None else None

    def all(self) -> list[AccountRecord]:
        return [_account(r) for r in _ACCOUNTS.rows(self.link)]

    def add(self, account: AccountRecord) -> None:
        _ACCOUNT_ADD.run(self.link, self._values(account))

    def save(self, account: AccountRecord) -> None:
        _ACCOUNT_SET.run(self.link, self._values(account))

    @staticmethod
    def _values(a: AccountRecord) -> dict[str, Any]:
        return {
            "login": a.login,
            "name": a.name,
            "unit": a.unit,
            "roles": _dump(sorted(a.roles)),
            "admin": a.admin,
            "password_hash": a.password_hash,
            "active": a.active,
        }

    def throttle(self, login: str, failures: int, locked_until: str | None) -> None:
        _ACCOUNT_THROTTLE.run(
            self.link, {"login": login, "failures": failures, "locked_until": locked_until}
        )

    def add_token(self, sha256: str, login: str, created_at: str, expires_at: str) -> None:
        _TOKEN_ADD.run(
            self.link,
            {"sha256": sha256, "login": login, "created_at": created_at, "expires_at": expires_at},
        )

    def token_account(
        self, sha256: str, *, end: bool = False
    ) -> tuple[TokenRecord, AccountRecord | None] | None:
        """A token and its account in one query (what every authenticated request reads).
        ``end``: the read-only unit of work's last statement — ended in the same round trip
        (``read_and_end``)."""
        params = {"s": sha256}
        if end:
            found = read_and_end(self.link, [(_TOKEN_ACCOUNT, params)])[0]
            row = found[0] if found else None
        else:
            row = _TOKEN_ACCOUNT.run(self.link, params).fetchone()
        if row is None:
            return None
        return TokenRecord(*row[:5]), (_account(row[5:]) if row[5] is not None else None)

    def token(self, sha256: str) -> TokenRecord | None:
        row = _TOKEN.run(self.link, {"s": sha256}).fetchone()
        return TokenRecord(*row) if row is not None else None

    def tokens(self) -> list[TokenRecord]:
        return [TokenRecord(*r) for r in _TOKENS.rows(self.link)]

    def revoke_tokens(self, login: str, now: str) -> None:
        _TOKENS_REVOKE.run(self.link, {"login": login, "now": now})
