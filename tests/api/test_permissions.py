"""The permission matrix: every API route × every kind of caller (admin, the office, the sponsor
of the decision's unit, a sponsor of another unit, the justice bureau, an auditor, anonymous),
allowed or refused as issue 13 specifies.

The expected table is written out here, not derived from ``app.permissions``: 2xx allowed; 401
anonymous; 403 not permitted; 404 a document the caller may not read (its existence not told);
422 where the permissions let the caller through and the procedure itself refuses the act (the
permission check comes first, so only a permitted caller ever reaches the rule).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.requests import AttachmentIn, AttachRequest, StartRequest
from tests.api.conftest import ANONYMOUS, CALLERS, PASSWORD, SPONSOR_UNIT, World

ORDER = ("admin", "office", "sponsor", "other_sponsor", "legal_office", "auditor", ANONYMOUS)


def row(*codes: int) -> dict[str, int]:
    assert len(codes) == len(ORDER)
    return dict(zip(ORDER, codes, strict=True))


EVERYONE = row(200, 200, 200, 200, 200, 200, 401)
READERS = row(200, 200, 200, 403, 200, 200, 401)  # every reader but the unit taking no part
SPONSOR_ONLY = row(403, 403, 200, 403, 403, 403, 401)
SPONSOR_RULE = row(403, 403, 422, 403, 403, 403, 401)  # permitted, then refused by a rule
ADMIN_ONLY = row(200, 403, 403, 403, 403, 403, 401)
AUDITING = row(200, 403, 403, 403, 403, 200, 401)  # auditors and admins

MATRIX: dict[str, dict[str, int]] = {
    "POST /tokens": row(201, 201, 201, 201, 201, 201, 401),
    "GET /me": EVERYONE,
    "GET /inbox": EVERYONE,
    "GET /decisions": EVERYONE,
    "POST /decisions": row(403, 201, 403, 403, 403, 403, 401),  # the office registers
    "GET /decisions/{id}": READERS,
    "POST /decisions/{id}/steps/drafting/start": SPONSOR_ONLY,
    "POST /decisions/{id}/steps/drafting/complete": SPONSOR_ONLY,
    "POST /decisions/{id}/steps/expert_review/skip": SPONSOR_RULE,  # skip.not_allowed
    "POST /decisions/{id}/steps/drafting/extend": SPONSOR_RULE,  # due.not_extendable
    "POST /decisions/{id}/steps/drafting/reuse": SPONSOR_RULE,  # reuse.not_allowed
    "POST /decisions/{id}/steps/drafting/documents": row(403, 403, 201, 403, 403, 403, 401),
    "GET /decisions/{id}/documents": READERS,
    "GET /documents/{sha256}": row(200, 200, 200, 404, 200, 200, 401),
    "GET /decisions/{id}/audit": READERS,
    # the package manifest: the sponsor's units, the office, the justice bureau (app.permissions
    # BUILDERS); the archive: the archivist alone (none of these callers)
    "POST /decisions/{id}/builds/package": row(403, 200, 200, 403, 200, 403, 401),
    "POST /decisions/{id}/builds/archive": row(403, 403, 403, 403, 403, 403, 401),
    "GET /decisions/{id}/files/{name}": READERS,
    "GET /overdue": EVERYONE,
    "POST /audit/verify": AUDITING,
    "GET /accounts": AUDITING,  # app.accounts.list_accounts: admins and auditors
    "POST /accounts": row(201, 403, 403, 403, 403, 403, 401),
    "PATCH /accounts/{login}": ADMIN_ONLY,
    "DELETE /accounts/{login}/tokens": ADMIN_ONLY,
}


@pytest.fixture(scope="module")
def filed(world: World, tmp_path_factory: Any) -> str:
    """A document filed on the world's decision (drafting opened by its sponsor): its SHA-256."""
    cmds, sponsor = world.cmds, world.who["sponsor"]
    cmds.execute(StartRequest(decision=world.decision, step="drafting"), actor=sponsor)
    paper = tmp_path_factory.mktemp("papers") / "草案.txt"
    paper.write_text("第一条 为了……", encoding="utf-8")
    attach = AttachRequest(
        decision=world.decision, step="drafting", attach=(AttachmentIn(kind="draft", path=paper),)
    )
    cmds.execute(attach, actor=sponsor)
    from app.documents import documents_of
    from app.work import build_package

    build_package(cmds, world.decision)  # for GET /decisions/{id}/files/{name}
    return documents_of(cmds, world.decision).documents[-1].sha256


@pytest.fixture(scope="module")
def victim(world: World) -> str:
    """An account the admin changes and whose tokens are revoked in the matrix."""
    from app.accounts import add_account, create_token

    add_account(
        world.cmds,
        world.who["admin"],
        login="victim",
        name="某科员",
        unit=SPONSOR_UNIT,
        roles=("sponsor",),
        password=PASSWORD,
    )
    create_token(world.cmds, "victim", PASSWORD)
    return "victim"


def _opened(world: World) -> str:
    d = world.register()
    world.cmds.execute(StartRequest(decision=d, step="drafting"), actor=world.who["sponsor"])
    return d


Call = tuple[str, str, dict[str, Any]]  # method, path, keyword arguments for the client


