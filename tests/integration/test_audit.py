"""The audit log on SQLite and PostgreSQL: append, verify, export, checkpoints, the triggers."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from procedures.errors import DecideError, InputError
from store.audit import (
    GENESIS,
    AuditLog,
    canonical_json,
    event_hash,
    event_text,
    export_jsonl,
    verify,
    verify_export,
)
from store.signing import SigningError, checkpoint, load_or_create_key, public_key_bytes
from store.tables import AuditEventRow

CLOCK = datetime(2025, 3, 3, 1, 2, 3, 456789, tzinfo=UTC)
DECISIONS = ("2025-0001", "2025-0002", "2025-0003")


@contextmanager
def writing(engine: Engine) -> Iterator[Session]:
    """One committed write transaction, begun the way a unit of work begins it."""
    bind = engine
    if engine.dialect.name == "sqlite":
        bind = engine.execution_options(sqlite_begin="IMMEDIATE")
    with Session(bind, expire_on_commit=False) as session, session.begin():
        yield session


def append_events(engine: Engine, count: int, *, per_transaction: int = 10) -> list[AuditEventRow]:
    """``count`` events over three decisions (every fifth without one), Chinese text included."""
    rows: list[AuditEventRow] = []
    while len(rows) < count:
        with writing(engine) as session:
            log = AuditLog(session)
            for _ in range(min(per_transaction, count - len(rows))):
                i = len(rows)
                rows.append(
                    log.append(
                        decision_id=None if i % 5 == 4 else DECISIONS[i % 3],
                        action=("start", "complete", "note")[i % 3],
                        actor="区司法局 李审查员",
                        effective_on=date(2025, 3, 3) + timedelta(days=i),
                        payload={
                            "step": "legality_review",
                            "n": i,
                            "note": f"第{i}条：意见已汇总",
                            "on": date(2025, 3, 3),
                            "tags": ("合法", "ok"),
                        },
                        recorded_at=CLOCK + timedelta(seconds=i),
                    )
                )
    return rows


def test_appended_events_form_a_chain_that_verifies(engine):
    rows = append_events(engine, 57)
    report = verify(engine)
    assert report.ok, report.problems
    assert (report.events, report.head_seq, report.head_hash) == (57, 57, rows[-1].hash)
    with writing(engine) as session:
        events = AuditLog(session).events()
    assert [e.seq for e in events] == list(range(1, 58))
    assert [e.prev_hash for e in events] == [GENESIS] + [e.hash for e in events[:-1]]
    assert len({e.hash for e in events}) == 57


def test_each_decision_keeps_its_own_chain(engine):
    append_events(engine, 30)
    with writing(engine) as session:
        log = AuditLog(session)
        for decision_id in DECISIONS:
            events = log.events(decision_id)
            assert events and all(e.decision_id == decision_id for e in events)
            assert [e.seq for e in events] == sorted(e.seq for e in events)
            assert [e.decision_prev_hash for e in events] == [GENESIS] + [
                e.hash for e in events[:-1]
            ]
        assert all(e.decision_prev_hash is None for e in log.events() if e.decision_id is None)


def test_a_stored_event_hashes_exactly_as_specified(engine):
    append_events(engine, 7)
    with writing(engine) as session:
        events = AuditLog(session).events()
    for e in events:
        event = {
            "seq": e.seq,
            "decision_id": e.decision_id,
            "decision_prev_hash": e.decision_prev_hash,
            "action": e.action,
            "actor": e.actor,
            "effective_on": e.effective_on.isoformat(),
            "recorded_at": e.recorded_at,
            "payload": json.loads(e.payload),
        }
        assert e.hash == hashlib.sha256((e.prev_hash + canonical_json(event)).encode()).hexdigest()
        assert e.hash == event_hash(e.prev_hash, event)
        assert e.payload == canonical_json(json.loads(e.payload))
    assert events[0].recorded_at == "2025-03-03T01:02:03.456789Z"
    assert json.loads(events[0].payload) == {
        "n": 0,
        "note": "第0条：意见已汇总",
        "on": "2025-03-03",
        "step": "legality_review",
        "tags": ["合法", "ok"],
    }


def test_recording_times_are_stored_in_utc_with_microseconds(engine):
    beijing = timezone(timedelta(hours=8))
    with writing(engine) as session:
        log = AuditLog(session)
        a = log.append(
            decision_id=None,
            action="note",
            actor="x",
            effective_on=date(2025, 3, 3),
            payload={},
            recorded_at=datetime(2025, 3, 3, 9, 0, tzinfo=beijing),
        )
        with pytest.raises(ValueError, match="timezone-aware"):
            log.append(
                decision_id=None,
                action="note",
                actor="x",
                effective_on=date(2025, 3, 3),
                payload={},
                recorded_at=datetime(2025, 3, 3, 9, 0),
            )
    assert a.recorded_at == "2025-03-03T01:00:00.000000Z"
    assert verify(engine).ok


@pytest.mark.parametrize(
    "field, value",
    [
        ("actor", "a\x00b"),
        ("actor", "坏\ud800"),
        ("payload", {"t": "\udfff"}),
        ("action", "x" * 65),
    ],
)
def test_text_the_databases_cannot_keep_exactly_is_refused(engine, field, value):
    fields: dict[str, object] = {
        "decision_id": "2025-0001",
        "action": "note",
        "actor": "x",
        "effective_on": date(2025, 3, 3),
        "payload": {},
        "recorded_at": CLOCK,
    }
    fields[field] = value
    with pytest.raises(InputError), writing(engine) as session:
        AuditLog(session).append(**fields)
    assert verify(engine).events == 0


def test_an_empty_chain_verifies(engine):
    report = verify(engine)
    assert report.ok and (report.events, report.head_seq, report.head_hash) == (0, 0, GENESIS)
    assert any("no signed checkpoints" in n for n in report.notes)


def test_full_and_one_decision_exports_verify_offline(engine, tmp_path):
    append_events(engine, 25)
    key = load_or_create_key(tmp_path / "keys" / "audit.pem")
    with writing(engine) as session:
        checkpoint(session, key, signed_at=CLOCK)
    append_events(engine, 3)
    everything = tmp_path / "all.jsonl"
    assert export_jsonl(engine, everything) == 28
    lines = [json.loads(line) for line in everything.read_text(encoding="utf-8").splitlines()]
    assert lines[0] == {
        "format": "decide-audit-export",
        "version": 1,
        "scope": "all",
        "head": {"seq": 28, "hash": lines[-1]["hash"]},
        "events": 28,
    }
    assert [x["seq"] for x in lines if x.get("type") == "checkpoint"] == [25]
    events = [x for x in lines if x.get("type") == "event"]
    assert [x["seq"] for x in events] == list(range(1, 29))
    assert set(events[0]) == {
        "type",
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
    }
    assert "第0条" in everything.read_text(encoding="utf-8")  # not \u-escaped
    report = verify_export(everything, public_keys=[public_key_bytes(key)])
    assert report.ok, report.problems
    assert (report.events, report.head_seq, report.checkpoints) == (28, 28, 1)

    one = tmp_path / "one.jsonl"
    written = export_jsonl(engine, one, decision_id=DECISIONS[1])
    with writing(engine) as session:
        assert written == len(AuditLog(session).events(DECISIONS[1])) > 5
    assert json.loads(one.read_text(encoding="utf-8").splitlines()[0])["scope"] == "decision"
    report = verify_export(one)
    assert report.ok and report.events == written, report.problems


def _rewrite_line(path: Path, seq: int, change) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        obj = json.loads(line)
        if obj.get("type") == "event" and obj["seq"] == seq:
            lines[i] = json.dumps(change(obj), ensure_ascii=False)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_an_edited_export_line_is_caught_naming_its_seq(engine, tmp_path):
    append_events(engine, 20)
    everything, one = tmp_path / "all.jsonl", tmp_path / "one.jsonl"
    export_jsonl(engine, everything)
    export_jsonl(engine, one, decision_id=DECISIONS[0])

    def edit(obj):
        obj["payload"]["note"] = "意见已删除"
        return obj

    _rewrite_line(everything, 7, edit)
    report = verify_export(everything)
    assert not report.ok and report.problems[0].seq == 7, report.problems
    assert "event 7" in report.problems[0].message

    seqs = [json.loads(x)["seq"] for x in one.read_text(encoding="utf-8").splitlines()[1:]]
    _rewrite_line(one, seqs[2], lambda obj: {**obj, "actor": "某人"})
    report = verify_export(one)
    assert not report.ok and report.problems[0].seq == seqs[2], report.problems

    export_jsonl(engine, one, decision_id=DECISIONS[0])  # a line removed from the middle
    lines = one.read_text(encoding="utf-8").splitlines()
    one.write_text("\n".join(lines[:3] + lines[4:]) + "\n", encoding="utf-8")
    report = verify_export(one)
    assert not report.ok and report.problems[0].seq == seqs[3], report.problems


def test_a_signed_checkpoint_verifies_and_names_its_key(engine, tmp_path):
    append_events(engine, 12)
    key = load_or_create_key(tmp_path / "audit.pem")
    with writing(engine) as session:
        row = checkpoint(session, key, signed_at=CLOCK)
    assert (row.seq, row.signed_at) == (12, "2025-03-03T01:02:03.456789Z")
    append_events(engine, 3)
    report = verify(engine, public_keys=[public_key_bytes(key)])
    assert report.ok and report.checkpoints == 1, report.problems
    assert not any("not with a trusted key" in n for n in report.notes)
    trusting = verify(engine)
    assert trusting.ok and any("not with a trusted key" in n for n in trusting.notes)
    other = load_or_create_key(tmp_path / "other.pem")
    report = verify(engine, public_keys=[public_key_bytes(other)])
    assert not report.ok and report.problems[0].seq == 12
    assert "untrusted key" in report.problems[0].message


def test_the_signing_key_file_is_private(tmp_path):
    path = tmp_path / "home" / "keys" / "audit.pem"
    key = load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert public_key_bytes(load_or_create_key(path)) == public_key_bytes(key)
    assert len(public_key_bytes(key)) == 32
    os.chmod(path, 0o640)
    with pytest.raises(SigningError, match="chmod 600") as info:
        load_or_create_key(path)
    assert isinstance(info.value, DecideError)
    os.chmod(path, 0o600)
    path.write_text("not a key")
    with pytest.raises(SigningError, match="PEM"):
        load_or_create_key(path)


def test_the_database_refuses_to_change_or_remove_events(engine):
    append_events(engine, 3)
    statements = [
        "UPDATE audit_events SET actor = 'x' WHERE seq = 2",
        "DELETE FROM audit_events WHERE seq = 3",
    ]
    if engine.dialect.name == "postgresql":
        statements.append("TRUNCATE audit_events")
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    assert verify(engine).ok and verify(engine).events == 3


def test_canonical_json():
    assert canonical_json({"b": 1, "a": [1, 2], "中": "文"}) == '{"a":[1,2],"b":1,"中":"文"}'
    assert (
        canonical_json({"z": {"y": 1, "x": None}, "t": (1, "二")})
        == '{"t":[1,"二"],"z":{"x":null,"y":1}}'
    )
    assert (
        canonical_json({"on": date(2025, 3, 3), "at": datetime(2025, 3, 3, 1, 2, tzinfo=UTC)})
        == '{"at":"2025-03-03T01:02:00+00:00","on":"2025-03-03"}'
    )
    assert canonical_json('引号"与\\反斜杠\n') == '"引号\\"与\\\\反斜杠\\n"'
    assert canonical_json(1.5) == "1.5" and canonical_json(True) == "true"
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})
    with pytest.raises(TypeError):
        canonical_json({"x": object()})
    event = {"seq": 1, "payload": {"a": 1}}
    assert (
        event_hash(GENESIS, event)
        == hashlib.sha256((GENESIS + '{"payload":{"a":1},"seq":1}').encode()).hexdigest()
    )


@pytest.mark.parametrize(
    "actor", ["张三", 'say "hi"', "back\\slash", "tab\tnew\nline\x01", "\u2028\u00e9\U0001f600"]
)
def test_the_fast_hashed_text_equals_the_canonical_form(actor):
    payload = {"b": [1, "\u4e2d"], "a": None}
    for decision_id, link in ((None, None), ("2025-0001", GENESIS)):
        event = {
            "seq": 3,
            "decision_id": decision_id,
            "decision_prev_hash": link,
            "action": "note",
            "actor": actor,
            "effective_on": "2025-03-03",
            "recorded_at": "2025-03-03T01:02:03.000000Z",
            "payload": payload,
        }
        assert event_text(
            "f" * 64,
            3,
            decision_id,
            link,
            "note",
            actor,
            "2025-03-03",
            "2025-03-03T01:02:03.000000Z",
            canonical_json(payload),
        ) == "f" * 64 + canonical_json(event)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
odd_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=30,
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    payload=st.dictionaries(st.text(), json_values, max_size=6),
    actor=odd_text,
    decision=st.sampled_from([None, *DECISIONS]),
)
def test_any_payload_appends_verifies_and_round_trips(engine, payload, actor, decision):
    with writing(engine) as session:
        row = AuditLog(session).append(
            decision_id=decision,
            action="note",
            actor=actor,
            effective_on=date(2025, 3, 3),
            payload=payload,
            recorded_at=CLOCK,
        )
    report = verify(engine)
    assert report.ok, report.problems
    with writing(engine) as session:
        stored = session.get(AuditEventRow, row.seq)
        assert stored is not None
        assert json.loads(stored.payload) == payload and stored.actor == actor


def test_concurrent_writers_never_fork_the_chain(engine):
    def writer(n: int) -> None:
        for i in range(15):
            with writing(engine) as session:
                AuditLog(session).append(
                    decision_id=DECISIONS[(n + i) % 3],
                    action="note",
                    actor=f"writer {n}",
                    effective_on=date(2025, 3, 3),
                    payload={"writer": n, "i": i},
                    recorded_at=CLOCK,
                )

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(writer, range(4)))
    report = verify(engine)
    assert report.ok and report.events == report.head_seq == 60, report.problems
