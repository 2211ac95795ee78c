"""The to-do index: the steps someone may act on now, kept beside the decisions so that a
to-do list reads one page of it instead of planning every decision its caller may see.

One row per step that is ready (to start) or open (to complete), and per unit it may concern
(a paused step, whose materials were returned, has one row, for the decision list):
``unit = ''`` for everyone (the roles whose work spans every decision), and one row for each
unit taking part in the decision — the lead sponsor, the co-sponsors, the units assigned to a
role.  That is a superset of who may act: which roles act regardless of their unit, and what
a unit's part allows it, are decided in ``app.permissions`` (no rule here), which narrows the
index to a few *lanes* (``Lane``) and then checks each item of the page it shows.

A row keeps the step's status, attempt, role, due date and its basis and the provisional flag
— what ``procedures.plan`` gives, and the same for every as-of date: a plan's statuses and dates
do not depend on it, only its alert levels do.  The alert level is not stored: it only rises as
a due date gets older (``procedures.planner.alert_level``), so "most urgent first" is due-date
order (``order_on``: the due date, or 9999-12-31 when there is none), and the level is computed
for the rows shown.

Written in the same transaction as every change of a decision's plan (``DecisionRepository``
``add``, ``save``, ``set_dates``), and filled for existing decisions by revision 0010
(``rebuild``).  Plain SQL on the driver connection (``store.fastsql``): the interactive path.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any, NamedTuple

from procedures.planner import Plan
from procedures.state import Decision
from store.dbapi import Link
from store.fastsql import SQL, as_date

__all__ = ["COLUMNS", "Lane", "TodoItem", "TodoRepository", "rebuild", "rows_for", "write"]

UNDATED = date.max  # order_on of a step with no due date: after every dated one
ACTIONABLE = ("ready", "open")
CURRENT = (*ACTIONABLE, "paused")  # a paused step (materials returned) is listed, not acted on
COLUMNS = (
    "decision_id",
    "step",
    "unit",
    "status",
    "attempt",
    "role",
    "due_on",
    "order_on",
    "due_basis",
    "provisional",
)
_READ = "decision_id, step, status, attempt, role, due_on, order_on, due_basis, provisional"
_DELETE = SQL("DELETE FROM todo WHERE decision_id = :decision_id")
_INSERTS: dict[int, SQL] = {}
_PAGES: dict[str, SQL] = {}
_CURRENT: dict[int, SQL] = {}  # by text: one per combination of lanes


class Lane(NamedTuple):
    """One part of the index a caller may act in: rows for ``unit`` ('' for every unit),
    optionally only of one ``role`` and only of one ``status``."""

    unit: str
    role: str | None = None
    status: str | None = None


class TodoItem(NamedTuple):
    decision_id: str
    step: str
    status: str
    attempt: int
    role: str
    due_on: date | None
    due_basis: str | None
    provisional: bool

    @property
    def key(self) -> tuple[date, str, str]:
        """The keyset order: due date (undated last), decision, step."""
        return (self.due_on or UNDATED, self.decision_id, self.step)


def units_of(decision: Decision) -> list[str]:
    """'' and every unit taking part in the decision, each once."""
    out = [""]
    for unit in (decision.sponsor, *decision.co_sponsors):
        if unit not in out:
            out.append(unit)
    for units in decision.assignments.values():
        out += [u for u in units if u not in out]
    return out


def rows_for(decision: Decision, plan: Plan) -> list[dict[str, Any]]:
    """The index rows of a decision planned as ``plan`` (the plan of the whole decision)."""
    rows = []
    units = units_of(decision)
    for s in plan.steps:
        if s.status not in CURRENT:
            continue
        for unit in units if s.status in ACTIONABLE else ("",):
            rows.append(
                {
                    "decision_id": decision.id,
                    "step": s.step,
                    "unit": unit,
                    "status": s.status,
                    "attempt": s.attempt,
                    "role": s.role,
                    "due_on": s.due_on,
                    "order_on": s.due_on or UNDATED,
                    "due_basis": s.due_basis if s.due_on else None,
                    "provisional": s.provisional,
                }
            )
    return rows


def _insert(n: int) -> SQL:
    """One INSERT of ``n`` rows (one statement per change, whatever the number of rows)."""
    if n not in _INSERTS:
        values = ", ".join("(" + ", ".join(f":{c}{i}" for c in COLUMNS) + ")" for i in range(n))
        _INSERTS[n] = SQL(f"INSERT INTO todo ({', '.join(COLUMNS)}) VALUES {values}")
    return _INSERTS[n]


def write(link: Link, decision: Decision, plan: Plan, *, fresh: bool = False) -> None:
    """Replace the decision's rows by those of ``plan`` (deferred, with the change's other
    writes).  ``fresh``: a decision just inserted, with no rows yet."""
    if not fresh:
        _DELETE.defer(link, {"decision_id": decision.id})
    rows = rows_for(decision, plan)
    for start in range(0, len(rows), 50):
        chunk = rows[start : start + 50]
        params = {f"{c}{i}": row[c] for i, row in enumerate(chunk) for c in COLUMNS}
        _insert(len(chunk)).defer(link, params)


def _item(row: Sequence[Any]) -> TodoItem:
    decision_id, step, status, attempt, role, due_on, _order, basis, provisional = row
    return TodoItem(decision_id, step, status, attempt, role, as_date(due_on), basis,
                    bool(provisional))  # fmt: skip


class TodoRepository:
    def __init__(self, link: Link) -> None:
        self.link = link

    def page(
        self, lanes: Sequence[Lane], after: tuple[date, str, str] | None, limit: int
    ) -> list[TodoItem]:
        """The first ``limit`` items in any of ``lanes`` after ``after`` (keyset: due date,
        decision, step), each item once.  Each lane reads its own index range (unit, role or
        status, then the keyset order), so the cost follows the page, not the index."""
        parts: list[str] = []
        params: dict[str, Any] = {"limit": limit}
        if after is not None:
            params |= {"o": after[0], "d": after[1], "s": after[2]}
        split = [
            lane._replace(status=s) if lane.role is None and lane.status is None else lane
            for lane in lanes
            for s in (ACTIONABLE if lane.role is None and lane.status is None else (None,))
        ]
        for i, lane in enumerate(split):
            where = [f"unit = :u{i}"]
            params[f"u{i}"] = lane.unit
            if lane.role is not None:
                where.append(f"role = :r{i}")
                params[f"r{i}"] = lane.role
            if lane.status is not None:
                where.append(f"status = :t{i}")
                params[f"t{i}"] = lane.status
            else:
                where.append("status <> 'paused'")
            if after is not None:
                where.append("(order_on, decision_id, step) > (:o, :d, :s)")
            parts.append(
                f"SELECT * FROM (SELECT {_READ} FROM todo WHERE {' AND '.join(where)} "
                "ORDER BY order_on, decision_id, step LIMIT :limit) AS lane" + str(i)
            )
        if not parts:
            return []
        text = " UNION ALL ".join(parts)
        if text not in _PAGES:
            _PAGES[text] = SQL(text)
        seen: dict[tuple[str, str], TodoItem] = {}
        for row in _PAGES[text].rows(self.link, params):
            item = _item(row)
            seen.setdefault((item.decision_id, item.step), item)
        return sorted(seen.values(), key=lambda i: i.key)[:limit]

    def current(self, ids: Sequence[str]) -> dict[str, list[TodoItem]]:
        """The steps each decision stands at (ready, open or paused: ``Plan.current``)."""
        found: dict[str, list[TodoItem]] = {i: [] for i in ids}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            if len(chunk) not in _CURRENT:
                marks = ", ".join(f":i{i}" for i in range(len(chunk)))
                # by the primary key (decision first); ``unit = ''`` in SQL would have the
                # planners walk a unit index over every decision's rows instead
                _CURRENT[len(chunk)] = SQL(
                    f"SELECT unit, {_READ} FROM todo WHERE decision_id IN ({marks})"
                )
            params = {f"i{i}": v for i, v in enumerate(chunk)}
            for row in _CURRENT[len(chunk)].rows(self.link, params):
                if row[0] == "":
                    found[row[1]].append(_item(row[1:]))
        return found


def rebuild(conn: Any, *, decisions: Iterable[str] | None = None) -> int:
    """Fill the (empty) index from the decisions as they stand (revision 0010, and a
    bulk-loaded benchmark database): each decision not closed is planned under its pinned definition with
    the stored calendar.  A decision with no pinned definition cannot be planned and gets no
    row until ``decide procedures migrate`` pins it (its save writes them).  The rows written."""
    from procedures import plan
    from procedures.definition import unpin
    from store.dbapi import link_for
    from store.repository import DecisionRepository, DefinitionRepository
    from store.schedules import load_calendar

    link = link_for(conn)
    repo = DecisionRepository(link)
    if decisions is None:
        ids = [r[0] for r in SQL("SELECT id FROM decisions WHERE status <> 'closed' ORDER BY id")
               .rows(link)]  # fmt: skip
    else:
        ids = list(decisions)
    cal = load_calendar(link)
    procs: dict[str, Any] = {}
    written = 0
    for start in range(0, len(ids), 500):
        batch = repo.many(ids[start : start + 500])
        wanted = {d.procedure_sha256 for d in batch if d.procedure_sha256} - procs.keys()
        for sha, stored in DefinitionRepository(link).many(sorted(wanted)).items():
            procs[sha] = unpin(stored)
        for d in batch:
            proc = procs.get(d.procedure_sha256 or "")
            if proc is None:
                continue
            view = plan(proc, d.flags, d.attempts, d.registered_on, cal, target_on=d.target_on)
            write(link, d, view, fresh=True)
            written += len(rows_for(d, view))
    return written
