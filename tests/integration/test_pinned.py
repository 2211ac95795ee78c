"""Procedure definitions pinned per decision (SPEC §5): a decision keeps the definition it was
registered under, after its file is edited, moved or deleted; a changed definition reaches it
only through ``procedures migrate``, audited, replayed, and refused when the history would not
hold; verification replays under the pinned definitions and checks their hashes.  Also the
deadline index keeps the target date whoever re-plans (a calendar import, a migration)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config

from app.admin import audit_verify, import_schedule
from app.alerts import scan
from app.commands import Attachment, Commands
from app.migrate import migrate
from app.queries import decisions_with_plans, overdue
from app.work import build_archive, build_package
from procedures import MeetingRecord, NotFound, RuleViolation
from store.db import MIGRATIONS, make_engine
from store.dbapi import Database
from store.fastsql import SQL
from store.uow import UnitOfWork

CLOCK = datetime(2026, 1, 10, tzinfo=UTC)


def office_file(path: Path, *, drafting_days: int = 30, comment_days: int = 30) -> Path:
    path.write_text(
        'id = "office-2025"\nversion = "1"\nextends = "national-2019"\n'
        'zh = "本区程序"\nen = "district office procedure"\n'
        '[[steps]]\nid = "drafting"\n'
        f'due = {{ amount = {drafting_days}, unit = "calendar_days", '
        'basis = { kind = "office_policy" } }\n'
        '[[steps]]\nid = "public_participation"\n'
        f'minimum = {{ amount = {comment_days}, unit = "calendar_days", shortenable = true, '
        'basis = { kind = "statute", article = "Decree 713 Art. 15" } }\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def cmds(db, tmp_path) -> Commands:
    return Commands(db, tmp_path / "home", clock=lambda: CLOCK)


def registered(cmds: Commands, procedure: str, **kw: object) -> str:
    return cmds.register(
        title="老旧小区改造",
        procedure_id=procedure,
        sponsor="区住建委",
        actor="办公室",
        on=date(2025, 3, 3),
        **kw,  # type: ignore[arg-type]
    ).id


def papers(folder: Path, *kinds: str) -> list[Attachment]:
    """Small files of these kinds (what the Art. 29 package needs)."""
    out = []
    for kind in kinds:
        path = folder / f"{kind}.txt"
        path.write_text(kind, encoding="utf-8")
        out.append(Attachment(kind, path))
    return out


def drafting_due(cmds: Commands, d: str) -> date | None:
    """The open drafting step's due date (as the decision stands today)."""
    return cmds.status(d)[1].step("drafting").due_on


def to_public_participation_done(cmds: Commands, d: str) -> None:
    cmds.start(d, "drafting", actor="a", on=date(2025, 3, 3))
    cmds.complete(d, "drafting", actor="a", on=date(2025, 3, 10))
    cmds.start(d, "public_participation", actor="a", on=date(2025, 3, 11))
    cmds.complete(d, "public_participation", actor="a", on=date(2025, 4, 14))


def test_an_office_file_works_from_registration_to_archiving_after_it_is_deleted(cmds, tmp_path):
    path = office_file(tmp_path / "office.toml")
    d = registered(cmds, str(path))
    path.unlink()  # moved away or deleted: the decision keeps its definition
    cmds = Commands(cmds.db, cmds.home, clock=lambda: CLOCK)  # a new process: nothing cached
    cmds.start(d, "drafting", actor="a", on=date(2025, 3, 3))
    assert drafting_due(cmds, d) == date(2025, 4, 2)  # the file's 30 days, not the preset's 60
    cmds.complete(
        d, "drafting", actor="a", on=date(2025, 3, 10), attachments=papers(tmp_path, "draft")
    )
    cmds.start(d, "public_participation", actor="a", on=date(2025, 3, 11))
    cmds.complete(
        d, "public_participation", actor="a", on=date(2025, 4, 14),
        attachments=papers(tmp_path, "opinion_adoption_report"),
    )  # fmt: skip
    cmds.start(d, "legality_review", actor="a", on=date(2025, 4, 15))
    cmds.complete(
        d, "legality_review", actor="a", on=date(2025, 4, 30), outcome="lawful",
        attachments=papers(tmp_path, "legality_opinion", "legal_advisers_opinion"),
    )  # fmt: skip
    assert build_package(cmds, d).detail["procedure"] == "office-2025"
    cmds.start(d, "collective_discussion", actor="a", on=date(2025, 5, 6))
    meeting = MeetingRecord(
        meeting_type="executive",
        chair="区长",
        attendees=("区长", "甲", "乙"),
        positions={"甲": "rejected", "乙": "rejected"},
    )
    cmds.complete(
        d, "collective_discussion", actor="a", on=date(2025, 5, 8), outcome="rejected",
        meeting=meeting,
    )  # fmt: skip
    cmds.start(d, "archiving", actor="a", on=date(2025, 5, 9))
    _, view = cmds.complete(d, "archiving", actor="a", on=date(2025, 5, 12))
    assert view.status == "closed"
    assert build_archive(cmds, d).detail["audit"]["verified"] is True
    report = audit_verify(cmds)
    assert report.ok, report.problems


