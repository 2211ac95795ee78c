"""Issue 12 on the command line, as a clerk types it: the comment notice's deadline and methods
(Decree 713 Arts. 14-15), a hearing (Arts. 16-17), ``reuse`` after a return (Arts. 24-25, 28),
``attach`` for the Art. 29 package, co-sponsors (Art. 11).  Real subprocesses."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import CLI, papers


def register(cli: CLI, *extra: str) -> str:
    r = cli.json(
        "register", "--title", "某区停车设施规划", "--procedure", "national-2019",
        "--sponsor", "区住建委", "--on", "2025-03-03", *extra,
    )  # fmt: skip
    assert r.code == 0, r.err
    return r.json()["id"]


def events(cli: CLI, d: str) -> list[dict]:
    return cli.json("audit", d).json()["events"]


def ok(cli: CLI, *args: str) -> str:
    r = cli(*args)
    assert r.code == 0, (args, r.err)
    return " ".join(r.out.split())


def test_art_15_the_notice_deadline_is_checked_and_the_window_shown(cli: CLI, tmp_path: Path):
    """Decree 713 Art. 15 with Civil Code Arts. 201, 203 by analogy: a 29-day notice (the
    Huainan case, A1) is refused naming the earliest lawful deadline, nothing written; a lawful
    one is accepted and the start line says to when the window runs."""
    d = register(cli, "--co-sponsor", "区交通局", "--co-sponsor", "区城管委")
    assert cli.json("status", d).json()["co_sponsors"] == ["区交通局", "区城管委"]
    ok(cli, "start", d, "拟订决策草案", "--on", "2025-03-03")
    ok(cli, "complete", d, "drafting", "--on", "2025-03-10", *papers(tmp_path, "draft"))
    before = len(events(cli, d))
    short = cli.json("start", d, "公众参与", "--on", "2025-03-11", "--comment-until", "2025-04-09")
    assert short.code == 3
    error = short.json()
    assert (error["rule"], error["article"]) == (
        "minimum.public_participation",
        "Decree 713 Art. 15",
    )
    assert "--comment-until 2025-04-10" in error["remedy"] and "201" in error["message"]
    assert len(events(cli, d)) == before
    no_window = cli("start", d, "公众参与", "--method", "座谈会", "--comment-until", "2025-04-20")
    assert no_window.code == 3 and "method.no_window" in no_window.err
    unknown = cli("start", d, "公众参与", "--method", "听正会")
    assert unknown.code == 2 and "did you mean" in unknown.err and "hearing" in unknown.err
    line = ok(
        cli, "start", d, "公众参与", "--on", "2025-03-11", "--method", "公开征求意见",
        "--method", "听证会", "--comment-until", "2025-04-12",
    )  # fmt: skip
    # 2025-04-12 is a Saturday: the window runs to Monday 04-14; the step closes from 04-15
    assert "征求意见截止 comments until 2025-04-12, runs to 2025-04-14" in line
    assert "earliest close 2025-04-15" in line
    step = cli.json("status", d).json()["steps"][2]
    assert step["methods"] == ["public_comment", "hearing"]
    assert (step["comment_until"], step["window_until"]) == ("2025-04-12", "2025-04-14")
    early = cli("complete", d, "public_participation", "--on", "2025-04-14")
    assert early.code == 3 and "二十四时" in early.err and "2025-04-15" in early.err
    half = cli(
        "complete", d, "public_participation", "--on", "2025-04-15", "--hearing-on", "2025-04-08"
    )
    assert half.code == 2 and "--hearing-materials-on" in half.err
    hearing = ("--hearing-notice-on", "2025-03-20", "--hearing-on", "2025-04-08")
    late = cli(
        "complete", d, "public_participation", "--on", "2025-04-15", *hearing,
        "--hearing-materials-on", "2025-04-03", *papers(tmp_path, "hearing_record"),
    )  # fmt: skip
    assert late.code == 3 and "hearing.materials" in late.err and "Art. 16" in late.err
    no_record = cli(
        "complete", d, "public_participation", "--on", "2025-04-15", *hearing,
        "--hearing-materials-on", "2025-04-01",
    )  # fmt: skip
    assert no_record.code == 3 and "hearing_record" in no_record.err
    ok(
        cli, "complete", d, "public_participation", "--on", "2025-04-15", *hearing,
        "--hearing-materials-on", "2025-04-01",
        *papers(tmp_path, "hearing_record", "opinion_adoption_report"),
    )  # fmt: skip
    assert cli.json("audit", "verify").json()["ok"] is True


@pytest.mark.both_engines
def test_reuse_after_a_return_and_attach_for_the_package(cli: CLI, tmp_path: Path):
    """Decree 713 Arts. 25, 28-29: after an unlawful finding the public participation is kept
    with a reason, the legality review never; the discussion waits for the package, and a
    document filed with ``attach`` completes it."""
    d = register(cli)
    ok(cli, "start", d, "drafting", "--on", "2025-03-03")
    ok(cli, "complete", d, "drafting", "--on", "2025-03-10", *papers(tmp_path, "draft"))
    ok(cli, "start", d, "public_participation", "--on", "2025-03-11", "--method", "symposium")
    ok(cli, "complete", d, "public_participation", "--on", "2025-03-14",
       *papers(tmp_path, "opinion_adoption_report"))  # fmt: skip
    ok(cli, "start", d, "legality_review", "--on", "2025-03-17")
    back = ok(cli, "complete", d, "legality_review", "--outcome", "不合法", "--on", "2025-03-26")
    assert "返回拟订决策草案 returned to drafting" in back
    ok(cli, "start", d, "drafting", "--on", "2025-03-27")
    ok(cli, "complete", d, "drafting", "--on", "2025-03-31", *papers(tmp_path / "2", "draft"))
    no_reason = cli("reuse", d, "公众参与", "--reason", " ", "--on", "2025-04-01")
    assert no_reason.code == 3 and "reuse.reason_required" in no_reason.err
    gate = cli.json("reuse", d, "合法性审查", "--reason", "改动很小", "--on", "2025-04-01")
    assert gate.code == 3 and gate.json()["rule"] == "reuse.not_allowed"
    assert gate.json()["article"] == "Decree 713 Art. 25"
    kept = ok(
        cli, "reuse", d, "公众参与", "--reason", "删除条款不影响公众利益", "--on", "2025-04-01"
    )
    assert "已沿用第1次结果 kept the result of attempt 1" in kept
    status = cli.json("status", d).json()["steps"][2]
    assert (status["attempt"], status["reused_from"], status["reason"]) == (
        2, 1, "删除条款不影响公众利益",
    )  # fmt: skip
    ok(cli, "start", d, "legality_review", "--on", "2025-04-02")
    ok(cli, "complete", d, "legality_review", "--outcome", "lawful", "--on", "2025-04-11",
       *papers(tmp_path / "2", "legality_opinion"))  # fmt: skip
    refused = cli.json("start", d, "collective_discussion", "--on", "2025-04-14")
    assert refused.code == 3 and refused.json()["rule"] == "package.incomplete"
    assert "legal_advisers_opinion" in refused.json()["message"]
    filed = ok(
        cli, "attach", d, "合法性审查", "--on", "2025-04-14",
        *papers(tmp_path, "legal_advisers_opinion"),
    )  # fmt: skip
    assert "已附加材料 documents filed" in filed
    ok(cli, "start", d, "collective_discussion", "--on", "2025-04-14")
    kinds = {x["kind"] for x in cli.json("documents", d).json()["documents"]}
    assert {"legal_advisers_opinion", "opinion_adoption_report"} <= kinds
    assert [e["action"] for e in events(cli, d)].count("reuse") == 1
    assert cli.json("audit", "verify").json()["ok"] is True


def test_help_lists_the_methods_and_the_reusable_steps(cli: CLI):
    start = " ".join(cli("start", "--help").out.split())
    assert "public_comment 公开征求意见" in start and "hearing 听证会" in start
    reuse = " ".join(cli("reuse", "--help").out.split())
    assert (
        "expert_review 专家论证" in reuse and "legality_review" not in reuse.split("reusable")[-1]
    )
