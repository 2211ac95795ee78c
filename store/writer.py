"""This process's one writer: group commit of the units of work that write.

A durable COMMIT costs a flush (SQLite ``synchronous=FULL``: an fsync of the WAL; PostgreSQL:
the WAL flush), 0.5-5 ms on this machine, and a writing unit holds the database's write lock
(SQLite) or the audit chain's head row (PostgreSQL) until its COMMIT returns: one command after
another, each paying its own flush.  Here the writing units of a process take turns on one
connection and share its transaction (a *batch*): each unit after the first runs inside its own
SAVEPOINT — one refused or failing rolls back to it and gets its own error, the others go on
(the first one failing rolls the transaction back, nothing else being in it) — and the unit
that finds nobody waiting after it (or the batch full) commits the batch: one flush for all.

A unit takes its turn only when it first needs the database to answer (its writes are deferred
until then, ``store.fastsql``), so what it computes before — statements, payloads — does not
hold up the others; in its turn it sends what it deferred, gets its answer, and hands on.

Nobody is answered before that COMMIT returns: ``UnitOfWork.commit`` waits for it, so the code
after it (caches, the answer) runs only once the batch is durable, and a COMMIT that fails
fails every unit of the batch with the same clear error.  Reads inside a unit see the earlier
units of its batch (same transaction).  A lone command costs what it did: its SAVEPOINT travels
with its first statements and its COMMIT with its last ones.

PostgreSQL: a batch locks the chain head (``store.audit.head_lock``) before the first write of
its first unit that appends, and keeps it, and knows its value, until its COMMIT.  Taking the
head before any other lock is what keeps the batches of several processes (two ``decide web``
workers) from deadlocking: a batch waiting for the head holds no row another one needs.  Units
that never append (the outbox bookkeeping of ``decide serve``) say so (``appends=False``) and
do not wait for it.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from typing import TYPE_CHECKING, Any

from store.audit import HeldHead, head_lock
from store.dbapi import Link
from store.fastsql import SQL, commit, flush_deferred

if TYPE_CHECKING:
    from store.dbapi import Database

__all__ = ["MAX_BATCH", "Turn", "Writer"]

# PostgreSQL keeps 64 subtransaction ids per backend in shared memory; past that every snapshot
# on the server has to look further (suboverflow).  Each unit's SAVEPOINT that writes takes one.
MAX_BATCH = 32

_SAVEPOINT = SQL("SAVEPOINT decide_unit")
_RELEASE = SQL("RELEASE SAVEPOINT decide_unit")
_ROLLBACK_TO = SQL("ROLLBACK TO SAVEPOINT decide_unit")


class _Batch:
    """One transaction shared by several units; ``error``: why its COMMIT did not happen."""

    __slots__ = ("done", "error", "kept", "size")

    def __init__(self) -> None:
        self.kept = 0  # units whose work is in the transaction, waiting for its COMMIT
        self.size = 0  # units that took part (kept or rolled back to their savepoint)
        self.done = threading.Event()
        self.error: str | None = None


class Turn:
    """One unit's turn on the writer's connection (from ``Writer.take`` to ``done``/``abandon``)."""

    __slots__ = ("batch", "head", "item", "link", "mark", "over")

    def __init__(self, link: Link, batch: _Batch, mark: int, item: Any) -> None:
        self.link = link
        self.batch = batch
        self.mark = mark  # where the unit's own statements begin in ``link.pending``
        self.item = item  # its SAVEPOINT (None: the batch's first kept unit needs none)
        head = link.head
        self.head = None if head is None else (head.seq, head.hash)  # as the unit found it
        self.over = False  # the turn was handed on (or the batch ended)


class Writer:
    """The turns of one process's writing units, their batches and the connection they share."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._mutex = threading.Lock()
        self._waiting: deque[threading.Lock] = deque()
        self._busy = False  # a unit has its turn, or a batch is committing
        self._owner: int | None = None  # the thread whose unit has the turn
        self._batch: _Batch | None = None  # the open transaction
        self._head: HeldHead | None = None  # PostgreSQL: the chain head as the batch holds it
        self._carry: list[Any] = []  # statements of kept units still to send, in order
        self._conn: Any = None  # the driver connection
        self.commits = 0  # batches committed by this process (for benchmarks and tests)
        self.units = 0  # units kept in them

    # -- turns ---------------------------------------------------------------------------------
    def _wait_turn(self) -> None:
        me = threading.get_ident()
        with self._mutex:
            if self._busy and self._owner == me:
                # it would wait for the turn its own thread holds: forever
                raise RuntimeError(
                    "a writing unit of work opened inside another on the same thread: end the "
                    "first before opening the next"
                )
            if not self._busy:
                self._busy, self._owner = True, me
                return
            gate = threading.Lock()
            gate.acquire()
            self._waiting.append(gate)
        try:
            gate.acquire()  # released by ``_hand_on``: the turn is ours (busy stays set)
            with self._mutex:
                self._owner = me
        except BaseException:  # interrupted while queued: leave the queue or pass the turn on
            with self._mutex:
                queued = gate in self._waiting
                if queued:
                    self._waiting.remove(gate)
            if not queued:
                self._hand_on()
            raise

    def _hand_on(self) -> None:
        with self._mutex:
            self._owner = None
            if self._waiting:
                self._waiting.popleft().release()
            else:
                self._busy = False

    @property
    def queued(self) -> int:
        """How many units wait for their turn now."""
        with self._mutex:
            return len(self._waiting)

    def _last(self, batch: _Batch) -> bool:
        """Whether the batch is to be committed now: full, or nobody is waiting to join it."""
        with self._mutex:
            return batch.size >= MAX_BATCH or not self._waiting

    # -- a unit's turn -------------------------------------------------------------------------
    def take(self, link: Link, *, appends: bool = True) -> Turn:
        """Wait for the turn of the unit whose ``link`` needs the database now; open a batch if
        none is open; put the kept units' statements still to send, the head lock (``appends``
        on PostgreSQL, once per batch) and the unit's SAVEPOINT before what it deferred."""
        self._wait_turn()
        try:
            if self._conn is None:
                self._conn = self._open()
            if self._batch is None:
                if self.db.dialect == "sqlite":  # the write lock, up to the busy timeout
                    self._conn.execute("BEGIN IMMEDIATE")
                self._head = HeldHead() if self.db.dialect == "postgresql" else None
                self._carry = []
                self._batch = _Batch()
            batch, head = self._batch, self._head
            first = self._carry
            self._carry = []
            if appends and head is not None and not head.held:
                first.append(head_lock(head))  # before the savepoint: the batch keeps it
            # no unit kept before it: should it fail, the whole transaction is rolled back (a
            # lone command runs exactly its own statements); else its own SAVEPOINT
            item: tuple[SQL, dict[str, Any], None] | None = None
            if batch.kept:
                item = (_SAVEPOINT, {}, None)
                first.append(item)
            link.pending = [*first, *(link.pending or [])]
            link.driver, link.head = self._conn, head
            batch.size += 1
            return Turn(link, batch, len(first) - (item is not None), item)
        except BaseException as exc:
            self._end(self._batch, exc)
            failure = self.db.failure(exc)
            if failure is not None:
                raise failure from None
            raise

    def done(self, turn: Turn) -> None:
        """The unit is finished: keep its work and wait until its batch is durable (or failed).

        A failure of the unit's own statements (a check, a constraint) raises with the turn
        still the unit's, to be rolled back by ``abandon``; a failure of the batch raises the
        batch's clear error."""
        link, batch = turn.link, turn.batch
        if self._last(batch):
            self._commit(turn)
            return
        pending = link.pending or []
        release: list[Any] = [] if turn.item is None else [(_RELEASE, {}, None)]
        if link.dialect == "sqlite" or any(c is not None for _, _, c in pending[turn.mark :]):
            flush_deferred(link)  # its checks run now: a conflict is this unit's alone
            pending = release
        elif release:
            # PostgreSQL: its last writes (its event, the head) travel with the next unit's
            # statements or the COMMIT, after its RELEASE — should they fail, the batch fails
            # (no savepoint is left to undo them into): never a unit kept in part
            unsent = len(pending) > turn.mark and pending[turn.mark] is turn.item
            pending[turn.mark + 1 if unsent else 0 : 0] = release
        self._carry, link.pending = pending, None
        batch.kept += 1
        turn.over = True
        self._hand_on()
        batch.done.wait()
        if batch.error is not None:
            raise self._error(batch.error)

    def abandon(self, turn: Turn, exc: BaseException | None) -> None:
        """The unit failed (or left without committing): undo its work alone, then hand the
        turn on — or, when nobody is waiting, commit the units kept before it."""
        link, batch = turn.link, turn.batch
        turn.over = True
        if turn.item is None:  # no unit kept before it: the whole transaction goes
            self._end(batch, None)
            return
        try:
            pending = link.pending
            if pending is not None and len(pending) > turn.mark and pending[turn.mark] is turn.item:
                link.pending = pending[: turn.mark]  # nothing of the unit was sent
            elif link.dialect == "sqlite":
                link.pending = []
                link.driver.execute(_ROLLBACK_TO.sqlite)
                link.driver.execute(_RELEASE.sqlite)
            else:
                link.pending = []
                with link.driver.pipeline():
                    link.driver.execute(_ROLLBACK_TO.pg)
                    link.driver.execute(_RELEASE.pg)
            if link.head is not None:
                link.head.restore(turn.head)
        except BaseException as err:  # the connection or the transaction is gone
            self._end(batch, exc if exc is not None and self.db.failure(exc) else err)
            raise self._error(batch.error or "") from None
        if batch.kept and self._last(batch):
            self._commit(turn, own=False)
        elif not batch.kept and self._last(batch):
            self._end(batch, None)
        else:
            self._carry, link.pending = link.pending or [], None
            self._hand_on()

    def _commit(self, turn: Turn, *, own: bool = True) -> None:
        """COMMIT the batch (``own``: with the unit's last statements), then answer everyone."""
        link, batch = turn.link, turn.batch
        pending = link.pending or []
        if own and (link.dialect == "sqlite" or any(c is not None for _, _, c in pending)):
            flush_deferred(link)  # the unit's own failure: raised with the turn still its own
        try:
            commit(link)  # PostgreSQL: what is left of the statements, and the COMMIT
        except BaseException as exc:
            if own and link.dialect == "postgresql" and _in_failed_transaction(link):
                raise  # one of the unit's statements failed, not the COMMIT: ``abandon`` it
            turn.over = True
            self._end(batch, exc)
            raise self._error(batch.error or "") from None
        turn.over = True
        self.commits += 1
        self.units += batch.kept + own
        self._end(batch, None, committed=True)

    def _end(
        self, batch: _Batch | None, exc: BaseException | None, *, committed: bool = False
    ) -> None:
        """Close the batch (rolled back unless ``committed``), tell its units, hand the turn on."""
        try:
            self._carry, self._head = [], None
            if not committed and self._conn is not None:
                self._rollback()
            if batch is not None:
                if exc is not None:
                    batch.error = self._message(exc)
                self._batch = None
                batch.done.set()
        finally:
            self._hand_on()

    def _rollback(self) -> None:
        conn = self._conn
        try:
            if self.db.dialect == "sqlite":
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            else:
                conn.rollback()
                if conn.broken:
                    raise RuntimeError("connection broken")
        except Exception:
            with contextlib.suppress(Exception):  # unusable: nothing more to release
                conn.close()
            self._conn = None  # the next batch opens a new connection

    def _message(self, exc: BaseException) -> str:
        failure = self.db.failure(exc)
        if failure is not None:
            return str(failure)
        from store.dbapi import safe_url

        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return (
            f"数据库未能提交 the database {safe_url(self.db.url)} did not commit the batch of "
            f"commands this one was in ({first}); nothing of them was written — try again"
        )

    @staticmethod
    def _error(message: str) -> Exception:
        from procedures.errors import Unavailable

        return Unavailable(message)

    # -- the connection ------------------------------------------------------------------------
    def _open(self) -> Any:
        """The writer's connection: the calling thread's own when it has one (a command-line
        process then needs one connection, not two), else a new one."""
        link = self.db.donate()
        return link.driver if link is not None else self.db.connect()

    def close(self) -> None:
        with self._mutex:
            conn, idle = self._conn, not self._busy
        if conn is not None and idle:
            with contextlib.suppress(Exception):
                conn.close()
            self._conn = None


def _in_failed_transaction(link: Link) -> bool:
    """PostgreSQL: a statement failed and the transaction waits for a rollback (the COMMIT
    after it in the pipeline was never run)."""
    from psycopg.pq import TransactionStatus

    status = link.driver.info.transaction_status
    return not link.driver.broken and status == TransactionStatus.INERROR