def test_editing_the_file_leaves_open_decisions_dates_unchanged_until_migrate(cmds, tmp_path):
    path = office_file(tmp_path / "office.toml")
    d = registered(cmds, str(path), target_on=date(2025, 3, 31))
    cmds.start(d, "drafting", actor="a", on=date(2025, 3, 3))
    office_file(path, drafting_days=45)  # the office edits its file
    fresh = Commands(cmds.db, cmds.home, clock=lambda: CLOCK)  # a new process: nothing cached
    assert drafting_due(fresh, d) == date(2025, 4, 2)  # still the pinned 30 days
    with UnitOfWork(cmds.db, write=False) as uow:
        before_version = uow.decisions.get(d).version
    done = migrate(
        fresh, [d], all_open=False, to=str(path), reason="区政府通知调整期限", actor="管理员"
    )
    assert [m.changed for m in done] == [True] and done[0].from_sha256 != done[0].to_sha256
    assert drafting_due(fresh, d) == date(2025, 4, 17)  # 45 days from 03-03
    # as of an earlier date: the facts of then, under the definition pinned now (a migration
    # replays the whole history under its definition)
    as_then = fresh.status(d, date(2025, 3, 5))[1].step("drafting").due_on
    assert as_then == date(2025, 4, 17)
    event = fresh_events(fresh, d)[-1]
    assert event.action == "procedure_migrate"
    assert '"reason":"区政府通知调整期限"' in event.payload
    assert done[0].from_sha256 in event.payload and done[0].to_sha256 in event.payload
    with UnitOfWork(cmds.db, write=False) as uow:
        assert uow.decisions.get(d).version == before_version + 1
    # the migration re-planned with the target date: overdue still finds the decision by it
    items = overdue(fresh, date(2025, 4, 10)).items
    assert [(i.decision, i.step) for i in items] == [(d, None)]
    report = audit_verify(fresh)
    assert report.ok, report.problems
    again = migrate(fresh, [d], all_open=False, to=str(path), reason="再次", actor="管理员")
    assert [m.changed for m in again] == [False]


def fresh_events(cmds: Commands, d: str) -> list:
    with UnitOfWork(cmds.db, write=False) as uow:
        return uow.audit.events(d)


def test_migrate_is_refused_naming_the_event_and_rule_when_the_history_would_not_hold(
    cmds, tmp_path
):
    path = office_file(tmp_path / "office.toml")
    d = registered(cmds, str(path))
    to_public_participation_done(cmds, d)  # closed after 34 days: the 30-day minimum held
    longer = office_file(tmp_path / "longer.toml", comment_days=40)
    with UnitOfWork(cmds.db, write=False) as uow:
        before, count = uow.decisions.get(d), len(uow.audit.events(d))
    with pytest.raises(RuleViolation) as refused:
        migrate(cmds, [], all_open=True, to=str(longer), reason="延长征求意见期", actor="管理员")
    complete = fresh_events(cmds, d)[-1]
    assert f"event {complete.seq} (complete public_participation" in str(refused.value)
    assert "Art. 15" in refused.value.article
    with UnitOfWork(cmds.db, write=False) as uow:  # nothing written
        assert uow.decisions.get(d) == before and len(uow.audit.events(d)) == count
        assert len(uow.definitions.many([before.procedure_sha256 or ""])) == 1


def test_a_definition_row_edited_in_the_database_is_caught_by_verification(cmds):
    d = registered(cmds, "national-2019")
    cmds.start(d, "drafting", actor="a", on=date(2025, 3, 3))
    with UnitOfWork(cmds.db) as uow:  # someone with the database lengthens drafting to 90 days
        SQL("UPDATE procedure_definitions SET content = REPLACE(content, :old, :new)").run(
            uow.link, {"old": '"amount":60', "new": '"amount":90'}
        )
        uow.commit()
    report = audit_verify(cmds)
    assert not report.ok
    assert any(p.kind == "definition" and "edited" in p.message for p in report.problems)


def test_a_calendar_import_keeps_the_target_date_in_the_due_index(cmds, tmp_path):
    d = registered(cmds, "national-2019", target_on=date(2025, 3, 31))
    cmds.start(d, "drafting", actor="a", on=date(2025, 3, 3))  # due 05-02 → 05-06 (劳动节)
    day_off = tmp_path / "local.toml"
    day_off.write_text(
        'year = 2025\nkind = "local"\nsource = "区政府通知（测试）"\nholidays = ["2025-05-06"]\n',
        encoding="utf-8",
    )
    _, changes = import_schedule(cmds, day_off, "办公室")
    assert [(c.step, c.after) for c in changes] == [("drafting", date(2025, 5, 7))]
    status = cmds.status(d, date(2025, 4, 10))[1]
    assert status.target_alert == "escalated"
    items = overdue(cmds, date(2025, 4, 10)).items
    assert [(i.decision, i.step, i.level) for i in items] == [(d, None, "escalated")]