def call_for(route: str, world: World, caller: str, sha: str, victim: str) -> Call:
    """The request that exercises ``route`` for ``caller`` (on a fresh decision for the
    changing step routes, so one caller's act never changes another's answer)."""
    method, template = route.split(" ", 1)
    path = template.replace("{sha256}", sha).replace("{login}", victim)
    path = path.replace("{name}", f"{world.decision}-lr0.json")
    kw: dict[str, Any] = {}
    if "{id}" in path:
        fresh = "/steps/" in path
        if path.endswith(("/complete", "/documents")) and method == "POST":
            decision = _opened(world)
        else:
            decision = world.register() if fresh else world.decision
        path = path.replace("{id}", decision)
    body: dict[str, Callable[[], Any]] = {
        "POST /tokens": lambda: {
            "login": CALLERS[caller][0] if caller != ANONYMOUS else "nobody",
            "password": PASSWORD,
        },
        "POST /decisions": lambda: {
            "title": f"{caller} 的决策",
            "procedure": "national-2019",
            "sponsor": SPONSOR_UNIT,
        },
        "POST /decisions/{id}/steps/drafting/start": dict,
        "POST /decisions/{id}/steps/drafting/complete": dict,
        "POST /decisions/{id}/steps/expert_review/skip": lambda: {"reason": "不涉及专业技术"},
        "POST /decisions/{id}/steps/drafting/extend": lambda: {"reason": "协商未完"},
        "POST /decisions/{id}/steps/drafting/reuse": lambda: {"reason": "草案未变"},
        "POST /accounts": lambda: {
            "login": f"new-{caller}".replace("_", "-"),
            "name": "新账户",
            "unit": SPONSOR_UNIT,
            "role": ["sponsor"],
            "password": PASSWORD,
        },
        "PATCH /accounts/{login}": lambda: {"name": f"改名 {caller}", "reason": "矩阵测试"},
    }
    if route in body:
        kw["json"] = body[route]()
    if route.endswith("/documents") and method == "POST":
        kw["data"] = {"kind": "draft"}
        kw["files"] = {"file": ("草案.txt", "第一条 ……".encode(), "text/plain")}
    return method, "/api/v1" + path, kw


@pytest.mark.parametrize("caller", ORDER)
@pytest.mark.parametrize("route", list(MATRIX))
def test_route_answers_each_caller_as_specified(
    world: World, filed: str, victim: str, route: str, caller: str
) -> None:
    method, path, kw = call_for(route, world, caller, filed, victim)
    answer = world.client.request(method, path, headers=world.headers(caller), **kw)
    want = MATRIX[route][caller]
    assert answer.status_code == want, (route, caller, answer.status_code, answer.text[:400])
    if want >= 400:
        doc = answer.json()
        expected = {
            401: "not_authenticated",
            403: "not_permitted",
            404: "not_found",
            422: "refused",
        }
        assert doc["error"] == expected[want], doc
        assert "Traceback" not in answer.text


def test_the_matrix_names_every_route_the_api_serves(world: World) -> None:
    paths = world.client.get("/api/v1/openapi.json").json()["paths"]
    served = {
        f"{method.upper()} {path.removeprefix('/api/v1')}"
        for path, methods in paths.items()
        for method in methods
    }
    named = {
        r.replace("drafting", "{step}")
        .replace("expert_review", "{step}")
        .replace("builds/package", "builds/{kind}")
        .replace("builds/archive", "builds/{kind}")
        for r in (route.replace("{id}", "{decision_id}") for route in MATRIX)
    }
    assert served == named


def test_another_units_sponsor_sees_neither_the_decision_nor_its_inbox_step(world: World) -> None:
    mine = world.client.get("/api/v1/decisions", headers=world.headers("sponsor")).json()
    theirs = world.client.get("/api/v1/decisions", headers=world.headers("other_sponsor")).json()
    assert world.decision in {i["id"] for i in mine["items"]}
    assert world.decision not in {i["id"] for i in theirs["items"]}
    fresh = world.register()
    inbox = world.client.get("/api/v1/inbox", headers=world.headers("sponsor")).json()["items"]
    assert {"decision": fresh, "step": "drafting", "action": "start"}.items() <= next(
        i for i in inbox if i["decision"] == fresh
    ).items()
    other = world.client.get("/api/v1/inbox", headers=world.headers("other_sponsor")).json()
    assert all(i["decision"] != fresh for i in other["items"])
    # the justice bureau and the office read the decision, but drafting is not theirs to act on
    for caller in ("legal_office", "office", "admin", "auditor"):
        items = world.client.get("/api/v1/inbox", headers=world.headers(caller)).json()["items"]
        assert all(i["decision"] != fresh for i in items), caller


def test_an_admin_acts_on_no_step_by_virtue_of_being_admin(world: World) -> None:
    d = world.register()
    answer = world.client.post(
        f"/api/v1/decisions/{d}/steps/drafting/start", json={}, headers=world.headers("admin")
    )
    assert answer.status_code == 403
    assert answer.json()["rule"] == "permission.role"


def test_a_download_is_the_file_and_names_no_server_path(world: World, filed: str) -> None:
    answer = world.client.get(f"/api/v1/documents/{filed}", headers=world.headers("auditor"))
    assert answer.status_code == 200
    assert answer.content == "第一条 为了……".encode()
    assert str(Path(world.home)) not in answer.headers.get("content-disposition", "")
