"""The store on SQLite and PostgreSQL: round trips, atomic commands, races, crashes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from app.commands import Attachment, Commands
from procedures import Conflict, InputError, RuleViolation
from store.audit import verify
from store.tables import AttemptRow, AuditEventRow, DecisionRow, OutboxRow
from store.uow import UnitOfWork

ROOT = Path(__file__).resolve().parents[2]
CLOCK = datetime(2025, 12, 31, 4, 0, tzinfo=UTC)


@pytest.fixture
def cmds(db, tmp_path) -> Commands:
    return Commands(db, tmp_path / "home", clock=lambda: CLOCK)


def count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def registered(cmds: Commands, flags=("technical", "stability_risk")) -> str:
    return cmds.register(
        title="某区2025年老旧小区改造计划",
        procedure_id="national-2019",
        sponsor="区住房和城乡建设委员会",
        actor="区政府办公室",
        flags=flags,
        target_on=date(2025, 12, 31),
        catalogue_year=2025,
        on=date(2025, 3, 3),
    ).id


def test_a_registered_decision_round_trips(cmds, engine):
    decision_id = registered(cmds)
    assert decision_id == "2025-0001"
    assert registered(cmds) == "2025-0002"
    decision, plan = cmds.status(decision_id, date(2025, 3, 4))
    assert decision.flags == {"technical", "stability_risk"}
    assert decision.target_on == date(2025, 12, 31) and decision.catalogue_year == 2025
    assert plan.step("initiation").status == "done" and plan.step("drafting").status == "ready"
    with UnitOfWork(cmds.db, write=False) as uow:
        events = uow.audit.events(decision_id)
    assert [e.action for e in events] == ["register"]
    assert count(engine, OutboxRow) >= 2  # drafting is ready: its sponsor is told, twice over


def test_a_command_writes_state_audit_and_outbox_together(cmds, engine):
    decision_id = registered(cmds)
    events, outbox = count(engine, AuditEventRow), count(engine, OutboxRow)
    after, plan = cmds.start(decision_id, "drafting", actor="承办人", on=date(2025, 3, 3))
    assert after.version == 2 and plan.step("drafting").status == "open"
    assert count(engine, AuditEventRow) == events + 1
    assert count(engine, OutboxRow) == outbox + 1
    with engine.connect() as conn:
        due = conn.execute(select(AttemptRow.due_on).where(AttemptRow.step == "drafting")).scalar()
    assert due == date(2025, 5, 6)  # 60 days → Fri 2025-05-02 is a holiday (劳动节) → 05-06


def test_a_refused_command_writes_nothing(cmds, engine):
    decision_id = registered(cmds)
    before = [count(engine, t) for t in (AuditEventRow, OutboxRow, AttemptRow)]
    with pytest.raises(RuleViolation):
        cmds.start(decision_id, "legality_review", actor="x", on=date(2025, 3, 4))
    with pytest.raises(InputError):
        cmds.start(decision_id, "drafting", actor="x", on=date(2024, 1, 1))
    with pytest.raises(InputError):
        cmds.complete(
            decision_id,
            "drafting",
            actor="x",
            on=date(2025, 3, 4),
            attachments=[Attachment("draft", Path("/nonexistent/草案.docx"))],
        )
    assert [count(engine, t) for t in (AuditEventRow, OutboxRow, AttemptRow)] == before
    with engine.connect() as conn:
        assert conn.execute(select(DecisionRow.version)).scalar() == 1


def test_a_failure_inside_the_unit_of_work_rolls_everything_back(cmds, engine):
    decision_id = registered(cmds)
    before = [count(engine, t) for t in (AuditEventRow, OutboxRow, AttemptRow)]
    with pytest.raises(ZeroDivisionError), UnitOfWork(cmds.db) as uow:
        d = uow.decisions.get(decision_id)
        uow.audit.append(
            decision_id=d.id,
            action="note",
            actor="x",
            effective_on=date(2025, 3, 3),
            payload={"n": 1},
            recorded_at=CLOCK,
        )
        uow.outbox.add(kind="notify", decision_id=d.id, payload={}, now=CLOCK)
        1 / 0  # noqa: B018
    assert [count(engine, t) for t in (AuditEventRow, OutboxRow, AttemptRow)] == before
    assert verify(engine).ok


def test_a_stale_write_is_refused_as_changed_meanwhile(cmds, engine):
    decision_id = registered(cmds)
    with UnitOfWork(cmds.db, write=False) as uow:
        stale = uow.decisions.get(decision_id)
    cmds.start(decision_id, "drafting", actor="a", on=date(2025, 3, 3))
    from procedures import WorkCalendar, apply, load_procedure, plan

    proc, cal = load_procedure("national-2019"), WorkCalendar.official()
    from procedures import Start

    attempts = apply(
        proc, stale.flags, stale.attempts, Start(step="drafting", on=date(2025, 3, 4)), cal
    )
    with pytest.raises(Conflict, match="changed meanwhile"), UnitOfWork(cmds.db) as uow:
        uow.decisions.save(
            stale,
            attempts,
            plan(proc, stale.flags, attempts, date(2025, 3, 4), cal, target_on=stale.target_on),
        )
        uow.commit()  # the version check travels with the next statement sent, at the latest here
    decision, _ = cmds.status(decision_id)
    assert decision.version == 2
    assert [a.opened_on for a in decision.attempts if a.step == "drafting"] == [date(2025, 3, 3)]


def test_attachments_are_stored_by_hash_and_recorded(cmds, engine, tmp_path):
    decision_id = registered(cmds)
    draft = tmp_path / "草案.txt"
    draft.write_text("某区2025年老旧小区改造计划（草案）", encoding="utf-8")
    cmds.start(decision_id, "drafting", actor="a", on=date(2025, 3, 3))
    cmds.complete(
        decision_id,
        "drafting",
        actor="a",
        on=date(2025, 3, 10),
        attachments=[Attachment("draft", draft)],
    )
    with UnitOfWork(cmds.db, write=False) as uow:
        event = uow.audit.events(decision_id)[-1]
    import hashlib
    import json

    sha = hashlib.sha256(draft.read_bytes()).hexdigest()
    assert json.loads(event.payload)["documents"][0]["sha256"] == sha
    stored = cmds.documents().path_for(sha)
    assert stored.read_bytes() == draft.read_bytes()
    assert verify(engine, documents_dir=cmds.documents().root).ok
    stored.write_bytes(b"altered")
    report = verify(engine, documents_dir=cmds.documents().root)
    assert not report.ok and any(sha in p.message or "草案" in p.message for p in report.problems)


def _worker(url: str, home: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.worker", url, str(home), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_parallel_steps_recorded_by_racing_processes_are_all_kept(
    cmds, database_url, tmp_path, engine
):
    decision_id = registered(cmds)
    cmds.start(decision_id, "drafting", actor="a", on=date(2025, 3, 3))
    cmds.complete(decision_id, "drafting", actor="a", on=date(2025, 3, 10))
    go = tmp_path / "go"
    steps = ("public_participation", "expert_review", "risk_assessment")
    procs = [
        _worker(database_url, tmp_path / "home", "race-step", decision_id, s, str(go))
        for s in steps
    ]
    time.sleep(1.0)
    go.touch()
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    decision, plan = cmds.status(decision_id, date(2025, 4, 15))
    for step in steps:  # no lost update: every process's work survived
        assert plan.step(step).status == "done", (step, outputs)
        assert sum(1 for a in decision.attempts if a.step == step) == 1
    assert decision.version == 3 + 2 * len(steps)
    with UnitOfWork(cmds.db, write=False) as uow:
        actions = [e.action for e in uow.audit.events(decision_id)]
    assert sorted(actions) == sorted(["register", "start", "complete"] + ["start", "complete"] * 3)
    assert verify(engine).ok


def test_conflicting_outcomes_from_racing_processes_apply_once(
    cmds, database_url, tmp_path, engine
):
    decision_id = registered(cmds, flags=())
    cmds.start(decision_id, "drafting", actor="a", on=date(2025, 3, 3))
    cmds.complete(decision_id, "drafting", actor="a", on=date(2025, 3, 10))
    cmds.start(decision_id, "public_participation", actor="a", on=date(2025, 3, 11))
    cmds.complete(decision_id, "public_participation", actor="a", on=date(2025, 4, 14))
    cmds.start(decision_id, "legality_review", actor="a", on=date(2025, 4, 15))
    go = tmp_path / "go"
    outcomes = ["lawful", "unlawful", "lawful", "unlawful"]
    procs = [
        _worker(database_url, tmp_path / "home", "conflict", decision_id, o, str(go))
        for o in outcomes
    ]
    time.sleep(1.0)
    go.touch()
    results = [(p.wait(timeout=120), p.communicate()[0]) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes.count(0) == 1, results  # exactly one applied
    assert set(codes) <= {0, 3, 5}, results  # the rest: refused (step done) or changed meanwhile
    decision, _ = cmds.status(decision_id)
    reviews = [a for a in decision.attempts if a.step == "legality_review"]
    assert len(reviews) == 1 and reviews[0].status == "done"
    with UnitOfWork(cmds.db, write=False) as uow:
        completes = [
            e
            for e in uow.audit.events(decision_id)
            if e.action == "complete" and "legality_review" in e.payload
        ]
    assert len(completes) == 1
    assert verify(engine).ok


def test_a_writer_killed_mid_stream_leaves_a_consistent_database(database_url, tmp_path, engine):
    proc = _worker(database_url, tmp_path / "home", "churn", "200")
    committed: list[tuple[str, int]] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while len(committed) < 40 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        _, decision_id, version = line.split()
        committed.append((decision_id, int(version)))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(committed) >= 40, proc.stderr.read() if proc.stderr else ""
    report = verify(engine)
    assert report.ok, report.problems
    with engine.connect() as conn:
        versions = dict(conn.execute(select(DecisionRow.id, DecisionRow.version)).all())
        events = dict(
            conn.execute(
                select(AuditEventRow.decision_id, func.count()).group_by(AuditEventRow.decision_id)
            ).all()
        )
        attempts = dict(
            conn.execute(
                select(AttemptRow.decision_id, func.count()).group_by(AttemptRow.decision_id)
            ).all()
        )
    last = {}
    for decision_id, version in committed:
        last[decision_id] = version
    for decision_id, version in last.items():  # everything reported committed is there
        assert versions[decision_id] >= version
    for decision_id, version in versions.items():  # and every command applied whole
        assert events[decision_id] == version, decision_id
        assert attempts[decision_id] == {1: 1, 2: 2, 3: 2, 4: 3}[version]
    assert report.events == sum(events.values())


def test_the_sqlite_database_runs_durable(tmp_path):
    from store.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'd.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000


def test_two_workers_never_claim_the_same_outbox_row(cmds, database_url):
    from datetime import timedelta

    from store.dbapi import Database

    for i in range(6):
        cmds.register(
            title=f"决策{i}",
            procedure_id="national-2019",
            sponsor="区",
            actor="a",
            on=date(2025, 3, 3),
        )
    later = CLOCK + timedelta(minutes=1)
    other = Database(database_url)
    try:
        # as app.outbox.claim: units that never append, so they do not wait for the chain head
        with UnitOfWork(cmds.db, appends=False) as first:
            mine = first.outbox.claim(worker="one", now=later, limit=4)
            if cmds.db.dialect == "postgresql":  # the first claim is still uncommitted here
                with UnitOfWork(other, appends=False) as second:
                    theirs = second.outbox.claim(worker="two", now=later, limit=100)
                    second.commit()
                assert {i.id for i in mine}.isdisjoint({i.id for i in theirs})
                assert len(mine) + len(theirs) == 6  # one "drafting is ready" row each
            first.commit()
        with UnitOfWork(
            other, appends=False
        ) as again:  # claimed rows are not handed out again (lease)
            rest = again.outbox.claim(worker="three", now=later, limit=100)
            again.commit()
        assert {i.id for i in mine}.isdisjoint({i.id for i in rest})
    finally:
        other.close()


def test_a_worker_whose_lease_ran_out_cannot_settle_the_row(cmds):
    from datetime import timedelta

    registered(cmds)
    t0 = CLOCK + timedelta(minutes=1)
    with UnitOfWork(cmds.db) as uow:
        (row,) = uow.outbox.claim(worker="slow", now=t0, limit=1)
        uow.commit()
    with UnitOfWork(cmds.db) as uow:  # 16 minutes later the lease has run out
        (again,) = uow.outbox.claim(worker="fast", now=t0 + timedelta(minutes=16), limit=1)
        assert again.id == row.id
        assert uow.outbox.done(row.id, now=t0, worker="fast")
        uow.commit()
    with UnitOfWork(cmds.db) as uow:
        assert not uow.outbox.done(row.id, now=t0, worker="slow")
        assert not uow.outbox.failed(row.id, error="late", now=t0, tries=0, worker="slow")
        uow.commit()
