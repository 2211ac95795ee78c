"""Verification in parts gives the report of one pass: property test of the merge, then the real
helper processes on SQLite and PostgreSQL (same snapshot, a failed helper, widespread damage)."""

from __future__ import annotations

import itertools
import json
import pickle
import sqlite3
import threading
import time
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, text

import store.audit_chain as audit_chain
import store.audit_split as audit_split
from store.audit import GENESIS, canonical_json, event_hash, verify
from store.audit_chain import ChainCheck
from store.audit_split import Split, bounds
from store.audit_verify import _finish_parts, _start_parts, snapshot
from store.db import make_engine, migrate
from tests.integration.conftest import run_script
from tests.integration.test_audit import CLOCK, append_events
from tests.integration.test_tamper import as_owner

DECISIONS = ("2025-0001", "2025-0002", "2025-0003", "2025-0004")


def _hash(row: list[Any]) -> str:
    seq, did, dph, action, actor, eff, rec, payload, prev_hash, _ = row
    event = {
        "seq": seq,
        "decision_id": did,
        "decision_prev_hash": dph,
        "action": action,
        "actor": actor,
        "effective_on": eff,
        "recorded_at": rec,
        "payload": None,
    }
    event["payload"] = json.loads(payload)  # stored as canonical JSON text, hashed as a value
    return event_hash(prev_hash, event)


def make_chain(n: int) -> list[list[Any]]:
    """``n`` valid events (rows as the verifier reads them), every fourth without a decision."""
    rows: list[list[Any]] = []
    last: dict[str, str] = {}
    prev = GENESIS
    for seq in range(1, n + 1):
        did = None if seq % 4 == 0 else DECISIONS[seq % len(DECISIONS)]
        dph = None if did is None else last.get(did, GENESIS)
        payload = canonical_json({"n": seq, "note": f"第{seq}条意见"})
        eff = (date(2025, 1, 1) + timedelta(days=seq)).isoformat()
        rec = (CLOCK + timedelta(seconds=seq)).isoformat()
        row = [seq, did, dph, "note", "区政府办公室", eff, rec, payload, prev, ""]
        row[9] = prev = _hash(row)
        if did is not None:
            last[did] = prev
        rows.append(row)
    return rows


def tamper(rows: list[list[Any]], op: str, i: int, j: int) -> None:
    """What a database owner can do to the rows (seq stays unique: it is the primary key)."""
    if not rows:
        return
    i, j = i % len(rows), j % len(rows)
    r = rows[i]
    if op == "edit":
        r[4] = f"{r[4]}（改）"
    elif op == "rehash":
        r[4] = f"{r[4]}（改）"
        r[9] = _hash(r)
    elif op == "delete":
        del rows[i]
    elif op == "swap":
        rows[i][1:], rows[j][1:] = rows[j][1:], rows[i][1:]
    elif op == "insert":
        forged = [r[0], None, None, "note", "伪造", r[5], r[6], '{"n":0}', r[8], ""]
        forged[9] = _hash(forged)
        for later in rows[i:]:
            later[0] += 1
        rows.insert(i, forged)
    elif op == "link":
        r[2] = rows[j][9]
    elif op == "type":
        r[4] = 12345
    elif op == "truncate":
        del rows[i:]
    elif op == "renumber":
        r[0] += 1000
    elif op == "negative":
        r[0] = -r[0]
    elif op == "dtype":  # SQLite keeps any type in a column
        r[1] = 7
    elif op == "bulk":  # widespread damage: every row of a stretch edited
        for row in rows[min(i, j) : max(i, j) + 1]:
            row[4] = f"{row[4]}（改）"
    unique = {row[0]: row for row in rows}
    rows[:] = [unique[s] for s in sorted(unique)]


