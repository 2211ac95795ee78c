"""The read paths' fewer round trips, on SQLite and PostgreSQL: a read that ends its transaction
with its last statement, and the decision list's heads read with their next due dates."""

from __future__ import annotations

from datetime import UTC, date, datetime

from app.commands import Commands
from store.fastsql import SQL, read_and_end
from store.uow import UnitOfWork

CLOCK = datetime(2025, 12, 31, 4, 0, tzinfo=UTC)


def test_a_read_ended_with_its_last_statement_leaves_no_transaction_open(db):
    with UnitOfWork(db, write=False) as uow:
        rows = read_and_end(uow.link, [(SQL("SELECT 1"), {}), (SQL("SELECT :n"), {"n": 2})])
        assert rows == [[(1,)], [(2,)]]
        if uow.link.dialect == "postgresql":
            from psycopg.pq import TransactionStatus

            # the ROLLBACK travelled with the statements: the unit of work has nothing to end
            assert uow.link.driver.info.transaction_status == TransactionStatus.IDLE
        # a statement after it opens a transaction of its own, ended by the unit of work
        assert SQL("SELECT 3").rows(uow.link) == [(3,)]
    if db.dialect == "postgresql":
        from psycopg.pq import TransactionStatus

        assert db.link().driver.info.transaction_status == TransactionStatus.IDLE


def test_heads_and_due_answer_as_heads_and_next_due_do(db, tmp_path):
    cmds = Commands(db, tmp_path / "home", clock=lambda: CLOCK)
    on = date(2025, 12, 1)
    ids = [
        cmds.register(
            title=f"决策 {i}",
            procedure_id="national-2019",
            sponsor="区住建委",
            actor="clerk",
            on=on,
        ).id
        for i in range(3)
    ]
    cmds.start(ids[1], "drafting", actor="clerk", on=date(2025, 12, 2))
    wanted = [ids[2], ids[0], ids[1], ids[0], "2025-9999"]  # any order, a repeat, an unknown id
    with UnitOfWork(db, write=False) as uow:
        heads, due = uow.decisions.heads_and_due(wanted)
        assert heads == uow.decisions.heads(wanted)
        assert [d.id for d in heads] == [ids[2], ids[0], ids[1]]
        assert due == uow.decisions.next_due(ids)
