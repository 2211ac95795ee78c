"""Limits and faults (issue 15, item 6), in process over real databases.

Each fault ends in one clear error naming the rule (no traceback, nothing written): input files
that are not regular files or are too large, a PostgreSQL server that accepts and never
answers, a statement held up past the statement timeout, concurrent first commands on a fresh
database, ``--out`` into a directory that cannot be written, ``db-upgrade`` against a server
that is not there, and names that hold invisible format or bidi control characters.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import socket
import sys
import threading
import traceback
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from app.accounts import add_account
from app.admin import add_person, audit_export, import_schedule
from app.bootstrap import bootstrap
from app.commands import Commands
from app.requests import CompleteRequest, MeetingIn
from app.schema import db_upgrade
from cli.main import main
from notify.config import load_notify_settings
from procedures import InputError, InvalidDefinition, load_procedure
from procedures.errors import Unavailable
from store.dbapi import Database
from store.settings import HEAD_REVISION, Settings
from tests.integration.conftest import PG_ENV, PG_SKIP, drop_pg_database, new_pg_database

CLOCK = datetime(2026, 1, 10, 2, 0, tzinfo=UTC)
ONE_MIB = 1 << 20


@pytest.fixture
def cmds(db, tmp_path) -> Commands:
    return Commands(db, tmp_path / "home", clock=lambda: CLOCK)


def _register(cmds: Commands, **kw: object) -> str:
    fields: dict[str, object] = {
        "title": "老旧小区改造",
        "procedure_id": "national-2019",
        "sponsor": "区住建委",
        "actor": "区政府办公室",
        "on": date(2025, 3, 3),
        **kw,
    }
    return cmds.register(**fields).id  # type: ignore[arg-type]


def _events(cmds: Commands) -> int:
    with cmds.unit(write=False) as uow:
        return len(uow.audit.events())


# --- input files: regular files only, with a size limit ----------------------------------


@pytest.fixture
def odd_files(tmp_path: Path) -> dict[str, Path]:
    """What must never be read as an input file (a FIFO would block open() for ever, /dev/zero
    never ends), and a regular file over the 1 MiB limit."""
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * (ONE_MIB + 1))
    return {"fifo": fifo, "device": Path("/dev/zero"), "directory": tmp_path, "big": big}


REFUSAL = {
    "fifo": "is a FIFO (named pipe)",
    "device": "is a device",
    "directory": "is a directory",
    "big": "may have at most 1 MiB",
}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_calendar_import_takes_regular_files_within_the_limit_only(cmds, odd_files):
    """(A FIFO and /dev/zero are given to a real process in tests/e2e/test_faults_cli.py: read
    without the limit, they would hang or fill the memory of this one.)"""
    before = _events(cmds)
    for name in ("directory", "big"):
        path = odd_files[name]
        with pytest.raises(InputError) as refused:
            import_schedule(cmds, path, "管理员")
        assert REFUSAL[name] in str(refused.value) and str(path) in str(refused.value), name
        assert "calendar import" in str(refused.value)
    latin1 = odd_files["big"].with_name("latin1.toml")
    latin1.write_bytes(b'source = "\xe9"\n')
    with pytest.raises(InputError, match="is not UTF-8 text"):
        import_schedule(cmds, latin1, "管理员")
    assert _events(cmds) == before  # nothing written


def test_procedure_files_and_notification_settings_are_regular_files_within_the_limit(
    odd_files, tmp_path
):
    for name, path in odd_files.items():
        with pytest.raises((InputError, InvalidDefinition)) as failed:  # both exit 2
            load_procedure(str(path))
        assert REFUSAL[name] in str(failed.value) and "a procedure definition" in str(failed.value)
        home = tmp_path / "home"
        with pytest.raises(InputError) as refused:
            load_notify_settings(home, {"DECIDE_NOTIFY_FILE": str(path)})
        assert REFUSAL[name] in str(refused.value), name
    fifo_home = odd_files["fifo"].parent / "fifo-home"
    fifo_home.mkdir()
    os.mkfifo(fifo_home / "notify.toml")
    with pytest.raises(InputError, match="FIFO"):
        load_notify_settings(fifo_home, {})


def _run(
    home: Path, *args: str, stdin: io.TextIOBase | None = None, **env: str
) -> tuple[int, dict]:
    """``decide ARGS --json`` in process; its exit code and JSON document."""
    out = io.StringIO()
    saved = {k: os.environ.get(k) for k in ("DECIDE_HOME", "DECIDE_DATABASE_URL", *env)}
    old_out = sys.stdout
    sys.stdout = out
    os.environ["DECIDE_HOME"] = str(home)
    os.environ.pop("DECIDE_DATABASE_URL", None)
    os.environ.update(env)
    try:
        code = main([*args, "--json"])
    finally:
        sys.stdout = old_out
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return code, json.loads(out.getvalue())


# --- PostgreSQL: connect and statement timeouts ------------------------------------------


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A local port that accepts connections and never says a word."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


def test_timeouts_that_are_not_numbers_of_seconds_are_refused_naming_the_variable():
    for name, value in (("DECIDE_DB_CONNECT_TIMEOUT", "abc"), ("DECIDE_DB_CONNECT_TIMEOUT", "0"),
                        ("DECIDE_DB_STATEMENT_TIMEOUT", "-1"), ("DECIDE_DB_STATEMENT_TIMEOUT", "nan")):  # fmt: skip
        with pytest.raises(InputError, match=f"{name}=.*is not a number"):
            Settings.from_env({name: value})
    settings = Settings.from_env({"DECIDE_DB_STATEMENT_TIMEOUT": "0"})
    assert (settings.connect_timeout, settings.statement_timeout) == (10.0, 0.0)  # 0: no limit


def _refused_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as s:
        return int(s.getsockname()[1])  # closed again: connecting is refused


def test_a_server_that_accepts_and_never_answers_fails_within_the_connect_timeout(
    silent_server, tmp_path
):
    url = f"postgresql+psycopg://decide:s3cret-pw@127.0.0.1:{silent_server}/decide"
    settings = replace(Settings.from_env({}), home=tmp_path / "home", database_url=url,
                       connect_timeout=2)  # fmt: skip
    with pytest.raises(Unavailable) as info:
        bootstrap(settings)  # every command starts here
    message = str(info.value)
    assert "did not answer within 2 s" in message and "DECIDE_DB_CONNECT_TIMEOUT" in message
    assert "s3cret-pw" not in message and "decide:***@" in message
    with pytest.raises(Unavailable, match="DECIDE_DB_CONNECT_TIMEOUT"):
        db_upgrade(settings)  # through SQLAlchemy and Alembic, the same timeout


def test_db_upgrade_against_a_server_that_is_not_there_is_one_line_without_the_password(
    tmp_path,
):
    url = f"postgresql+psycopg://decide:s3cret-pw@127.0.0.1:{_refused_port()}/decide"
    code, doc = _run(tmp_path / "home", "db-upgrade", DECIDE_DATABASE_URL=url)
    assert code == 1 and doc["error"] == "unavailable", doc
    assert "Connection refused" in doc["message"] and "s3cret-pw" not in doc["message"]
    code, doc = _run(tmp_path / "home", "db-upgrade", "--owner-url", url,
                     DECIDE_DATABASE_URL=url.replace("decide:s3cret-pw", "decide_app"))  # fmt: skip
    assert code == 1 and "Connection refused" in doc["message"], doc
    assert "s3cret-pw" not in doc["message"]


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    if not os.environ.get(PG_ENV):
        pytest.skip(PG_SKIP)
    url = new_pg_database(request.getfixturevalue("pg_template"))
    yield url
    drop_pg_database(url)


def test_a_statement_held_up_past_the_statement_timeout_is_cancelled_and_writes_nothing(
    pg_url, tmp_path
):
    import psycopg

    cmds = Commands(Database(pg_url, statement_timeout=1), tmp_path / "home", clock=lambda: CLOCK)
    holder = psycopg.connect(pg_url.replace("+psycopg", ""))
    holder.execute("LOCK TABLE audit_head IN ACCESS EXCLUSIVE MODE")  # as a stuck session would
    # a guard, not a measure: without the timeout the command would wait for this release
    release = threading.Timer(30, holder.rollback)
    release.start()
    try:
        with pytest.raises(Unavailable) as info:
            _register(cmds)
    finally:
        release.cancel()
        holder.rollback()
        holder.close()
    message = str(info.value)
    assert "took longer than 1 s" in message and "DECIDE_DB_STATEMENT_TIMEOUT" in message
    assert _events(cmds) == 0  # nothing was written, and the same connection serves on
    assert _register(cmds) == "2025-0001"
    cmds.db.close()


# --- the first command on a fresh database, several at once ------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database nothing has migrated yet."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh' / 'decide.db'}"
        return
    if not os.environ.get(PG_ENV):
        pytest.skip(PG_SKIP)
    url = new_pg_database(None)
    yield url
    drop_pg_database(url)


def _first_command(url: str, home: str, start: object, errors: object) -> None:
    """One process's first command: bootstrap (which migrates a fresh database) and register."""
    try:
        start.wait(timeout=60)  # type: ignore[attr-defined]
        cmds = bootstrap(database_url=url, home=home, clock=lambda: CLOCK)
        _register(cmds)
        cmds.db.close()
    except BaseException:
        errors.put(traceback.format_exc())  # type: ignore[attr-defined]
        raise


