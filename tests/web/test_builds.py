"""Build now: the Art. 29 package manifest and the archive ZIP, asked for by a user instead of
waiting for ``decide serve`` — who may (the sponsor's units, the office and the justice bureau
for the package; the archivist for the archive), who is refused and by which rule, what the
audit log records (the account, never SYSTEM), and that the flows' later outbox row builds
nothing twice.  Through the application layer, the console, the JSON API and the CLI."""

from __future__ import annotations

import json
import zipfile
from datetime import date
from io import BytesIO
from pathlib import Path

import pytest

from app.accounts import Identity, create_token
from app.builds import build_now
from app.commands import Commands
from app.requests import (
    AttachmentIn,
    AttachRequest,
    CompleteRequest,
    MeetingIn,
    RegisterRequest,
    StartRequest,
)
from app.work import build_archive, build_package
from procedures import AccessDenied, RuleViolation
from tests.web.conftest import PASSWORD, SPONSOR_UNIT, TestClient, create_app, csrf_of, signed_in


def who(cmds: Commands, login: str) -> Identity:
    return cmds.identify(token=create_token(cmds, login, PASSWORD)[0])


def reviewed(cmds: Commands, folder: Path, *, decided: bool = False) -> str:
    """A decision through the legality review (its package complete); ``decided``: through the
    collective discussion too (approved), so only publication and archiving remain."""
    office, sponsor, justice = (who(cmds, n) for n in ("zhang", "liu", "wang"))
    folder.mkdir(parents=True, exist_ok=True)

    def paper(kind: str) -> tuple[AttachmentIn, ...]:
        path = folder / f"{kind}.txt"
        path.write_text(f"{kind} 材料", encoding="utf-8")
        return (AttachmentIn(kind=kind, path=path),)

    def do(actor: Identity, request: object) -> None:
        cmds.execute(request, actor=actor)  # type: ignore[arg-type]

    d = cmds.execute(
        RegisterRequest(title="生成测试", procedure="national-2019", sponsor=SPONSOR_UNIT,
                        on=date(2025, 3, 3)),
        actor=office,
    ).decision.id  # fmt: skip
    do(sponsor, StartRequest(decision=d, step="drafting", on=date(2025, 3, 3)))
    do(sponsor, CompleteRequest(decision=d, step="drafting", on=date(2025, 3, 20),
                                attach=paper("draft")))  # fmt: skip
    do(sponsor, StartRequest(decision=d, step="public_participation", on=date(2025, 9, 1),
                             comment_until=date(2025, 10, 1)))  # fmt: skip
    do(sponsor, CompleteRequest(decision=d, step="public_participation", on=date(2025, 10, 10),
                                attach=paper("opinion_adoption_report")))  # fmt: skip
    do(sponsor, StartRequest(decision=d, step="legality_review", on=date(2025, 10, 13)))
    do(justice, AttachRequest(decision=d, step="legality_review", on=date(2025, 10, 22),
                              attach=paper("legal_advisers_opinion")))  # fmt: skip
    do(justice, CompleteRequest(decision=d, step="legality_review", on=date(2025, 10, 22),
                                outcome="lawful", attach=paper("legality_opinion")))  # fmt: skip
    if decided:
        do(office, StartRequest(decision=d, step="collective_discussion", on=date(2025, 11, 3)))
        meeting = MeetingIn(meeting_type="executive", chair="周区长",
                            position={"王副区长": "approved"})  # fmt: skip
        do(office, CompleteRequest(decision=d, step="collective_discussion", on=date(2025, 11, 5),
                                   outcome="approved", meeting=meeting))  # fmt: skip
    return d


def events(cmds: Commands, d: str, action: str) -> list[dict[str, object]]:
    with cmds.unit(write=False) as uow:
        found = uow.audit.events_of([d], [action])[d]
    return [{"actor": e.actor, **json.loads(e.payload)} for e in found]


def test_the_sponsor_the_office_and_the_justice_bureau_build_the_package(
    cmds: Commands, tmp_path: Path
) -> None:
    d = reviewed(cmds, tmp_path)
    out = build_now(cmds, who(cmds, "liu"), d, "package")
    assert out.built and out.path is not None and out.path.name == f"{d}-lr1.json"
    assert json.loads(out.path.read_text(encoding="utf-8"))["complete"] is True
    [event] = events(cmds, d, "package")
    assert event["actor"] == "刘科长" and event["login"] == "liu" and event["unit"] == SPONSOR_UNIT
    # the same state again, by another who may: nothing built twice, nothing recorded
    for login in ("zhang", "wang"):
        assert build_now(cmds, who(cmds, login), d, "package").built is False
    assert len(events(cmds, d, "package")) == 1


