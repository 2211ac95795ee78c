"""The outbox: side effects written in the command's transaction, carried out after commit.

Workers claim due rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several ``decide serve``
processes never take the same row; SQLite has one writer at a time anyway), run them, and mark
them done, or record the error and retry later with backoff.  Nothing is dropped: a row that is
no longer worth sending is marked done with its ``outcome`` (``superseded``), where an operator
sees it.  Each channel that delivered a row has a ``deliveries`` row, so a retry sends only to
the channels without one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from store.dbapi import Link
from store.fastsql import SQL

__all__ = ["Outbox", "OutboxItem", "OutboxState"]

_INSERT = SQL(
    "INSERT INTO outbox (decision_id, kind, payload, created_at, available_at, tries) "
    "VALUES (:decision_id, :kind, :payload, :created_at, :available_at, 0)"
)
_DUE = (
    "SELECT id, decision_id, kind, payload, tries FROM outbox WHERE done_at IS NULL "
    "AND available_at <= :now AND (claimed_at IS NULL OR claimed_at < :stale) "
    "ORDER BY id LIMIT :limit"
)
_CLAIMABLE = SQL(_DUE, pg=_DUE + " FOR UPDATE SKIP LOCKED")
_CLAIM = SQL("UPDATE outbox SET claimed_by = :worker, claimed_at = :now WHERE id = :id")
# Only the worker holding the claim settles a row: if its lease ran out and another worker
# took the row over, the late one changes nothing.
_DONE = SQL(
    "UPDATE outbox SET done_at = :now, last_error = NULL, outcome = :outcome "
    "WHERE id = :id AND claimed_by = :worker"
)
_FAILED = SQL(
    "UPDATE outbox SET tries = :tries, last_error = :error, claimed_by = NULL, "
    "claimed_at = NULL, available_at = :available WHERE id = :id AND claimed_by = :worker"
)
_RELEASE = SQL(
    "UPDATE outbox SET claimed_by = NULL, claimed_at = NULL "
    "WHERE claimed_by = :worker AND done_at IS NULL"
)
_PENDING = SQL("SELECT count(*) FROM outbox WHERE done_at IS NULL")
_DELIVERED = SQL("SELECT channel FROM deliveries WHERE outbox_id = :id")
_RECORD = SQL(
    "INSERT INTO deliveries (outbox_id, channel, delivered_at) VALUES (:id, :channel, :now) "
    "ON CONFLICT (outbox_id, channel) DO NOTHING"
)
_ROW = SQL(
    "SELECT id, decision_id, kind, payload, tries, done_at, outcome, last_error "
    "FROM outbox WHERE id = :id"
)
# the longest wait between two tries: an hour (a permanent error is retried too, slowly: the
# configuration may have been fixed meanwhile)
MAX_BACKOFF = timedelta(hours=1)


@dataclass(frozen=True)
class OutboxItem:
    id: int
    decision_id: str | None
    kind: str
    payload: dict[str, Any]
    tries: int


@dataclass(frozen=True)
class OutboxState:
    """One row as an operator sees it: done or not, how it ended, the last error."""

    item: OutboxItem
    done: bool
    outcome: str | None
    last_error: str | None
    channels: frozenset[str]


class Outbox:
    def __init__(self, link: Link) -> None:
        self.link = link

    def add(
        self, *, kind: str, decision_id: str | None, payload: Mapping[str, object], now: datetime
    ) -> None:
        _INSERT.defer(
            self.link,
            {
                "decision_id": decision_id,
                "kind": kind,
                "created_at": now,
                "available_at": now,
                "payload": json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str),
            },
        )

    def claim(
        self,
        *,
        worker: str,
        now: datetime,
        limit: int = 20,
        lease: timedelta = timedelta(minutes=15),
    ) -> list[OutboxItem]:
        """Take up to ``limit`` due rows for ``worker`` (rows whose lease ran out are retaken)."""
        rows = _CLAIMABLE.rows(self.link, {"now": now, "stale": now - lease, "limit": limit})
        for row in rows:
            _CLAIM.run(self.link, {"worker": worker, "now": now, "id": row[0]})
        return [OutboxItem(r[0], r[1], r[2], json.loads(r[3]), r[4]) for r in rows]

    def get(self, item_id: int) -> OutboxState | None:
        """The row ``item_id`` with its outcome, last error and the channels that delivered it."""
        rows = _ROW.rows(self.link, {"id": item_id})
        if not rows:
            return None
        r = rows[0]
        item = OutboxItem(r[0], r[1], r[2], json.loads(r[3]), r[4])
        return OutboxState(item, r[5] is not None, r[6], r[7], self.delivered(item_id))

    def delivered(self, item_id: int) -> frozenset[str]:
        """The channels that have delivered row ``item_id``."""
        return frozenset(r[0] for r in _DELIVERED.rows(self.link, {"id": item_id}))

    def record_delivery(self, item_id: int, *, channel: str, now: datetime) -> None:
        """``channel`` delivered row ``item_id`` (recording it twice keeps the first record)."""
        _RECORD.run(self.link, {"id": item_id, "channel": channel, "now": now})

    def done(self, item_id: int, *, now: datetime, worker: str, outcome: str = "delivered") -> bool:
        params = {"now": now, "id": item_id, "worker": worker, "outcome": outcome}
        return bool(_DONE.run(self.link, params).rowcount)

    def failed(
        self,
        item_id: int,
        *,
        error: str,
        now: datetime,
        tries: int,
        worker: str,
        at_least: timedelta = timedelta(0),
    ) -> bool:
        """Record ``error`` and try again after a backoff (5 s doubling, at most an hour), or
        after ``at_least`` when that is longer (a server's Retry-After)."""
        backoff = min(MAX_BACKOFF, max(timedelta(seconds=5 * 2 ** min(tries, 10)), at_least))
        cursor = _FAILED.run(
            self.link,
            {
                "tries": tries + 1,
                "error": error[:2000],
                "available": now + backoff,
                "id": item_id,
                "worker": worker,
            },
        )
        return bool(cursor.rowcount)

    def release(self, worker: str) -> int:
        """Give back the rows ``worker`` claimed but did not finish (on a clean stop)."""
        cursor = _RELEASE.run(self.link, {"worker": worker})
        return int(cursor.rowcount or 0)

    def pending(self) -> int:
        return int(_PENDING.run(self.link).fetchone()[0])
