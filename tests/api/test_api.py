"""The API's answers: the CLI's JSON shapes, one error object (400 for bad input, never
FastAPI's 422), uploads over the limit refused with nothing written, downloads by hash, the
decision list's filters and cursor, and the same refusal from the CLI and the API."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from app.commands import Commands
from app.documents import documents_of
from app.queries import audit_events
from app.requests import StartRequest
from cli import render
from tests.api.conftest import World

DECIDE = shutil.which("decide", path=str(Path(sys.executable).parent)) or "decide"


def _opened(world: World) -> str:
    d = world.register()
    world.cmds.execute(StartRequest(decision=d, step="drafting"), actor=world.who["sponsor"])
    return d


def test_the_openapi_document_is_served_with_the_bearer_scheme(world: World) -> None:
    answer = world.client.get("/api/v1/openapi.json")
    assert answer.status_code == 200
    doc = answer.json()
    assert "/api/v1/decisions/{decision_id}/steps/{step}/complete" in doc["paths"]
    assert any(s.get("scheme") == "bearer" for s in doc["components"]["securitySchemes"].values())


def test_the_decision_is_the_cli_status_json(world: World) -> None:
    answer = world.client.get(
        f"/api/v1/decisions/{world.decision}", headers=world.headers("office")
    )
    d, view = world.cmds.status(world.decision)
    assert answer.json() == json.loads(render.dump(render.decision_json(d, view)))


def test_register_answers_201_with_the_decision(world: World) -> None:
    answer = world.client.post(
        "/api/v1/decisions",
        json={
            "title": "学区划分调整方案",
            "procedure": "national-2019",
            "sponsor": "区住建委",
            "catalogue_year": 2026,
            "flag": ["technical"],
        },
        headers=world.headers("office"),
    )
    assert answer.status_code == 201, answer.text
    doc = answer.json()
    assert doc["catalogue_year"] == 2026 and doc["flags"] == ["technical"]
    steps = {s["step"]: s["status"] for s in doc["steps"]}
    assert steps["drafting"] == "ready"


def test_bad_input_is_400_with_one_error_object(world: World) -> None:
    office = world.headers("office")
    cases = [
        world.client.post("/api/v1/decisions", json={"title": "缺承办单位"}, headers=office),
        world.client.post(
            "/api/v1/decisions",
            json={"title": "t", "procedure": "national-2019", "sponsor": "x", "bogus": 1},
            headers=office,
        ),
        world.client.get("/api/v1/decisions?limit=0", headers=office),
        world.client.get("/api/v1/decisions?alert=purple", headers=office),
        world.client.get(f"/api/v1/decisions/{world.decision}?as_of=tomorrow", headers=office),
        world.client.post(
            f"/api/v1/decisions/{world.decision}/steps/drafting/start",
            content=b"{not json",
            headers={**office, "Content-Type": "application/json"},
        ),
        world.client.get("/api/v1/documents/not-a-hash", headers=office),
    ]
    for answer in cases:
        assert answer.status_code == 400, (answer.request.url, answer.text)
        doc = answer.json()
        assert doc["error"] == "bad_input" and isinstance(doc["message"], str)
        assert "Traceback" not in answer.text


def test_the_password_sent_is_never_echoed_in_an_error(world: World) -> None:
    answer = world.client.post(
        "/api/v1/tokens", json={"login": "chief", "password": "s3cret-value-here", "days": "x"}
    )
    assert answer.status_code == 400
    assert "s3cret" not in answer.text


def test_unknown_routes_and_decisions_are_404_objects(world: World) -> None:
    office = world.headers("office")
    assert world.client.get("/api/v1/nowhere", headers=office).json()["error"] == "not_found"
    answer = world.client.get("/api/v1/decisions/2026-9999", headers=office)
    assert answer.status_code == 404 and answer.json()["error"] == "not_found"
    # a NUL in the id: PostgreSQL text cannot hold one, so it is not even asked (was a 500)
    answer = world.client.get("/api/v1/decisions/2026-%000001", headers=office)
    assert answer.status_code == 404 and answer.json()["error"] == "not_found"


def test_the_list_filters_and_pages_by_cursor(world: World) -> None:
    sponsor = world.headers("sponsor")
    ids = [world.register(title=f"分页测试 {n}", catalogue_year=2031) for n in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        query = "q=分页测试&catalogue_year=2031&limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = world.client.get(f"/api/v1/decisions?{query}", headers=sponsor).json()
        assert len(page["items"]) <= 2
        seen += [i["id"] for i in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == ids
    opened = _opened(world)
    by_step = world.client.get(
        "/api/v1/decisions?step=drafting&status=in_progress&limit=200", headers=sponsor
    ).json()
    assert opened in {i["id"] for i in by_step["items"]}
    assert all("drafting" in i["current"] for i in by_step["items"])
    other = world.client.get("/api/v1/decisions?sponsor=区教育局", headers=sponsor).json()
    assert other["items"] == []


def test_an_upload_is_filed_and_downloaded_by_its_hash(world: World) -> None:
    d = _opened(world)
    body = "征求意见稿".encode() * 100
    answer = world.client.post(
        f"/api/v1/decisions/{d}/steps/drafting/documents",
        data={"kind": "draft"},
        files={"file": ("../../征求意见稿.txt", body, "text/plain")},
        headers=world.headers("sponsor"),
    )
    assert answer.status_code == 201, answer.text
    listed = world.client.get(f"/api/v1/decisions/{d}/documents", headers=world.headers("sponsor"))
    doc = listed.json()["documents"][-1]
    assert doc["filename"] == "征求意见稿.txt" and doc["size"] == len(body)
    got = world.client.get(
        f"/api/v1/documents/{doc['sha256']}", headers=world.headers("legal_office")
    )
    assert got.status_code == 200 and got.content == body


def test_an_upload_over_the_limit_is_413_and_writes_nothing(world: World) -> None:
    d = _opened(world)
    small = Commands(world.cmds.db, world.cmds.home, max_attachment_bytes=1024)
    store = world.cmds.home / "documents"
    files_before = sorted(store.rglob("*")) if store.exists() else []
    events_before = len(audit_events(world.cmds, d))
    with world.app_for(small) as client:
        for size in (1025, 200_000):  # streamed past the limit; refused by its Content-Length
            answer = client.post(
                f"/api/v1/decisions/{d}/steps/drafting/documents",
                data={"kind": "draft"},
                files={"file": ("大文件.bin", b"\0" * size, "application/octet-stream")},
                headers=world.headers("sponsor"),
            )
            assert answer.status_code == 413, answer.text
            assert answer.json()["error"] == "too_large"
        ok = client.post(
            f"/api/v1/decisions/{d}/steps/drafting/documents",
            data={"kind": "draft"},
            files={"file": ("小文件.txt", b"x" * 1024, "text/plain")},
            headers=world.headers("sponsor"),
        )
        assert ok.status_code == 201  # the limit itself is allowed
    assert [x.filename for x in documents_of(world.cmds, d).documents] == ["小文件.txt"]
    assert len(audit_events(world.cmds, d)) == events_before + 1
    added = sorted(store.rglob("*")) if store.exists() else []
    assert (
        len([p for p in added if p.is_file()]) == len([p for p in files_before if p.is_file()]) + 1
    )


def test_complete_takes_the_cli_option_names(world: World) -> None:
    d = _opened(world)
    answer = world.client.post(
        f"/api/v1/decisions/{d}/steps/drafting/complete",
        json={"outcome": "drafted", "note": "草案已拟订"},
        headers=world.headers("sponsor"),
    )
    assert answer.status_code == 200, answer.text
    steps = {s["step"]: s for s in answer.json()["steps"]}
    assert steps["drafting"]["status"] == "done" and steps["drafting"]["outcome"] == "drafted"
    assert steps["public_participation"]["status"] == "ready"
    # a path on the server is never an attachment: documents are uploaded
    sneaky = world.client.post(
        f"/api/v1/decisions/{d}/steps/public_participation/complete",
        json={"attach": [{"kind": "comment_notice", "path": "/etc/passwd"}]},
        headers=world.headers("sponsor"),
    )
    assert sneaky.status_code == 400


def test_the_same_refusal_from_the_cli_and_the_api(world: World) -> None:
    d = world.register()
    api = world.client.post(
        f"/api/v1/decisions/{d}/steps/collective_discussion/start",
        json={},
        headers=world.headers("office"),
    )
    assert api.status_code == 422
    env = {k: v for k, v in os.environ.items() if not k.startswith("DECIDE_")}
    env.update(
        DECIDE_HOME=str(world.home),
        DECIDE_DATABASE_URL=world.url,
        DECIDE_TOKEN=world.tokens["office"],
    )
    cli = subprocess.run(
        [DECIDE, "start", d, "collective_discussion", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 3, cli.stderr
    from_cli, from_api = json.loads(cli.stdout), api.json()
    assert from_api["rule"] == "gate.legality_review"
    assert from_api["article"] == "Decree 713 Art. 25"
    for key in ("error", "rule", "article", "remedy", "message"):
        assert from_cli[key] == from_api[key], key


def test_verify_answers_the_cli_report(world: World) -> None:
    answer = world.client.post("/api/v1/audit/verify", headers=world.headers("auditor"))
    assert answer.status_code == 200
    doc = answer.json()
    assert doc["ok"] is True, doc["problems"]
    assert doc["events"] > 0


def test_an_upload_is_refused_before_its_body_is_read_without_identity_or_length(
    world: World,
) -> None:
    """Review finding: FastAPI spooled a multipart body to disk before the token was checked,
    so an anonymous chunked upload could fill the disk.  Identity and a declared length are
    checked first: 401 / 411 before a byte of the body is read."""
    d = _opened(world)
    url = f"/api/v1/decisions/{d}/steps/drafting/documents"
    anonymous = world.client.post(
        url, data={"kind": "draft"}, files={"file": ("a.txt", b"x" * 10, "text/plain")}
    )
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "not_authenticated"
    forged = world.client.post(
        url,
        data={"kind": "draft"},
        files={"file": ("a.txt", b"x" * 10, "text/plain")},
        headers={"Authorization": "Bearer forged"},
    )
    assert forged.status_code == 401

    def chunks():  # no Content-Length: a chunked body
        yield b'--b\r\nContent-Disposition: form-data; name="kind"\r\n\r\ndraft\r\n--b--\r\n'

    chunked = world.client.post(
        url,
        content=chunks(),
        headers={**world.headers("sponsor"), "content-type": "multipart/form-data; boundary=b"},
    )
    assert chunked.status_code == 411
