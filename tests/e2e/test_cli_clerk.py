"""The command line as a clerk meets it: Chinese names, 80-column tables, success lines that say
what happened, bilingual errors, and scripts whose reader goes away.  Real subprocesses."""

from __future__ import annotations

import os
import re
import subprocess

import pytest
from rich.cells import cell_len

from tests.e2e.conftest import CLI, DECIDE, papers

STEPS = (
    "initiation",
    "drafting",
    "public_participation",
    "expert_review",
    "risk_assessment",
    "legality_review",
    "collective_discussion",
    "party_committee_report",
    "publication",
    "archiving",
)


def narrow(cli: CLI, columns: int = 80) -> CLI:
    return CLI({**cli.env, "COLUMNS": str(columns)})


def register(cli: CLI, *flags: str) -> str:
    args = ["register", "--title", "某区2025年老旧小区改造计划", "--procedure", "national-2019"]
    args += ["--sponsor", "区住建委", "--on", "2025-07-01", "--target", "2025-12-31"]
    for flag in flags:
        args += ["--flag", flag]
    r = cli.json(*args)
    assert r.code == 0, r.err
    return r.json()["id"]


def ok(cli: CLI, *args: str) -> str:
    r = cli(*args)
    assert r.code == 0, (args, r.err)
    return " ".join(r.out.split())


@pytest.mark.both_engines
def test_chinese_names_work_wherever_an_id_does_and_a_chair_may_vote(cli: CLI, tmp_path):
    d = register(cli, "专业性、技术性较强", "实施后可能对社会稳定、公共安全等方面造成不利影响")
    assert set(cli.json("status", d).json()["flags"]) == {"technical", "stability_risk"}
    draft = tmp_path / "草案.pdf"
    draft.write_bytes(b"%PDF draft")
    for args in (
        ("start", d, "拟订决策草案", "--on", "2025-07-02"),
        (
            "complete",
            d,
            "拟订决策草案",
            "--on",
            "2025-07-10",
            "--attach",
            f"决策草案及其说明={draft}",
        ),
        (
            "start",
            d,
            "公众参与",
            "--on",
            "2025-07-11",
            "--method",
            "座谈会",
            "--method",
            "公开征求意见",
        ),
        ("start", d, "专家论证", "--on", "2025-07-11"),
        (
            "complete",
            d,
            "专家论证",
            "--on",
            "2025-08-01",
            *papers(tmp_path, "expert_adoption_report"),
        ),
        ("start", d, "风险评估", "--on", "2025-07-11"),
        (
            "complete",
            d,
            "风险评估",
            "--outcome",
            "风险可控",
            "--on",
            "2025-08-01",
            "--attach",
            str(draft),
        ),
        (
            "complete",
            d,
            "公众参与",
            "--on",
            "2025-08-12",
            *papers(tmp_path, "opinion_adoption_report"),
        ),
        ("start", d, "合法性审查", "--on", "2025-08-13"),
        (
            "complete",
            d,
            "合法性审查",
            "--outcome",
            "合法",
            "--on",
            "2025-08-25",
            *papers(tmp_path, "legality_opinion", "legal_advisers_opinion"),
        ),
        ("start", d, "集体讨论决定", "--on", "2025-08-26"),
    ):
        ok(cli, *args)
    methods = cli.json("status", d).json()["steps"][2]["methods"]
    assert methods == ["symposium", "public_comment"]  # 座谈会, 公开征求意见 as ids
    # the chair states a position too: not a duplicate attendee; 常务会议 is the executive meeting
    r = cli.json(
        "complete", d, "集体讨论决定", "--outcome", "通过", "--on", "2025-08-28",
        "--meeting-type", "常务会议", "--chair", "张区长",
        "--position", "张区长=通过", "--position", "王=approved", "--position", "李=弃权",
    )  # fmt: skip
    assert r.code == 0, r.err
    assert r.json()["status"] == "approved"
    meeting = cli.json("audit", d).json()["events"][-1]["payload"]["meeting"]
    assert meeting["meeting_type"] == "executive"
    assert meeting["attendees"] == ["张区长", "王", "李"]
    assert meeting["positions"] == {"张区长": "approved", "王": "approved", "李": "abstain"}


def test_a_near_miss_is_refused_with_did_you_mean_and_nothing_written(cli: CLI):
    d = register(cli)
    before = len(cli.json("audit", d).json()["events"])
    r = cli("start", d, "拟定决策草案", "--on", "2025-07-02")  # 定 for 订 (Arts. 11-12: 拟订)
    assert r.code == 2
    assert "did you mean: drafting (拟订决策草案)" in " ".join(r.err.split())
    j = cli.json("start", d, "drafting", "--on", "2025-07-02", "--actor", "x")
    assert j.code == 0
    r = cli("complete", d, "drafting", "--on", "2025-07-03", "--outcome", "草案拟定")
    assert r.code == 2 and "did you mean: drafted" in " ".join(r.err.split())
    assert len(cli.json("audit", d).json()["events"]) == before + 1