@pytest.mark.parametrize(
    ("login", "rule"),
    [
        ("teacher", "permission.read"),  # a sponsor of a unit taking no part: may not read it
        ("li", "permission.role"),  # the archivist archives, it does not assemble the package
        ("qian", "permission.role"),  # an auditor changes nothing (a build is an event)
        ("admin", "permission.role"),  # an admin acts on no decision as admin
    ],
)
def test_the_others_are_refused_the_package_with_the_rule(
    cmds: Commands, tmp_path: Path, login: str, rule: str
) -> None:
    d = reviewed(cmds, tmp_path)
    with pytest.raises(AccessDenied) as refused:
        build_now(cmds, who(cmds, login), d, "package")
    assert refused.value.rule == rule
    assert rule == "permission.read" or "Decree 713 Art. 29" in refused.value.message
    assert events(cmds, d, "package") == []
    assert not (cmds.home / "packages" / f"{d}-lr1.json").exists()


def test_the_archivist_builds_the_archive_once_decided(cmds: Commands, tmp_path: Path) -> None:
    d = reviewed(cmds, tmp_path)
    archivist = who(cmds, "li")
    with pytest.raises(RuleViolation) as early:
        build_now(cmds, archivist, d, "archive")
    assert early.value.rule == "archive.undecided" and early.value.article == "Decree 713 Art. 33"
    with pytest.raises(AccessDenied) as office:
        build_now(cmds, who(cmds, "zhang"), d, "archive")
    assert office.value.rule == "permission.role"
    d = reviewed(cmds, tmp_path / "decided", decided=True)
    out = build_now(cmds, archivist, d, "archive")
    assert out.built and out.path is not None and zipfile.is_zipfile(out.path)
    assert out.detail["audit"]["verified"] is True
    [event] = events(cmds, d, "archive")
    assert event["actor"] == "李馆员" and event["login"] == "li"
    assert build_now(cmds, archivist, d, "archive").built is False


def test_the_flows_later_row_builds_nothing_twice_and_a_change_builds_again(
    cmds: Commands, tmp_path: Path
) -> None:
    from app import outbox
    from flows.orchestration import _work

    d = reviewed(cmds, tmp_path)
    mine = build_now(cmds, who(cmds, "wang"), d, "package")
    before = mine.path.read_bytes() if mine.path else b""
    rows = [r for r in outbox.claim(cmds, worker="t", limit=500) if r.decision_id == d]
    package_rows = [r for r in rows if r.kind == "build_package"]
    assert package_rows  # the legality review's completion wrote one
    for row in package_rows:
        done = _work(cmds, row, "t")
        assert done["ok"] and done["outcome"] == "current"
        state = outbox.item(cmds, row.id)
        assert state is not None and state.done
    assert len(events(cmds, d, "package")) == 1 and mine.path and mine.path.read_bytes() == before
    # a document outside the package filed later leaves the manifest as it was: not rebuilt
    note = tmp_path / "征求意见记录.txt"
    note.write_text("记录", encoding="utf-8")
    kept = AttachmentIn(kind="consultation_record", path=note)
    cmds.execute(AttachRequest(decision=d, step="drafting", attach=(kept,)), actor=who(cmds, "liu"))
    assert build_package(cmds, d).built is False
    assert [e["actor"] for e in events(cmds, d, "package")] == ["王科长"]


def test_the_archive_is_built_again_once_the_decision_changed(
    cmds: Commands, tmp_path: Path
) -> None:
    d = reviewed(cmds, tmp_path, decided=True)
    assert build_now(cmds, who(cmds, "li"), d, "archive").built
    assert build_archive(cmds, d).built is False  # the flows' row, the same state
    cmds.execute(StartRequest(decision=d, step="party_committee_report"), actor=who(cmds, "zhang"))
    assert build_archive(cmds, d).built is True
    assert [e["actor"] for e in events(cmds, d, "archive")] == ["李馆员", "decide-serve"]
    # the audit page shows both builds (an archive event counts its documents: not a list)
    audit = signed_in(cmds, "qian").get(f"/decisions/{d}/audit")
    assert audit.status_code == 200 and audit.text.count("归档包 archive ZIP") == 2


def test_a_file_changed_on_disk_is_built_again(cmds: Commands, tmp_path: Path) -> None:
    d = reviewed(cmds, tmp_path, decided=True)
    first = build_archive(cmds, d)
    assert first.path is not None
    first.path.write_bytes(b"not the archive")
    again = build_now(cmds, who(cmds, "li"), d, "archive")
    assert again.built and again.path is not None and zipfile.is_zipfile(again.path)
    assert [e["actor"] for e in events(cmds, d, "archive")] == ["decide-serve", "李馆员"]