def test_concurrent_first_commands_on_a_fresh_database_migrate_once(fresh_url, tmp_path):
    processes = 6
    forked = multiprocessing.get_context("fork")  # the modules are loaded already: cheap
    start, errors = forked.Barrier(processes), forked.Queue()
    workers = [
        forked.Process(
            target=_first_command, args=(fresh_url, str(tmp_path / "home"), start, errors)
        )
        for _ in range(processes)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    assert failures == [] and [w.exitcode for w in workers] == [0] * processes, failures
    db = Database(fresh_url)
    assert db.schema_revision() == HEAD_REVISION
    cmds = Commands(db, tmp_path / "home", clock=lambda: CLOCK)
    with cmds.unit(write=False) as uow:
        ids = uow.decisions.ids()
    assert sorted(ids) == [f"2025-{n:04d}" for n in range(1, processes + 1)]
    db.close()


# --- outputs --------------------------------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_out_into_a_directory_that_cannot_be_written_is_refused_cleanly(cmds, tmp_path):
    d = _register(cmds)
    if os.geteuid() == 0:  # root writes through any mode bits: a file system that refuses
        folder = Path("/sys/kernel")
        if not folder.is_dir():
            pytest.skip("no unwritable directory for root here (/sys/kernel)")
    else:
        folder = tmp_path / "read-only"
        folder.mkdir()
        os.chmod(folder, 0o555)
    with pytest.raises(InputError) as refused:
        audit_export(cmds, folder / f"{d}.jsonl", d)
    assert "cannot write" in str(refused.value) and str(folder) in str(refused.value)


# --- names and titles: no invisible format or bidi control characters --------------------

FORMAT, BIDI = "[text.format_character]", "[text.bidi_control]"
LOOKALIKES = {  # how a name can display as a real colleague's, and the rule that refuses it
    "zero width space": ("张\u200b三", FORMAT),
    "zero width joiner": ("张\u200d三", FORMAT),
    "word joiner": ("张\u2060三", FORMAT),
    "byte order mark": ("\ufeff张三", FORMAT),
    "soft hyphen": ("张\u00ad三", FORMAT),
    "right-to-left override": ("\u202e三张", BIDI),
    "left-to-right isolate": ("张\u2066三\u2069", BIDI),
    "right-to-left mark": ("张三\u200f", BIDI),
}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_names_and_titles_refuse_invisible_format_and_bidi_characters(cmds):
    d = _register(cmds)
    before = _events(cmds)
    pw = "correct horse battery"
    for label, (name, rule) in LOOKALIKES.items():
        attempts = {
            "title": lambda n=name: _register(cmds, title=f"老旧小区改造{n}"),
            "sponsor": lambda n=name: _register(cmds, sponsor=n),
            "co-sponsor": lambda n=name: _register(cmds, co_sponsors=(n,)),
            "actor": lambda n=name: _register(cmds, actor=n),
            "amended title": lambda n=name: cmds.amend(d, actor="办公室", title=n, reason="改名"),
            "person": lambda n=name: add_person(cmds, n, "sponsor", "区住建委", "管理员"),
            "person's unit": lambda n=name: add_person(cmds, "刘科长", "sponsor", n, "管理员"),
            "account name": lambda n=name: add_account(
                cmds, None, login="admin", name=n, unit="区政府办公室", admin=True, password=pw
            ),
            "account unit": lambda n=name: add_account(
                cmds, None, login="admin", name="管理员", unit=n, admin=True, password=pw
            ),
            "meeting chair": lambda n=name: cmds.execute(_meeting(d, chair=n), actor="办公室"),
            "meeting member": lambda n=name: cmds.execute(_meeting(d, member=n), actor="办公室"),
        }
        for where, attempt in attempts.items():
            with pytest.raises(InputError) as refused:
                attempt()
            message = str(refused.value)
            assert (
                rule in message
                and f"U+{ord(next(c for c in name if c not in '张三')):04X}" in message
            ), (label, where, message)
        with pytest.raises(InputError, match="login"):  # a-z 0-9 . _ - only
            add_account(cmds, None, login=f"liu{name}", name="刘", unit="区住建委", admin=True,
                        password=pw)  # fmt: skip
    assert _events(cmds) == before  # nothing written
    # free text keeps what it may need (a joiner in an emoji sequence), never a bidi control
    cmds.amend(d, actor="办公室", target_on=date(2025, 12, 31), reason="按目录调整 👩\u200d💼")
    with pytest.raises(InputError, match=r"\[text.bidi_control\]"):
        cmds.amend(d, actor="办公室", target_on=date(2025, 11, 30), reason="调整\u202e期限")
    with pytest.raises(InputError, match=r"\[text.name_one_line\]"):
        _register(cmds, sponsor="区住建委\n区财政局")


def _meeting(d: str, *, chair: str = "区长", member: str = "甲") -> CompleteRequest:
    return CompleteRequest(
        decision=d, step="collective_discussion", on=date(2025, 5, 8), outcome="approved",
        meeting=MeetingIn(meeting_type="executive", chair=chair, position={member: "approved"}),
    )  # fmt: skip
