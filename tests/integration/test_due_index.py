"""Decisions carry their next due date (revision 0002): the scan reads only what is due soon,
and a database from before that revision is upgraded on first use without missing anything."""

from __future__ import annotations

from datetime import UTC, date, datetime

from alembic import command
from alembic.config import Config

from app.alerts import scan
from app.commands import Commands
from store.db import MIGRATIONS, make_engine
from store.dbapi import Database
from store.fastsql import SQL
from store.settings import HEAD_REVISION
from store.uow import UnitOfWork

CLOCK = datetime(2026, 1, 10, tzinfo=UTC)


def test_only_decisions_with_something_due_soon_are_read(db, tmp_path):
    cmds = Commands(db, tmp_path / "home", clock=lambda: CLOCK)
    idle = cmds.register(
        title="空闲", procedure_id="national-2019", sponsor="甲", actor="a", on=date(2025, 3, 3)
    ).id  # drafting ready, nothing due, no target
    late = cmds.register(
        title="逾期", procedure_id="national-2019", sponsor="乙", actor="a", on=date(2025, 3, 3)
    ).id
    cmds.start(late, "drafting", actor="a", on=date(2025, 3, 3))  # due 2025-05-06
    far = cmds.register(
        title="远期",
        procedure_id="national-2019",
        sponsor="丙",
        actor="a",
        on=date(2025, 3, 3),
        target_on=date(2025, 12, 31),
    ).id
    with UnitOfWork(db, write=False) as uow:
        assert uow.decisions.due_by(date(2025, 5, 7)) == [late]
        assert uow.decisions.due_by(date(2026, 1, 1)) == [late, far]
        assert idle not in uow.decisions.due_by(date(2099, 1, 1))
    assert {a.decision for a in scan(cmds, date(2025, 5, 7))} == {late}


def test_an_old_database_is_upgraded_on_first_use_and_still_scanned(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
    engine.dispose()
    old = Database(url)  # an office still on revision 0001 records a decision…
    with UnitOfWork(old) as uow:
        SQL(
            "INSERT INTO decisions (id, title, procedure_id, procedure_version, flags, sponsor, "
            "registered_on, status, version) VALUES ('2025-0001', '旧决策', 'national-2019', "
            "'2019.1', '[]', '甲', '2025-03-03', 'in_progress', 2)"
        ).run(uow.link)
        SQL(
            "INSERT INTO step_attempts (decision_id, position, step, number, status, opened_on, "
            "closed_on, outcome, pauses, extensions, deferrals, documents, superseded, provisional) "
            "VALUES ('2025-0001', 0, 'initiation', 1, 'done', '2025-03-03', '2025-03-03', "
            "'started', '[]', '[]', '[]', '[]', 0, 0), ('2025-0001', 1, 'drafting', 1, 'open', "
            "'2025-03-03', NULL, NULL, '[]', '[]', '[]', '[]', 0, 0)"
        ).run(uow.link)
        uow.commit()
    old.close()
    db = Database(url)
    db.ensure_schema()  # …then upgrades: revision 0002 applied on first use
    assert db.schema_revision() == HEAD_REVISION
    cmds = Commands(db, tmp_path / "home", clock=lambda: CLOCK)
    raised = scan(cmds, date(2025, 5, 7))  # not dated yet, still scanned
    assert [a.level for a in raised] == ["due_soon", "due_today", "overdue"]
    assert cmds.status("2025-0001")[0].title == "旧决策"
    db.close()
