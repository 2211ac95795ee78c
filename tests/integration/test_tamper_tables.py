"""The tamper catalogue, tables beside the chain (issue 15, item 3): whoever owns the database
edits a table that decides an outcome — a role in ``people``, a day of an imported holiday
schedule, a procedure definition's text, the definition a decision is pinned to, a document row,
an account's grants, a decision's flags, co-sponsors or assignments, a decision row, an alert
level raised, the deadline scan's index, the to-do index — and
``audit verify`` names the table, the row and what differs, on SQLite and PostgreSQL.  A home
using all of them (and one with events written before this version) verifies clean.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from app.accounts import add_account, create_token
from app.admin import add_person, audit_verify, import_schedule, remove_person
from app.alerts import scan
from app.commands import Attachment, Commands
from procedures import RuleViolation
from store.fastsql import SQL
from store.uow import UnitOfWork

CLOCK = datetime(2026, 1, 10, tzinfo=UTC)
# A local day off on 2025-09-01 (the attack report's date) and on 2025-10-09, the last day of
# a comment window: the window then runs to 10-10 and the step may close from 10-11.
SCHEDULE = (
    'year = 2025\nkind = "local"\nsource = "区政府通知（测试）"\n'
    'holidays = ["2025-09-01", "2025-10-09"]\n'
)


@dataclass
class Home:
    cmds: Commands
    lead: str  # national-2019, technical, with a co-sponsor, an assignment and a document
    other: str  # tianjin-2020, with a document


def sql(cmds: Commands, statement: str, **params: object) -> None:
    """A direct edit, as the database owner makes it (these tables have no triggers)."""
    with UnitOfWork(cmds.db) as uow:
        SQL(statement).run(uow.link, params)
        uow.commit()


def paper(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.write_text(f"{name} 的内容", encoding="utf-8")
    return path


@pytest.fixture
def home(db, tmp_path) -> Home:
    """People with roles (one removed again), an imported schedule, two decisions under two
    presets with flags, a co-sponsor, an assignment and documents."""
    cmds = Commands(db, tmp_path / "home", clock=lambda: CLOCK)
    for name, role, unit in (
        ("张主任", "decision_body", "区政府办公室"),
        ("刘科长", "sponsor", "区住建委"),
        ("王科长", "legal_office", "区司法局"),
        ("赵评估", "risk_assessor", "区社会稳定评估中心"),
    ):
        add_person(cmds, name, role, unit, "张主任")
    remove_person(cmds, "赵评估", None, "张主任")
    schedule = tmp_path / "local-2025.toml"
    schedule.write_text(SCHEDULE, encoding="utf-8")
    import_schedule(cmds, schedule, "张主任")
    lead = cmds.register(
        title="老旧小区改造",
        procedure_id="national-2019",
        sponsor="区住建委",
        co_sponsors=["区财政局"],
        assign=["risk_assessor=区社会稳定评估中心"],
        flags=["technical"],
        actor="张主任",
        on=date(2025, 7, 1),
    ).id
    cmds.start(lead, "drafting", actor="刘科长", on=date(2025, 7, 2))
    cmds.complete(
        lead,
        "drafting",
        actor="刘科长",
        on=date(2025, 8, 29),
        attachments=[Attachment("draft", paper(tmp_path, "草案.txt"))],
    )
    cmds.start(
        lead,
        "public_participation",
        actor="刘科长",
        on=date(2025, 9, 2),
        methods=["public_comment"],
        comment_until=date(2025, 10, 9),
    )
    other = cmds.register(
        title="学校布局调整",
        procedure_id="tianjin-2020",
        sponsor="区住建委",
        actor="张主任",
        on=date(2025, 7, 1),
    ).id
    cmds.start(other, "drafting", actor="刘科长", on=date(2025, 7, 2))
    cmds.complete(
        other,
        "drafting",
        actor="刘科长",
        on=date(2025, 8, 29),
        attachments=[Attachment("draft", paper(tmp_path, "布局草案.txt"))],
    )
    # the deadline scan on 10-23 raises 即将到期 due_soon for the comment step (due 10-27) and
    # keeps 10-27 as the decision's next alert date
    assert [a.level for a in scan(cmds, date(2025, 10, 23))] == ["due_soon"]
    return Home(cmds, lead, other)


def test_events_from_before_this_version_verify_clean_with_a_note(db, tmp_path):
    """A schedule imported before the event carried its file's SHA-256, and a person whose
    event carries the unit as typed (the row holds it trimmed): no false alarm, a note."""
    cmds = Commands(db, tmp_path / "home", clock=lambda: CLOCK)
    with UnitOfWork(cmds.db) as uow:
        uow.people.add("孙科长", "sponsor", "区教育局")
        uow.audit.append(
            decision_id=None,
            action="person_add",
            actor="张主任",
            effective_on=date(2025, 1, 2),
            recorded_at=CLOCK,
            payload={"name": "孙科长", "role": "sponsor", "unit": "  区教育局 "},
        )
        schedule = uow.add_schedule(SCHEDULE, source_name="local.toml", now=CLOCK)
        uow.audit.append(
            decision_id=None,
            action="calendar_import",
            actor="张主任",
            effective_on=date(2025, 1, 2),
            recorded_at=CLOCK,
            payload={
                "year": schedule.year,
                "kind": schedule.kind,
                "source": schedule.source,
                "file": "local.toml",
                "holidays": schedule.holidays,
                "workdays": schedule.workdays,
                "recomputed": 0,
            },
        )
        uow.commit()
    report = audit_verify(cmds, jobs=1)
    assert report.ok, report.problems
    assert any("1 项日历导入 calendar imports were recorded before" in n for n in report.notes)
    sql(cmds, "UPDATE calendar_schedules SET content = replace(content, '09-01', '08-04')")
    report = audit_verify(cmds, jobs=1)  # its days are still checked against the event
    assert [p.kind for p in report.problems] == ["calendar"]
    assert "stored has 2025-08-04 but the event recorded 2025-09-01" in report.problems[0].message


@dataclass(frozen=True)
class Tamper:
    edit: Callable[[Home], None]
    kinds: set[str]  # exactly the kinds of problem verification reports
    named: tuple[str, ...]  # what one problem's message must say (the table, the row, the diff)


def _repin(h: Home) -> None:
    with UnitOfWork(h.cmds.db, write=False) as uow:
        other = uow.decisions.get(h.other)
    sql(
        h.cmds,
        "UPDATE decisions SET procedure_sha256 = :sha, procedure_id = :pid, "
        "procedure_version = :ver WHERE id = :id",
        sha=other.procedure_sha256,
        pid=other.procedure_id,
        ver=other.procedure_version,
        id=h.lead,
    )


def _delete_decision(h: Home) -> None:
    for table in ("alerts", "documents", "step_attempts", "todo"):
        sql(h.cmds, f"DELETE FROM {table} WHERE decision_id = :id", id=h.other)
    sql(h.cmds, "DELETE FROM decisions WHERE id = :id", id=h.other)


def _insert_decision(h: Home) -> None:
    sql(
        h.cmds,
        "INSERT INTO decisions (id, title, procedure_id, procedure_version, procedure_sha256, "
        "flags, sponsor, co_sponsors, assignments, registered_on, status, version) "
        "SELECT '2025-0099', '凭空决策', procedure_id, procedure_version, procedure_sha256, "
        "'[]', sponsor, '[]', '{}', registered_on, status, 1 FROM decisions WHERE id = :id",
        id=h.other,
    )


TAMPERS = {
    "a role added to people": Tamper(
        lambda h: sql(
            h.cmds,
            "INSERT INTO people (name, role, unit) VALUES ('刘科长', 'legal_office', '区住建委')",
        ),
        {"people"},
        ("people row (刘科长, role legal_office)", "no person_add event"),
    ),
    "a person removed from people": Tamper(
        lambda h: sql(h.cmds, "DELETE FROM people WHERE name = '王科长'"),
        {"people"},
        ("王科长's role legal_office", "missing from the people table"),
    ),
    "a removed person put back": Tamper(
        lambda h: sql(
            h.cmds,
            "INSERT INTO people (name, role, unit) VALUES ('赵评估', 'risk_assessor', '区社会稳定评估中心')",
        ),
        {"people"},
        ("people row (赵评估, role risk_assessor)", "no person_add event"),
    ),
    "a person's unit changed": Tamper(
        lambda h: sql(h.cmds, "UPDATE people SET unit = '区财政局' WHERE name = '刘科长'"),
        {"people"},
        ("people row (刘科长, role sponsor)", "unit '区财政局' stored, '区住建委' recorded"),
    ),
    "a day of a schedule moved (09-01 to 08-04)": Tamper(
        lambda h: sql(
            h.cmds,
            "UPDATE calendar_schedules SET content = replace(content, '2025-09-01', '2025-08-04')",
        ),
        {"calendar"},
        (
            "calendar_schedules row #1 (2025 local",
            "days off (holidays): stored has 2025-08-04 but the event recorded 2025-09-01",
        ),
    ),
    "a schedule's text edited, its days kept": Tamper(
        lambda h: sql(h.cmds, "UPDATE calendar_schedules SET content = content || '# 注释\n'"),
        {"calendar"},
        ("calendar_schedules row #1", "hashes to", "the event recorded the file's sha256"),
    ),
    "a schedule's text replaced by garbage": Tamper(
        lambda h: sql(h.cmds, "UPDATE calendar_schedules SET content = 'year = ['"),
        {"calendar"},
        ("calendar_schedules row #1", "its content does not parse", "not valid TOML"),
    ),
    "a schedule row removed": Tamper(
        lambda h: sql(h.cmds, "DELETE FROM calendar_schedules"),
        {"calendar"},
        ("the 2025 local schedule (区政府通知（测试）)", "has no calendar_schedules row"),
    ),
    "a schedule row added": Tamper(
        lambda h: sql(
            h.cmds,
            "INSERT INTO calendar_schedules (year, kind, source, content, sha256, imported_at) "
            "SELECT year, kind, source, replace(content, '2025-09-01', '2025-09-03'), sha256, "
            "imported_at FROM calendar_schedules",
        ),
        {"calendar"},
        ("calendar_schedules row #2", "has no calendar_import event"),
    ),
    "a procedure definition's text edited": Tamper(
        lambda h: sql(
            h.cmds,
            "UPDATE procedure_definitions SET content = replace(content, :a, :b) "
            "WHERE id = 'national-2019'",
            a='"amount":60',
            b='"amount":90',
        ),
        {"definition"},
        ("procedure_definitions row", "(national-2019", "not to its key"),
    ),
    "a decision re-pinned to another definition": Tamper(
        _repin,
        {"definition"},
        ("decision 2025-0001: pinned to definition", "its audit events end with"),
    ),
    "a document row pointed at another file": Tamper(
        lambda h: sql(
            h.cmds,
            "UPDATE documents SET sha256 = (SELECT max(sha256) FROM documents) || '' "
            "WHERE id = (SELECT min(id) FROM documents WHERE sha256 <> "
            "(SELECT max(sha256) FROM documents))",
        ),
        {"document"},
        ("the row points at another file than the event recorded",),
    ),
    "a document row removed": Tamper(
        lambda h: sql(h.cmds, "DELETE FROM documents WHERE decision_id = :id", id=h.lead),
        {"document"},
        ("草案.txt of decision 2025-0001", "has no documents row"),
    ),
    "a decision's flags edited": Tamper(
        lambda h: sql(h.cmds, "UPDATE decisions SET flags = '[]' WHERE id = :id", id=h.lead),
        {"state"},
        ("decision 2025-0001", "flags stored [], recorded ['technical']"),
    ),
    "a decision's co-sponsors edited": Tamper(
        lambda h: sql(h.cmds, "UPDATE decisions SET co_sponsors = '[]' WHERE id = :id", id=h.lead),
        {"state"},
        ("decision 2025-0001", "co_sponsors stored (), recorded ('区财政局',)"),
    ),
    "a decision's assignments edited": Tamper(
        lambda h: sql(
            h.cmds,
            'UPDATE decisions SET assignments = \'{"risk_assessor":["某公司"]}\' WHERE id = :id',
            id=h.lead,
        ),
        {"state"},
        ("decision 2025-0001", "assignments stored (('risk_assessor', ('某公司',)),)"),
    ),
    "a decision's sponsor unit edited": Tamper(
        lambda h: sql(
            h.cmds, "UPDATE decisions SET sponsor = '区教育局' WHERE id = :id", id=h.lead
        ),
        {"state"},
        ("decision 2025-0001", "sponsor stored '区教育局', recorded '区住建委'"),
    ),
    "an alert level marked raised without its event (an escalation suppressed)": Tamper(
        lambda h: sql(
            h.cmds,
            "INSERT INTO alerts (decision_id, step, attempt, level, due_on, first_reached_on, "
            "raised_at) SELECT decision_id, step, attempt, 'escalated', due_on, :first, "
            "raised_at FROM alerts",
            first=date(2025, 11, 3),
        ),
        {"alerts"},
        (
            "alerts row (decision 2025-0001, step public_participation attempt 1, level "
            "escalated, due 2025-10-27, first reached 2025-11-03) has no alert event",
        ),
    ),
    "an alerts row removed": Tamper(
        lambda h: sql(h.cmds, "DELETE FROM alerts"),
        {"alerts"},
        ("level due_soon, due 2025-10-27) has no alerts row",),
    ),
    "the scan's next due date pushed later": Tamper(
        lambda h: sql(
            h.cmds,
            "UPDATE decisions SET next_due_on = :d WHERE id = :id",
            d=date(2099, 1, 1),
            id=h.lead,
        ),
        {"index"},
        ("decisions.next_due_on 2099-01-01 is later than", "next due date 2025-10-27"),
    ),
    "the scan's next alert date pushed later": Tamper(
        lambda h: sql(
            h.cmds,
            "UPDATE decisions SET next_alert_on = :d WHERE id = :id",
            d=date(2099, 1, 1),
            id=h.lead,
        ),
        {"index"},
        (
            "decisions.next_alert_on 2099-01-01 is later than 2025-10-27",
            "step public_participation attempt 1 (due 2025-10-27) reaches level due_today",
        ),
    ),
    "a step hidden from the to-do index": Tamper(
        lambda h: sql(
            h.cmds,
            "DELETE FROM todo WHERE decision_id = :id AND step = 'public_participation' "
            "AND unit = '区财政局'",
            id=h.lead,
        ),
        {"todo"},
        (
            "to-do index (todo) of decision 2025-0001",
            "step public_participation (open, attempt 1) for unit 区财政局 is missing",
        ),
    ),
    "a to-do row's due date moved": Tamper(
        lambda h: sql(
            h.cmds,
            "UPDATE todo SET due_on = :d, order_on = :d WHERE decision_id = :id "
            "AND step = 'public_participation' AND unit = ''",
            d=date(2026, 3, 1),
            id=h.lead,
        ),
        {"todo"},
        (
            "step public_participation (open, attempt 1) for every unit",
            "due_on stored datetime.date(2026, 3, 1), planned datetime.date(2025, 10, 27)",
        ),
    ),
    "a decision row deleted": Tamper(
        _delete_decision,
        {"decisions", "document"},  # its documents went with it
        ("decision 2025-0002 has audit events", "no row in the decisions table"),
    ),
    "a decision row added": Tamper(
        _insert_decision,
        {"state", "truncated"},  # a state ahead of the log is also what a cut tail leaves
        ("decision 2025-0099 (凭空决策)", "has no register event"),
    ),
}


# the tables the catalogue edits, parents first (restored between cases)
TABLES = ("people", "calendar_schedules", "procedure_definitions", "decisions", "step_attempts",
          "documents", "alerts", "todo")  # fmt: skip


def snapshot(cmds: Commands) -> dict[str, tuple[list[str], list[tuple[object, ...]]]]:
    with UnitOfWork(cmds.db, write=False) as uow:
        saved = {}
        for table in TABLES:
            cursor = SQL(f"SELECT * FROM {table}").run(uow.link)
            saved[table] = ([d[0] for d in cursor.description], list(cursor.fetchall()))
    return saved


def restore(cmds: Commands, saved: dict[str, tuple[list[str], list[tuple[object, ...]]]]) -> None:
    with UnitOfWork(cmds.db) as uow:
        for table in reversed(TABLES):
            SQL(f"DELETE FROM {table}").run(uow.link)
        for table in TABLES:
            columns, rows = saved[table]
            insert = SQL(
                f"INSERT INTO {table} ({', '.join(columns)}) "
                f"VALUES ({', '.join(f':c{i}' for i in range(len(columns)))})"
            )
            for row in rows:
                insert.run(uow.link, {f"c{i}": v for i, v in enumerate(row)})
        uow.commit()


def test_each_direct_edit_is_named_by_verify_and_fails_it(home, monkeypatch, capsys):
    """A home using every table verifies clean; then the whole catalogue on it: each edit
    made, verification run, the tables put back.  Each must fail verification with exactly the
    expected kinds of problem, one of them naming the table, the row and what differs; every
    third one through ``decide audit verify --json`` (in process), which must exit 1."""
    from cli.main import main

    report = audit_verify(home.cmds, jobs=1)  # every table in use, nothing edited: clean
    assert report.ok, report.problems
    assert any("people and calendar schedules were replayed" in n for n in report.notes)
    assert not any("SHA-256" in n for n in report.notes)  # every import here records its file
    with UnitOfWork(home.cmds.db, write=False) as uow:
        event = uow.audit.events_with(["calendar_import"])[0]
    assert json.loads(event.payload)["sha256"] == hashlib.sha256(SCHEDULE.encode()).hexdigest()
    with UnitOfWork(home.cmds.db, write=False) as uow:  # the index checks have dates to check
        dates = SQL("SELECT next_due_on, next_alert_on FROM decisions WHERE id = :id")
        assert [str(d)[:10] for d in dates.run(uow.link, {"id": home.lead}).fetchone()] == [
            "2025-10-27",
            "2025-10-27",
        ]
    monkeypatch.setenv("DECIDE_HOME", str(home.cmds.home))
    monkeypatch.setenv("DECIDE_DATABASE_URL", home.cmds.db.url)
    saved = snapshot(home.cmds)
    failed = []
    for number, (case, tamper) in enumerate(TAMPERS.items()):
        tamper.edit(home)
        if number % 3 == 0:
            capsys.readouterr()
            code = main(["audit", "verify", "--jobs", "1", "--json"])
            doc = json.loads(capsys.readouterr().out)
            ok, problems = doc["ok"], [(p["kind"], p["message"]) for p in doc["problems"]]
        else:
            report = audit_verify(home.cmds, jobs=1)
            code, ok, problems = 1, report.ok, [(p.kind, p.message) for p in report.problems]
        kinds = {kind for kind, _ in problems}
        named = any(all(n in m for n in tamper.named) for _, m in problems)
        if (code, ok, kinds, named) != (1, False, tamper.kinds, True):
            failed.append(f"{case}: exit {code}, kinds {sorted(kinds)}, problems {problems}")
        restore(home.cmds, saved)
    assert not failed, "\n".join(failed)
    report = audit_verify(home.cmds, jobs=1)  # put back as it was: clean again
    assert report.ok, report.problems


def test_a_period_shortened_by_editing_the_calendar_is_named_at_the_event_that_used_it(home):
    """The attack: remove the local day off that extends a comment window, close the step a day
    early through the engine (which counts on the table), leave the table so.  Verification
    replays the decision under the calendar the import event recorded and names both."""
    cmds = home.cmds
    with pytest.raises(RuleViolation):  # the window runs to 10-10: closing on 10-10 is refused
        cmds.complete(home.lead, "public_participation", actor="刘科长", on=date(2025, 10, 10))
    sql(
        cmds, "UPDATE calendar_schedules SET content = replace(content, '2025-10-09', '2025-08-04')"
    )
    cmds.complete(home.lead, "public_participation", actor="刘科长", on=date(2025, 10, 10))
    report = audit_verify(cmds, jobs=1)
    assert {p.kind for p in report.problems} == {"calendar", "replay"}, report.problems
    calendar = next(p for p in report.problems if p.kind == "calendar")
    assert "stored has 2025-08-04 but the event recorded 2025-10-09" in calendar.message
    replay = next(p for p in report.problems if p.kind == "replay")
    with UnitOfWork(cmds.db, write=False) as uow:
        closing = uow.audit.events(home.lead)[-1]
    assert closing.action == "complete" and replay.seq == closing.seq
    assert "public_participation" in replay.message


PASSWORD = "correct horse battery"


def test_an_accounts_grant_unit_or_admin_flag_edited_is_named(db, tmp_path):
    cmds = Commands(db, tmp_path / "home", clock=lambda: CLOCK)
    add_account(cmds, None, login="admin", name="管理员", unit="区政府办公室", admin=True,
                password=PASSWORD)  # fmt: skip
    admin = cmds.identify(token=create_token(cmds, "admin", PASSWORD)[0])
    add_account(cmds, admin, login="liu", name="刘科长", unit="区住建委", roles=["sponsor"],
                password=PASSWORD)  # fmt: skip
    assert audit_verify(cmds, jobs=1).ok
    with UnitOfWork(cmds.db, write=False) as uow:
        digest = uow.accounts.get("liu").password_hash
    for column, value, named in (
        ("roles", '["legal_office","sponsor"]', "roles stored ['legal_office', 'sponsor'], "
         "recorded ['sponsor']"),
        ("unit", "区司法局", "unit stored '区司法局', recorded '区住建委'"),
        ("admin", True, "admin stored True, recorded False"),
        ("password_hash", digest.replace("$argon2id$", "$argon2i$"), "(password)"),
    ):  # fmt: skip
        with UnitOfWork(cmds.db) as uow:
            before = SQL(f"SELECT {column} FROM accounts WHERE login = 'liu'").run(uow.link)
            kept = before.fetchone()[0]
            SQL(f"UPDATE accounts SET {column} = :v WHERE login = 'liu'").run(
                uow.link, {"v": value}
            )
            uow.commit()
        report = audit_verify(cmds, jobs=1)
        assert [p.kind for p in report.problems] == ["accounts"], (column, report.problems)
        message = report.problems[0].message
        assert "account 'liu'" in message and named in message, message
        assert digest not in message and "argon2" not in message  # never a secret in a message
        sql(cmds, f"UPDATE accounts SET {column} = :v WHERE login = 'liu'", v=kept)
    assert audit_verify(cmds, jobs=1).ok


def test_verification_reads_one_snapshot_while_others_write(db):
    """The rows and the events a check compares are read one after another while offices keep
    writing: in a snapshot a person added meanwhile is seen in neither (else a row without its
    event, a false alarm); PostgreSQL's default transaction would see the row."""
    from store.dbapi import Database

    def add(name: str) -> None:
        other = Database(db.url)
        try:
            with UnitOfWork(other) as uow:
                uow.people.add(name, "sponsor", None)
                uow.commit()
        finally:
            other.close()

    for snapshot in (True, False):
        with UnitOfWork(db, write=False, snapshot=snapshot) as uow:
            before = len(uow.people.all())
            add(f"后来者{snapshot}")
            seen = len(uow.people.all()) - before
        assert seen == (0 if snapshot or db.dialect == "sqlite" else 1), (snapshot, seen)
    with UnitOfWork(db, write=False) as uow:  # and the connection is back to its default
        assert len(uow.people.all()) == 2
        if db.dialect == "postgresql":
            level = SQL("SHOW transaction_isolation").run(uow.link).fetchone()[0]
            assert level == "read committed"
