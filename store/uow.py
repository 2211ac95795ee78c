"""The unit of work: one transaction per command, rolled back unless committed.

A command's state change, its audit event(s) and its outbox rows are written through one unit of
work and commit together or not at all.  A writing unit of work on SQLite begins IMMEDIATE (it
takes the write lock at once, waiting up to the busy timeout); on PostgreSQL the chain head row
lock serialises audit appends.
"""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import Engine
from sqlmodel import Session

from store.audit import AuditLog
from store.fastsql import begin_deferring, discard_deferred, flush_deferred
from store.outbox import Outbox
from store.repository import DecisionRepository, PeopleRepository

__all__ = ["UnitOfWork"]


class UnitOfWork:
    def __init__(self, engine: Engine, *, write: bool = True) -> None:
        self.engine = engine
        self.write = write
        self._committed = False

    def __enter__(self) -> UnitOfWork:
        bind = self.engine
        if self.write and self.engine.dialect.name == "sqlite":
            bind = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        self.session = Session(bind, expire_on_commit=False)
        self.session.begin()
        if self.write:
            self.connection = self.session.connection()
            begin_deferring(self.connection)
        self.decisions = DecisionRepository(self.session)
        self.people = PeopleRepository(self.session)
        self.audit = AuditLog(self.session)
        self.outbox = Outbox(self.session)
        return self

    def commit(self) -> None:
        if not self.write:
            raise RuntimeError("a read-only unit of work cannot commit")
        flush_deferred(self.connection)
        discard_deferred(self.connection)
        self.session.commit()
        self._committed = True

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # close() ends the transaction (a rollback for anything uncommitted) and detaches what was
        # read without expiring it, so rows read by a read-only unit of work stay usable.
        if not self._committed and self.write:
            discard_deferred(self.connection)
            self.session.rollback()
        self.session.close()
