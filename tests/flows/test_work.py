"""The work behind outbox rows, called directly (no Prefect): package, archive, messages."""

from __future__ import annotations

import hashlib
import json
import zipfile
from datetime import UTC, date, datetime

import pytest

from app.commands import Attachment, Commands
from app.work import build_archive, build_package
from notify.messages import message_for
from procedures import MeetingRecord
from store.audit import verify_export
from store.dbapi import Database

CLOCK = datetime(2026, 1, 10, 1, tzinfo=UTC)


@pytest.fixture
def cmds(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'd.db'}")
    db.ensure_schema()
    yield Commands(db, tmp_path / "home", clock=lambda: CLOCK)
    db.close()


def doc(tmp_path, name: str) -> Attachment:
    path = tmp_path / name
    path.write_text(f"{name} 内容", encoding="utf-8")
    return path


def reviewed(cmds: Commands, tmp_path, *, with_report: bool) -> str:
    d = cmds.register(
        title="测试决策",
        procedure_id="national-2019",
        sponsor="区住建委",
        actor="a",
        flags=("technical",),
        on=date(2025, 3, 3),
    ).id
    cmds.start(d, "drafting", actor="a", on=date(2025, 3, 3))
    cmds.complete(
        d,
        "drafting",
        actor="a",
        on=date(2025, 3, 10),
        attachments=[Attachment("draft", doc(tmp_path, "草案.txt"))],
    )
    cmds.start(d, "public_participation", actor="a", on=date(2025, 3, 11))
    cmds.start(d, "expert_review", actor="a", on=date(2025, 3, 11))
    cmds.complete(d, "expert_review", actor="a", on=date(2025, 3, 20))
    counsel = Attachment("legal_advisers_opinion", doc(tmp_path, "法律顾问意见.txt"))
    reports = (
        [Attachment("opinion_adoption_report", doc(tmp_path, "采纳情况.txt"))]
        if with_report
        else []
    )
    cmds.complete(d, "public_participation", actor="a", on=date(2025, 4, 14), attachments=reports)
    cmds.start(d, "legality_review", actor="a", on=date(2025, 4, 15))
    cmds.complete(
        d,
        "legality_review",
        actor="a",
        on=date(2025, 4, 30),
        outcome="lawful",
        attachments=[Attachment("legality_opinion", doc(tmp_path, "审查意见.txt")), counsel],
    )
    return d


def test_the_package_lists_every_required_document_with_its_hash(cmds, tmp_path):
    d = reviewed(cmds, tmp_path, with_report=True)
    out = build_package(cmds, d)
    manifest = json.loads(out.path.read_text(encoding="utf-8"))
    assert manifest["article"] == "Decree 713 Art. 29"
    kinds = {i["kind"]: i for i in manifest["items"]}
    assert set(kinds) == {
        "draft",
        "opinion_adoption_report",
        "legality_opinion",
        "legal_advisers_opinion",
    }
    assert kinds["legal_advisers_opinion"]["article"] == "Decree 713 Art. 28"
    assert (
        kinds["draft"]["sha256"] == hashlib.sha256((tmp_path / "草案.txt").read_bytes()).hexdigest()
    )
    # the expert review ran but its adoption report was never attached: named as missing
    assert manifest["missing"] == [
        {
            "step": "expert_review",
            "attempt": 1,
            "kind": "expert_adoption_report",
            "zh": "专家意见采纳情况说明",
            "article": "Decree 713 Art. 29(3)",
        }
    ]
    assert manifest["complete"] is False


def test_a_skipped_or_unrequired_step_needs_no_document(cmds, tmp_path):
    d = reviewed(cmds, tmp_path, with_report=True)
    manifest = build_package(cmds, d).detail
    assert all(i["step"] != "risk_assessment" for i in manifest["items"] + manifest["missing"])