def test_the_decision_page_builds_and_offers_the_download(cmds: Commands, tmp_path: Path) -> None:
    d = reviewed(cmds, tmp_path)
    liu = signed_in(cmds, "liu")
    page = liu.get(f"/decisions/{d}").text
    assert f'action="/decisions/{d}/builds/package"' in page
    assert "/builds/archive" not in page  # the sponsor may not build the archive: not offered
    assert liu.post(f"/decisions/{d}/builds/package", data={}).status_code == 403  # no CSRF
    answer = liu.post(f"/decisions/{d}/builds/package", data={"csrf": csrf_of(page)})
    assert answer.status_code == 200 and "已生成提请审议材料清单" in answer.text
    link = f"/decisions/{d}/files/{d}-lr1.json"
    assert link in answer.text
    assert json.loads(liu.get(link).content)["article"] == "Decree 713 Art. 29"
    again = liu.post(f"/decisions/{d}/builds/package", data={"csrf": csrf_of(page)})
    assert "未重复生成" in again.text
    # the archivist sees the archive button disabled, with why, until the decision is made
    li = signed_in(cmds, "li")
    shown = li.get(f"/decisions/{d}").text
    assert 'id="build-archive" disabled' in shown and "Decree 713 Art. 33" in shown
    refused = li.post(f"/decisions/{d}/builds/archive", data={"csrf": csrf_of(shown)})
    assert refused.status_code == 409 and "archive.undecided" in refused.text


def test_a_refused_build_is_shown_with_its_rule(cmds: Commands, tmp_path: Path) -> None:
    d = reviewed(cmds, tmp_path)
    qian = signed_in(cmds, "qian")
    token = csrf_of(qian.get(f"/decisions/{d}").text)
    answer = qian.post(f"/decisions/{d}/builds/package", data={"csrf": token})
    assert answer.status_code == 403
    assert "permission.role" in answer.text and "Decree 713 Art. 29" in answer.text
    assert 'role="alert"' in answer.text and "Traceback" not in answer.text


def test_the_page_lists_only_its_own_files(cmds: Commands, tmp_path: Path) -> None:
    d = reviewed(cmds, tmp_path)
    # another decision's archive whose id starts with this one's (2025-0001 and 2025-00012)
    other = cmds.home / "archives" / f"{d}2.zip"
    other.parent.mkdir(parents=True, exist_ok=True)
    other.write_bytes(b"PK")
    client = signed_in(cmds, "zhang")
    assert other.name not in client.get(f"/decisions/{d}").text
    assert client.get(f"/decisions/{d}/files/{other.name}").status_code == 404


def test_the_api_builds_and_downloads(cmds: Commands, tmp_path: Path) -> None:
    d = reviewed(cmds, tmp_path, decided=True)
    api = TestClient(create_app(lambda: cmds))
    li = {"Authorization": f"Bearer {create_token(cmds, 'li', PASSWORD)[0]}"}
    built = api.post(f"/api/v1/decisions/{d}/builds/archive", headers=li)
    assert built.status_code == 200 and built.json()["built"] is True
    body = api.get(built.json()["download"], headers=li)
    with zipfile.ZipFile(BytesIO(body.content)) as zf:
        assert "audit.jsonl" in zf.namelist()
    assert api.post(f"/api/v1/decisions/{d}/builds/archive", headers=li).json()["built"] is False
    qian = {"Authorization": f"Bearer {create_token(cmds, 'qian', PASSWORD)[0]}"}
    refused = api.post(f"/api/v1/decisions/{d}/builds/package", headers=qian)
    assert refused.status_code == 403 and refused.json()["rule"] == "permission.role"
    unknown = api.post(f"/api/v1/decisions/{d}/builds/minutes", headers=li)
    assert unknown.status_code == 400 and unknown.json()["error"] == "bad_input"


def test_the_cli_builds_the_package(cmds: Commands, tmp_path: Path) -> None:
    from tests.e2e.conftest import run_in_process

    d = reviewed(cmds, tmp_path)
    env = {
        "DECIDE_HOME": str(cmds.home),
        "DECIDE_DATABASE_URL": f"sqlite:///{cmds.home / 'decide.db'}",
        "DECIDE_TOKEN": create_token(cmds, "zhang", PASSWORD)[0],
        "DECIDE_ARGON2_MEMORY_KIB": "1024",
        "DECIDE_ARGON2_TIME_COST": "1",
    }
    done = run_in_process(["build", "package", d, "--json"], env)
    assert done.code == 0, done.err
    assert done.json()["built"] is True and done.json()["file"].endswith(f"{d}-lr1.json")
    env["DECIDE_TOKEN"] = create_token(cmds, "qian", PASSWORD)[0]
    refused = run_in_process(["build", "package", d], env)
    assert refused.code == 6 and "permission.role" in refused.err


def test_the_audit_page_names_actions_steps_outcomes_kinds_and_the_meeting_in_chinese(
    cmds: Commands, tmp_path: Path
) -> None:
    d = reviewed(cmds, tmp_path, decided=True)
    page = signed_in(cmds, "qian").get(f"/decisions/{d}/audit").text
    for shown in (
        "<strong>登记 register</strong>",
        "<strong>完成 complete</strong> 拟订决策草案 <code>drafting</code> #1",
        "合法性审查 <code>legality_review</code>",
        "→ 合法 <code>lawful</code>",
        "材料 决策草案及其说明 <code>draft</code>: draft.txt",
        "会议记录 meeting: 常务会议 <code>executive</code>",
    ):
        assert shown in page, shown
    assert "📎" not in page  # no glyph an office PC's fonts may lack
