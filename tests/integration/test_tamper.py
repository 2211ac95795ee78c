"""The tamper suite: whoever owns the database changes the log; verification names the damage.

Each test builds a chain of 30 events over three decisions with signed checkpoints at events 10,
20 and 28, then tampers as the database owner would (SQLite: drop the append-only triggers and
put them back afterwards; PostgreSQL: ``session_replication_role = replica``, which switches
triggers off for that transaction), and asserts the seq of the first bad event verification
names.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text

from store.audit import GENESIS, AuditLog, event_hash, verify
from store.audit_chain import MAX_PROBLEMS
from store.signing import SigningError, checkpoint, load_or_create_key, public_key_bytes
from store.tables import DecisionRow, DocumentRow
from tests.integration.test_audit import CLOCK, append_events, writing

APPEND_ONLY = importlib.import_module("store.migrations.versions.0001_initial_schema").APPEND_ONLY
CHECKPOINTS = (10, 20, 28)


@pytest.fixture
def key(tmp_path):
    return load_or_create_key(tmp_path / "keys" / "audit.pem")


@pytest.fixture
def chain(engine, key) -> Engine:
    """30 events, checkpoints signed at events 10, 20 and 28."""
    done = 0
    for upto in (*CHECKPOINTS, 30):
        append_events(engine, upto - done)
        done = upto
        if upto in CHECKPOINTS:
            with writing(engine) as session:
                checkpoint(session, key, signed_at=CLOCK)
    report = verify(engine, public_keys=[public_key_bytes(key)])
    assert report.ok and report.events == 30 and report.checkpoints == 3, report.problems
    return engine


@contextmanager
def as_owner(engine: Engine) -> Iterator[Connection]:
    """A transaction in which the append-only triggers do not fire."""
    sqlite = engine.dialect.name == "sqlite"
    with engine.begin() as conn:
        if sqlite:
            conn.exec_driver_sql("DROP TRIGGER audit_events_no_update")
            conn.exec_driver_sql("DROP TRIGGER audit_events_no_delete")
        else:
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        yield conn
        if sqlite:  # cover the tracks
            for statement in APPEND_ONLY["sqlite"]:
                conn.exec_driver_sql(statement)


def rows(conn: Connection) -> dict[int, dict[str, Any]]:
    result = conn.execute(text("SELECT * FROM audit_events ORDER BY seq")).mappings()
    return {r["seq"]: dict(r) for r in result}


def update(conn: Connection, seq: int, **values: object) -> None:
    sets = ", ".join(f"{k} = :{k}" for k in values)
    conn.execute(text(f"UPDATE audit_events SET {sets} WHERE seq = :seq"), {**values, "seq": seq})


def hash_of(row: dict[str, Any], **changes: object) -> str:
    """The hash an attacker computes for a row (with the project's own function)."""
    r = {**row, **changes}
    return event_hash(
        r["prev_hash"],
        {
            "seq": r["seq"],
            "decision_id": r["decision_id"],
            "decision_prev_hash": r["decision_prev_hash"],
            "action": r["action"],
            "actor": r["actor"],
            "effective_on": str(r["effective_on"]),
            "recorded_at": r["recorded_at"],
            "payload": json.loads(r["payload"]),
        },
    )


def rechain(conn: Connection) -> None:
    """Recompute every link and hash in seq order and move the head: a consistent rewrite."""
    prev, by_decision = GENESIS, {}
    for seq, row in rows(conn).items():
        link = None if row["decision_id"] is None else by_decision.get(row["decision_id"], GENESIS)
        digest = hash_of(row, prev_hash=prev, decision_prev_hash=link)
        if (prev, link, digest) != (row["prev_hash"], row["decision_prev_hash"], row["hash"]):
            update(conn, seq, prev_hash=prev, decision_prev_hash=link, hash=digest)
        if row["decision_id"] is not None:
            by_decision[row["decision_id"]] = digest
        prev = digest
        conn.execute(text("UPDATE audit_head SET seq = :s, hash = :h"), {"s": seq, "h": digest})


def first(engine: Engine, key, **kwargs: Any):
    report = verify(engine, public_keys=[public_key_bytes(key)], **kwargs)
    assert not report.ok and report.problems
    return report.problems[0], report


def edited_payload(row: dict[str, Any]) -> str:
    payload = json.loads(row["payload"])
    payload["note"] = "意见已删除"
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def test_an_edited_payload(chain, key):
    with as_owner(chain) as conn:
        update(conn, 7, payload=edited_payload(rows(conn)[7]))
    problem, _ = first(chain, key)
    assert (problem.seq, problem.kind) == (7, "hash") and "event 7" in problem.message


def test_a_payload_rewritten_into_non_canonical_form(chain, key):
    with as_owner(chain) as conn:
        same = json.dumps(json.loads(rows(conn)[7]["payload"]), ensure_ascii=True, indent=1)
        update(conn, 7, payload=same)
    problem, _ = first(chain, key)
    assert (problem.seq, problem.kind) == (7, "payload") and "non-canonical" in problem.message


def test_an_edited_actor(chain, key):
    with as_owner(chain) as conn:
        update(conn, 9, actor="区长本人")
    problem, report = first(chain, key)
    assert (problem.seq, problem.kind) == (9, "hash") and len(report.problems) == 1


def test_a_column_of_the_wrong_type(chain, key):
    if chain.dialect.name != "sqlite":
        pytest.skip("only SQLite lets a column hold a value of another type")
    with as_owner(chain) as conn:
        conn.execute(text("UPDATE audit_events SET effective_on = 20250303 WHERE seq = 4"))
        conn.execute(text("UPDATE audit_events SET actor = X'41' WHERE seq = 6"))
    _, report = first(chain, key)
    assert [(p.seq, p.kind) for p in report.problems] == [(4, "malformed"), (6, "malformed")]


def test_a_deleted_row(chain, key):
    with as_owner(chain) as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq = 13"))
    problem, _ = first(chain, key)
    assert (problem.seq, problem.kind) == (13, "missing")
    assert "event 13 is missing" in problem.message


def test_a_row_inserted_in_the_middle_with_a_plausible_hash(chain, key):
    with as_owner(chain) as conn:
        before = rows(conn)
        conn.execute(text("UPDATE audit_events SET seq = -seq WHERE seq >= 12"))
        conn.execute(text("UPDATE audit_events SET seq = 1 - seq WHERE seq < 0"))
        forged = {
            **before[11],
            "seq": 12,
            "prev_hash": before[11]["hash"],
            "actor": "伪造者",
            "decision_prev_hash": before[11]["hash"],
            "decision_id": before[11]["decision_id"],
        }
        forged["hash"] = hash_of(forged)
        columns = ", ".join(forged)
        conn.execute(
            text(
                f"INSERT INTO audit_events ({columns}) VALUES "
                f"({', '.join(':' + k for k in forged)})"
            ),
            forged,
        )
        conn.execute(text("UPDATE audit_head SET seq = 31"))
    problem, report = first(chain, key)
    assert (problem.seq, problem.kind) == (12, "inserted"), report.problems
    assert report.problems[1].kind == "moved" and report.problems[1].seq == 13


@pytest.mark.parametrize("columns", ["everything", "contents"])
def test_two_rows_swapped(chain, key, columns):
    names = [
        "decision_id",
        "decision_prev_hash",
        "action",
        "actor",
        "effective_on",
        "recorded_at",
        "payload",
    ] + (["prev_hash", "hash"] if columns == "everything" else [])
    with as_owner(chain) as conn:
        r = rows(conn)
        update(conn, 5, hash="x")  # the hash column is unique
        update(conn, 6, **{k: r[5][k] for k in names})
        update(
            conn,
            5,
            **{k: r[6][k] for k in names},
            **({} if columns == "everything" else {"hash": r[5]["hash"]}),
        )
    problem, _ = first(chain, key)
    assert problem.seq == 5


def test_an_edit_with_that_rows_hash_recomputed(chain, key):
    with as_owner(chain) as conn:
        row = rows(conn)[8]
        payload = edited_payload(row)
        update(conn, 8, payload=payload, hash=hash_of(row, payload=payload))
    problem, report = first(chain, key)
    assert (problem.seq, problem.kind) == (8, "rewritten"), report.problems
    assert "event 8 was changed and re-hashed" in problem.message


def test_a_consistent_rewrite_is_caught_only_by_a_checkpoint(chain, key):
    with as_owner(chain) as conn:
        update(conn, 15, payload=edited_payload(rows(conn)[15]))
        rechain(conn)
    problem, report = first(chain, key)
    assert [(p.seq, p.kind) for p in report.problems] == [(20, "rewritten"), (28, "rewritten")]
    assert "after event 10" in problem.message and "at or before event 20" in problem.message
    with as_owner(chain) as conn:  # without the checkpoints nothing shows
        conn.execute(text("DELETE FROM audit_checkpoints"))
    assert verify(chain).ok


def test_a_truncated_tail_with_the_head_rewound_is_caught_only_by_a_checkpoint(chain, key):
    with as_owner(chain) as conn:
        last = rows(conn)[25]
        conn.execute(text("DELETE FROM audit_events WHERE seq > 25"))
        conn.execute(text("UPDATE audit_head SET seq = 25, hash = :h"), {"h": last["hash"]})
    problem, report = first(chain, key)
    assert [(p.seq, p.kind) for p in report.problems] == [(26, "truncated")]
    assert "events 26..28" in problem.message
    with as_owner(chain) as conn:
        conn.execute(text("DELETE FROM audit_checkpoints WHERE seq = 28"))
    assert verify(chain).ok


def test_a_truncated_tail_is_caught_by_the_head(chain, key):
    with as_owner(chain) as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq > 29"))
    _, report = first(chain, key)
    assert [(p.seq, p.kind) for p in report.problems] == [(30, "truncated")]


def test_an_event_added_without_moving_the_head(chain, key):
    with as_owner(chain) as conn:
        r = rows(conn)
        extra = {
            **r[30],
            "seq": 31,
            "prev_hash": r[30]["hash"],
            "decision_id": None,
            "decision_prev_hash": None,
        }
        extra["hash"] = hash_of(extra)
        conn.execute(
            text(
                f"INSERT INTO audit_events ({', '.join(extra)}) VALUES "
                f"({', '.join(':' + k for k in extra)})"
            ),
            extra,
        )
    problem, _ = first(chain, key)
    assert (problem.seq, problem.kind) == (31, "extra")


def test_an_edited_head(chain, key):
    with chain.begin() as conn:
        conn.execute(text("UPDATE audit_head SET hash = :h"), {"h": "f" * 64})
    problem, _ = first(chain, key)
    assert (problem.seq, problem.kind) == (30, "head")


def test_a_checkpoint_rewritten_or_re_signed_by_another_key(chain, key, tmp_path):
    with chain.begin() as conn:
        conn.execute(text("UPDATE audit_checkpoints SET hash = :h WHERE seq = 20"), {"h": "0" * 64})
    problem, _ = first(chain, key)
    assert (problem.seq, problem.kind) == (20, "checkpoint") and "signature" in problem.message

    with as_owner(chain) as conn:  # rewrite the chain and sign it anew with the attacker's key
        conn.execute(text("DELETE FROM audit_checkpoints"))
        update(conn, 3, actor="伪造者")
        rechain(conn)
    with writing(chain) as session:
        checkpoint(session, load_or_create_key(tmp_path / "attacker.pem"), signed_at=CLOCK)
    trusting = verify(chain)
    assert trusting.ok and any("not with a trusted key" in n for n in trusting.notes)
    problem, _ = first(chain, key)
    assert (problem.seq, problem.kind) == (30, "checkpoint") and "untrusted" in problem.message


def test_a_damaged_chain_is_not_signed(chain, key):
    with as_owner(chain) as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq = 30"))
    with pytest.raises(SigningError, match="does not match"), writing(chain) as session:
        checkpoint(session, key, signed_at=CLOCK)


def test_widespread_damage_is_reported_briefly(chain, key):
    append_events(chain, MAX_PROBLEMS + 20, per_transaction=200)
    with as_owner(chain) as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'x' WHERE seq > 3"))
    problem, report = first(chain, key)
    assert problem.seq == 4
    assert len(report.problems) == MAX_PROBLEMS + 1 and report.problems[-1].kind == "more"


def add_decision(session: Any) -> None:
    """Decision 2025-0001, for document rows to belong to."""
    session.add(
        DecisionRow(
            id="2025-0001",
            title="老旧小区改造",
            procedure_id="national-2019",
            procedure_version="1",
            sponsor="区住建委",
            registered_on=date(2025, 3, 3),
            status="in_progress",
        )
    )
    session.flush()


def add_document(session: Any, filename: str, content: bytes) -> None:
    """A draft of decision 2025-0001 (the row only: the file is the test's business)."""
    session.add(
        DocumentRow(
            decision_id="2025-0001",
            step="drafting",
            attempt=1,
            kind="draft",
            filename=filename,
            sha256=hashlib.sha256(content).hexdigest(),
            size=len(content),
            stored_at=CLOCK,
        )
    )


def recorded(step: str, filename: str, content: bytes, kind: str = "draft") -> dict[str, Any]:
    """A complete event's payload for one attached document, as the commands write it."""
    sha = hashlib.sha256(content).hexdigest()
    doc = {"kind": kind, "filename": filename, "sha256": sha, "size": len(content)}
    return {"step": step, "attempt": 1, "documents": [doc]}


@pytest.mark.parametrize("damage", ["altered", "missing"])
def test_a_stored_document_altered_or_removed(chain, key, tmp_path, damage):
    content = "某区老旧小区改造计划（草案）".encode()
    sha = hashlib.sha256(content).hexdigest()
    stored = tmp_path / "documents" / sha[:2] / sha
    stored.parent.mkdir(parents=True)
    stored.write_bytes(content)
    with writing(chain) as session:
        add_decision(session)
        add_document(session, "草案.docx", content)
        row = AuditLog(session).append(
            decision_id="2025-0001",
            action="complete",
            actor="承办人",
            effective_on=date(2025, 3, 10),
            recorded_at=CLOCK,
            payload=recorded("drafting", "草案.docx", content),
        )
    append_events(chain, 2)
    report = verify(chain, documents_dir=tmp_path / "documents")
    assert report.ok and report.documents == 1, report.problems
    if damage == "altered":
        stored.write_bytes(content + b" ")
    else:
        stored.unlink()
    problem, _ = first(chain, key, documents_dir=tmp_path / "documents")
    assert (problem.seq, problem.kind) == (row.seq, "document")
    assert (
        sha in problem.message and "草案.docx" in problem.message and "2025-0001" in problem.message
    )


def test_many_missing_documents_are_reported_briefly_and_the_directory_named(chain, key, tmp_path):
    """A documents directory that is wrong (or not mounted): the first MAX_PROBLEMS documents
    are listed, the rest counted, and the directory itself is named."""
    with writing(chain) as session:
        add_decision(session)
        for i in range(MAX_PROBLEMS + 5):
            add_document(session, f"附件{i}.pdf", f"附件{i}".encode())
    empty = tmp_path / "not-mounted"
    report = verify(chain, documents_dir=empty, public_keys=[public_key_bytes(key)])
    assert report.documents == MAX_PROBLEMS + 5
    kinds = [p.kind for p in report.problems]
    assert kinds.count("document") == MAX_PROBLEMS
    more = next(p for p in report.problems if p.kind == "more")
    assert more.message.startswith("5 further document problems")
    hint = next(p for p in report.problems if p.kind == "documents")
    assert str(empty) in hint.message and f"({MAX_PROBLEMS + 5} documents)" in hint.message


def test_a_document_row_of_the_wrong_type_is_malformed_and_the_hint_counts_the_rest(
    chain, key, tmp_path
):
    if chain.dialect.name != "sqlite":
        pytest.skip("only SQLite lets a column hold a value of another type")
    with writing(chain) as session:
        add_decision(session)
        for i in range(3):
            add_document(session, f"附件{i}.pdf", f"附件{i}".encode())
    with chain.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE documents SET sha256 = CAST('x' AS BLOB) WHERE id = (SELECT min(id) FROM documents)"
        )
    report = verify(chain, documents_dir=tmp_path / "nowhere")
    kinds = [p.kind for p in report.problems]
    assert kinds.count("document") == 3 and "documents" in kinds
    assert any("malformed" in p.message for p in report.problems if p.kind == "document")
    hint = next(p for p in report.problems if p.kind == "documents")
    assert "(2 documents)" in hint.message