def test_the_archive_zip_verifies_on_its_own(cmds, tmp_path):
    d = reviewed(cmds, tmp_path, with_report=True)
    # the expert adoption report filed late (Art. 29 needs it before the discussion starts)
    late = [Attachment("expert_adoption_report", doc(tmp_path, "专家采纳.txt"))]
    cmds.attach(d, "expert_review", actor="a", attachments=late, on=date(2025, 5, 5))
    cmds.start(d, "collective_discussion", actor="a", on=date(2025, 5, 6))
    meeting = MeetingRecord(
        meeting_type="executive",
        chair="区长",
        attendees=("区长", "甲", "乙"),
        positions={"甲": "rejected", "乙": "rejected"},
    )
    cmds.complete(
        d,
        "collective_discussion",
        actor="a",
        on=date(2025, 5, 8),
        outcome="rejected",
        meeting=meeting,
    )
    cmds.start(d, "archiving", actor="a", on=date(2025, 5, 9))
    cmds.complete(d, "archiving", actor="a", on=date(2025, 5, 12))
    out = build_archive(cmds, d)
    extract = tmp_path / "x"
    with zipfile.ZipFile(out.path) as zf:
        zf.extractall(extract)
        names = zf.namelist()
    manifest = json.loads((extract / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "closed" and manifest["audit"]["verified"] is True
    assert verify_export(extract / "audit.jsonl").ok
    for entry in manifest["documents"]:
        assert entry["path"] in names
        assert hashlib.sha256((extract / entry["path"]).read_bytes()).hexdigest() == entry["sha256"]
    audit = (extract / "audit.jsonl").read_text(encoding="utf-8")
    assert hashlib.sha256(audit.encode()).hexdigest() == manifest["audit"]["sha256"]
    (extract / "audit.jsonl").write_text(audit.replace("区长", "县长"), encoding="utf-8")
    assert not verify_export(extract / "audit.jsonl").ok


def test_alert_messages_carry_chinese_labels_and_english_ids():
    payload = {
        "level": "escalated",
        "label": "逾期升级（报告决策机关）",
        "step": "expert_review",
        "zh": "专家论证",
        "attempt": 1,
        "due_on": "2025-09-26",
        "first_reached_on": "2025-10-13",
        "overdue_working_days": 7,
    }
    m = message_for("alert", "2025-0001", payload, "某区计划")
    assert "专家论证 expert_review" in m.text and "escalated" in m.text and "逾期 7" in m.text
    assert m.key == "alert:2025-0001:expert_review:1:escalated"


def test_the_package_carries_the_revised_draft_and_flags_a_shortened_period(cmds, tmp_path):
    d = cmds.register(
        title="修改后合法",
        procedure_id="national-2019",
        sponsor="区住建委",
        actor="a",
        on=date(2025, 3, 3),
    ).id
    cmds.start(d, "drafting", actor="a", on=date(2025, 3, 3))
    cmds.complete(
        d,
        "drafting",
        actor="a",
        on=date(2025, 3, 10),
        attachments=[Attachment("draft", doc(tmp_path, "草案.txt"))],
    )
    cmds.start(
        d,
        "public_participation",
        actor="a",
        on=date(2025, 3, 11),
        shorten_reason="防汛工程情况紧急",
        comment_until=date(2025, 3, 21),
    )
    cmds.complete(
        d,
        "public_participation",
        actor="a",
        on=date(2025, 3, 25),
        attachments=[Attachment("opinion_adoption_report", doc(tmp_path, "采纳.txt"))],
    )
    cmds.start(d, "legality_review", actor="a", on=date(2025, 3, 26))
    cmds.complete(
        d,
        "legality_review",
        actor="a",
        on=date(2025, 4, 7),
        outcome="lawful_with_changes",
        attachments=[
            Attachment("legality_opinion", doc(tmp_path, "意见.txt")),
            Attachment("legal_advisers_opinion", doc(tmp_path, "法律顾问.txt")),
            Attachment("revised_draft", doc(tmp_path, "修改稿.txt")),
        ],
    )
    manifest = build_package(cmds, d).detail
    kinds = [i["kind"] for i in manifest["items"]]
    assert "revised_draft" in kinds and manifest["complete"] is True
    assert manifest["shortened_periods"] == [
        {"step": "public_participation", "attempt": 1, "reason": "防汛工程情况紧急"}
    ]
