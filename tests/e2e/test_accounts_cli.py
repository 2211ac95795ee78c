"""Accounts on the command line (issue 13): the first account, tokens from standard input, exit
code 6, a typed --actor refused, and the permission matrix of every changing command × every
role, unit relation and the anonymous caller, on SQLite and PostgreSQL.  In process
(``cli.main.main``) over a real home: the process boundary is not what is tested here
(tests/e2e/test_cli.py covers it)."""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from cli.main import main
from store.dbapi import Database
from store.fastsql import SQL
from store.uow import UnitOfWork
from tests.integration.conftest import drop_pg_database, new_pg_database, pg_template  # noqa: F401

PASSWORD = "correct horse battery"
CALLERS = ("anonymous", "admin", "office", "sponsor", "other_sponsor", "legal", "auditor")
ACCOUNTS = {  # login: name, unit, roles
    "office": ("张主任", "区政府办公室", ["decision_body"]),
    "sponsor": ("刘科长", "区住建委", ["sponsor"]),
    "other_sponsor": ("陈科长", "区教育局", ["sponsor"]),
    "legal": ("王科长", "区司法局", ["legal_office"]),
    "auditor": ("赵审计", "区审计局", ["auditor"]),
}


@contextmanager
def env(**values: str | None) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class Home:
    def __init__(self, path: Path, url: str | None = None) -> None:
        self.path = path
        self.url = url  # None: the home's own SQLite file
        self.tokens: dict[str, str] = {}

    def run(self, who: str | None, *args: str, stdin: str = "") -> tuple[int, dict]:
        token = self.tokens.get(who) if who else None
        out = io.StringIO()
        old_out, old_in = sys.stdout, sys.stdin
        sys.stdout, sys.stdin = out, io.StringIO(stdin)
        try:
            with env(DECIDE_HOME=str(self.path), DECIDE_TOKEN=token, DECIDE_ACTOR=None,
                     DECIDE_DATABASE_URL=self.url, COLUMNS="200"):  # fmt: skip
                code = main([*args, "--json"])
        finally:
            sys.stdout, sys.stdin = old_out, old_in
        text = out.getvalue().strip()
        return code, (json.loads(text) if text else {})

    def events(self) -> int:
        """How many audit events the home holds (every change appends one)."""
        db = Database(self.url or f"sqlite:///{self.path / 'decide.db'}")
        try:
            with UnitOfWork(db, write=False) as uow:
                return int(SQL("SELECT count(*) FROM audit_events").run(uow.link).fetchone()[0])
        finally:
            db.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def home(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[Home]:
    """One home per engine for the module: SQLite in the home, or a fresh PostgreSQL database."""
    url = None
    if request.param == "postgresql":
        url = new_pg_database(request.getfixturevalue("pg_template"))
    try:
        yield _populated(Home(tmp_path_factory.mktemp("accounts") / "home", url))
    finally:
        if url is not None:
            drop_pg_database(url)


def _populated(h: Home) -> Home:
    code, doc = h.run(None, "accounts", "add", "admin", "--name", "管理员", "--unit", "区政府办公室",
                      "--admin", "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
    assert code == 0, doc
    h.tokens["admin"] = h.run(None, "tokens", "create", "admin", "--password-stdin",
                              stdin=PASSWORD + "\n")[1]["token"]  # fmt: skip
    for login, (name, unit, roles) in ACCOUNTS.items():
        args = ["accounts", "add", login.replace("_", "-"), "--name", name, "--unit", unit]
        for role in roles:
            args += ["--role", role]
        code, doc = h.run("admin", *args, "--password-stdin", stdin=PASSWORD + "\n")
        assert code == 0, doc
        code, doc = h.run(None, "tokens", "create", login.replace("_", "-"), "--password-stdin",
                          stdin=PASSWORD + "\n")  # fmt: skip
        assert code == 0 and len(doc["token"]) >= 40, doc
        h.tokens[login] = doc["token"]
    return h


def test_a_typed_actor_and_a_missing_token_are_refused_with_exit_6(home: Home):
    with env(DECIDE_HOME=str(home.path), DECIDE_TOKEN=None, DECIDE_DATABASE_URL=home.url):
        assert main(["register", "--title", "t", "--procedure", "national-2019", "--sponsor",
                     "区住建委", "--actor", "张主任"]) == 6  # fmt: skip
    code, doc = home.run("anonymous", "status", "2025-0001")
    assert code == 6 and doc["error"] == "not_authenticated"
    code, doc = home.run(
        None, "tokens", "create", "sponsor", "--password-stdin", stdin="sEcReT-9988\n"
    )
    assert code == 6 and doc["rule"] == "auth.login" and "sEcReT" not in json.dumps(doc)
    code, doc = home.run(None, "tokens", "create", "sponsor")  # a password never on argv
    assert code == 2 and "--password-stdin" in doc["message"]


def decision(home: Home, sponsor: str = "区住建委", *flags: str) -> str:
    args = ["register", "--title", "矩阵", "--procedure", "national-2019", "--sponsor", sponsor,
            "--on", "2025-03-03"]  # fmt: skip
    for flag in flags:
        args += ["--flag", flag]
    code, doc = home.run("office", *args)
    assert code == 0, doc
    return str(doc["id"])


# Who may run each changing command (ALLOWED) — the rest are refused with exit 6.  An allowed
# caller may still be refused by a rule of the procedure (exit 3) or by bad input (exit 2):
# the matrix checks the permission layer, which answers first.
ALLOWED = {
    "register": {"office"},
    "start drafting": {"sponsor"},  # opening: the step's role or the sponsor (its own unit)
    "complete drafting": {"sponsor"},
    "amend": {"office", "sponsor"},
    "skip risk_assessment": set(),  # its role is the risk assessor's (none here)
    "start legality_review": {"sponsor", "legal"},
    "reuse public_participation": {"sponsor"},
    "attach drafting": {"sponsor"},
    "calendar import": {"admin"},
    "procedures migrate": {"admin"},
    "accounts add": {"admin"},
    "accounts change": {"admin"},
    "audit verify": {"admin", "auditor"},
    "audit export": {"admin", "auditor"},
    "audit checkpoint": {"admin"},
}


def command(name: str, d: str, tmp: Path) -> list[str]:
    paper = tmp / "draft.txt"
    paper.write_text("草案", encoding="utf-8")
    schedule = tmp / "2027.toml"
    schedule.write_text('year = 2027\nkind = "local"\nsource = "t"\nholidays = ["2027-06-30"]\n',
                        encoding="utf-8")  # fmt: skip
    return {
        "register": ["register", "--title", "t", "--procedure", "national-2019", "--sponsor",
                     "区住建委"],
        "start drafting": ["start", d, "drafting", "--on", "2025-03-03"],
        "complete drafting": ["complete", d, "drafting", "--on", "2025-03-04"],
        "amend": ["amend", d, "--title", "新标题", "--reason", "更正"],
        "skip risk_assessment": ["skip", d, "risk_assessment", "--reason", "已评估",
                                 "--on", "2025-03-05"],
        "start legality_review": ["start", d, "legality_review", "--on", "2025-03-05"],
        "reuse public_participation": ["reuse", d, "public_participation", "--reason", "沿用"],
        "attach drafting": ["attach", d, "drafting", "--attach", f"draft={paper}"],
        "calendar import": ["calendar", "import", str(schedule)],
        "procedures migrate": ["procedures", "migrate", d, "--to", "national-2019",
                               "--reason", "升级"],
        "accounts add": ["accounts", "add", "new-one", "--name", "新人", "--unit", "某局",
                         "--password-stdin"],
        "accounts change": ["accounts", "change", "auditor", "--name", "赵审计员",
                            "--reason", "更名"],
        "audit verify": ["audit", "verify", "--chain-only"],
        "audit export": ["audit", "export", "--all", "--out", str(tmp / f"e{os.getpid()}.jsonl"),
                         "--force"],
        "audit checkpoint": ["audit", "checkpoint"],
    }[name]  # fmt: skip


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_permission_matrix_of_the_changing_commands(home: Home, name: str, tmp_path: Path):
    """Every changing command × every caller: the allowed ones pass the permission layer (any
    exit but 6), every other one is refused with exit 6 and writes nothing."""
    d = decision(home, "区住建委", "stability_risk")
    for who in CALLERS:
        refused = who not in ALLOWED[name]
        before = home.events() if refused else 0
        args = command(name, d, tmp_path)
        code, doc = home.run(who, *args, stdin=PASSWORD + "x\n")
        if not refused:
            assert code != 6, (name, who, doc)
        else:
            assert code == 6, (name, who, code, doc)
            assert doc["error"] in ("not_authenticated", "not_permitted"), doc
            assert home.events() == before, (name, who, "wrote on a refusal")