def check_in_parts(
    rows: list[tuple[Any, ...]], jobs: int, wanted: list[int], head: int | None = None
) -> ChainCheck:
    """What ``verify_database`` does with helpers, minus the processes (parts are pickled);
    the cuts come from ``head`` (the head row's seq, which may be tampered) as there."""
    last = max((r[0] for r in rows), default=0) if head is None else head

    def within(after: int | None, upto: int | None) -> list[tuple[Any, ...]]:
        return [
            r for r in rows if (after is None or r[0] > after) and (upto is None or r[0] <= upto)
        ]

    ranges = bounds(last, jobs)
    chain = ChainCheck(wanted)
    chain.feed(within(*ranges[0]))
    for after, upto in ranges[1:]:
        part = ChainCheck(wanted, detached=True)
        part.feed(within(after, upto))
        part = pickle.loads(pickle.dumps(part))
        chain.absorb(part)
        if part.gave_up:
            chain.feed(within(part.prefix[-1][0], upto))
    return chain


def _key(chain: ChainCheck) -> list[tuple[Any, ...]]:
    return sorted((p.seq or 0, p.kind, p.message) for p in chain.all_problems())


OPS = (
    "edit",
    "rehash",
    "delete",
    "swap",
    "insert",
    "link",
    "type",
    "dtype",
    "truncate",
    "renumber",
    "negative",
    "bulk",
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(0, 70),
    damage=st.lists(
        st.tuples(st.sampled_from(OPS), st.integers(0, 200), st.integers(0, 200)), max_size=5
    ),
    jobs=st.integers(2, 6),
    head=st.one_of(st.none(), st.integers(-8, 90)),
    prefix_limit=st.sampled_from((2, 3, 1000)),
    max_problems=st.sampled_from((1, 2, 3, 100)),
)
def test_parts_report_what_one_pass_reports(n, damage, jobs, head, prefix_limit, max_problems):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(audit_chain, "PREFIX_LIMIT", prefix_limit)
        mp.setattr(audit_chain, "MAX_PROBLEMS", max_problems)
        compare_parts_with_one_pass(n, damage, jobs, head)


def compare_parts_with_one_pass(n, damage, jobs, head):
    rows = make_chain(n)
    for op, i, j in damage:
        tamper(rows, op, i, j)
    frozen = [tuple(r) for r in rows]
    wanted = [s for s in (5, 17, 33, 60) if s <= n]
    one = ChainCheck(wanted)
    one.feed(frozen)
    parts = check_in_parts(frozen, jobs, wanted, head)
    state = ("count", "last_seq", "last_hash", "found", "_by_decision", "dropped")
    assert [getattr(parts, k) for k in state] == [getattr(one, k) for k in state]
    # the same problems in the same order, also when the list is cut at MAX_PROBLEMS
    assert [(p.seq, p.kind, p.message) for p in parts.problems] == [
        (p.seq, p.kind, p.message) for p in one.problems
    ]
    if not damage:
        assert not one.problems


def test_a_head_rewound_below_zero_still_gives_parts_that_do_not_overlap():
    rows = make_chain(20)
    tamper(rows, "negative", 2, 0)  # event 3 renumbered to -3
    frozen = [tuple(r) for r in rows]
    one = ChainCheck()
    one.feed(frozen)
    for jobs in (2, 3, 5):
        parts = check_in_parts(frozen, jobs, [], head=-5)
        assert parts.count == one.count == 20
        assert [(p.seq, p.kind) for p in parts.problems] == [(p.seq, p.kind) for p in one.problems]


def test_a_decision_link_broken_across_the_split_is_found():
    """The first event of a decision in a later part links into the earlier part."""
    rows = make_chain(40)
    wrong, did = rows[30], rows[30][1]
    assert did is not None
    wrong[2] = rows[3][9]  # a wrong decision link, written so (the chain re-hashed from there)
    last = None
    for before, row in itertools.pairwise(rows[29:]):
        row[8] = before[9]
        if row[1] == did and last is not None:  # the decision's later events link to it
            row[2] = last
        row[9] = _hash(row)
        last = row[9] if row[1] == did else last
    frozen = [tuple(r) for r in rows]
    one = ChainCheck()
    one.feed(frozen)
    assert (one.problems[0].seq, one.problems[0].kind) == (31, "decision_link")
    assert {p.kind for p in one.problems} == {"decision_link"}
    for jobs in (2, 3, 4):
        assert _key(check_in_parts(frozen, jobs, [])) == _key(one)


