"""The outbox: side effects written in the command's transaction, carried out after commit.

Workers claim due rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several ``decide serve``
processes never take the same row; SQLite has one writer at a time anyway), run them, and mark
them done, or record the error and retry later with backoff.  Nothing is dropped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import Connection, update
from sqlmodel import Session, col, select

from store.fastsql import SQL
from store.tables import OutboxRow

__all__ = ["Outbox"]


_INSERT = SQL(
    "INSERT INTO outbox (decision_id, kind, payload, created_at, available_at, tries) "
    "VALUES (:decision_id, :kind, :payload, :created_at, :available_at, :tries)"
)


class Outbox:
    def __init__(self, session: Session) -> None:
        self.session = session
        self._connection: Connection | None = None

    def _conn(self) -> Connection:
        """The transaction's connection, looked up once (the session keeps it until the end)."""
        if self._connection is None:
            self._connection = self.session.connection()
        return self._connection

    def add(
        self, *, kind: str, decision_id: str | None, payload: Mapping[str, object], now: datetime
    ) -> None:
        _INSERT.defer(
            self._conn(),
            {
                "decision_id": decision_id,
                "kind": kind,
                "created_at": now,
                "available_at": now,
                "tries": 0,
                "payload": json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str),
            },
        )

    def claim(
        self,
        *,
        worker: str,
        now: datetime,
        limit: int = 20,
        lease: timedelta = timedelta(minutes=5),
    ) -> list[OutboxRow]:
        """Take up to ``limit`` due rows for ``worker`` (rows whose lease ran out are retaken)."""
        query = (
            select(OutboxRow)
            .where(col(OutboxRow.done_at).is_(None), col(OutboxRow.available_at) <= now)
            .where(
                (col(OutboxRow.claimed_at).is_(None)) | (col(OutboxRow.claimed_at) < now - lease)
            )
            .order_by(col(OutboxRow.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = list(self.session.exec(query).all())
        for row in rows:
            row.claimed_by, row.claimed_at = worker, now
            self.session.add(row)
        self.session.flush()
        return rows

    def done(self, row_id: int, *, now: datetime) -> None:
        self.session.execute(
            update(OutboxRow)
            .where(col(OutboxRow.id) == row_id)
            .values(done_at=now, last_error=None)
        )

    def failed(self, row_id: int, *, error: str, now: datetime, tries: int) -> None:
        backoff = timedelta(seconds=min(3600, 5 * 2 ** min(tries, 10)))
        self.session.execute(
            update(OutboxRow)
            .where(col(OutboxRow.id) == row_id)
            .values(
                tries=tries + 1,
                last_error=error[:2000],
                claimed_by=None,
                claimed_at=None,
                available_at=now + backoff,
            )
        )

    def pending(self) -> int:
        rows = self.session.exec(select(OutboxRow.id).where(col(OutboxRow.done_at).is_(None)))
        return len(rows.all())
