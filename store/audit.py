"""The tamper-evident audit log: canonical JSON, the hash chain, appends and the public entry points.

Every event is one row of ``audit_events``.  Its hash is
``sha256(prev_hash ‖ canonical_json(event))`` where ``event`` is ``{seq, decision_id,
decision_prev_hash, action, actor, effective_on, recorded_at, payload}`` (dates as ISO strings,
the payload as a JSON object) and ``prev_hash`` is the hash of the event before it (``GENESIS``
for the first), so changing,
removing, inserting or reordering any row breaks the chain.  Each event also links to the
previous event of the same decision (``decision_prev_hash``), so one decision's history can be
exported and checked on its own.  Appends lock the chain head (``audit_head``), so the chain
never forks.  Verification lives in ``store.audit_chain`` (the checks) and ``store.audit_verify``
(the database side), exports in ``store.audit_export``; ``verify``, ``export_jsonl`` and
``verify_export`` are the public entry points here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from hashlib import sha256
from pathlib import Path
from typing import TYPE_CHECKING, Any

from procedures.errors import InputError
from store.dbapi import Link, link_for
from store.fastsql import SQL, as_date, run_all

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = [
    "GENESIS",
    "AppendedEvent",
    "AuditLog",
    "HeldHead",
    "Problem",
    "VerifyReport",
    "canonical_json",
    "event_hash",
    "event_text",
    "export_jsonl",
    "head_lock",
    "utc_iso",
    "verify",
    "verify_export",
]

GENESIS = "0" * 64

_encode_str = json.encoder.encode_basestring  # exactly what json.dumps(ensure_ascii=False) emits


def _json_default(value: object) -> object:
    if isinstance(value, date):  # datetime is a date too
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_encode = json.JSONEncoder(
    sort_keys=True,
    ensure_ascii=False,
    separators=(",", ":"),
    allow_nan=False,
    default=_json_default,
).encode


def canonical_json(value: object) -> str:
    """Sorted keys, no spaces, non-ASCII kept; dates as ISO strings, tuples as lists, no NaN."""
    return _encode(value)


def event_hash(prev_hash: str, event: Mapping[str, object]) -> str:
    """``sha256(prev_hash ‖ canonical_json(event))`` as 64 hex digits."""
    return sha256((prev_hash + canonical_json(event)).encode("utf-8")).hexdigest()


def event_text(
    prev_hash: str,
    seq: int,
    decision_id: str | None,
    decision_prev_hash: str | None,
    action: str,
    actor: str,
    effective_on: str,
    recorded_at: str,
    payload: str,
) -> str:
    """What ``event_hash`` hashes, built from stored columns without re-serialising the payload.

    Equal to ``prev_hash + canonical_json(event)`` whenever ``payload`` is canonical JSON (as
    stored by ``AuditLog.append``).  The verifier inlines the same template in its loop.
    """
    did = "null" if decision_id is None else _encode_str(decision_id)
    dph = "null" if decision_prev_hash is None else _encode_str(decision_prev_hash)
    return (
        f'{prev_hash}{{"action":{_encode_str(action)},"actor":{_encode_str(actor)},'
        f'"decision_id":{did},"decision_prev_hash":{dph},'
        f'"effective_on":{_encode_str(effective_on)},"payload":{payload},'
        f'"recorded_at":{_encode_str(recorded_at)},"seq":{seq}}}'
    )


_RECENT = SQL(
    "SELECT COUNT(*) FROM audit_events WHERE decision_id IS NULL AND action = :a "
    "AND recorded_at >= :since AND payload LIKE :p"
)
# acts recorded without authentication (failed logins are no acts)
_UNAUTHENTICATED = SQL(
    "SELECT COUNT(*) FROM audit_events WHERE payload LIKE :p "
    "AND action NOT IN ('login_failed', 'login_locked')"
)


def utc_iso(moment: datetime) -> str:
    """A timezone-aware time as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC, microseconds always)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment!r} must be timezone-aware (UTC)")
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _check_text(name: str, value: str, limit: int | None = None) -> None:
    if "\x00" in value:
        raise InputError(f"audit {name} must not contain NUL characters")
    if limit is not None and len(value) > limit:
        raise InputError(f"audit {name} is longer than {limit} characters: {value[:80]!r}")


