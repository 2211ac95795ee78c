"""The unit of work: one transaction per command, rolled back unless committed.

A command's state change, its audit event(s) and its outbox rows are written through one unit of
work and commit together or not at all.  A writing unit takes its turn on the process's writer
(``store.writer``): it runs inside a SAVEPOINT of a transaction that other units of the process
may share, and its ``commit`` returns once that transaction's COMMIT did (group commit).  The
batch on SQLite begins IMMEDIATE (it takes the write lock at once, waiting up to the busy
timeout); on PostgreSQL the chain head row lock serialises audit appends.  Writes whose result is
not needed are deferred and sent together (``store.fastsql``).
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

from store.audit import AuditLog
from store.dbapi import Database, Link
from store.outbox import Outbox
from store.repository import (
    AccountRepository,
    AlertRepository,
    DecisionRepository,
    DefinitionRepository,
    DocumentRepository,
    PeopleRepository,
)
from store.schedules import add_schedule, calendar_revision, load_calendar
from store.todo import TodoRepository

if TYPE_CHECKING:
    from datetime import datetime

    from procedures.calendar import Schedule, WorkCalendar
    from store.writer import Turn

__all__ = ["UnitOfWork"]


class UnitOfWork:
    """``snapshot`` (read-only): every read sees the same state of the database, as
    verification needs when it compares tables read one after another while others write
    (SQLite's read transaction does so already; PostgreSQL's default, READ COMMITTED, does
    not: the transaction runs REPEATABLE READ instead)."""

    def __init__(
        self, db: Database, *, write: bool = True, snapshot: bool = False, appends: bool = True
    ) -> None:
        if snapshot and write:
            raise ValueError("a snapshot is read-only")
        self.db = db
        self.write = write
        self.snapshot = snapshot
        self.appends = appends  # a writing unit that never appends to the chain says False
        self._turn: Turn | None = None
        self._isolation: object = None

    def __enter__(self) -> UnitOfWork:
        if self.write:
            # the unit defers its writes until it first needs an answer; then it takes its turn
            # on this process's writer, in a batch (group commit, ``store.writer``) that BEGIN
            # IMMEDIATE opened on SQLite
            self.link = Link(None, self.db.dialect)
            self.link.pending = []
            self.link.attach = self._attach
        else:
            self.link = self.db.link()
            if self.snapshot and self.link.dialect == "postgresql":
                from psycopg import IsolationLevel

                self._isolation = self.link.driver.isolation_level  # idle: it may change
                self.link.driver.isolation_level = IsolationLevel.REPEATABLE_READ
            try:
                self.db.begin(self.link, write=False)
            except BaseException as exc:
                failure = self.db.failure(exc)
                if failure is not None:
                    raise failure from None
                raise
            self.link.pending = None
        self.decisions = DecisionRepository(self.link)
        self.people = PeopleRepository(self.link)
        self.accounts = AccountRepository(self.link)
        self.documents = DocumentRepository(self.link)
        self.audit = AuditLog(self.link)
        self.outbox = Outbox(self.link)
        self.alerts = AlertRepository(self.link)
        self.definitions = DefinitionRepository(self.link)
        self.todo = TodoRepository(self.link)
        return self

    def calendar(self) -> WorkCalendar:
        """The working-day calendar as this transaction sees it (official data and imports)."""
        return load_calendar(self.link)

    def calendar_revision(self) -> int:
        return calendar_revision(self.link)

    def add_schedule(self, text: str, *, source_name: str, now: datetime) -> Schedule:
        return add_schedule(self.link, text, source_name=source_name, now=now)

    def _attach(self, link: Link) -> None:
        self._turn = self.db.writer.take(link, appends=self.appends)

    def commit(self) -> None:
        """Keep the unit's work; returns once it is durable (its batch committed)."""
        if not self.write:
            raise RuntimeError("a read-only unit of work cannot commit")
        if self._turn is None:
            if not self.link.pending:
                return  # it wrote nothing
            self._attach(self.link)
        assert self._turn is not None
        if self._turn.over:
            raise RuntimeError("this unit of work has committed already")
        self.db.writer.done(self._turn)  # if the unit's statements fail, __exit__ undoes them

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.write:
            turn, self._turn = self._turn, None
            try:
                if turn is not None and not turn.over:  # not committed: undo its work alone
                    self.db.writer.abandon(turn, exc)
            finally:
                self.link.pending = None
        else:
            self.db.end_after(self.link, exc)
            if self.snapshot and self.link.dialect == "postgresql" and not self.link.driver.closed:
                self.link.driver.isolation_level = self._isolation  # back to the connection's own
        # a database that cannot be reached or answered too late: one clear error, no traceback
        failure = self.db.failure(exc) if exc is not None else None
        if failure is not None:
            raise failure from None
