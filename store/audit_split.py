"""Verification in parts: helper processes check seq ranges of the chain in the same snapshot.

Checking an event is Python work (its text, one SHA-256), so one process checks only as fast as
one core goes.  For a long chain ``verify_database`` splits the seq range: it checks the first
part itself while each helper process (started with ``spawn``: no state is inherited) checks one
later part with a *detached* ``ChainCheck``, whose result the caller absorbs in order
(``ChainCheck.absorb``): the same problems as one pass.

Every part reads the same database state as the caller:

* PostgreSQL: the caller exports its REPEATABLE READ snapshot (``pg_export_snapshot``) and each
  helper adopts it (``SET TRANSACTION SNAPSHOT``), as ``pg_dump --jobs`` does.
* SQLite (WAL): a reader's snapshot is whatever was committed when it first reads.  The caller
  holds the write lock (``BEGIN IMMEDIATE`` on a connection of its own, which writes nothing)
  from before its own first read until every helper has read once, so nothing can be committed
  in between; writers wait for that moment (milliseconds, the helpers are started beforehand)
  within their busy timeout.

A helper that cannot start, loses its connection or dies leaves its part to the caller, who then
reads that range itself: slower, never different.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection as Pipe
from typing import Any

from sqlalchemy import Connection, Engine, text

from store.audit_chain import ChainCheck

__all__ = [
    "PARALLEL_MIN_EVENTS",
    "Part",
    "Split",
    "bounds",
    "parts_for",
    "stream_events",
    "usable_cores",
]

# Below this many events one process is quicker than starting helpers (about 0.3 s each)
PARALLEL_MIN_EVENTS = 400_000
MAX_JOBS = 8
_SNAPSHOT_ID = re.compile(r"[0-9A-Fa-f]+(-[0-9A-Fa-f]+)+")
# Rows per chunk that libpq hands over while the server keeps sending: a chunk this small is still
# in the CPU cache while its rows are hashed (measured: 250 rows beat 1,000 and 20,000)
_PG_CHUNK = 250


def stream_events(
    raw: Any,
    dialect: str,
    columns: Sequence[str],
    *,
    decision_id: str | None = None,
    after: int | None = None,
    upto: int | None = None,
) -> Any:
    """A cursor over the events (``after`` < seq <= ``upto``) in seq order, from a DBAPI
    connection; ``columns`` is the select list.  Iterate it, then close it.

    On PostgreSQL the query is streamed in libpq's chunked-rows mode: the server keeps producing
    rows on one core while this process hashes them on the other.  A server-side cursor's FETCH
    batches made each side wait for the other (and cost the server more), and COPY's per-row
    Python overhead was slower still.  Closing the stream before its last row cancels the query
    and so aborts the transaction: read nothing else in it afterwards.  A libpq older than 17
    has no chunked mode; then a server-side cursor serves (the rows are never all in memory).
    """
    mark = "?" if dialect == "sqlite" else "%s"
    where, params = [], []
    for clause, value in (("decision_id =", decision_id), ("seq >", after), ("seq <=", upto)):
        if value is not None:
            where.append(f"{clause} {mark}")
            params.append(value)
    sql = f"SELECT {', '.join(columns)} FROM audit_events"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY seq"
    if dialect == "sqlite":
        cursor = raw.cursor()
        cursor.arraysize = 4096
        return cursor.execute(sql, params)
    from psycopg import capabilities  # imported only where PostgreSQL is in use

    if capabilities.has_stream_chunked():
        return raw.cursor().stream(sql, params, size=_PG_CHUNK)
    cursor = raw.cursor(name="decide_audit_events")
    cursor.itersize = 20_000
    cursor.execute(sql, params)
    return cursor


def bounds(last_seq: int, jobs: int) -> list[tuple[int | None, int | None]]:
    """``jobs`` seq ranges (after, upto] of about equal size; the first from the start, the last
    open-ended (it also takes whatever lies beyond ``last_seq``)."""
    cuts = [last_seq * k // jobs for k in range(1, jobs)]
    edges: list[int | None] = [None, *cuts, None]
    return list(itertools.pairwise(edges))


def parts_for(engine: Engine, jobs: int | None, events: int) -> int:
    """How many parts to check ``events`` events in (1: in this process alone)."""
    if engine.dialect.name == "sqlite" and _sqlite_path(engine) is None:
        return 1  # an in-memory database cannot be opened by another process
    if jobs is None:
        if events < PARALLEL_MIN_EVENTS:
            return 1
        jobs = usable_cores()
    return max(1, min(jobs, MAX_JOBS, max(events, 1)))


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask, where the system has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _sqlite_path(engine: Engine) -> str | None:
    path = engine.url.database
    return None if not path or path == ":memory:" or path.startswith("file:") else path


@dataclass
class Part:
    """One helper's outcome: its detached check, and the error that stopped its reading."""

    after: int | None
    upto: int | None
    check: ChainCheck | None  # None: the helper failed; the caller reads the range itself
    error: str | None = None  # the driver's message for a row that could not be read