def test_success_lines_say_what_happened(cli: CLI, tmp_path):
    d = register(cli, "undisclosable")  # no public participation: straight to legality review
    ok(cli, "start", d, "drafting", "--on", "2025-07-02")
    ok(cli, "complete", d, "drafting", "--on", "2025-07-10", *papers(tmp_path, "draft"))
    assert "已开始 started" in ok(cli, "start", d, "legality_review", "--on", "2025-07-11")
    paused = ok(
        cli, "complete", d, "legality_review", "--outcome", "incomplete", "--on", "2025-07-14"
    )
    assert "退回补充，暂停计时 paused" in paused and "completed" not in paused
    again = ok(cli, "start", d, "legality_review", "--on", "2025-07-16")
    assert "resubmitted" in again
    extended = ok(cli, "extend", d, "legality_review", "--reason", "材料较多", "--on", "2025-07-17")
    due = cli.json("status", d, "--as-of", "2025-07-17").json()["steps"][5]["due_on"]
    assert f"已延长至 {due} extended to {due}" in extended
    back = ok(cli, "complete", d, "legality_review", "--outcome", "unlawful", "--on", "2025-07-28")
    assert "返回拟订决策草案 returned to drafting (第2次 attempt 2)" in back
    assert "completed" not in back
    ok(cli, "start", d, "drafting", "--on", "2025-07-29")
    ok(cli, "complete", d, "drafting", "--on", "2025-07-30", *papers(tmp_path / "2", "draft"))
    ok(cli, "start", d, "legality_review", "--on", "2025-07-31")
    ok(
        cli, "complete", d, "legality_review", "--outcome", "lawful", "--on", "2025-08-11",
        *papers(tmp_path / "2", "legality_opinion", "legal_advisers_opinion"),
    )  # fmt: skip
    ok(cli, "start", d, "collective_discussion", "--on", "2025-08-12")
    meeting = ("--meeting-type", "plenary", "--chair", "张区长", "--position", "王=deferred")
    deferred = ok(
        cli, "complete", d, "collective_discussion", "--outcome", "deferred",
        "--on", "2025-08-14", "--next-meeting", "2025-09-05", *meeting,
    )  # fmt: skip
    assert "暂缓至 2025-09-05 deferred to 2025-09-05" in deferred and "completed" not in deferred
    meeting = ("--meeting-type", "plenary", "--chair", "张区长", "--position", "王=rejected")
    ended = ok(
        cli, "complete", d, "collective_discussion", "--outcome", "rejected",
        "--on", "2025-09-05", *meeting,
    )  # fmt: skip
    assert "决策终止 ended" in ended and "completed" not in ended