@dataclass(frozen=True, slots=True)
class AppendedEvent:
    """The event just appended (the same fields as an ``AuditEventRow``, without ORM cost)."""

    seq: int
    decision_id: str | None
    action: str
    actor: str
    effective_on: date
    recorded_at: str
    payload: str
    decision_prev_hash: str | None
    prev_hash: str
    hash: str


# SQLite: the writer already holds the database's write lock (BEGIN IMMEDIATE), so the head and
# the decision's latest event come in one statement.  PostgreSQL: lock the head row first, then
# read the decision's latest event in a new statement (same pipeline, one round trip) — under
# READ COMMITTED a subquery in the locking statement would keep the snapshot from before the
# wait and miss the event just committed by the writer it waited for.
_LAST = "SELECT e.hash FROM audit_events e WHERE e.decision_id = :d ORDER BY e.seq DESC LIMIT 1"
_HEAD_SQLITE = SQL(f"SELECT seq, hash, ({_LAST}) FROM audit_head WHERE id = 1")
_HEAD_PG = SQL("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE")
_LAST_OF_DECISION = SQL(_LAST)
_INSERT_EVENT = SQL(
    "INSERT INTO audit_events (seq, decision_id, action, actor, effective_on, recorded_at, "
    "payload, decision_prev_hash, prev_hash, hash) VALUES (:seq, :decision_id, :action, :actor, "
    ":effective_on, :recorded_at, :payload, :decision_prev_hash, :prev_hash, :hash)"
)
# The columns of an event, in the order exports and verification read them.
EVENT_COLUMNS = (
    "seq",
    "decision_id",
    "decision_prev_hash",
    "action",
    "actor",
    "effective_on",
    "recorded_at",
    "payload",
    "prev_hash",
    "hash",
)
_EVENT_COLUMNS = ", ".join(EVENT_COLUMNS)
_ALL_EVENTS = SQL(f"SELECT {_EVENT_COLUMNS} FROM audit_events ORDER BY seq")
_EVENTS_OF = SQL(f"SELECT {_EVENT_COLUMNS} FROM audit_events WHERE decision_id = :d ORDER BY seq")
_HASH_AT = SQL("SELECT hash FROM audit_events WHERE seq = :seq")
_MOVE_HEAD = SQL("UPDATE audit_head SET seq = :s, hash = :h WHERE id = 1")


class HeldHead:
    """The chain head as a writer's batch holds it (PostgreSQL, ``store.writer``): locked from
    its first appending unit to its COMMIT, so only the batch moves it and ``append`` needs no
    query for it.  ``seq`` is None until the lock's answer came (or after a unit that took the
    lock inside its savepoint rolled back)."""

    __slots__ = ("hash", "held", "seq")

    def __init__(self) -> None:
        self.held = False  # the lock is asked for, before any unit's savepoint
        self.seq: int | None = None
        self.hash: str | None = None

    def restore(self, saved: tuple[int | None, str | None] | None) -> None:
        self.seq, self.hash = saved or (None, None)


def head_lock(head: HeldHead) -> tuple[SQL, dict[str, Any], Callable[[Any], None]]:
    """The deferred statement (``store.fastsql``) that locks the chain head for the rest of the
    transaction and fills ``head`` with it."""

    def fill(cursor: Any) -> None:
        head.seq, head.hash = cursor.fetchone()

    head.held = True
    return (_HEAD_PG, {}, fill)


