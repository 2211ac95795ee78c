"""Bearer tokens on the API: revoked, expired and forged ones refused (401), a login locked
after five wrong passwords (429), and a home without accounts pointing to the first account."""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

import pytest

from app.accounts import CLIENT_MAX_FAILURES, MAX_FAILURES, add_account, create_token
from app.bootstrap import bootstrap
from app.clock import utc_now
from app.commands import Commands
from tests.api.conftest import PASSWORD, SPONSOR_UNIT, World


def _account(world: World, login: str) -> str:
    add_account(
        world.cmds,
        world.who["admin"],
        login=login,
        name=f"{login} 科员",
        unit=SPONSOR_UNIT,
        roles=("sponsor",),
        password=PASSWORD,
    )
    return login


def test_a_token_from_post_tokens_proves_the_account(world: World) -> None:
    answer = world.client.post("/api/v1/tokens", json={"login": "chief", "password": PASSWORD})
    assert answer.status_code == 201
    doc = answer.json()
    assert set(doc) == {"token", "expires_at"}
    me = world.client.get("/api/v1/me", headers={"Authorization": f"Bearer {doc['token']}"})
    assert me.status_code == 200
    assert me.json() == {
        "login": "chief",
        "name": f"{SPONSOR_UNIT}chief",
        "unit": SPONSOR_UNIT,
        "roles": ["sponsor"],
        "admin": False,
    }


def test_a_wrong_password_is_401_and_names_no_secret(world: World) -> None:
    answer = world.client.post(
        "/api/v1/tokens", json={"login": "chief", "password": "not the password at all"}
    )
    assert answer.status_code == 401
    assert answer.json()["rule"] == "auth.login"
    assert "not the password" not in answer.text
    assert answer.headers["www-authenticate"] == "Bearer"


def test_a_revoked_token_is_refused(world: World) -> None:
    login = _account(world, "revoked-one")
    token = create_token(world.cmds, login, PASSWORD)[0]
    mine = {"Authorization": f"Bearer {token}"}
    assert world.client.get("/api/v1/me", headers=mine).status_code == 200
    revoke = world.client.delete(f"/api/v1/accounts/{login}/tokens", headers=world.headers("admin"))
    assert revoke.status_code == 200
    answer = world.client.get("/api/v1/me", headers=mine)
    assert answer.status_code == 401
    assert answer.json()["error"] == "not_authenticated"
    assert answer.json()["rule"] == "auth.token"


def test_an_account_may_revoke_its_own_tokens(world: World) -> None:
    login = _account(world, "own-revoker")
    token = create_token(world.cmds, login, PASSWORD)[0]
    mine = {"Authorization": f"Bearer {token}"}
    assert world.client.delete(f"/api/v1/accounts/{login}/tokens", headers=mine).status_code == 200
    assert world.client.get("/api/v1/me", headers=mine).status_code == 401


def test_an_expired_token_is_refused(world: World) -> None:
    login = _account(world, "expiring")
    token = create_token(world.cmds, login, PASSWORD, days=1)[0]
    mine = {"Authorization": f"Bearer {token}"}
    assert world.client.get("/api/v1/me", headers=mine).status_code == 200
    later = Commands(
        world.cmds.db, world.cmds.home, clock=lambda: utc_now() + timedelta(days=1, minutes=1)
    )
    with world.app_for(later) as client:
        answer = client.get("/api/v1/me", headers=mine)
    assert answer.status_code == 401
    assert answer.json()["rule"] == "auth.token"


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        "Bearer",
        "Bearer ",
        "Basic YWRtaW46cGFzc3dvcmQ=",
        "Bearer RANDOM",  # a fresh random token, made in the test
        "Bearer " + "x" * 5000,
        "Bearer ../../etc/passwd",
    ],
)
def test_a_forged_authorization_header_is_refused(world: World, header: str) -> None:
    header = header.replace("RANDOM", secrets.token_urlsafe(32))
    answer = world.client.get("/api/v1/me", headers={"Authorization": header})
    assert answer.status_code == 401, answer.text
    doc = answer.json()
    assert doc["error"] == "not_authenticated"
    assert set(doc) <= {"error", "message", "rule", "remedy"}


def test_no_header_is_refused_with_how_to_log_in(world: World) -> None:
    answer = world.client.get("/api/v1/inbox")
    assert answer.status_code == 401
    assert answer.json()["rule"] == "auth.required"
    assert "/api/v1/tokens" in answer.json()["remedy"]


def test_a_login_is_locked_after_five_wrong_passwords(world: World) -> None:
    login = _account(world, "forgetful")
    wrong = {"login": login, "password": "wrong password, again"}
    for _ in range(MAX_FAILURES):
        assert world.client.post("/api/v1/tokens", json=wrong).status_code == 401
    locked = world.client.post("/api/v1/tokens", json={"login": login, "password": PASSWORD})
    assert locked.status_code == 429, locked.text
    doc = locked.json()
    assert doc["error"] == "locked"
    assert doc["rule"] == "auth.locked"
    assert "token" not in doc


def test_many_logins_tried_from_one_address_throttle_that_address(world: World) -> None:
    """Password spraying: a few guesses at each of many logins locks no login, but the address
    they come from is refused (429) once it has failed CLIENT_MAX_FAILURES times."""
    from api import create_app
    from tests.api.conftest import TestClient

    sprayer = TestClient(create_app(lambda: world.cmds), client=("198.51.100.7", 40000))
    for i in range(CLIENT_MAX_FAILURES):
        guess = {"login": f"guess-{i}", "password": "x" * 12}
        answer = sprayer.post("/api/v1/tokens", json=guess)
        assert answer.status_code == 401, answer.text
    refused = sprayer.post("/api/v1/tokens", json={"login": "chief", "password": PASSWORD})
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"] == "throttled"
    assert refused.json()["rule"] == "auth.throttled"
    # the account itself is not locked: from another address it logs in
    ok = world.client.post("/api/v1/tokens", json={"login": "chief", "password": PASSWORD})
    assert ok.status_code == 201, ok.text
    sprayer.close()


def test_a_home_without_accounts_answers_401_naming_the_first_account(tmp_path: Path) -> None:
    cmds = bootstrap(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'decide.db'}")
    from api import create_app
    from tests.api.conftest import TestClient

    with TestClient(create_app(lambda: cmds)) as client:
        for path in ("/api/v1/me", "/api/v1/decisions"):
            answer = client.get(path)
            assert answer.status_code == 401
            assert "decide accounts add" in answer.json()["remedy"]
            assert "--admin --password-stdin" in answer.json()["remedy"]
        register = client.post(
            "/api/v1/decisions",
            json={"title": "t", "procedure": "national-2019", "sponsor": SPONSOR_UNIT},
        )
        assert register.status_code == 401
    cmds.db.close()
