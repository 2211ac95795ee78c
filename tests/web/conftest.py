"""The console over a fresh SQLite home: the accounts of five units (the office, the sponsor,
the justice bureau, the archive, the audit bureau) and one of another sponsor unit."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api import create_app
from app.accounts import add_account, create_token
from app.bootstrap import bootstrap
from app.commands import Commands

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PASSWORD = "correct horse battery staple"
SPONSOR_UNIT = "区住建委"
ACCOUNTS = [  # login, name, unit, roles
    ("zhang", "张主任", "区政府办公室", ("decision_body",)),
    ("liu", "刘科长", SPONSOR_UNIT, ("sponsor",)),
    ("wang", "王科长", "区司法局", ("legal_office",)),
    ("li", "李馆员", "区档案馆", ("archivist",)),
    ("qian", "钱审计", "区审计局", ("auditor",)),
    ("teacher", "赵老师", "区教育局", ("sponsor",)),
]


def make_home(home: Path) -> Commands:
    cmds = bootstrap(home=home, database_url=f"sqlite:///{home / 'decide.db'}")
    add_account(cmds, None, login="admin", name="管理员", unit="区政府办公室", admin=True,
                password=PASSWORD)  # fmt: skip
    admin = cmds.identify(token=create_token(cmds, "admin", PASSWORD)[0])
    for login, name, unit, roles in ACCOUNTS:
        add_account(cmds, admin, login=login, name=name, unit=unit, roles=roles,
                    password=PASSWORD)  # fmt: skip
    return cmds


CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no csrf field on the page"
    return found.group(1)


def signed_in(cmds: Commands, login: str) -> TestClient:
    client = TestClient(create_app(lambda: cmds))
    token = csrf_of(client.get("/login").text)
    answer = client.post("/login", data={"login": login, "password": PASSWORD, "csrf": token})
    assert answer.status_code == 200 and answer.url.path == "/inbox", answer.text[:500]
    return client


@pytest.fixture(scope="module")
def cmds(tmp_path_factory: Any) -> Iterator[Commands]:
    c = make_home(tmp_path_factory.mktemp("web-home"))
    yield c
    c.db.close()
