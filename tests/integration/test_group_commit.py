"""Group commit (``store.writer``) on SQLite and PostgreSQL, in process: the writing units of
several threads share one transaction, each in its own savepoint, and are answered only after
its COMMIT.

Each test holds the writer's turn in the main thread (a unit that has asked the database
something) while the others queue up behind it, so the batch is known: the holder, then the
threads in the order they queued.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from app.admin import add_person
from app.commands import Commands
from procedures import Conflict, RuleViolation
from procedures.errors import Unavailable
from store.audit import verify
from store.fastsql import SQL
from store.tables import AuditEventRow, DecisionRow
from store.uow import UnitOfWork

CLOCK = datetime(2025, 12, 31, 4, 0, tzinfo=UTC)
ON = date(2025, 3, 3)


@pytest.fixture
def cmds(db, tmp_path) -> Commands:
    return Commands(db, tmp_path / "home", clock=lambda: CLOCK)


def _decisions(cmds: Commands, n: int) -> list[str]:
    """``n`` decisions with drafting open (to be completed)."""
    ids = []
    for i in range(n):
        d = cmds.register(title=f"决策{i}", procedure_id="national-2019", sponsor="区住建委",
                          actor="区政府办公室", on=ON)  # fmt: skip
        cmds.start(d.id, "drafting", actor="区住建委", on=ON)
        ids.append(d.id)
    return ids


def _events(engine: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(AuditEventRow)).scalar_one())


def _versions(engine: Any) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(select(DecisionRow.id, DecisionRow.version)).all())  # type: ignore[arg-type]


class Queued:
    """Threads started one after another, each once it waits for the writer's turn."""

    def __init__(self, cmds: Commands) -> None:
        self.writer = cmds.db.writer
        self.threads: list[threading.Thread] = []
        self.results: dict[str, Any] = {}

    def add(self, name: str, work: Callable[[], Any]) -> None:
        def run() -> None:
            try:
                self.results[name] = work()
            except Exception as exc:  # the answer this caller got
                self.results[name] = exc

        waiting = self.writer.queued
        thread = threading.Thread(target=run)
        thread.start()
        self.threads.append(thread)
        deadline = time.monotonic() + 30
        while self.writer.queued == waiting:  # its read is done; its write waits for the turn
            assert thread.is_alive(), self.results.get(name)
            assert time.monotonic() < deadline, f"{name} never queued for the writer"
            time.sleep(0.005)

    def join(self) -> dict[str, Any]:
        for thread in self.threads:
            thread.join(timeout=60)
        return self.results


def _holding(cmds: Commands) -> UnitOfWork:
    """A writing unit that has its turn (it asked the database something)."""
    holder = UnitOfWork(cmds.db).__enter__()
    holder.audit.count_unauthenticated()
    return holder


def _complete(cmds: Commands, decision_id: str) -> Callable[[], Any]:
    return lambda: cmds.complete(decision_id, "drafting", actor="区住建委", on=date(2025, 3, 10))


def test_threads_completing_at_once_share_one_commit_and_each_gets_its_own_answer(cmds, engine):
    ids = _decisions(cmds, 8)
    events, commits = _events(engine), cmds.db.writer.commits
    holder = _holding(cmds)
    queued = Queued(cmds)
    for d in ids:
        queued.add(d, _complete(cmds, d))
    holder.commit()  # hands the turn on and waits for the batch's COMMIT with the others
    holder.__exit__(None, None, None)
    results = queued.join()
    for d in ids:  # each caller's own decision, as its own command left it
        after, plan = results[d]
        assert after.id == d and after.version == 3, results[d]
        assert plan.step("drafting").status == "done"
    assert cmds.db.writer.commits == commits + 1  # one COMMIT (one flush) for the nine units
    assert _events(engine) == events + len(ids)
    assert set(_versions(engine).values()) == {3}
    report = verify(engine)
    assert report.ok, report.problems


def test_a_command_refused_in_the_middle_of_a_batch_writes_nothing_and_the_others_are_kept(
    cmds, engine
):
    first, last = _decisions(cmds, 2)
    add_person(cmds, "区政府办公室", "decision_body", None, actor="管理员")  # roles now count
    add_person(cmds, "区住建委", "sponsor", "区住建委", actor="管理员")
    events, commits = _events(engine), cmds.db.writer.commits

    def unauthorised_register() -> Any:  # refused inside its unit of work, by the role rule
        return cmds.register(title="无权登记", procedure_id="national-2019", sponsor="区住建委",
                             actor="路人甲", on=ON)  # fmt: skip

    def append_then_refuse() -> None:  # writes an event first, then a rule refuses it
        with UnitOfWork(cmds.db) as uow:
            uow.audit.append(decision_id=first, action="note", actor="x", effective_on=ON,
                             payload={"n": 1}, recorded_at=CLOCK)  # fmt: skip
            uow.audit.count_unauthenticated()  # sent: the event is in the batch's transaction
            raise RuleViolation("test.rule", "refused after writing", article="-", remedy="-")

    holder = _holding(cmds)
    queued = Queued(cmds)
    queued.add("first", _complete(cmds, first))
    queued.add("register", unauthorised_register)
    queued.add("note", append_then_refuse)
    queued.add("last", _complete(cmds, last))
    holder.commit()
    holder.__exit__(None, None, None)
    results = queued.join()
    assert isinstance(results["register"], RuleViolation)
    assert results["register"].rule == "role.not_permitted"
    assert isinstance(results["note"], RuleViolation) and results["note"].rule == "test.rule"
    assert results["first"][0].version == 3 and results["last"][0].version == 3
    assert cmds.db.writer.commits == commits + 1
    assert _events(engine) == events + 2  # the two completes; nothing of the refused ones
    assert sorted(_versions(engine)) == [first, last]  # no third decision registered
    with cmds.unit(write=False) as uow:
        assert [e.action for e in uow.audit.events(first)][-1] == "complete"
    report = verify(engine)
    assert report.ok, report.problems