def test_a_committed_write_exits_0_when_stdout_is_closed(cli: CLI):
    read, write = os.pipe()
    os.close(read)  # the reader has gone before anything is printed (like `| head -1` later)
    env = {**cli.env, "DECIDE_ACTOR": "区政府办公室"}
    args = ["register", "--title", "t", "--procedure", "national-2019", "--sponsor", "区"]
    try:
        for extra in ([], ["--json"]):
            proc = subprocess.run(
                [DECIDE, *args, *extra], env=env, stdout=write, stderr=subprocess.PIPE,
                text=True, timeout=120,
            )  # fmt: skip
            assert proc.returncode == 0, proc.stderr
            assert "BrokenPipeError" not in proc.stderr and "Exception ignored" not in proc.stderr
    finally:
        os.close(write)
    command = " ".join(f"'{a}'" for a in (DECIDE, *args))
    for redirect in (">&-", ">/dev/full"):  # stdout closed; stdout on a full disk
        proc = subprocess.run(
            ["bash", "-c", f"{command} {redirect}"], env=env, stderr=subprocess.PIPE,
            text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 0, (redirect, proc.stderr)
        assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr
    assert cli.json("list").json()["total"] == 4  # each registered once, so no retry registers


def _lines(text: str) -> list[str]:
    return text.splitlines()


def test_tables_at_80_columns_never_split_an_id(cli: CLI):
    d = register(cli, "technical")
    ok(cli, "start", d, "drafting", "--on", "2025-07-02")
    ok(cli, "complete", d, "drafting", "--on", "2025-07-10")
    ok(cli, "start", d, "public_participation", "--on", "2025-07-11")
    ok(cli, "start", d, "expert_review", "--on", "2025-07-11")
    small = narrow(cli)
    status = small("status", d, "--as-of", "2025-09-30").out
    for step in STEPS:  # every step id whole, on one line
        assert any(re.search(rf"(^|[^\w]){step}([^\w]|$)", line) for line in _lines(status)), step
    assert all(cell_len(line) <= 80 for line in _lines(status))
    assert "opened" not in status and "办公室政策" in status  # dates go first; policy still named
    assert "escalated" in status and "2025-" not in status.split("━")[-1]  # MM-DD in the table
    for args, ids in (
        (("list", "--as-of", "2025-09-30"), (d, "public_participation", "expert_review")),
        (("overdue", "--as-of", "2025-09-30"), (d, "public_participation", "expert_review")),
        (("audit", d), ("drafting", "public_participation", "in_progress")),
        (("documents", d), ("opinion_adoption_report", "expert_adoption_report")),
        (("procedures", "show", "national-2019"), (*STEPS, "exploratory_with_risk_notice")),
    ):
        out = small(*args).out
        assert all(cell_len(line) <= 80 for line in _lines(out)), args
        # a table wider than the screen is cropped at 80: its rows would lose their right edge
        rows = [ln.rstrip() for ln in _lines(out) if ln.lstrip().startswith(("│", "┃"))]
        assert all(r.endswith(("│", "┃")) for r in rows), (args, [r for r in rows][:3])
        for word in ids:
            assert re.search(rf"(^|[^\w-]){word}([^\w-]|$)", out), (args, word)
    wide = narrow(cli, 120)("status", d, "--as-of", "2025-09-30").out
    assert "opened" in wide and "2025-07-11" in wide
    piped = CLI({k: v for k, v in cli.env.items() if k != "COLUMNS"})("status", d).out
    assert "opened" in piped  # a pipe without COLUMNS keeps the wide layout


def test_input_errors_are_chinese_with_the_english_and_roles_cite_the_decree(cli: CLI):
    d = register(cli, "undisclosable")
    cases = (
        (("start", d, "drafting", "--on", "2025-13-01"), "日期格式错误", "not a date"),
        (("start", d, "drafting", "--on", "2025-06-30"), "早于决策登记日期", "before the decision"),
        (("start", d, "draftng"), "未知步骤", "unknown step 'draftng'"),
        (("status", "2099-0001"), "未找到决策", "no decision"),
        (("register", "--title", " ", "--procedure", "national-2019", "--sponsor", "x"),
         "不能为空", "must not be empty"),
    )  # fmt: skip
    for args, zh, en in cases:
        r = cli(*args)
        assert r.code in (2, 4) and zh in r.err and en in r.err, (args, r.err)
    assert cli("people", "add", "王科长", "--role", "负责合法性审查的部门").code == 0
    assert cli("people", "add", "刘科长", "--role", "sponsor").code == 0
    ok(cli, "start", d, "drafting", "--on", "2025-07-02", "--actor", "刘科长")
    ok(cli, "complete", d, "drafting", "--on", "2025-07-10", "--actor", "刘科长")
    ok(cli, "start", d, "legality_review", "--on", "2025-07-11", "--actor", "刘科长")
    r = cli("complete", d, "合法性审查", "--outcome", "合法", "--on", "2025-07-22", actor="刘科长")
    text = " ".join(r.err.split())
    assert r.code == 3 and "无权办理" in text and "Decree 713 Art. 25" in text
    assert "SPEC" not in text
    assert cli("complete", d, "合法性审查", "--outcome", "合法", "--on", "2025-07-22",
               actor="王科长").code == 0  # fmt: skip


def test_help_lists_the_valid_ids():
    for command, words in (
        ("register", ("technical 专业性、技术性较强", "national-2019")),
        ("start", ("legality_review 合法性审查",)),
        ("complete", ("lawful_with_changes 修改后合法", "executive 常务会议", "abstain 弃权")),
        ("skip", ("risk_assessment 风险评估",)),
    ):
        out = subprocess.run(
            [DECIDE, command, "--help"], capture_output=True, text=True, timeout=60,
            env={**os.environ, "COLUMNS": "80"},
        ).stdout  # fmt: skip
        assert "decide procedures show ID" in " ".join(out.split()), command
        for word in words:
            assert word in out, (command, word)
    roles = subprocess.run(
        [DECIDE, "people", "add", "--help"], capture_output=True, text=True, timeout=60
    ).stdout
    assert "legal_office 负责合法性审查的部门" in roles