def _at_revision_0004(url: str) -> None:
    engine = make_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0004")
    engine.dispose()


def _old_decision(
    uow: UnitOfWork, decision_id: str, procedure_id: str, version: str = "2019.1"
) -> None:
    """A decision as revision 0004 recorded it: registered, drafting opened."""
    SQL(
        "INSERT INTO decisions (id, title, procedure_id, procedure_version, flags, sponsor, "
        "registered_on, status, version) VALUES (:id, '旧决策', :p, :v, '[]', '甲', "
        "'2025-03-03', 'in_progress', 2)"
    ).run(uow.link, {"id": decision_id, "p": procedure_id, "v": version})
    SQL(
        "INSERT INTO step_attempts (decision_id, position, step, number, status, opened_on, "
        "closed_on, outcome, pauses, extensions, deferrals, documents, superseded, provisional) "
        "VALUES (:id, 0, 'initiation', 1, 'done', '2025-03-03', '2025-03-03', "
        "'started', '[]', '[]', '[]', '[]', 0, 0), (:id, 1, 'drafting', 1, 'open', "
        "'2025-03-03', NULL, NULL, '[]', '[]', '[]', '[]', 0, 0)"
    ).run(uow.link, {"id": decision_id})
    for action, payload in (
        (
            "register",
            {
                "title": "旧决策",
                "procedure": procedure_id,
                "procedure_version": version,
                "sponsor": "甲",
                "flags": [],
                "status": "in_progress",
            },
        ),
        ("start", {"step": "drafting", "attempt": 1, "version": 2, "status": "in_progress"}),
    ):
        uow.audit.append(
            decision_id=decision_id,
            action=action,
            actor="甲",
            effective_on=date(2025, 3, 3),
            recorded_at=CLOCK,
            payload=payload,
        )


def test_an_upgrade_pins_presets_as_on_disk_and_leaves_lost_files_to_migrate(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    _at_revision_0004(url)
    old = Database(url)
    with UnitOfWork(old) as uow:
        _old_decision(uow, "2025-0001", "national-2019")
        _old_decision(uow, "2025-0002", "office-2025")  # registered from a file, then lost
        uow.commit()
    old.close()
    db = Database(url)
    db.ensure_schema()  # revisions 0005 and 0006 on first use
    cmds = Commands(db, tmp_path / "home", clock=lambda: CLOCK)
    assert drafting_due(cmds, "2025-0001") == date(2025, 5, 6)  # national: 60 days → 劳动节
    with pytest.raises(NotFound, match="procedures migrate 2025-0002"):
        cmds.status("2025-0002")
    # the unpinned decision does not stop the others: the list, the overdue board and the scan
    # go on, and verification names it (review finding)
    total, rows = decisions_with_plans(cmds, date(2025, 6, 1))
    assert total == 2 and [d.id for d, _ in rows] == ["2025-0001"]
    assert {i.decision for i in overdue(cmds, date(2025, 6, 1)).items} == {"2025-0001"}
    assert {a.decision for a in scan(cmds, date(2025, 6, 1))} == {"2025-0001"}
    unpinned = audit_verify(cmds)
    assert not unpinned.ok and any(
        p.kind == "definition" and "2025-0002" in p.message for p in unpinned.problems
    )
    path = office_file(tmp_path / "office.toml")
    migrate(cmds, ["2025-0002"], all_open=False, to=str(path), reason="补固定", actor="管理员")
    assert drafting_due(cmds, "2025-0002") == date(2025, 4, 2)
    report = audit_verify(cmds)
    assert report.ok, report.problems
    # 2025-0001 is pinned by the upgrade, named by no event (2025-0002 by its migration)
    assert any("1 项决策 decisions were registered before revision 0005" in n for n in report.notes)
    db.close()


def test_as_of_a_date_before_a_backdated_fact_recorded_after_a_migration(cmds, tmp_path):
    """A fact recorded after a migration, dated before it, was accepted under the new
    definition: the decision as of any date shows it under that one (review finding: an
    earlier date could not be shown at all)."""
    path = office_file(tmp_path / "office.toml", comment_days=40)
    d = registered(cmds, str(path))
    cmds.start(d, "drafting", actor="a", on=date(2025, 3, 3))
    cmds.complete(d, "drafting", actor="a", on=date(2025, 3, 10))
    cmds.start(d, "public_participation", actor="a", on=date(2025, 3, 11))
    office_file(path, comment_days=30)
    migrate(cmds, [d], all_open=False, to=str(path), reason="调整", actor="管理员")
    cmds.complete(d, "public_participation", actor="a", on=date(2025, 4, 14))  # 34 days
    seen, view = cmds.status(d, date(2025, 4, 20))
    assert view.step("public_participation").status == "done"
    assert seen.procedure_sha256 == cmds.status(d)[0].procedure_sha256
    assert audit_verify(cmds).ok
