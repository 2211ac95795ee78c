"""The JSON API in-process (FastAPI's TestClient) over the real store: SQLite always, PostgreSQL
when ``DECIDE_TEST_POSTGRES_URL`` is set.  Accounts cost an Argon2 hash each (~50 ms), so every
test module builds one world: the accounts of the permission matrix, their tokens and a decision
of 区住建委 registered by the office."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from api import create_app
from app.accounts import Identity, add_account, create_token
from app.bootstrap import bootstrap
from app.commands import Commands
from app.requests import RegisterRequest
from tests.integration.conftest import drop_pg_database, new_pg_database, pg_template  # noqa: F401

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PASSWORD = "correct horse battery staple"
OFFICE_UNIT = "区政府办公室"
SPONSOR_UNIT = "区住建委"
OTHER_UNIT = "区教育局"
# caller → (login, unit, roles, admin); "anonymous" sends no Authorization header
CALLERS: dict[str, tuple[str, str, tuple[str, ...], bool]] = {
    "admin": ("admin", OFFICE_UNIT, (), True),
    "office": ("clerk", OFFICE_UNIT, ("decision_body",), False),
    "sponsor": ("chief", SPONSOR_UNIT, ("sponsor",), False),
    "other_sponsor": ("teacher", OTHER_UNIT, ("sponsor",), False),
    "legal_office": ("reviewer", "区司法局", ("legal_office",), False),
    "auditor": ("auditor", "区审计局", ("auditor",), False),
}
ANONYMOUS = "anonymous"


@dataclass
class World:
    cmds: Commands
    client: TestClient
    url: str
    home: Path
    tokens: dict[str, str] = field(default_factory=dict)
    who: dict[str, Identity] = field(default_factory=dict)
    decision: str = ""

    def headers(self, caller: str) -> dict[str, str]:
        if caller == ANONYMOUS:
            return {}
        return {"Authorization": f"Bearer {self.tokens[caller]}"}

    def register(self, title: str = "老旧小区改造实施方案", **kw: Any) -> str:
        """A new decision of the sponsor unit, registered by the office (in-process)."""
        request = RegisterRequest(
            title=title, procedure="national-2019", sponsor=SPONSOR_UNIT, **kw
        )
        return self.cmds.execute(request, actor=self.who["office"]).decision.id

    def app_for(self, cmds: Commands) -> TestClient:
        return TestClient(create_app(lambda: cmds))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path_factory: Any) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('api-db') / 'decide.db'}"
        return
    url = new_pg_database(request.getfixturevalue("pg_template"))
    yield url
    drop_pg_database(url)


@pytest.fixture(scope="module")
def world(store_url: str, tmp_path_factory: Any) -> Iterator[World]:
    home = tmp_path_factory.mktemp("api-home")
    cmds = bootstrap(home=home, database_url=store_url)
    login, unit, roles, _ = CALLERS["admin"]
    add_account(
        cmds, None, login=login, name="系统管理员", unit=unit, admin=True, password=PASSWORD
    )
    w = World(cmds=cmds, client=TestClient(create_app(lambda: cmds)), url=store_url, home=home)
    w.tokens["admin"] = create_token(cmds, "admin", PASSWORD)[0]
    w.who["admin"] = cmds.identify(token=w.tokens["admin"])
    for caller, (login, unit, roles, admin) in CALLERS.items():
        if caller == "admin":
            continue
        add_account(
            cmds,
            w.who["admin"],
            login=login,
            name=f"{unit}{login}",
            unit=unit,
            roles=roles,
            admin=admin,
            password=PASSWORD,
        )
        w.tokens[caller] = create_token(cmds, login, PASSWORD)[0]
        w.who[caller] = cmds.identify(token=w.tokens[caller])
    w.decision = w.register()
    yield w
    w.client.close()
    cmds.db.close()
