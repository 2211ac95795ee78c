"""Verification of the audit log in the database: one snapshot, streamed fast, documents too.

``verify_database`` (public as ``store.audit.verify``) reads the head, the checkpoints and every
event in seq order straight from the driver within one consistent read transaction, runs the
chain checks of ``store.audit_chain`` over them, and checks each stored document against the
audit event that recorded it (the row, and the file's SHA-256).  A long chain is checked in
parts by helper processes reading the same snapshot (``store.audit_split``), with the report of
one pass.  ``snapshot`` and ``open_events``
are shared with the export.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from store.audit import EVENT_COLUMNS, GENESIS, Problem, VerifyReport
from store.audit_chain import (
    MAX_PROBLEMS,
    ChainCheck,
    Checkpoint,
    any_signed,
    checkpoint_problems,
    head_problems,
    signed_upto,
)
from store.audit_split import (
    PARALLEL_MIN_EVENTS,
    Split,
    bounds,
    error_message,
    processes,
    stream_events,
)

__all__ = ["document_problems", "open_events", "snapshot", "verify_database"]

_SHA256 = re.compile(r"[0-9a-f]{64}")
# effective_on as the text that was hashed, whatever the session's DateStyle: the verifier then
# builds no date object per row, and a date Python cannot hold is reported, not fatal
_PG_COLUMNS = tuple(
    "to_char(effective_on, 'YYYY-MM-DD')" if c == "effective_on" else c for c in EVENT_COLUMNS
)


def _file_digest(path: Path) -> str | None:
    try:
        h = hashlib.sha256()
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError:
        return None
    return h.hexdigest()


_Key = tuple[str, str, int, str, str]  # decision, step, attempt, kind, filename


def _recorded(conn: Connection) -> dict[_Key, list[tuple[int, str]]] | None:
    """The documents the audit events record (what a stored file is checked against): for each
    decision, step attempt, kind and file name, the (event, sha256) pairs in seq order; None
    when the events cannot be read (PostgreSQL: in a savepoint, so the snapshot goes on)."""
    found: dict[_Key, list[tuple[int, str]]] = {}
    savepoint = conn.begin_nested() if conn.dialect.name == "postgresql" else None
    try:
        rows = conn.execute(
            text(
                "SELECT seq, decision_id, payload FROM audit_events "
                "WHERE action IN ('complete', 'attach') AND payload LIKE :p ORDER BY seq"
            ),
            {"p": '%"documents":[%'},
        ).fetchall()
    except DBAPIError:  # e.g. locked past the lock timeout: the chain check reports it
        if savepoint is not None:
            savepoint.rollback()
        return None
    if savepoint is not None:
        savepoint.commit()
    for seq, decision_id, payload in rows:
        try:
            data = json.loads(payload)
            for doc in data.get("documents", ()):
                key = (decision_id, data["step"], data["attempt"], doc["kind"], doc["filename"])
                found.setdefault(key, []).append((seq, doc["sha256"]))
        except (ValueError, TypeError, KeyError, AttributeError):
            continue  # a malformed payload is the chain check's to report
    return found


def _take(queue: list[tuple[int, str]] | None, sha: object) -> tuple[int, str] | None:
    """The recorded entry for a row: the one with its hash if there is one, else the first."""
    if not queue:
        return None
    entry = next((e for e in queue if e[1] == sha), queue[0])
    queue.remove(entry)
    return entry


def document_problems(
    conn: Connection, root: Path, notes: list[str] | None = None
) -> tuple[int, list[Problem]]:
    """Every document must be as its audit event recorded it: each ``documents`` row matches
    the event that recorded it (same step attempt, kind, file name and SHA-256), each event's
    document has its row, and the file under ``root`` has the event's SHA-256.

    The first ``MAX_PROBLEMS`` problems are listed (each with the event that recorded the
    document), the rest counted, as for the chain; when not one file is found the directory
    itself is named as the likely fault.
    """
    recorded = _recorded(conn)
    if recorded is None and notes is not None:
        notes.append(
            "the audit events could not be read: document files were checked against the "
            "documents table only, not against the events that recorded them"
        )
    digests: dict[str, str | None] = {}
    problems: list[Problem] = []
    count = well_formed = missing = further = 0

    def report(seq: int | None, message: str) -> None:
        nonlocal further
        if len(problems) >= MAX_PROBLEMS:
            further += 1
        else:
            problems.append(Problem(seq, "document", message))

    result = conn.execute(
        text(
            "SELECT id, decision_id, step, attempt, kind, filename, sha256 FROM documents "
            "ORDER BY id"
        )
    )
    for doc_id, decision_id, step, attempt, kind, filename, sha in result.fetchall():
        count += 1
        what = f"document #{doc_id} of decision {decision_id} ({filename}, sha256 {sha})"
        key = (decision_id, step, attempt, kind, filename)
        event = (None, sha) if recorded is None else _take(recorded.get(key), sha)
        seq = event[0] if event else None
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
            report(seq, f"{what}: the recorded sha256 is malformed")
            continue
        well_formed += 1
        path = root / sha[:2] / sha
        if sha not in digests:
            digests[sha] = _file_digest(path)
        actual = digests[sha]
        missing += actual is None
        if event is None:
            report(None, f"{what}: no audit event records it — the documents table was edited")
        elif event[1] != sha:
            report(
                seq,
                f"{what}, recorded by event {seq} with sha256 {event[1]}: the row points at "
                "another file than the event recorded — the documents table was edited",
            )
        elif actual != sha:
            fault = (
                f"the file {path} is missing or unreadable"
                if actual is None
                else f"the file {path} was altered (its sha256 is now {actual})"
            )
            by = f", recorded by event {seq}" if seq is not None else ""
            report(seq, f"{what}{by}: {fault}")
    for (decision_id, step, attempt, kind, filename), queue in (recorded or {}).items():
        for seq, sha in queue:
            report(
                seq,
                f"the {kind} {filename} of decision {decision_id} ({step} attempt {attempt}, "
                f"sha256 {sha}) recorded by event {seq} has no documents row — the documents "
                "table was edited",
            )
    if further:
        problems.append(Problem(None, "more", f"{further} further document problems not listed"))
    if well_formed > 1 and missing == well_formed:
        problems.append(
            Problem(
                None,
                "documents",
                f"no document file could be read under {root} ({well_formed} documents): "
                "is this the documents directory, and is it readable?",
            )
        )
    return count, problems


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction that sees one consistent state of the database."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin() as trans:
            yield conn
            trans.rollback()


def open_events(
    conn: Connection,
    decision_id: str | None = None,
    *,
    after: int | None = None,
    upto: int | None = None,
) -> Any:
    """The events (``Row``, effective_on as text) in seq order: iterate it, then close it.

    See ``store.audit_split.stream_events`` (on PostgreSQL, closing the stream before its last
    row aborts the transaction).
    """
    raw = conn.connection.driver_connection
    assert raw is not None
    dialect = conn.dialect.name
    columns = _columns(dialect)
    return stream_events(raw, dialect, columns, decision_id=decision_id, after=after, upto=upto)


def _columns(dialect: str) -> tuple[str, ...]:
    return tuple(EVENT_COLUMNS) if dialect == "sqlite" else _PG_COLUMNS


def _read(conn: Connection, chain: ChainCheck, after: int | None, upto: int | None) -> bool:
    """Feeds the events of (after, upto] to ``chain``; False once a row cannot be read (the
    chain stops there, as the report says).  On PostgreSQL the read runs in a savepoint, so
    that the rest of the verification (the documents) can still read in the same snapshot."""
    savepoint = conn.begin_nested() if conn.dialect.name == "postgresql" else None
    cursor = open_events(conn, after=after, upto=upto)
    error = None
    try:
        chain.feed(cursor)
    except conn.dialect.loaded_dbapi.Error as exc:  # e.g. a tampered row that cannot be read
        error = error_message(exc)
    finally:
        cursor.close()
    if savepoint is not None:
        if error is None:
            savepoint.commit()
        else:
            savepoint.rollback()
    if error is not None:
        _unreadable(chain, error)
        return False
    return True


def _unreadable(chain: ChainCheck, error: str) -> None:
    seq = chain.last_seq
    chain.problems.append(
        Problem(seq + 1, "unreadable", f"the event after event {seq} cannot be read: {error}")
    )


def _as_seq(value: object) -> int:
    """A seq read from the head row, for sizing and cutting only (0 when it is not a number)."""
    return value if isinstance(value, int) else 0


def _head(row: Any) -> tuple[tuple[int, str] | None, Problem | None]:
    """The head row as (seq, hash), or the problem with it (SQLite keeps any type)."""
    if row is None:
        return None, None
    seq, digest = row[0], row[1]
    if isinstance(seq, int) and isinstance(digest, str):
        return (seq, digest), None
    return None, Problem(
        None,
        "head",
        f"the chain head row (audit_head id 1) is malformed: seq {seq!r}, hash {digest!r}",
    )


def _split(engine: Engine, jobs: int | None) -> Split | None:
    """Helper processes for a long chain (None: one pass here)."""
    if jobs == 1:
        return None
    with engine.connect() as conn:  # a cheap look at the size: read again in the snapshot
        head = text("SELECT seq FROM audit_head WHERE id = 1")
        events = _as_seq(conn.execute(head).scalar())
    parts = processes(engine.url, jobs, events, PARALLEL_MIN_EVENTS)
    if parts < 2:
        return None
    try:
        split = Split(engine, parts - 1)
    except (OSError, RuntimeError, AssertionError):  # no processes here: one pass it is
        return None
    if split.helpers and split.fence():
        return split
    split.close()
    return None


def _start_parts(
    conn: Connection, chain: ChainCheck, split: Split
) -> list[tuple[int | None, int | None]]:
    """Splits the seq range and hands the helpers their parts (``conn`` has read already)."""
    last = _as_seq(conn.execute(text("SELECT seq FROM audit_head WHERE id = 1")).scalar())
    ranges = bounds(last, split.helpers + 1)  # the last part is open-ended
    split.start(
        conn, ranges[1:], _columns(conn.dialect.name), sorted(chain.wanted), chain.tree_sizes
    )
    return ranges


def _finish_parts(
    conn: Connection,
    chain: ChainCheck,
    split: Split,
    ranges: list[tuple[int | None, int | None]],
) -> bool:
    """Checks the first part here, then absorbs each helper's part in seq order;
    False if some events could not be read (the chain stops there)."""
    if not _read(conn, chain, *ranges[0]):
        return False
    for part in split.results():
        if part.check is None:  # the helper failed: read its range here
            if not _read(conn, chain, part.after, part.upto):
                return False
            continue
        chain.absorb(part.check)
        if part.check.gave_up:  # no clean start found: the rest of the range is read here
            if not _read(conn, chain, part.check.prefix[-1][0], part.upto):
                return False
        elif part.error is not None:
            _unreadable(chain, part.error)
            return False
    return True


def _tail_since(conn: Connection, seq: int) -> str | None:
    """When the first event after ``seq`` was recorded (None when there is none)."""
    found = conn.execute(
        text("SELECT recorded_at FROM audit_events WHERE seq = :s"), {"s": seq + 1}
    ).scalar()
    return found if isinstance(found, str) else None


def verify_database(
    engine: Engine,
    *,
    documents_dir: Path | None = None,
    public_keys: Iterable[bytes] | None = None,
    jobs: int | None = None,
    heads: Sequence[Checkpoint] = (),
) -> VerifyReport:
    """Checks the chain in one snapshot; ``jobs`` processes check parts of it side by side
    (default: one per core for a chain of ``PARALLEL_MIN_EVENTS`` or more, else one).

    ``heads``: signed heads from outside the database (the checkpoint log beside the key, a
    witness's checkpoint), checked like the database's own.  ``public_keys``: the keys every
    signature must be made with (None: each row's own key, which shows integrity only)."""
    trusted = None if public_keys is None else {bytes(k) for k in public_keys}
    notes: list[str] = []
    with ExitStack() as stack:
        split = _split(engine, jobs)  # SQLite: fenced until the helpers have their snapshots
        if split is not None:
            stack.enter_context(split)
        with snapshot(engine) as conn:
            head_row = conn.execute(text("SELECT seq, hash FROM audit_head WHERE id = 1")).first()
            head, head_fault = _head(head_row)
            checkpoints = [
                Checkpoint(*r)
                for r in conn.execute(
                    text(
                        "SELECT id, seq, hash, signed_at, public_key, signature "
                        "FROM audit_checkpoints"
                    )
                )
            ]
            stored = len(checkpoints)
            checkpoints += heads
            chain = ChainCheck(
                (c.seq for c in checkpoints if not c.is_note),
                tree_sizes=[c.seq for c in checkpoints if c.is_note],
            )
            if split is None:
                complete = _read(conn, chain, None, None)
            else:
                complete = _finish_parts(conn, chain, split, _start_parts(conn, chain, split))
            problems = chain.all_problems()
            if head_fault is not None:
                problems.append(head_fault)
            elif complete:
                problems += head_problems(head, chain.last_seq, chain.last_hash)
            else:  # what lies past the unreadable event is unknown, not cut off
                notes.append(
                    f"the events after event {chain.last_seq} could not be read: the head and "
                    "the checkpoints after it were not compared with the chain"
                )
            problems += [
                p
                for p in checkpoint_problems(checkpoints, chain, trusted)
                if complete or p.kind != "truncated"
            ]
            upto = signed_upto(checkpoints, chain, trusted)
            tail = max(0, chain.last_seq - upto) if complete else 0
            since = _tail_since(conn, upto) if tail else None
            if trusted is not None and not any_signed(checkpoints, chain, trusted):
                problems.append(
                    Problem(
                        None,
                        "untrusted",
                        "no checkpoint is signed by the trusted key: the log may have been "
                        "rewritten and signed with another key (or never signed with this one)",
                    )
                )
            documents = 0
            if documents_dir is not None:
                documents, found = document_problems(conn, documents_dir, notes)
                problems += found
    if not checkpoints:
        notes.append(
            "no signed checkpoints: a cut-off tail or a consistent rewrite of the chain "
            "cannot be detected"
        )
    elif trusted is None:
        notes.append(
            "checkpoint signatures were checked with the public keys stored with them, not "
            "with a trusted key: this shows integrity, not who signed"
        )
    if documents_dir is None:
        notes.append("document files were not checked (no documents directory given)")
    problems.sort(key=lambda p: (p.seq is None, p.seq or 0, p.kind, p.message))
    return VerifyReport(
        ok=not problems,
        events=chain.count,
        head_seq=head[0] if head else 0,
        head_hash=head[1] if head else GENESIS,
        checkpoints=stored,
        documents=documents,
        problems=tuple(problems),
        notes=tuple(notes),
        signed_upto=upto,
        unsigned_tail=tail,
        tail_since=since,
    )