# --- the real helpers ------------------------------------------------------------------------


def _report_key(report: Any) -> tuple[Any, ...]:
    problems = sorted((p.seq or 0, p.kind, p.message) for p in report.problems)
    return (report.ok, report.events, report.head_seq, report.head_hash, problems)


def test_helpers_give_the_report_of_one_pass(engine: Engine):
    append_events(engine, 240, per_transaction=60)
    clean = verify(engine, jobs=3)
    assert clean.ok and clean.events == 240, clean.problems
    with as_owner(engine) as conn:  # damage in every part and around the cuts (80, 160)
        conn.execute(text("DELETE FROM audit_events WHERE seq IN (40, 80, 81)"))
        conn.execute(text("UPDATE audit_events SET actor = 'x' WHERE seq IN (120, 161)"))
        conn.execute(
            text("UPDATE audit_events SET decision_prev_hash = :h WHERE seq = 200"),
            {"h": "0" * 63 + "1"},
        )
    one = verify(engine, jobs=1)
    kinds = {p.kind for p in one.problems}
    assert {"missing", "hash", "decision_link"} <= kinds, one.problems
    for jobs in (2, 3, 5):
        assert _report_key(verify(engine, jobs=jobs)) == _report_key(one)


def test_a_helper_that_dies_leaves_its_part_to_the_caller(engine: Engine):
    append_events(engine, 90, per_transaction=30)
    with as_owner(engine) as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'x' WHERE seq = 70"))
    one = verify(engine, jobs=1)
    with Split(engine, 2) as split:
        assert split.helpers == 2 and split.fence()
        split.procs[1].kill()
        split.procs[1].join()
        with snapshot(engine) as conn:
            chain = ChainCheck()
            _finish_parts(conn, chain, split, _start_parts(conn, chain, split))
    assert chain.count == 90
    assert [(p.seq, p.kind) for p in chain.problems] == [
        (p.seq, p.kind) for p in one.problems if p.kind != "head"
    ]


def test_widespread_damage_past_the_prefix_limit(engine: Engine):
    append_events(engine, 2400, per_transaction=400)
    with as_owner(engine) as conn:  # more of the helper's part edited than PREFIX_LIMIT rows
        conn.execute(text("UPDATE audit_events SET actor = 'x' WHERE seq > 1100"))
    one = verify(engine, jobs=1)
    assert one.problems[-1].kind == "more" and one.events == 2400
    assert verify(engine, jobs=2) == one  # the same report, the same 100 problems listed


def test_helpers_read_the_callers_snapshot(engine: Engine):
    """An event committed after the caller's first read is not seen by any helper: on SQLite
    the writer waits for the fence (it would otherwise commit at once), on PostgreSQL the helpers
    adopt the exported snapshot."""
    append_events(engine, 60, per_transaction=30)
    done = threading.Event()

    def write() -> None:
        append_events(engine, 5)
        done.set()

    with Split(engine, 2) as split:
        assert split.fence()
        with snapshot(engine) as conn:
            conn.execute(text("SELECT seq FROM audit_head")).all()  # the caller's snapshot
            writer = threading.Thread(target=write)
            writer.start()
            done.wait(timeout=1.5 if engine.dialect.name == "sqlite" else 5)
            chain = ChainCheck()
            _finish_parts(conn, chain, split, _start_parts(conn, chain, split))
    writer.join()
    assert done.is_set()
    assert chain.count == 60 and not chain.problems, chain.problems
    assert verify(engine, jobs=2).events == 65