def test_a_decision_changed_earlier_in_the_same_batch_is_a_conflict_for_that_command_only(
    cmds, engine
):
    shared, other = _decisions(cmds, 2)
    events, commits = _events(engine), cmds.db.writer.commits
    holder = _holding(cmds)
    queued = Queued(cmds)
    queued.add("one", _complete(cmds, shared))  # both read version 2 before either wrote
    queued.add("two", _complete(cmds, shared))
    queued.add("other", _complete(cmds, other))
    holder.commit()
    holder.__exit__(None, None, None)
    results = queued.join()
    assert results["one"][0].version == 3 and results["other"][0].version == 3
    assert isinstance(results["two"], Conflict), results["two"]
    assert "changed meanwhile" in str(results["two"])  # 409 / exit 5 at the entry points
    assert cmds.db.writer.commits == commits + 1
    assert _events(engine) == events + 2
    with cmds.unit(write=False) as uow:
        actions = [e.action for e in uow.audit.events(shared)]
    assert actions == ["register", "start", "complete"]
    report = verify(engine)
    assert report.ok, report.problems


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_batch_whose_commit_fails_answers_every_caller_with_the_clear_error(
    cmds, engine, database_url
):
    import psycopg

    ids = _decisions(cmds, 2)
    events, versions = _events(engine), _versions(engine)
    killer = psycopg.connect(database_url.replace("+psycopg", ""), autocommit=True)

    def killed_before_commit() -> None:  # the batch's last unit: its COMMIT meets a dead server
        with UnitOfWork(cmds.db) as uow:
            ((pid,),) = SQL("SELECT pg_backend_pid()").rows(uow.link)  # the writer's backend
            killer.execute("SELECT pg_terminate_backend(%s)", (pid,))
            while killer.execute(
                "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)
            ).fetchone():
                time.sleep(0.01)
            uow.audit.append(decision_id=ids[0], action="note", actor="x", effective_on=ON,
                             payload={"n": 1}, recorded_at=CLOCK)  # fmt: skip
            uow.commit()

    holder = _holding(cmds)
    queued = Queued(cmds)
    for d in ids:
        queued.add(d, _complete(cmds, d))
    queued.add("killed", killed_before_commit)
    with pytest.raises(Unavailable) as held:
        holder.commit()
    holder.__exit__(None, None, None)
    results = queued.join()
    killer.close()
    for answer in (held.value, *(results[k] for k in (*ids, "killed"))):
        assert isinstance(answer, Unavailable), answer  # one clear error, the same for each
        assert "cannot use the database" in str(answer) and "127.0.0.1" in str(answer)
    assert _events(engine) == events and _versions(engine) == versions  # nothing half-written
    after, _ = _complete(cmds, ids[0])()  # the next batch opens a new connection
    assert after.version == 3
    assert verify(engine).ok


def test_a_lone_command_is_its_own_batch(cmds, engine):
    (d,) = _decisions(cmds, 1)
    commits = cmds.db.writer.commits
    _complete(cmds, d)()
    assert cmds.db.writer.commits == commits + 1


def test_appends_that_begin_a_units_turn_move_the_head_it_holds(cmds, engine):
    """The first statement of a unit that needs an answer can be an append's own query (an
    account event): the head the batch then holds must follow that append too."""
    with UnitOfWork(cmds.db) as uow:
        for n in range(3):
            uow.audit.append(decision_id=None, action="note", actor="x", effective_on=ON,
                             payload={"n": n}, recorded_at=CLOCK)  # fmt: skip
        uow.commit()
    assert _events(engine) == 3
    assert verify(engine).ok


def test_a_writing_unit_opened_inside_another_on_one_thread_is_refused_at_once(db):
    """It would wait for the turn its own thread holds, forever: refused, and the outer unit
    still commits."""
    answer: list[str] = []

    def nested() -> None:
        with UnitOfWork(db) as outer:
            outer.accounts.any()  # a query: the outer unit has the writer's turn
            try:
                with UnitOfWork(db) as inner:
                    inner.accounts.any()
            except RuntimeError as exc:
                answer.append(str(exc))
            outer.commit()
        answer.append("outer committed")

    worker = threading.Thread(target=nested, daemon=True)
    worker.start()
    worker.join(20)
    assert not worker.is_alive(), "the inner unit waited for its own thread's turn"
    assert len(answer) == 2 and "inside another" in answer[0] and answer[1] == "outer committed"
    with UnitOfWork(db) as after:  # the writer's turn was handed on
        after.accounts.any()
        after.commit()
