"""The unit of work: one transaction per command, rolled back unless committed.

A command's state change, its audit event(s) and its outbox rows are written through one unit of
work and commit together or not at all.  A writing unit of work on SQLite begins IMMEDIATE (it
takes the write lock at once, waiting up to the busy timeout); on PostgreSQL the chain head row
lock serialises audit appends.  Writes whose result is not needed are deferred and sent together
(``store.fastsql``).
"""

from __future__ import annotations

from types import TracebackType

from store.audit import AuditLog
from store.dbapi import Database
from store.fastsql import commit
from store.outbox import Outbox
from store.repository import DecisionRepository, DocumentRepository, PeopleRepository

__all__ = ["UnitOfWork"]


class UnitOfWork:
    def __init__(self, db: Database, *, write: bool = True) -> None:
        self.db = db
        self.write = write
        self._committed = False

    def __enter__(self) -> UnitOfWork:
        self.link = self.db.link()
        self.db.begin(self.link, write=self.write)
        self.link.pending = [] if self.write else None
        self.decisions = DecisionRepository(self.link)
        self.people = PeopleRepository(self.link)
        self.documents = DocumentRepository(self.link)
        self.audit = AuditLog(self.link)
        self.outbox = Outbox(self.link)
        return self

    def commit(self) -> None:
        if not self.write:
            raise RuntimeError("a read-only unit of work cannot commit")
        commit(self.link)
        self._committed = True

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._committed:
            self.link.pending = None
            self.db.end(self.link, commit=False)
