"""Issue 12 through the application layer and the store, on both databases: participation
methods and the published comment deadline (Decree 713 Arts. 14-15), a hearing (Arts. 16-17),
a reused result after a return (Arts. 24, 28), documents filed late for the Art. 29 package, and
co-sponsors (Art. 11) — each kept by the store, recorded in the audit, and replayed by deep
verification, which catches an edit of what they add."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from app.admin import audit_verify
from app.commands import Attachment, Commands
from app.history import CHANGES
from app.work import build_package
from procedures import InputError, RuleViolation
from procedures.state import Hearing
from store.fastsql import SQL
from store.uow import UnitOfWork

CLOCK = datetime(2026, 1, 10, tzinfo=UTC)


def paper(folder: Path, kind: str) -> Attachment:
    path = folder / f"{kind}.txt"
    path.write_text(f"{kind} 内容", encoding="utf-8")
    return Attachment(kind, path)


def events(c: Commands, d: str) -> list[dict]:
    with c.unit(write=False) as uow:
        found = uow.audit.events_of([d], CHANGES)[d]
    return [{"action": e.action, **json.loads(e.payload)} for e in found]


def packages_queued(c: Commands, d: str) -> int:
    with c.unit(write=False) as uow:
        rows = SQL("SELECT kind FROM outbox WHERE decision_id = :d").rows(uow.link, {"d": d})
    return sum(r[0] == "build_package" for r in rows)


@pytest.fixture
def cmds(db, tmp_path) -> Commands:
    return Commands(db, tmp_path / "home", clock=lambda: CLOCK)


def reused(c: Commands, folder: Path) -> str:
    """A technical decision with two co-sponsors: comment notice + hearing, expert review, an
    unlawful review, a redraft, both earlier results kept, the review run again."""
    d = c.register(
        title="某区停车设施规划",
        procedure_id="national-2019",
        sponsor="区住建委",
        co_sponsors=["区交通局", "区城管委", "区交通局"],
        actor="办公室",
        flags=("technical",),
        on=date(2025, 3, 3),
    ).id
    c.start(d, "drafting", actor="甲", on=date(2025, 3, 3))
    c.complete(
        d, "drafting", actor="甲", on=date(2025, 3, 10), attachments=[paper(folder, "draft")]
    )
    c.start(
        d, "public_participation", actor="甲", on=date(2025, 3, 11),
        methods=["公开征求意见", "hearing"], comment_until=date(2025, 4, 15),
    )  # fmt: skip
    c.start(d, "expert_review", actor="甲", on=date(2025, 3, 11))
    c.complete(
        d, "expert_review", actor="甲", on=date(2025, 3, 28),
        attachments=[paper(folder, "expert_adoption_report")],
    )  # fmt: skip
    c.complete(
        d, "public_participation", actor="甲", on=date(2025, 4, 16),
        hearing=Hearing(
            notice_on=date(2025, 3, 14), materials_on=date(2025, 3, 24), held_on=date(2025, 4, 2)
        ),
        attachments=[paper(folder, "hearing_record"), paper(folder, "opinion_adoption_report")],
    )  # fmt: skip
    c.start(d, "legality_review", actor="甲", on=date(2025, 4, 17))
    c.complete(d, "legality_review", actor="乙", on=date(2025, 4, 25), outcome="unlawful")
    c.start(d, "drafting", actor="甲", on=date(2025, 4, 28))
    c.complete(d, "drafting", actor="甲", on=date(2025, 5, 6), attachments=[paper(folder, "draft")])
    c.reuse(
        d, "public_participation", actor="甲", on=date(2025, 5, 7), reason="删除条款不影响公众利益"
    )
    c.reuse(d, "expert_review", actor="甲", on=date(2025, 5, 7), reason="技术方案未改")
    c.start(d, "legality_review", actor="甲", on=date(2025, 5, 8))
    c.complete(
        d, "legality_review", actor="乙", on=date(2025, 5, 16), outcome="lawful",
        attachments=[paper(folder, "legality_opinion")],
    )  # fmt: skip
    return d


def test_methods_deadline_hearing_reuse_and_co_sponsors_are_kept_audited_and_replayed(
    cmds, tmp_path
):
    """Decree 713 Arts. 11, 14-17, 24, 28: what each fact adds is in the store, the audit and the
    plan, and the deep verification replays it all without a problem."""
    d = reused(cmds, tmp_path)
    decision, view = cmds.status(d, date(2025, 5, 16))
    assert decision.co_sponsors == ("区交通局", "区城管委")  # each once, in order
    first = next(a for a in decision.attempts if a.step == "public_participation")
    assert first.methods == ("public_comment", "hearing")
    assert first.comment_until == date(2025, 4, 15)
    assert first.hearing == Hearing(
        notice_on=date(2025, 3, 14), materials_on=date(2025, 3, 24), held_on=date(2025, 4, 2)
    )
    pp = view.step("public_participation")
    assert (pp.attempt, pp.status, pp.reused_from) == (2, "done", 1)
    assert pp.reason == "删除条款不影响公众利益"
    logged = events(cmds, d)
    register = next(e for e in logged if e["action"] == "register")
    assert register["co_sponsors"] == ["区交通局", "区城管委"]
    start = next(
        e for e in logged if e["action"] == "start" and e["step"] == "public_participation"
    )
    assert start["methods"] == ["public_comment", "hearing"]
    assert (start["comment_until"], start["window_until"]) == ("2025-04-15", "2025-04-15")
    reuse = [e for e in logged if e["action"] == "reuse"]
    assert [(e["step"], e["reason"]) for e in reuse] == [
        ("public_participation", "删除条款不影响公众利益"),
        ("expert_review", "技术方案未改"),
    ]
    # the package counts the reused attempts' documents, and names where they come from
    manifest = build_package(cmds, d).detail
    kept = {i["kind"]: i for i in manifest["items"]}
    assert kept["opinion_adoption_report"]["reused_from"] == 1
    assert kept["expert_adoption_report"]["attempt"] == 2
    report = audit_verify(cmds)
    assert report.ok, report.problems


def test_editing_what_issue_12_adds_to_the_state_tables_is_caught(cmds, tmp_path):
    """Deep verification replays methods, deadlines, reuse and co-sponsors: an edit of the
    attempt details (a comment deadline moved back) or of the co-sponsors is reported."""
    d = reused(cmds, tmp_path)
    assert audit_verify(cmds).ok
    with UnitOfWork(cmds.db) as uow:
        SQL(
            "UPDATE step_attempts SET details = :x WHERE decision_id = :d "
            "AND step = 'public_participation' AND number = 1"
        ).run(
            uow.link,
            {"d": d, "x": '{"comment_until":"2025-04-20","methods":["public_comment","hearing"]}'},
        )
        uow.commit()
    report = audit_verify(cmds)
    assert not report.ok
    assert any(p.kind == "state" and "public_participation" in p.message for p in report.problems)
    with UnitOfWork(cmds.db) as uow:
        SQL(
            "UPDATE step_attempts SET details = :x WHERE decision_id = :d AND number = 1 AND step = 'public_participation'"
        ).run(
            uow.link,
            {
                "d": d,
                "x": '{"comment_until":"2025-04-15","hearing":{"held_on":"2025-04-02",'
                '"materials_on":"2025-03-24","notice_on":"2025-03-14"},'
                '"methods":["public_comment","hearing"]}',
            },
        )
        SQL("UPDATE decisions SET co_sponsors = '[]' WHERE id = :d").run(uow.link, {"d": d})
        uow.commit()
    report = audit_verify(cmds)
    assert not report.ok
    assert any(p.kind == "state" and "co_sponsors" in p.message for p in report.problems)


def test_art_29_a_document_filed_late_opens_the_collective_discussion(cmds, tmp_path):
    """Decree 713 Arts. 28-29: the discussion may not start while the legal advisers' opinion
    is missing (nothing written); ``attach`` files it on the review, audited and verified."""
    d = reused(cmds, tmp_path)
    logged = len(events(cmds, d))
    with pytest.raises(RuleViolation) as info:
        cmds.start(d, "collective_discussion", actor="办公室", on=date(2025, 5, 19))
    assert (info.value.rule, info.value.article) == ("package.incomplete", "Decree 713 Art. 29")
    assert "legal_advisers_opinion" in info.value.message and "Art. 28" in info.value.message
    assert len(events(cmds, d)) == logged
    with pytest.raises(InputError):
        cmds.attach(d, "legality_review", actor="乙", attachments=[], on=date(2025, 5, 19))
    cmds.attach(
        d, "legality_review", actor="乙", on=date(2025, 5, 19),
        attachments=[paper(tmp_path, "legal_advisers_opinion")], note="法律顾问意见补交",
    )  # fmt: skip
    attach = events(cmds, d)[-1]
    assert attach["action"] == "attach" and attach["attempt"] == 2
    # the package already assembled when the review passed is assembled again with it
    assert packages_queued(cmds, d) == 2
    assert [x["kind"] for x in attach["documents"]] == ["legal_advisers_opinion"]
    cmds.start(d, "collective_discussion", actor="办公室", on=date(2025, 5, 19))
    report = audit_verify(cmds)
    assert report.ok, report.problems