class AuditLog:
    """Appends to and reads the chain inside the caller's transaction (never commits).

    Takes a unit of work's ``Link``, or a SQLModel/SQLAlchemy session or connection.
    """

    def __init__(self, conn: Any) -> None:
        self.session = conn
        self._link: Link | None = None

    def _conn(self) -> Link:
        """The transaction's connection, looked up once (it stays until the end)."""
        if self._link is None:
            self._link = link_for(self.session)
        return self._link

    def append(
        self,
        *,
        decision_id: str | None,
        action: str,
        actor: str,
        effective_on: date,
        payload: Mapping[str, object],
        recorded_at: datetime,
    ) -> AppendedEvent:
        """Add one event after the current head and move the head (in the caller's transaction).

        On PostgreSQL the head row is locked (``FOR UPDATE``) until the caller commits (a
        writer's batch holds it and knows its value: ``HeldHead``); on SQLite the caller's
        ``BEGIN IMMEDIATE`` already holds the write lock.
        """
        if decision_id is not None:
            _check_text("decision id", decision_id, 32)
        _check_text("action", action, 64)
        _check_text("actor", actor)
        if isinstance(effective_on, datetime) or not isinstance(effective_on, date):
            raise TypeError(f"effective_on must be a date, not {type(effective_on).__name__}")
        recorded = utc_iso(recorded_at)
        payload_text = canonical_json(payload)
        try:
            "".join((payload_text, actor, action, decision_id or "")).encode("utf-8")
        except UnicodeEncodeError:
            raise InputError("audit event text is not valid Unicode (lone surrogate)") from None

        conn = self._conn()  # Core on the hot path: no ORM flush per event
        held: HeldHead | None = conn.head
        head_seq: int
        head_hash: str
        last: str | None
        if held is not None and held.seq is not None and held.hash is not None:
            # the batch holds the head since its first append: only the decision's last event
            head_seq, head_hash, last = held.seq, held.hash, None
            if decision_id is not None:
                found = _LAST_OF_DECISION.run(conn, {"d": decision_id}).fetchone()
                last = found[0] if found else None
        elif conn.dialect == "sqlite":
            head_seq, head_hash, last = _HEAD_SQLITE.run(conn, {"d": decision_id}).fetchone()
        else:
            head, latest = run_all(conn, [(_HEAD_PG, {}), (_LAST_OF_DECISION, {"d": decision_id})])
            head_seq, head_hash = head.fetchone()
            found = latest.fetchone()
            last = found[0] if found else None
        decision_prev = None if decision_id is None else (last or GENESIS)
        seq = head_seq + 1
        event = {
            "seq": seq,
            "decision_id": decision_id,
            "decision_prev_hash": decision_prev,
            "action": action,
            "actor": actor,
            "effective_on": effective_on.isoformat(),
            "recorded_at": recorded,
            "payload": json.loads(payload_text),
        }
        digest = event_hash(head_hash, event)
        values: dict[str, Any] = {
            "seq": seq,
            "decision_id": decision_id,
            "action": action,
            "actor": actor,
            "effective_on": effective_on,
            "recorded_at": recorded,
            "payload": payload_text,
            "decision_prev_hash": decision_prev,
            "prev_hash": head_hash,
            "hash": digest,
        }
        _INSERT_EVENT.defer(conn, values)
        _MOVE_HEAD.defer(conn, {"s": seq, "h": digest})
        held = conn.head  # again: the query above may have been the one that began the turn
        if held is not None:
            held.seq, held.hash = seq, digest
        return AppendedEvent(**values)

    def hash_at(self, seq: int) -> str | None:
        """The hash of event ``seq`` (None when there is no such event)."""
        row = _HASH_AT.run(self._conn(), {"seq": seq}).fetchone()
        return None if row is None else str(row[0])

    def events(self, decision_id: str | None = None) -> list[AppendedEvent]:
        """All events (or one decision's), ordered by seq."""
        if decision_id is None:
            rows = _ALL_EVENTS.rows(self._conn())
        else:
            rows = _EVENTS_OF.rows(self._conn(), {"d": decision_id})
        return [_appended(row) for row in rows]

    def count_recent(self, action: str, fragment: str, since: str) -> int:
        """How many ``action`` events of no decision (account events) recorded at or after
        ``since`` (ISO UTC) whose payload contains ``fragment`` (canonical JSON, e.g.
        ``"account":"liu"``); the decision index keeps it off the decisions' events."""
        pattern = "%" + fragment.replace("%", "_") + "%"
        row = _RECENT.run(self._conn(), {"a": action, "since": since, "p": pattern}).fetchone()
        return int(row[0]) if row else 0

    def count_unauthenticated(self) -> int:
        """How many events record an act without authentication (a single-user home)."""
        row = _UNAUTHENTICATED.run(self._conn(), {"p": '%"unauthenticated":true%'}).fetchone()
        return int(row[0]) if row else 0

    def checkpoint_count(self) -> int:
        row = SQL("SELECT COUNT(*) FROM audit_checkpoints").run(self._conn()).fetchone()
        return int(row[0]) if row else 0

    def decisions_ahead(self, actions: Sequence[str]) -> list[tuple[str, int, int, int | None]]:
        """Decisions whose version exceeds their events with ``actions`` (the changes):
        (id, version, events held, the last one's seq) — the state is ahead of the log."""
        params = {f"a{i}": a for i, a in enumerate(actions)}
        marks = ", ".join(f":a{i}" for i in range(len(actions)))
        query = SQL(
            "SELECT d.id, d.version, COALESCE(c.n, 0), c.last FROM decisions d LEFT JOIN "
            "(SELECT decision_id, COUNT(*) AS n, MAX(seq) AS last FROM audit_events "
            f"WHERE action IN ({marks}) GROUP BY decision_id) c ON c.decision_id = d.id "
            "WHERE d.version > COALESCE(c.n, 0) ORDER BY d.id"
        )
        return [(r[0], int(r[1]), int(r[2]), r[3]) for r in query.rows(self._conn(), params)]

    def events_with(self, actions: Sequence[str]) -> list[AppendedEvent]:
        """Every event with one of ``actions`` (those of no decision too), ordered by seq."""
        if not actions:
            return []
        params = {f"a{i}": a for i, a in enumerate(actions)}
        query = SQL(
            f"SELECT {_EVENT_COLUMNS} FROM audit_events WHERE action IN "
            f"({', '.join(f':a{i}' for i in range(len(actions)))}) ORDER BY seq"
        )
        return [_appended(row) for row in query.rows(self._conn(), params)]

    def events_of(
        self, decision_ids: Sequence[str], actions: Sequence[str]
    ) -> dict[str, list[AppendedEvent]]:
        """Each decision's events with one of ``actions``, ordered by seq (one query for all)."""
        found: dict[str, list[AppendedEvent]] = {d: [] for d in decision_ids}
        if not decision_ids or not actions:
            return found
        params = {f"d{i}": d for i, d in enumerate(decision_ids)}
        params |= {f"a{i}": a for i, a in enumerate(actions)}
        query = SQL(
            f"SELECT {_EVENT_COLUMNS} FROM audit_events WHERE decision_id IN "
            f"({', '.join(f':d{i}' for i in range(len(decision_ids)))}) AND action IN "
            f"({', '.join(f':a{i}' for i in range(len(actions)))}) ORDER BY decision_id, seq"
        )
        for row in query.rows(self._conn(), params):
            found[row[1]].append(_appended(row))
        return found