class Split:
    """Helper processes for the later parts of one verification (a context manager)."""

    def __init__(self, engine: Engine, helpers: int) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        if self.dialect == "sqlite":
            self.target = _sqlite_path(engine) or ""
        else:
            self.target = engine.url.set(drivername="postgresql").render_as_string(
                hide_password=False
            )
        ctx = multiprocessing.get_context("spawn")
        self.pipes: list[Pipe] = []
        self.procs: list[Any] = []
        for _ in range(helpers):
            mine, theirs = ctx.Pipe()
            proc = ctx.Process(target=_helper, args=(theirs,), daemon=True)
            proc.start()
            theirs.close()
            self.pipes.append(mine)
            self.procs.append(proc)
        self.ranges: list[tuple[int | None, int | None]] = []
        self._fence: sqlite3.Connection | None = None

    def __enter__(self) -> Split:
        return self

    def __exit__(self, *exc: object) -> None:
        self._release()
        for pipe in self.pipes:
            pipe.close()
        for proc in self.procs:
            proc.join(timeout=2)
            if proc.is_alive():
                proc.kill()
                proc.join()

    @contextmanager
    def fenced(self) -> Iterator[None]:
        """SQLite: no commit can happen from here until the helpers have their snapshots."""
        if self.dialect == "sqlite":
            self._fence = sqlite3.connect(self.target, timeout=30, isolation_level=None)
            self._fence.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        if self._fence is not None:
            self._fence.close()  # rolls back: the fence wrote nothing
            self._fence = None

    def start(
        self,
        conn: Connection,
        ranges: Sequence[tuple[int | None, int | None]],
        columns: Sequence[str],
        checkpoint_seqs: Sequence[int],
    ) -> None:
        """Hands each helper its range once ``conn`` (the caller's snapshot) has read."""
        snapshot_id = None
        if self.dialect == "postgresql":
            snapshot_id = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
        self.ranges = list(ranges)
        for pipe, (after, upto) in zip(self.pipes, self.ranges, strict=True):
            order = (self.dialect, self.target, snapshot_id, after, upto, columns, checkpoint_seqs)
            _send(pipe, order)
        for pipe in self.pipes:  # every helper holds the snapshot (or has failed) ...
            _receive(pipe)
        self._release()  # ... so writers may go on

    def results(self) -> Iterator[Part]:
        """Each helper's part, in seq order (waits for it)."""
        for pipe, (after, upto) in zip(self.pipes, self.ranges, strict=True):
            got = _receive(pipe)
            if isinstance(got, tuple) and len(got) == 2 and isinstance(got[0], ChainCheck):
                yield Part(after, upto, got[0], got[1])
            else:
                yield Part(after, upto, None)


def _send(pipe: Pipe, message: object) -> None:
    with suppress(OSError, ValueError):  # a helper that died: its part is read by the caller
        pipe.send(message)


def _receive(pipe: Pipe) -> object:
    try:
        return pipe.recv()
    except (EOFError, OSError):
        return None


def _helper(pipe: Pipe) -> None:
    """A helper process: one order, one snapshot, one range, one detached check."""
    try:
        order = pipe.recv()
    except EOFError:
        return
    dialect, target, snapshot_id, after, upto, columns, checkpoint_seqs = order
    try:
        raw = _open(dialect, target, snapshot_id)
    except Exception as exc:  # reported as a failed part; the caller reads the range
        pipe.send(("failed", repr(exc)))
        return
    pipe.send("ready")
    check = ChainCheck(checkpoint_seqs, detached=True)
    error = None
    cursor = stream_events(raw, dialect, columns, after=after, upto=upto)
    try:
        check.feed(cursor)
    except (sqlite3.Error, _pg_error(dialect)) as exc:  # a tampered row that cannot be read
        error = str(exc)
    finally:
        try:
            cursor.close()
        finally:
            raw.close()
    pipe.send((check, error))


def _pg_error(dialect: str) -> type[Exception]:
    if dialect != "postgresql":
        return sqlite3.Error
    import psycopg

    return psycopg.Error


def _open(dialect: str, target: str, snapshot_id: str | None) -> Any:
    if dialect == "sqlite":
        lite = sqlite3.connect(target, timeout=30, isolation_level=None)
        lite.execute("BEGIN")
        lite.execute("SELECT seq FROM audit_head").fetchall()  # the read snapshot starts here
        return lite
    import psycopg

    if snapshot_id is None or not _SNAPSHOT_ID.fullmatch(snapshot_id):
        raise ValueError(f"not a snapshot id: {snapshot_id!r}")
    pg = psycopg.connect(target, autocommit=True)
    pg.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    pg.execute(f"SET TRANSACTION SNAPSHOT '{snapshot_id}'")
    return pg