@pytest.mark.parametrize("jobs", [1, 2])
def test_events_that_cannot_be_read_are_reported_and_the_rest_still_checked(
    engine: Engine, tmp_path, jobs
):
    """PostgreSQL: the events table is locked by another session past the lock timeout; the
    report names the events that could not be read and still checks the documents."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite readers are never blocked by a lock (WAL)")
    append_events(engine, 30)
    impatient = create_engine(engine.url, connect_args={"options": "-c lock_timeout=300"})
    try:
        with engine.connect() as holder, holder.begin():
            holder.exec_driver_sql("LOCK TABLE audit_events IN ACCESS EXCLUSIVE MODE")
            report = verify(impatient, documents_dir=tmp_path, jobs=jobs)
    finally:
        impatient.dispose()
    assert not report.ok and report.events == 0
    assert [p.kind for p in report.problems] == ["unreadable"]
    assert "lock timeout" in report.problems[0].message
    assert "document files were not checked" not in " ".join(report.notes)


def test_a_helper_that_would_read_another_table_leaves_its_part_to_the_caller(engine: Engine):
    """PostgreSQL: the engine reads schema ``tenant`` (a connect option the helpers, which
    connect with the URL alone, do not have); the tampered row there must still be found."""
    if engine.dialect.name != "postgresql":
        pytest.skip("a search_path is PostgreSQL's")
    append_events(engine, 90, per_transaction=30)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA tenant")
        for table in ("audit_events", "audit_head", "audit_checkpoints"):
            conn.exec_driver_sql(f"CREATE TABLE tenant.{table} (LIKE public.{table})")
            conn.exec_driver_sql(f"INSERT INTO tenant.{table} SELECT * FROM public.{table}")
        conn.exec_driver_sql("UPDATE tenant.audit_events SET actor = 'x' WHERE seq = 80")
    tenant = create_engine(engine.url, connect_args={"options": "-c search_path=tenant"})
    try:
        one = verify(tenant, jobs=1)
        assert [(p.seq, p.kind) for p in one.problems] == [(80, "hash")]
        assert _report_key(verify(tenant, jobs=2)) == _report_key(one)
    finally:
        tenant.dispose()


def test_sqlite_verifies_in_one_pass_when_the_write_lock_is_held(engine: Engine, monkeypatch):
    """A writer holding the lock past FENCE_TIMEOUT: no error, the report of one pass."""
    if engine.dialect.name != "sqlite":
        pytest.skip("the write fence is SQLite's")
    append_events(engine, 60, per_transaction=30)
    monkeypatch.setattr(audit_split, "FENCE_TIMEOUT", 0.2)
    writer = sqlite3.connect(engine.url.database, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        report = verify(engine, jobs=2)
    finally:
        writer.close()
    assert report.ok and report.events == 60


def test_sqlite_not_in_wal_mode_is_verified_without_error(tmp_path):
    url = f"sqlite:///{tmp_path / 'rollback.db'}"
    engine = make_engine(url)
    migrate(engine)
    append_events(engine, 40)
    engine.dispose()
    raw = sqlite3.connect(tmp_path / "rollback.db")
    assert raw.execute("PRAGMA journal_mode=DELETE").fetchone()[0] == "delete"
    raw.close()
    fresh = make_engine(url)
    try:
        report = verify(fresh, jobs=2)
    finally:
        fresh.dispose()
    assert report.ok and report.events == 40


def test_an_unreadable_event_in_the_callers_part_stops_helpers_quietly(engine: Engine, capfd):
    """SQLite: event 5 holds bytes that are not UTF-8; the helpers still working are stopped
    without a word, and the report is that of one pass."""
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL checks the encoding of what it stores")
    append_events(engine, 3000, per_transaction=500)
    with as_owner(engine) as conn:
        conn.execute(text("UPDATE audit_events SET actor = CAST(x'ff' AS TEXT) WHERE seq = 5"))
    one = verify(engine, jobs=1)
    assert [p.kind for p in one.problems] == ["unreadable"] and one.events == 4
    assert _report_key(verify(engine, jobs=3)) == _report_key(one)
    assert "Traceback" not in capfd.readouterr().err


def test_a_script_without_a_main_guard_still_verifies(engine: Engine, tmp_path):
    """``spawn`` re-runs the calling script in each helper; without a ``__main__`` guard the
    helper's re-run verifies too (it cannot start helpers while starting up) — slower, but the
    report is right and nothing is printed that the script did not print."""
    if engine.dialect.name != "sqlite":
        pytest.skip("one engine is enough for the process handling")
    append_events(engine, 50)
    done = run_script(
        tmp_path / "noguard.py",
        "from store.db import make_engine\n"
        "from store.audit import verify\n"
        f"report = verify(make_engine({str(engine.url)!r}), jobs=2)\n"
        "print('REPORT', report.ok, report.events)\n",
    )
    assert done.returncode == 0, done.stderr
    assert "REPORT True 50" in done.stdout.splitlines()
    assert "Traceback" not in done.stderr, done.stderr


@pytest.mark.parametrize("jobs", [2, 3, 4, 5, 6])
def test_a_malformed_row_is_not_a_clean_start_for_a_part(jobs):
    """A row with a payload of another type and its hash emptied (SQLite keeps any type): one
    pass marks it bad, so a part must not start its own checks from it."""
    rows = make_chain(40)
    for k in (12, 31):
        rows[k][7] = rows[k][7].encode()
        rows[k][9] = ""
    frozen = [tuple(r) for r in rows]
    one = ChainCheck()
    one.feed(frozen)
    assert {p.kind for p in one.problems} >= {"payload", "link"}
    parts = check_in_parts(frozen, jobs, [])
    assert [(p.seq, p.kind, p.message) for p in parts.problems] == [
        (p.seq, p.kind, p.message) for p in one.problems
    ]


def test_an_empty_bytes_decision_id_is_malformed_not_a_crash():
    rows = make_chain(12)
    rows[7][1] = b""  # and its link pointing two events back
    rows[7][8] = rows[5][9]
    frozen = [tuple(r) for r in rows]
    one = ChainCheck()
    one.feed(frozen)
    assert "malformed" in {p.kind for p in one.problems}
    assert _key(check_in_parts(frozen, 3, [])) == _key(one)


def test_a_head_row_of_the_wrong_type_is_reported(engine: Engine):
    if engine.dialect.name != "sqlite":
        pytest.skip("only SQLite lets a column hold a value of another type")
    append_events(engine, 35)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE audit_head SET seq = CAST('35' AS BLOB) WHERE id = 1")
    reports = [verify(engine, jobs=j) for j in (1, 2, None)]
    assert reports[0] == reports[1] == reports[2]
    assert [p.kind for p in reports[0].problems] == ["head"]
    assert "malformed" in reports[0].problems[0].message and reports[0].events == 35


def test_a_helper_queued_behind_a_table_lock_gives_way(engine: Engine, monkeypatch):
    """PostgreSQL: the caller holds its lock on audit_events, another session's LOCK TABLE
    waits for the caller, a helper's read would wait behind that for ever: it gives way after
    its lock timeout and the caller (whose lock is granted) reads its part."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite readers take no table locks")
    append_events(engine, 80, per_transaction=40)
    monkeypatch.setattr(audit_split, "HELPER_LOCK_TIMEOUT_MS", 300)
    locker_done = threading.Event()

    def lock_table() -> None:
        with engine.connect() as other, other.begin():
            other.exec_driver_sql("LOCK TABLE audit_events IN ACCESS EXCLUSIVE MODE")
        locker_done.set()

    with Split(engine, 2) as split, snapshot(engine) as conn:
        assert split.fence()
        conn.execute(text("SELECT count(*) FROM audit_events")).scalar()  # the caller's lock
        locker = threading.Thread(target=lock_table)
        locker.start()
        waiting = text("SELECT count(*) FROM pg_locks WHERE NOT granted")
        for _ in range(100):  # until the LOCK TABLE is queued
            with engine.connect() as probe:
                if probe.execute(waiting).scalar():
                    break
            time.sleep(0.05)
        chain = ChainCheck()
        _finish_parts(conn, chain, split, _start_parts(conn, chain, split))
        assert not locker_done.is_set()  # still waiting for the caller
    locker.join(timeout=10)
    assert locker_done.is_set()
    assert chain.count == 80 and not chain.problems, chain.problems
