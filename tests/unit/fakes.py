"""Hand-written fakes of the store for the application layer's unit tests.

``FakeUnitOfWork`` keeps what a real one would commit in a shared ``FakeStore``, and only on
``commit()``: a command that fails part-way leaves the store as it was, as a real transaction
would.  The repositories implement just what ``app.commands.Commands`` calls.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from procedures import Conflict, NotFound, Plan, WorkCalendar
from procedures.state import Attempt, Decision


@dataclass
class FakeStore:
    decisions: dict[str, Decision] = field(default_factory=dict)
    dates: dict[str, Plan] = field(default_factory=dict)
    counters: dict[int, int] = field(default_factory=dict)
    people: dict[str, set[str]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    documents: list[dict[str, Any]] = field(default_factory=list)
    definitions: dict[str, Any] = field(default_factory=dict)
    commits: int = 0


class _Decisions:
    def __init__(self, store: FakeStore) -> None:
        self.s = store

    def next_id(self, year: int) -> str:
        self.s.counters[year] = self.s.counters.get(year, 0) + 1
        return f"{year}-{self.s.counters[year]:04d}"

    def add(self, decision: Decision, plan: Plan) -> None:
        self.s.decisions[decision.id] = decision
        self.s.dates[decision.id] = plan

    def get(self, decision_id: str) -> Decision:
        try:
            return self.s.decisions[decision_id]
        except KeyError:
            raise NotFound(f"no decision {decision_id!r}") from None

    def save(self, before: Decision, attempts: tuple[Attempt, ...], plan: Plan, **_: Any) -> int:
        if self.s.decisions[before.id].version != before.version:
            raise Conflict(f"{before.id} changed meanwhile")
        self.s.decisions[before.id] = before.model_copy(
            update={
                "attempts": tuple(attempts),
                "version": before.version + 1,
                "status": plan.status,
            }
        )
        self.s.dates[before.id] = plan
        return before.version + 1

    def set_dates(self, decision: Decision, plan: Plan) -> None:
        self.s.dates[decision.id] = plan


class _Definitions:
    """Pinned procedure definitions by sha256 (content-addressed, as the store keeps them)."""

    def __init__(self, store: FakeStore) -> None:
        self.s = store

    def add(self, definition: Any, *, stored_at: datetime) -> None:
        self.s.definitions.setdefault(definition.sha256, definition)

    def many(self, shas: Any) -> dict[str, Any]:
        return {k: self.s.definitions[k] for k in shas if k in self.s.definitions}


class _People:
    def __init__(self, store: FakeStore) -> None:
        self.s = store

    def any(self) -> bool:
        return bool(self.s.people)

    def roles(self, name: str) -> set[str]:
        return set(self.s.people.get(name, set()))


class _NoAccounts:
    """A single-user home: no accounts (the handlers' permission paths are tested on the real
    stores, tests/integration/test_accounts.py)."""

    def any(self) -> bool:
        return False


class _Appender:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def append(self, **event: Any) -> None:
        self.rows.append(event)

    def add(self, **row: Any) -> None:
        self.rows.append(row)


class FakeUnitOfWork:
    """A unit of work over a copy of the store, written back only on commit."""

    def __init__(self, store: FakeStore, *, write: bool = True) -> None:
        self.store = store
        self.write = write

    def __enter__(self) -> FakeUnitOfWork:
        self.work = copy.deepcopy(self.store)
        self.decisions = _Decisions(self.work)
        self.people = _People(self.work)
        self.accounts = _NoAccounts()
        self.audit = _Appender(self.work.events)
        self.outbox = _Appender(self.work.outbox)
        self.documents = _Appender(self.work.documents)
        self.definitions = _Definitions(self.work)
        return self

    def calendar(self) -> WorkCalendar:
        return WorkCalendar.official()

    def commit(self) -> None:
        assert self.write, "a read-only unit of work cannot commit"
        self.work.commits += 1
        self.store.__dict__.update(self.work.__dict__)

    def __exit__(self, *exc: object) -> None:
        return None


def fixed_clock(day: date) -> Any:
    from app.clock import SHANGHAI

    moment = datetime(day.year, day.month, day.day, 9, 0, tzinfo=SHANGHAI)
    return lambda: moment
