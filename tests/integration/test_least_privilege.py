"""Least privilege (issue 15, item 5).

PostgreSQL: ``decide db-upgrade --owner-url`` migrates as the owner role and grants the
application role only what it needs; that role cannot disable the audit log's triggers, change
or remove events, alter or truncate any table — and the whole application still works as it.
SQLite (and every home): the database, keys and logs are created 0600 in a 0700 home, and
``db-upgrade`` tightens a home made before.
"""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import make_url, text

from app.accounts import add_account, create_token
from app.admin import audit_checkpoint, audit_export, audit_verify, import_schedule
from app.alerts import scan
from app.bootstrap import bootstrap
from app.commands import Attachment
from app.outbox import claim, deliver
from app.schema import db_upgrade
from app.work import build_archive, build_package
from notify.channels import JsonlNotifier
from notify.messages import message_for
from procedures import InputError, MeetingRecord
from procedures.errors import Unavailable
from store.dbapi import Database
from store.settings import Settings
from tests.integration.conftest import PG_ENV, PG_SKIP, _admin

CLOCK = datetime(2026, 1, 10, 2, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Roles:
    owner_url: str
    app_url: str
    owner: str
    app: str
    database: str


def _url(user: str, database: str) -> str:
    base = make_url(os.environ[PG_ENV])
    return base.set(username=user, password=None, database=database).render_as_string(False)


def _roles(*, database_owner: str) -> Roles:
    """Two fresh login roles (names unique: roles are shared by the whole server) and a
    fresh database owned by ``database_owner`` ("owner" or "app")."""
    tag = uuid.uuid4().hex[:10]
    owner, app, database = f"decide_own_{tag}", f"decide_app_{tag}", f"decide_lp_{tag}"
    admin = _admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE ROLE "{owner}" LOGIN'))
        conn.execute(text(f'CREATE ROLE "{app}" LOGIN'))
        db_owner = owner if database_owner == "owner" else app
        conn.execute(text(f'CREATE DATABASE "{database}" OWNER "{db_owner}"'))
    admin.dispose()
    return Roles(_url(owner, database), _url(app, database), owner, app, database)


def _drop(roles: Roles) -> None:
    admin = _admin()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{roles.database}" WITH (FORCE)'))
        conn.execute(text(f'DROP ROLE IF EXISTS "{roles.app}"'))
        conn.execute(text(f'DROP ROLE IF EXISTS "{roles.owner}"'))
    admin.dispose()


def _settings(home: Path, url: str) -> Settings:
    return replace(Settings.from_env({}), home=home, database_url=url)


@pytest.fixture(scope="module")
def least(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Roles]:
    """A database owned by the owner role, migrated and granted by ``db-upgrade --owner-url``."""
    if not os.environ.get(PG_ENV):
        pytest.skip(PG_SKIP)
    roles = _roles(database_owner="owner")
    home = tmp_path_factory.mktemp("least") / "home"
    try:
        with pytest.raises(Unavailable, match="db-upgrade --owner-url"):
            bootstrap(_settings(home, roles.app_url))  # first use as the app role: no migration
        done = db_upgrade(_settings(home, roles.app_url), owner_url=roles.owner_url)
        assert done.grants is not None and done.grants.role == roles.app
        assert done.grants.tables["audit_events"] == ("SELECT", "INSERT")
        assert done.grants.tables["alembic_version"] == ("SELECT",)
        again = db_upgrade(_settings(home, roles.app_url), owner_url=roles.owner_url)
        assert again.grants == done.grants  # idempotent
        yield roles
    finally:
        _drop(roles)


def _refused(url: str, statement: str) -> str:
    """The SQLSTATE ``statement`` fails with, run alone as the role of ``url``."""
    import psycopg

    conninfo = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        try:
            conn.execute(statement)
        except psycopg.Error as exc:
            return str(exc.sqlstate)
    return "allowed"


def test_the_application_role_cannot_disable_triggers_change_events_or_alter_tables(least):
    forbidden = [
        "ALTER TABLE audit_events DISABLE TRIGGER ALL",
        "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_change",
        "DROP TRIGGER audit_events_no_change ON audit_events",
        "CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger AS "
        "$$ BEGIN RETURN NEW; END $$ LANGUAGE plpgsql",
        "SET session_replication_role = replica",  # what would switch every trigger off
        "UPDATE audit_events SET actor = 'x'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
        "UPDATE audit_checkpoints SET signature = 'x'",
        "DELETE FROM audit_checkpoints",
        "UPDATE alembic_version SET version_num = '0001'",
        "CREATE TABLE shadow (id int)",
        "CREATE TRIGGER sneak BEFORE INSERT ON decisions FOR EACH ROW "
        "EXECUTE FUNCTION audit_events_append_only()",
    ]
    import psycopg

    with psycopg.connect(least.owner_url.replace("+psycopg", ""), autocommit=True) as conn:
        tables = [
            r[0]
            for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
    assert "audit_events" in tables and "decisions" in tables
    for table in tables:
        forbidden += [
            f"ALTER TABLE {table} ADD COLUMN sneaked int",
            f"ALTER TABLE {table} DISABLE TRIGGER ALL",
            f"TRUNCATE {table}",
            f"DROP TABLE {table}",
        ]
    outcomes = {s: _refused(least.app_url, s) for s in forbidden}
    # 42501 insufficient_privilege ("permission denied", "must be owner")
    assert {s: o for s, o in outcomes.items() if o != "42501"} == {}
    # the owner still can: the refusals are the role's, not a broken schema
    assert _refused(least.owner_url, "ALTER TABLE audit_events ENABLE TRIGGER ALL") == "allowed"


def _papers(folder: Path, *kinds: str) -> list[Attachment]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for kind in kinds:
        path = folder / f"{kind}.pdf"
        path.write_bytes(f"%PDF {kind}".encode())
        out.append(Attachment(kind, path))
    return out


def test_the_whole_application_runs_as_the_application_role(least, tmp_path):
    cmds = bootstrap(_settings(tmp_path / "home", least.app_url), clock=lambda: CLOCK)
    add_account(cmds, None, login="admin", name="管理员", unit="区政府办公室", admin=True,
                password=PASSWORD)  # fmt: skip
    admin = cmds.identify(token=create_token(cmds, "admin", PASSWORD)[0])
    for login, name, unit, roles in (
        ("zhang", "张主任", "区政府办公室", ["decision_body", "head", "archivist"]),
        ("liu", "刘科长", "区住建委", ["sponsor"]),
        ("wang", "王科长", "区司法局", ["legal_office"]),
    ):
        add_account(cmds, admin, login=login, name=name, unit=unit, roles=roles, password=PASSWORD)
    who = {
        k: cmds.identify(token=create_token(cmds, k, PASSWORD)[0]) for k in ("zhang", "liu", "wang")
    }
    papers = tmp_path / "papers"
    d = cmds.register(
        title="老旧小区改造", procedure_id="national-2019", sponsor="区住建委",
        actor=who["zhang"], on=date(2025, 3, 3),
    ).id  # fmt: skip
    cmds.start(d, "drafting", actor=who["liu"], on=date(2025, 3, 3))
    cmds.complete(d, "drafting", actor=who["liu"], on=date(2025, 3, 10),
                  attachments=_papers(papers, "draft"))  # fmt: skip
    cmds.start(d, "public_participation", actor=who["liu"], on=date(2025, 3, 11))
    cmds.complete(d, "public_participation", actor=who["liu"], on=date(2025, 4, 14),
                  attachments=_papers(papers, "opinion_adoption_report"))  # fmt: skip
    cmds.start(d, "legality_review", actor=who["liu"], on=date(2025, 4, 15))
    cmds.complete(d, "legality_review", actor=who["wang"], on=date(2025, 4, 30), outcome="lawful",
                  attachments=_papers(papers, "legality_opinion", "legal_advisers_opinion"))  # fmt: skip
    assert build_package(cmds, d).detail["decision"] == d
    cmds.start(d, "collective_discussion", actor=who["zhang"], on=date(2025, 5, 6))
    meeting = MeetingRecord(meeting_type="executive", chair="区长", attendees=("区长", "甲"),
                            positions={"甲": "rejected"})  # fmt: skip
    cmds.complete(d, "collective_discussion", actor=who["zhang"], on=date(2025, 5, 8),
                  outcome="rejected", meeting=meeting)  # fmt: skip
    cmds.start(d, "archiving", actor=who["zhang"], on=date(2025, 5, 9))
    _, view = cmds.complete(d, "archiving", actor=who["zhang"], on=date(2025, 5, 12))
    assert view.status == "closed"
    assert build_archive(cmds, d).detail["audit"]["verified"] is True
    # the outbox (claimed FOR UPDATE SKIP LOCKED), the deadline scan, a calendar import
    rows = claim(cmds, worker="w1", limit=5)
    assert rows
    settled = [deliver(cmds, r, {"test": lambda row, title: None}, worker="w1") for r in rows]
    assert {s.outcome for s in settled} <= {"delivered", "superseded"}
    scan(cmds, date(2025, 6, 1))
    schedule = tmp_path / "2027.toml"
    schedule.write_text('year = 2027\nkind = "official"\nsource = "国办发明电〔2026〕1号"\n'
                        'holidays = ["2027-01-01"]\nworkdays = []\n', encoding="utf-8")  # fmt: skip
    import_schedule(cmds, schedule, admin)
    audit_checkpoint(cmds)
    report = audit_verify(cmds)
    assert report.ok, report.problems
    assert audit_export(cmds, tmp_path / "all.jsonl", None) == report.events


def test_db_upgrade_refuses_an_application_role_that_could_act_as_the_owner(tmp_path):
    if not os.environ.get(PG_ENV):
        pytest.skip(PG_SKIP)
    legacy = _roles(database_owner="app")  # an older deployment: the application made the tables
    try:
        home = tmp_path / "home"
        bootstrap(_settings(home, legacy.app_url)).db.close()
        with pytest.raises(InputError) as refused:
            db_upgrade(_settings(home, legacy.app_url), owner_url=legacy.owner_url)
        message = str(refused.value)
        assert "[least_privilege]" in message and f"REASSIGN OWNED BY {legacy.app}" in message
        assert f"owns database {legacy.database}, schema public, table " in message
        # nothing was granted: the owner role still has no right on the application's tables
        assert _refused(legacy.owner_url, "SELECT 1 FROM audit_events") == "42501"
        with pytest.raises(InputError, match="the application needs a role of its own"):
            db_upgrade(_settings(home, legacy.owner_url), owner_url=legacy.owner_url)
        superuser = _url(make_url(os.environ[PG_ENV]).username or "postgres", legacy.database)
        with pytest.raises(InputError, match="is a superuser"):
            db_upgrade(_settings(home, superuser), owner_url=legacy.owner_url)
        with pytest.raises(InputError, match="both must name the database"):
            db_upgrade(_settings(home, _url(legacy.app, "elsewhere")), owner_url=legacy.owner_url)
        with pytest.raises(InputError, match="is for a PostgreSQL store"):
            db_upgrade(
                _settings(home, f"sqlite:///{tmp_path / 'x.db'}"), owner_url=legacy.owner_url
            )
    finally:
        _drop(legacy)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The common default umask, under which a plain open() makes a file world-readable."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_a_new_home_is_0700_with_the_database_keys_and_logs_0600(tmp_path, umask_022):
    home = tmp_path / "office" / "home"
    cmds = bootstrap(_settings(home, f"sqlite:///{home / 'decide.db'}"), clock=lambda: CLOCK)
    d = cmds.register(title="老旧小区改造", procedure_id="national-2019", sponsor="区住建委",
                      actor="办公室", on=date(2025, 3, 3)).id  # fmt: skip
    cmds.start(d, "drafting", actor="办公室", on=date(2025, 3, 3))
    cmds.complete(d, "drafting", actor="办公室", on=date(2025, 3, 10),
                  attachments=_papers(tmp_path / "papers", "draft"))  # fmt: skip
    audit_checkpoint(cmds)
    row = claim(cmds, worker="w", limit=1)[0]
    JsonlNotifier(home / "alerts.jsonl").send(message_for(row.kind, d, row.payload, "老旧小区改造"))
    files = {p.relative_to(home).as_posix(): _mode(p) for p in home.rglob("*") if p.is_file()}
    assert {"decide.db", "decide.db-wal", "decide.db-shm", "alerts.jsonl"} <= set(files)
    assert {"keys/audit-signing.pem", "keys/checkpoints.jsonl"} <= set(files)
    assert any(name.startswith("documents/") for name in files)
    assert {name: mode for name, mode in files.items() if mode != 0o600} == {}
    assert _mode(home) == 0o700 and _mode(home / "keys") == 0o700
    assert _mode(home.parent) == 0o755  # a parent made on the way is not ours to restrict
    cmds.db.close()


def test_db_upgrade_tightens_a_home_made_before_and_leaves_a_shared_one(tmp_path, umask_022):
    home = tmp_path / "home"
    url = f"sqlite:///{home / 'decide.db'}"
    cmds = bootstrap(_settings(home, url), clock=lambda: CLOCK)
    audit_checkpoint(cmds)
    cmds.db.close()
    for path, mode in ((home, 0o755), (home / "decide.db", 0o644), (home / "keys", 0o755),
                       (home / "keys" / "checkpoints.jsonl", 0o644)):  # fmt: skip
        os.chmod(path, mode)  # as an older version left it
    (home / "notes.txt").write_text("not the store's", encoding="utf-8")
    done = db_upgrade(_settings(home, url))
    assert sorted(done.tightened) == sorted([
        f"{home}: 0755 → 0700", f"{home / 'decide.db'}: 0644 → 0600",
        f"{home / 'keys'}: 0755 → 0700", f"{home / 'keys' / 'checkpoints.jsonl'}: 0644 → 0600",
    ])  # fmt: skip
    assert _mode(home) == 0o700 and _mode(home / "decide.db") == 0o600
    assert _mode(home / "notes.txt") == 0o644  # only what the store made
    assert db_upgrade(_settings(home, url)).tightened == ()
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    notes = db_upgrade(_settings(shared, f"sqlite:///{shared / 'decide.db'}")).tightened
    assert len(notes) == 1 and "sticky bit" in notes[0] and _mode(shared) == 0o1777


def test_the_database_file_is_private_even_when_opened_without_the_composition_root(
    tmp_path, umask_022
):
    db = Database(f"sqlite:///{tmp_path / 'new' / 'decide.db'}")
    db.ensure_schema()
    assert _mode(tmp_path / "new" / "decide.db") == 0o600 and _mode(tmp_path / "new") == 0o700
    db.close()
