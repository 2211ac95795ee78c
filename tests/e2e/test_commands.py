"""The commands a clerk asked for (issue 11): status as it stood on a date, the documents and the
Art. 29 package, attachments by kind, removing people, amending a decision; and safe files
(exports never replace what they should not, attachments are regular files of bounded size).
Real subprocesses of ``decide`` on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import CLI
from tests.e2e.test_cli import register


def steps(result) -> dict[str, dict]:
    return {s["step"]: s for s in result.json()["steps"]}


def drafted(cli: CLI, tmp_path: Path) -> tuple[str, Path]:
    """A technical decision whose draft was attached on 2025-08-29."""
    d = register(cli)
    assert cli("start", d, "drafting", "--on", "2025-07-02").code == 0
    draft = tmp_path / "草案.docx"
    draft.write_bytes("某区老旧小区改造计划（草案）".encode())
    r = cli("complete", d, "drafting", "--on", "2025-08-29", "--attach", f"draft={draft}")
    assert r.code == 0, r.err
    return d, draft


# -- status --as-of ----------------------------------------------------------------------------
def test_status_as_of_a_date_shows_only_the_facts_effective_by_then(cli: CLI, tmp_path: Path):
    d, _ = drafted(cli, tmp_path)
    assert cli("start", d, "expert_review", "--on", "2025-09-01").code == 0
    before = steps(cli.json("status", d, "--as-of", "2025-08-01"))
    assert before["drafting"]["status"] == "open" and before["drafting"]["closed_on"] is None
    assert before["expert_review"]["status"] == "waiting"
    first_day = steps(cli.json("status", d, "--as-of", "2025-07-01"))
    assert first_day["drafting"]["status"] == "ready"
    now = steps(cli.json("status", d, "--as-of", "2025-09-02"))
    assert now["drafting"]["status"] == "done" and now["expert_review"]["status"] == "open"


def test_status_as_of_a_date_before_the_registration_is_refused(cli: CLI):
    d = register(cli)
    r = cli("status", d, "--as-of", "2025-06-30")
    assert r.code == 2
    text = " ".join(r.err.split())
    assert "早于决策登记日期" in text and "is before the decision was registered" in text
    assert cli.json("status", d, "--as-of", "2025-06-30").json()["error"] == "bad_input"


def test_status_as_of_a_date_before_an_amendment_shows_the_flags_of_then(cli: CLI, tmp_path):
    d, _ = drafted(cli, tmp_path)
    r = cli("amend", d, "--flag", "stability_risk", "--reason", "涉及拆迁", "--on", "2025-09-01")
    assert r.code == 0, r.err
    then = cli.json("status", d, "--as-of", "2025-08-30").json()
    assert then["flags"] == ["technical"]
    assert {s["step"]: s["status"] for s in then["steps"]}["risk_assessment"] == "skipped"
    assert cli.json("status", d).json()["flags"] == ["stability_risk", "technical"]


# -- documents and attachments -----------------------------------------------------------------
@pytest.mark.both_engines
def test_documents_lists_kinds_and_hashes_and_the_package_state(cli: CLI, tmp_path: Path):
    d, draft = drafted(cli, tmp_path)
    sha = hashlib.sha256(draft.read_bytes()).hexdigest()
    doc = cli.json("documents", d).json()
    assert doc["documents"] == [
        {
            "step": "drafting",
            "attempt": 1,
            "kind": "draft",
            "filename": "草案.docx",
            "size": draft.stat().st_size,
            "sha256": sha,
        }
    ]
    package = doc["package"]
    assert package["complete"] is False and package["missing"] == []
    assert package["present"] == [
        {
            "step": "drafting",
            "attempt": 1,
            "kind": "draft",
            "article": "Decree 713 Art. 29(1)",
            "filed_attempt": 1,
            "sha256": sha,
        }
    ]
    assert {p["kind"] for p in package["pending"]} == {
        "opinion_adoption_report",
        "expert_adoption_report",
        "legality_opinion",
        "legal_advisers_opinion",  # Decree 713 Art. 28
    }  # risk assessment is not required: its report is not awaited
    human = cli("documents", d)
    assert human.code == 0
    assert sha[:12] in human.out and sha not in human.out  # abbreviated in the table
    assert "决策草案及其说明 draft" in human.out and "不齐全 incomplete" in human.out
    assert cli("documents", "2025-9999").code == 4


def test_a_step_done_without_its_document_shows_it_missing(cli: CLI, tmp_path: Path):
    d = register(cli)
    cli("start", d, "drafting", "--on", "2025-07-02")
    cli("complete", d, "drafting", "--on", "2025-08-29")
    package = cli.json("documents", d).json()["package"]
    assert package["missing"] == [
        {"step": "drafting", "attempt": 1, "kind": "draft", "article": "Decree 713 Art. 29(1)"}
    ]


def test_an_attachment_without_a_kind_is_filed_under_the_steps_only_kind(cli: CLI, tmp_path):
    d, draft = drafted(cli, tmp_path)
    # risk_assessment takes risk_report only (the decision needs the flag for it)
    cli("amend", d, "--flag", "stability_risk", "--reason", "涉及征收", "--on", "2025-08-30")
    assert cli("start", d, "risk_assessment", "--on", "2025-09-01").code == 0
    r = cli(
        "complete",
        d,
        "risk_assessment",
        "--outcome",
        "controllable",
        "--on",
        "2025-09-20",
        "--attach",
        str(draft),
    )
    assert r.code == 0, r.err
    kinds = [x["kind"] for x in cli.json("documents", d).json()["documents"]]
    assert kinds == ["draft", "risk_report"]
    verified = cli.json("audit", "verify").json()  # the attempt lists the kind as filed
    assert verified["ok"] is True, verified["problems"]


def test_an_attachment_needs_a_kind_where_the_step_takes_several(cli: CLI, tmp_path: Path):
    d, draft = drafted(cli, tmp_path)
    cli("start", d, "expert_review", "--on", "2025-09-01")
    before = len(cli.json("audit", d).json()["events"])
    r = cli("complete", d, "expert_review", "--on", "2025-09-20", "--attach", str(draft))
    assert r.code == 2
    assert "needs a kind" in r.err and "expert_opinions" in r.err, r.err
    assert len(cli.json("audit", d).json()["events"]) == before
    ok = cli(
        "complete", d, "expert_review", "--on", "2025-09-20", "--attach", f"expert_opinions={draft}"
    )
    assert ok.code == 0, ok.err


def test_an_attachment_must_be_a_regular_file_and_is_refused_at_once(cli: CLI, tmp_path: Path):
    d = register(cli)
    cli("start", d, "drafting", "--on", "2025-07-02")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero"), tmp_path):
        started = time.monotonic()
        r = cli("complete", d, "drafting", "--on", "2025-08-29", "--attach", f"draft={path}")
        assert r.code == 2 and "not a regular file" in r.err and "不是普通文件" in r.err, r.err
        assert time.monotonic() - started < 20  # refused, not read (a FIFO would block)
    assert steps(cli.json("status", d))["drafting"]["status"] == "open"


def test_an_attachment_over_the_size_limit_is_refused_naming_the_limit(cli: CLI, tmp_path):
    d = register(cli)
    cli("start", d, "drafting", "--on", "2025-07-02")
    big = tmp_path / "big.pdf"
    big.write_bytes(b"x" * (2 << 20))
    cli.env["DECIDE_MAX_ATTACHMENT_MB"] = "1"
    r = cli("complete", d, "drafting", "--on", "2025-08-29", "--attach", f"draft={big}")
    assert r.code == 2 and "文件过大" in r.err and "1 MiB" in r.err, r.err
    cli.env["DECIDE_MAX_ATTACHMENT_MB"] = "3"
    assert (
        cli("complete", d, "drafting", "--on", "2025-08-29", "--attach", f"draft={big}").code == 0
    )


# -- people ------------------------------------------------------------------------------------
def test_people_remove_is_audited_and_an_unknown_person_is_a_clear_error(cli: CLI, tmp_path):
    assert cli("people", "add", "刘科长", "--role", "sponsor").code == 0
    assert cli("people", "add", "刘科长", "--role", "risk_assessor").code == 0
    r = cli.json("people", "remove", "刘科长", "--role", "sponsor")
    assert r.code == 0 and r.json()["removed"] == ["sponsor"]
    listed = cli.json("people", "list").json()["people"]
    assert [(p["name"], p["role"]) for p in listed] == [("刘科长", "risk_assessor")]
    unknown = cli("people", "remove", "王科长")
    assert unknown.code == 4 and "没有此人员 no such person: 王科长" in unknown.err
    wrong = cli("people", "remove", "刘科长", "--role", "head")
    assert wrong.code == 4 and "has no role head" in wrong.err
    assert cli("people", "remove", "刘科长").code == 0
    assert cli.json("people", "list").json()["people"] == []
    log = tmp_path / "log.jsonl"
    assert cli("audit", "export", "--all", "--out", str(log)).code == 0
    events = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    removals = [e["payload"] for e in events if e.get("action") == "person_remove"]
    assert removals == [
        {"name": "刘科长", "roles": ["sponsor"]},
        {"name": "刘科长", "roles": ["risk_assessor"]},
    ]


# -- amend -------------------------------------------------------------------------------------
def test_amend_adding_technical_makes_expert_review_ready_and_is_audited(cli: CLI, tmp_path):
    r = cli.json(  # not technical
        "register",
        "--title",
        "改造计划",
        "--procedure",
        "national-2019",
        "--sponsor",
        "区住建委",
        "--on",
        "2025-07-01",
    )
    d = r.json()["id"]
    cli("start", d, "drafting", "--on", "2025-07-02")
    cli("complete", d, "drafting", "--on", "2025-08-29")
    assert steps(cli.json("status", d))["expert_review"]["status"] == "skipped"
    r = cli.json(
        "amend",
        d,
        "--flag",
        "technical",
        "--title",
        "改造计划（修订）",
        "--reason",
        "专家认为技术性强",
        "--on",
        "2025-09-01",
    )
    assert r.code == 0, r.out
    assert r.json()["title"] == "改造计划（修订）" and r.json()["flags"] == ["technical"]
    assert steps(r)["expert_review"]["status"] == "ready"
    event = cli.json("audit", d).json()["events"][-1]
    assert event["action"] == "amend" and event["effective_on"] == "2025-09-01"
    payload = event["payload"]
    assert payload["reason"] == "专家认为技术性强"
    assert payload["flags"] == {"from": [], "to": ["technical"]}
    assert payload["title"] == {"from": "改造计划", "to": "改造计划（修订）"}
    verified = cli.json("audit", "verify").json()  # the replay replays the amendment
    assert verified["ok"] is True, verified["problems"]


@pytest.mark.both_engines
def test_amend_moves_the_target_date_in_the_deadline_index(cli: CLI):
    d = register(cli)  # target 2025-12-31
    assert cli.json("overdue", "--as-of", "2025-07-20").json()["items"] == []
    r = cli("amend", d, "--target", "2025-07-10", "--reason", "目录调整", "--on", "2025-07-05")
    assert r.code == 0, r.err
    items = cli.json("overdue", "--as-of", "2025-07-20").json()["items"]
    assert [(i["decision"], i["step"], i["due_on"]) for i in items] == [(d, None, "2025-07-10")]
    assert cli("amend", d, "--no-target", "--reason", "取消").code == 0
    assert cli.json("overdue", "--as-of", "2025-07-20").json()["items"] == []


def test_amend_refuses_removing_a_flag_a_step_ran_under(cli: CLI, tmp_path: Path):
    d, _ = drafted(cli, tmp_path)
    cli("start", d, "expert_review", "--on", "2025-09-01")
    before = cli.json("audit", d).json()["events"]
    r = cli.json("amend", d, "--unflag", "technical", "--reason", "误标")
    assert r.code == 3
    assert r.json()["rule"] == "amend.flag_in_use" and r.json()["article"] == "Decree 713 Art. 19"
    assert cli.json("audit", d).json()["events"] == before
    assert cli.json("status", d).json()["flags"] == ["technical"]


def test_amend_input_errors_are_named(cli: CLI):
    d = register(cli)
    for args, words in (
        (("--reason", "x"), "nothing to amend"),
        (("--flag", "technical", "--reason", "x"), "nothing to amend"),  # already set
        (("--flag", "nosuch", "--reason", "x"), "unknown flag 'nosuch'"),
        (("--target", "2025-12-01", "--no-target", "--reason", "x"), "not both"),
        (("--title", "新", "--reason", " "), "reason"),
    ):
        r = cli("amend", d, *args)
        assert r.code == 2 and words in r.err, (args, r.err)


# -- audit export --out ------------------------------------------------------------------------
def test_export_refuses_an_existing_file_unless_forced(cli: CLI, tmp_path: Path):
    register(cli)
    out = tmp_path / "audit.jsonl"
    out.write_text("keep me", encoding="utf-8")
    r = cli("audit", "export", "--all", "--out", str(out))
    assert r.code == 2 and "文件已存在 file exists" in r.err and "--force" in r.err
    assert out.read_text(encoding="utf-8") == "keep me"
    assert cli("audit", "export", "--all", "--out", str(out), "--force").code == 0
    assert out.read_text(encoding="utf-8").startswith("{")


def test_export_leaves_files_beside_it_alone_and_names_an_unwritable_place(
    cli: CLI, tmp_path: Path
):
    """The partial file has a fresh name: a user's OUT.partial (or a symlink planted there) is
    neither written through nor removed; a place that cannot be written is a clear error."""
    register(cli)
    mine = tmp_path / "x.jsonl.partial"
    mine.write_text("important", encoding="utf-8")
    victim = tmp_path / "victim"
    victim.write_text("victim", encoding="utf-8")
    (tmp_path / "y.jsonl.partial").symlink_to(victim)
    assert cli("audit", "export", "--all", "--out", str(tmp_path / "x.jsonl")).code == 0
    assert cli("audit", "export", "--all", "--out", str(tmp_path / "y.jsonl")).code == 0
    assert mine.read_text(encoding="utf-8") == "important"
    assert victim.read_text(encoding="utf-8") == "victim"
    assert not (tmp_path / "y.jsonl").is_symlink()
    for bad in ("/etc/passwd/x.jsonl", "/proc/x.jsonl"):
        r = cli("audit", "export", "--all", "--out", bad)
        assert r.code == 2 and "Traceback" not in r.err and "cannot write" in r.err, r.err


def test_export_never_writes_over_the_stores_own_files_even_forced(cli: CLI, tmp_path: Path):
    d, _ = drafted(cli, tmp_path)
    assert cli("audit", "checkpoint").code == 0
    home = Path(cli.env["DECIDE_HOME"])
    stored = next((home / "documents").rglob("*"), None)
    key = home / "keys" / "audit-signing.pem"
    targets = [key, home / "keys" / "checkpoints.jsonl", home / "documents" / "new.jsonl"]
    url = cli.env["DECIDE_DATABASE_URL"]
    if url.startswith("sqlite"):
        db = Path(url.split("///", 1)[1])
        targets += [db, Path(f"{db}-wal"), Path(f"{db}-shm")]
        link = tmp_path / "innocent.jsonl"
        link.symlink_to(db)
        targets.append(link)
    before = {t: t.read_bytes() for t in targets if t.is_file()}
    for target in targets:
        r = cli("audit", "export", "--all", "--out", str(target), "--force")
        assert r.code == 2 and "store's own files" in r.err, (target, r.err)
    assert {t: t.read_bytes() for t in targets if t.is_file()} == before
    assert stored is not None and not (home / "documents" / "new.jsonl").exists()
    assert cli.json("audit", "verify").json()["ok"] is True
    assert cli("status", d).code == 0
