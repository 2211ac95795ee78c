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
  in between; writers wait for that moment within their busy timeout (the helpers are up, their
  imports done, before the lock is taken: what remains is a connection and one read each).

Each helper then checks that it sees what the caller sees (the same head row; on PostgreSQL the
same ``audit_events`` relation as the same user: a helper connects with the engine's URL alone).
A helper that is not up in time (say, a script without a ``__main__`` guard, which ``spawn``
re-runs), cannot connect, sees something else, loses its connection or dies leaves its part to
the caller, who then reads that range itself: slower, never different.  On PostgreSQL a helper
gives way after ``HELPER_LOCK_TIMEOUT_MS`` waiting for its table lock (the caller holds one
already; a ``LOCK TABLE`` queued behind it would otherwise block the helper for ever).  When the
SQLite write lock cannot be taken (a database not in WAL mode, a writer holding it for
``FENCE_TIMEOUT``), verification runs in one pass.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import re
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection as Pipe
from typing import Any

from sqlalchemy import URL, Connection, Engine, make_url, text

from store.audit_chain import ChainCheck

__all__ = [
    "PARALLEL_MIN_EVENTS",
    "Part",
    "Split",
    "bounds",
    "error_message",
    "processes",
    "stream_events",
    "usable_cores",
]

# Below this many events one process is quicker than starting helpers (about 0.3 s each)
PARALLEL_MIN_EVENTS = 400_000
MAX_JOBS = 8
UP_TIMEOUT = 30.0  # seconds for a helper to start (imports); one that does not is left out
READY_TIMEOUT = 30.0  # seconds for a started helper to connect and take the snapshot
FENCE_TIMEOUT = 5.0  # seconds to wait for a writer before verifying in one pass instead
# PostgreSQL: how long a helper waits for its lock on audit_events.  The caller holds that lock
# already; a helper queued behind another session's LOCK TABLE (itself waiting for the caller)
# would otherwise wait for ever, so it gives way and the caller reads its part
HELPER_LOCK_TIMEOUT_MS = 5000
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
    last_seq = max(last_seq, 0)  # a head rewound below zero (tampered) still gives ordered cuts
    cuts = [last_seq * k // jobs for k in range(1, jobs)]
    edges: list[int | None] = [None, *cuts, None]
    return list(itertools.pairwise(edges))


def processes(url: str | URL, jobs: int | None, size: int, minimum: int) -> int:
    """How many processes share ``size`` items of work (1: the caller alone): ``jobs``, or by
    default one per usable core once ``size`` reaches ``minimum``; never more than ``MAX_JOBS``
    or ``size``, and 1 for an in-memory SQLite database, which no other process can open."""
    if make_url(url).get_backend_name() == "sqlite" and _sqlite_path(url) is None:
        return 1
    if jobs is None:
        jobs = usable_cores() if size >= minimum else 1
    return max(1, min(jobs, MAX_JOBS, size))


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask, where the system has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _sqlite_path(url: str | URL) -> str | None:
    path = make_url(url).database
    return None if not path or path == ":memory:" or path.startswith("file:") else path


@dataclass
class Part:
    """One helper's outcome: its detached check, and the error that stopped its reading."""

    after: int | None
    upto: int | None
    check: ChainCheck | None  # None: the helper failed; the caller reads the range itself
    error: str | None = None  # the driver's message for a row that could not be read


class Split:
    """Helper processes for the later parts of one verification (a context manager).

    ``Split(engine, n)`` starts ``n`` helpers and waits until they are up (their imports done,
    at most ``UP_TIMEOUT``; one that is not is stopped and left out).  ``fence`` (SQLite) and
    ``start`` then hand each helper its part within the caller's snapshot, ``results`` collects
    the parts in seq order.
    """

    def __init__(self, engine: Engine, helpers: int) -> None:
        self.dialect = engine.dialect.name
        if self.dialect == "sqlite":
            self.target = _sqlite_path(engine.url) or ""
        else:
            self.target = engine.url.set(drivername="postgresql").render_as_string(
                hide_password=False
            )
        ctx = multiprocessing.get_context("spawn")
        self.pipes: list[Pipe] = []
        self.procs: list[Any] = []
        self.ranges: list[tuple[int | None, int | None]] = []
        self._failed: set[int] = set()
        self._collected = 0
        self._fence: sqlite3.Connection | None = None
        try:
            for _ in range(helpers):
                mine, theirs = ctx.Pipe()
                proc = ctx.Process(target=_helper, args=(theirs,), daemon=True)
                proc.start()
                theirs.close()
                self.pipes.append(mine)
                self.procs.append(proc)
            self._wait_up()
        except BaseException:
            self.close()
            raise

    @property
    def helpers(self) -> int:
        return len(self.procs)

    def __enter__(self) -> Split:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stops every helper: at once if its part was not collected (an early end)."""
        self._release()
        for pipe in self.pipes:
            pipe.close()
        for i, proc in enumerate(self.procs):
            if i >= self._collected:
                proc.kill()
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join()

    def _wait_up(self) -> None:
        deadline = time.monotonic() + UP_TIMEOUT
        up = [
            pipe.poll(max(0.0, deadline - time.monotonic())) and _receive(pipe) == "up"
            for pipe in self.pipes
        ]
        for pipe, proc, ok in zip(self.pipes, self.procs, up, strict=True):
            if not ok:  # e.g. a script without a __main__ guard, re-run by spawn
                proc.kill()
                proc.join()
                pipe.close()
        self.pipes = [p for p, ok in zip(self.pipes, up, strict=True) if ok]
        self.procs = [p for p, ok in zip(self.procs, up, strict=True) if ok]

    def fence(self) -> bool:
        """SQLite: takes the write lock (committing nothing) so that no commit can happen until
        the helpers have their snapshots; False when it cannot (the database is not in WAL mode,
        where readers and this lock would not mix, or a writer held the lock for
        ``FENCE_TIMEOUT``): then verify in one pass, which needs no lock."""
        if self.dialect != "sqlite":
            return True
        fence = None
        try:
            fence = sqlite3.connect(self.target, timeout=FENCE_TIMEOUT, isolation_level=None)
            mode = fence.execute("PRAGMA journal_mode").fetchone()
            if not mode or str(mode[0]).lower() != "wal":
                fence.close()
                return False
            fence.execute("BEGIN IMMEDIATE")
        except sqlite3.Error:
            if fence is not None:
                fence.close()
            return False
        self._fence = fence
        return True

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
        tree_sizes: Sequence[int] = (),
    ) -> None:
        """Hands each helper its range once ``conn`` (the caller's snapshot) has read.

        A helper adopts the snapshot, then checks that it sees what the caller sees (the same
        head row; on PostgreSQL also the same ``audit_events`` relation as the same user: it
        connects with the engine's URL alone, without any connect arguments or hooks the
        engine may have); one that does not, or is not ready within ``READY_TIMEOUT``, is
        stopped and its range read by the caller.
        """
        snapshot_id = None
        if self.dialect == "postgresql":
            snapshot_id = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
        row = conn.execute(text(_IDENTITY[self.dialect])).first()
        identity = _identity(row)
        self.ranges = list(ranges)
        for pipe, (after, upto) in zip(self.pipes, self.ranges, strict=True):
            _send(
                pipe,
                (self.dialect, self.target, snapshot_id, HELPER_LOCK_TIMEOUT_MS, identity,
                 after, upto, columns, list(checkpoint_seqs), list(tree_sizes)),
            )  # fmt: skip
        deadline = time.monotonic() + READY_TIMEOUT
        for i, pipe in enumerate(self.pipes):  # every helper holds the snapshot (or is out) ...
            remaining = max(0.0, deadline - time.monotonic())
            if not (pipe.poll(remaining) and _receive(pipe) == "ready"):
                self._failed.add(i)
                self.procs[i].kill()
        self._release()  # ... so writers may go on

    def results(self) -> Iterator[Part]:
        """Each helper's part, in seq order (waits for it)."""
        for i, (pipe, (after, upto)) in enumerate(zip(self.pipes, self.ranges, strict=True)):
            got = None if i in self._failed else _receive(pipe)
            self._collected = i + 1
            if isinstance(got, tuple) and len(got) == 2 and isinstance(got[0], ChainCheck):
                yield Part(after, upto, got[0], got[1])
            else:
                yield Part(after, upto, None)


# What a helper must see as the caller does; the head row is read in both snapshots
_IDENTITY = {
    "sqlite": "SELECT seq, hash FROM audit_head WHERE id = 1",
    "postgresql": "SELECT to_regclass('audit_events')::oid, current_user, "
    "(SELECT seq FROM audit_head WHERE id = 1), (SELECT hash FROM audit_head WHERE id = 1)",
}


def _identity(row: Any) -> tuple[str, ...]:
    return () if row is None else tuple(str(v) for v in row)


def error_message(exc: BaseException) -> str:
    """A driver's error as the report quotes it."""
    return str(exc).strip()


def _send(pipe: Pipe, message: object) -> None:
    with suppress(OSError, ValueError):  # a helper that died: its part is read by the caller
        pipe.send(message)


def _receive(pipe: Pipe) -> object:
    try:
        return pipe.recv()
    except (EOFError, OSError):
        return None


def _helper(pipe: Pipe) -> None:
    """A helper process: one order, one snapshot, one range, one detached check.  Whatever goes
    wrong here is told to the caller (who then reads the range), never printed."""
    try:
        pipe.send("up")
        order = pipe.recv()
        pipe.send(_run(pipe, *order))
    except BaseException as exc:  # the caller reads the range instead
        with suppress(BaseException):
            pipe.send(("failed", repr(exc)))


def _run(
    pipe: Pipe,
    dialect: str,
    target: str,
    snapshot_id: str | None,
    lock_timeout_ms: int,
    identity: tuple[str, ...],
    after: int | None,
    upto: int | None,
    columns: Sequence[str],
    checkpoint_seqs: Sequence[int],
    tree_sizes: Sequence[int] = (),
) -> object:
    raw = _open(dialect, target, snapshot_id, lock_timeout_ms)
    try:
        seen = _identity(raw.execute(_IDENTITY[dialect]).fetchone())
        if seen != identity:
            return ("failed", f"sees {seen}, not {identity}")
        pipe.send("ready")
        check = ChainCheck(checkpoint_seqs, detached=True, tree_sizes=tree_sizes)
        error = None
        cursor = stream_events(raw, dialect, columns, after=after, upto=upto)
        try:
            check.feed(cursor)
        except (sqlite3.Error, _pg_error(dialect)) as exc:  # a row that cannot be read
            if getattr(exc, "sqlstate", None) == "55P03":  # lock_not_available: give way
                return ("failed", error_message(exc))
            error = error_message(exc)
        finally:
            cursor.close()
        return (check, error)
    finally:
        raw.close()


def _pg_error(dialect: str) -> type[Exception]:
    if dialect != "postgresql":
        return sqlite3.Error
    import psycopg

    return psycopg.Error


def _open(dialect: str, target: str, snapshot_id: str | None, lock_timeout_ms: int) -> Any:
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
    pg.execute(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}")
    return pg