def store_and_record(session: Any, root: Any, step: str, kind: str, name: str, content: bytes):
    """A document as the commands keep it: the file by hash, its row, the event recording it."""
    sha = hashlib.sha256(content).hexdigest()
    (root / sha[:2]).mkdir(parents=True, exist_ok=True)
    (root / sha[:2] / sha).write_bytes(content)
    session.add(
        DocumentRow(
            decision_id="2025-0001",
            step=step,
            attempt=1,
            kind=kind,
            filename=name,
            sha256=sha,
            size=len(content),
            stored_at=CLOCK,
        )
    )
    return AuditLog(session).append(
        decision_id="2025-0001",
        action="complete",
        actor="承办人",
        effective_on=date(2025, 3, 10),
        recorded_at=CLOCK,
        payload=recorded(step, name, content, kind),
    )


@pytest.fixture
def two_documents(chain, tmp_path):
    """A draft and a legality opinion of decision 2025-0001, each recorded by its event."""
    root = tmp_path / "documents"
    draft, opinion = "草案（征求意见稿）".encode(), "合法性审查意见：合法".encode()
    with writing(chain) as session:
        add_decision(session)
        first = store_and_record(session, root, "drafting", "draft", "草案.docx", draft)
        second = store_and_record(
            session, root, "legality_review", "legality_opinion", "审查意见.pdf", opinion
        )
    report = verify(chain, documents_dir=root)
    assert report.ok and report.documents == 2, report.problems
    return root, first.seq, second.seq, hashlib.sha256(opinion).hexdigest()


def test_a_document_row_pointed_at_another_stored_file(chain, key, two_documents):
    """The row's hash changed to another stored file's: every file matches its own row, but not
    the event that recorded the draft."""
    root, draft_event, _, opinion_sha = two_documents
    with chain.begin() as conn:
        conn.execute(
            text("UPDATE documents SET sha256 = :s WHERE filename = :f"),
            {"s": opinion_sha, "f": "草案.docx"},
        )
    problem, report = first(chain, key, documents_dir=root)
    assert (problem.seq, problem.kind) == (draft_event, "document"), report.problems
    assert f"recorded by event {draft_event}" in problem.message
    assert "points at another file" in problem.message and len(report.problems) == 1


def test_a_document_row_deleted(chain, key, two_documents):
    root, _, opinion_event, _ = two_documents
    with chain.begin() as conn:
        conn.execute(text("DELETE FROM documents WHERE filename = :f"), {"f": "审查意见.pdf"})
    problem, report = first(chain, key, documents_dir=root)
    assert (problem.seq, problem.kind) == (opinion_event, "document"), report.problems
    assert "has no documents row" in problem.message and "审查意见.pdf" in problem.message