def _appended(row: Sequence[Any]) -> AppendedEvent:
    fields = dict(zip(EVENT_COLUMNS, row, strict=True))
    fields["effective_on"] = as_date(fields["effective_on"]) or date.min
    return AppendedEvent(**fields)


@dataclass(frozen=True)
class Problem:
    """One thing verification found wrong; ``seq`` is the first bad event it points at."""

    seq: int | None
    kind: str
    message: str


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of ``verify``/``verify_export``; ``problems`` is ordered by seq."""

    ok: bool
    events: int
    head_seq: int
    head_hash: str
    checkpoints: int
    documents: int
    problems: tuple[Problem, ...]
    notes: tuple[str, ...] = ()  # what was trusted or skipped, for the reader of the report
    signed_upto: int = 0  # the events a valid signed checkpoint vouches for, as they are
    unsigned_tail: int = 0  # the events after those: not yet vouched for by any checkpoint
    tail_since: str | None = None  # when the first of them was recorded (ISO UTC)


def verify(
    engine: Engine,
    *,
    documents_dir: Path | None = None,
    public_keys: Iterable[bytes] | None = None,
    jobs: int | None = None,
    heads: Sequence[Any] = (),
) -> VerifyReport:
    """Check the whole chain, the head, every checkpoint and (optionally) the stored documents.

    ``jobs``: processes checking parts of the chain side by side (default: one per core for a
    long chain, see ``store.audit_split``); the report is the same whatever their number.
    ``heads``: ``store.audit_chain.Checkpoint`` s from outside the database, checked alike.
    """
    from store.audit_verify import verify_database

    return verify_database(
        engine, documents_dir=documents_dir, public_keys=public_keys, jobs=jobs, heads=heads
    )


def export_jsonl(
    engine: Engine, out: Path, *, decision_id: str | None = None, replace: bool = True
) -> int:
    """Write the chain (or one decision's events) as JSON Lines; returns the events written
    (``replace=False``: ``FileExistsError`` rather than replace an existing ``out``)."""
    from store.audit_export import export_jsonl as _export

    return _export(engine, out, decision_id=decision_id, replace=replace)


def verify_export(
    path: Path, *, public_keys: Iterable[bytes] | None = None, heads: Sequence[Any] = ()
) -> VerifyReport:
    """Check an export offline (no database); ``heads``: checkpoints a witness kept."""
    from store.audit_export import verify_export as _verify_export

    return _verify_export(path, public_keys=public_keys, heads=heads)
