"""The ``decide`` command line as users and scripts use it, both databases: in process
(``cli.main.main``), except where the installed console script itself is the point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.conftest import CLI, papers

TITLE = "某区2025年老旧小区改造计划"


def register(cli: CLI, *extra: str) -> str:
    r = cli.json(
        "register",
        "--title",
        TITLE,
        "--procedure",
        "national-2019",
        "--sponsor",
        "区住房和城乡建设委员会",
        "--flag",
        "technical",
        "--target",
        "2025-12-31",
        "--catalogue-year",
        "2025",
        "--on",
        "2025-07-01",
        *extra,
    )
    assert r.code == 0, r.err
    return r.json()["id"]


def events(cli: CLI, decision: str) -> int:
    return len(cli.json("audit", decision).json()["events"])


@pytest.mark.both_engines
def test_a_short_session_end_to_end(cli: CLI, tmp_path: Path):
    # the first commands as real subprocesses of the installed ``decide``: the console script,
    # a fresh interpreter per command and the migration of a new home on each engine
    d = register(cli)
    assert cli.process("start", d, "drafting", "--on", "2025-07-02").code == 0
    assert cli.process("complete", d, "drafting", "--on", "2025-08-29").code == 0
    assert cli("start", d, "public_participation", "--on", "2025-09-01").code == 0
    assert cli("start", d, "expert_review", "--on", "2025-09-01").code == 0
    status = cli.process_json("status", d, "--as-of", "2025-09-30").json()
    assert set(status) >= {"id", "title", "procedure", "status", "steps"}
    pp = next(s for s in status["steps"] if s["step"] == "public_participation")
    # the notice's deadline 30 days on is 10-01 (国庆): the window runs to 10-09, until 24:00
    assert (pp["comment_until"], pp["window_until"]) == ("2025-10-01", "2025-10-09")
    assert pp["earliest_close_on"] == "2025-10-10" and pp["methods"] == ["public_comment"]
    assert pp["due_basis"] == "office_policy"  # never shown as if it were statute
    assert set(pp) >= {
        "step",
        "status",
        "attempt",
        "opened_on",
        "earliest_close_on",
        "due_on",
        "closed_on",
        "outcome",
        "provisional",
        "alert",
    }
    overdue = cli.json("overdue", "--as-of", "2025-09-30").json()
    assert overdue["as_of"] == "2025-09-30"
    expert = [i for i in overdue["items"] if i["step"] == "expert_review"]
    assert expert and expert[0]["level"] == "overdue" and expert[0]["due_on"] == "2025-09-28"
    assert expert[0]["due_basis"] == "office_policy"
    assert overdue["decisions"] == 1 and overdue["complete"] is True
    assert sum(overdue["decisions_by_level"].values()) == 1
    page = cli("overdue", "--as-of", "2025-09-30", "--limit", "1")
    assert "1 件决策 decisions (已逾期 overdue 1); showing 1 item " in " ".join(page.out.split())
    assert cli("overdue", "--limit", "0").code == 2  # a usage error, not a traceback
    human = cli("status", d, "--as-of", "2025-09-30")
    assert "公众参与" in human.out and "public_participation" in human.out
    assert "办公室政策 office policy" in human.out
    timeline = cli.json("audit", d).json()["events"]
    assert [e["action"] for e in timeline] == ["register", "start", "complete", "start", "start"]
    assert all(
        set(e)
        == {"seq", "action", "actor", "effective_on", "recorded_at", "payload", "prev_hash", "hash"}
        for e in timeline
    )
    assert cli("audit", "checkpoint").code == 0
    whole = cli.json("audit", "verify").json()
    assert whole["ok"] is True and whole["events"] == len(timeline)
    in_parts = cli.json("audit", "verify", "--jobs", "2", "--chain-only").json()
    assert {**in_parts, "notes": None} == {**whole, "notes": None}  # notes say what was replayed
    assert any("without authentication" in n for n in whole["notes"])  # a single-user home
    bad_jobs = cli("audit", "verify", "--jobs", "0")
    assert bad_jobs.code == 2 and "--jobs must be at least 1" in bad_jobs.err
    out = tmp_path / "export.jsonl"
    assert cli("audit", "export", d, "--out", str(out)).code == 0
    assert cli.json("audit", "verify", "--file", str(out)).json()["ok"] is True
    listing = cli.json("list", "--as-of", "2025-09-30").json()["items"]
    assert listing[0]["id"] == d and listing[0]["alert"] == "overdue"


REFUSALS = [
    (("start", "2025-0001", "legality_review", "--on", "2025-07-02"), 3, "Art. 25"),
    (("start", "2099-0001", "drafting"), 4, "no decision"),
    (("start", "2025-0001", "drafting", "--on", "2025-13-01"), 2, "not a date"),
    (("start", "2025-0001", "drafting", "--on", "2999-01-01"), 2, "in the future"),
    (
        ("start", "2025-0001", "drafting", "--on", "2025-06-30"),
        2,
        "before the decision was registered",
    ),
    (("start", "2025-0001", "draftng", "--on", "2025-07-02"), 2, "unknown step 'draftng'"),
    (("skip", "2025-0001", "legality_review", "--reason", "领导同意"), 3, "never be skipped"),
    (("complete", "2025-0001", "drafting", "--on", "2025-07-02", "--outcome", "ok"), 3, "not open"),
    (("audit", "2099-0001"), 4, "no decision"),
    (("frobnicate",), 2, "No such command"),
    (("register", "--title", "t", "--procedure", "mars-2030", "--sponsor", "x"), 4, "mars-2030"),
    (("audit", "export", "--all", "--out", "/"), 2, "is a directory"),
]


@pytest.mark.both_engines
def test_refusals_exit_with_their_code_and_write_nothing(cli: CLI):
    d = register(cli)
    assert d == "2025-0001"
    before = events(cli, d)
    for args, code, words in REFUSALS:
        r = cli(*args)
        assert r.code == code, (args, r.out, r.err)
        assert words in r.err, (args, r.err)
        assert len(r.err.strip().splitlines()) <= 2, r.err  # one clear line (Rich may wrap once)
        j = cli.json(*args)
        assert j.code == code and "error" in j.json(), (args, j.out)
    assert events(cli, d) == before


def test_bad_input_of_every_kind_is_named_without_a_traceback(cli: CLI, tmp_path: Path):
    d = register(cli)
    cli("start", d, "drafting", "--on", "2025-07-02")
    real = tmp_path / "草案.txt"
    real.write_text("草案", encoding="utf-8")
    cases = [
        (
            ("register", "--title", "", "--procedure", "national-2019", "--sponsor", "x"),
            "title must not be empty",
        ),
        (
            (
                "register",
                "--title",
                "长" * 10_000,
                "--procedure",
                "national-2019",
                "--sponsor",
                "x",
            ),
            "at most 500",
        ),
        (
            (
                "register",
                "--title",
                "bad\x07bell",
                "--procedure",
                "national-2019",
                "--sponsor",
                "x",
            ),
            "control",
        ),
        (
            (
                "register",
                "--title",
                "t",
                "--procedure",
                "national-2019",
                "--sponsor",
                "x",
                "--flag",
                "urgent",
            ),
            "unknown flag 'urgent'",
        ),
        (
            ("complete", d, "drafting", "--on", "2025-07-03", "--attach", str(tmp_path / "无.pdf")),
            "file not found",
        ),
        (
            ("complete", d, "drafting", "--on", "2025-07-03", "--attach", f"bogus={real}"),
            "unknown document kind",
        ),
        (
            ("complete", d, "drafting", "--on", "2025-07-03", "--outcome", "approved"),
            "unknown outcome 'approved'",
        ),
    ]
    before = events(cli, d)
    for args, words in cases:
        r = cli(*args)
        assert r.code == 2, (args, r.err)
        assert words in r.err, (args, r.err)
    assert events(cli, d) == before
    assert (
        cli.json("list").json()["items"][0]["id"] == d
        and len(cli.json("list").json()["items"]) == 1
    )


@pytest.mark.both_engines
def test_odd_unicode_is_kept_exactly(cli: CLI):
    title = "𠮷野家 — ＡＢＣ ① 改造计划 🏗️ e\u0301"
    r = cli.process_json(  # through argv and stdout of a real process
        "register",
        "--title",
        title,
        "--procedure",
        "national-2019",
        "--sponsor",
        "区",
        "--on",
        "2025-07-01",
    )
    assert r.code == 0, r.err
    import unicodedata

    assert r.json()["title"] == unicodedata.normalize("NFC", title)
    assert cli.json("audit", "verify").json()["ok"]


@pytest.mark.both_engines
def test_the_collective_discussion_meeting_record_on_the_command_line(cli: CLI, tmp_path: Path):
    d = register(cli, "--flag", "stability_risk")
    for args in (
        ("start", d, "drafting", "--on", "2025-07-02"),
        ("complete", d, "drafting", "--on", "2025-07-10", *papers(tmp_path, "draft")),
        ("start", d, "public_participation", "--on", "2025-07-11"),
        ("start", d, "expert_review", "--on", "2025-07-11"),
        (
            "complete",
            d,
            "expert_review",
            "--on",
            "2025-08-01",
            *papers(tmp_path, "expert_adoption_report"),
        ),
        (
            "skip",
            d,
            "risk_assessment",
            "--reason",
            "已按项目社会稳定风险评估办法评估",
            "--on",
            "2025-07-11",
        ),
        (
            "complete",
            d,
            "public_participation",
            "--on",
            "2025-08-12",
            *papers(tmp_path, "opinion_adoption_report"),
        ),
        ("start", d, "legality_review", "--on", "2025-08-13"),
        (
            "complete",
            d,
            "legality_review",
            "--outcome",
            "lawful",
            "--on",
            "2025-08-25",
            *papers(tmp_path, "legality_opinion", "legal_advisers_opinion"),
        ),
        ("start", d, "collective_discussion", "--on", "2025-08-26"),
    ):
        r = cli(*args)
        assert r.code == 0, (args, r.err)
    base = (
        "complete",
        d,
        "collective_discussion",
        "--outcome",
        "approved",
        "--on",
        "2025-08-28",
        "--chair",
        "张区长",
    )
    circulation = cli(*base, "--meeting-type", "circulation", "--position", "王=approved")
    assert circulation.code == 3 and "Art. 30" in circulation.err
    against = cli(
        *base,
        "--meeting-type",
        "executive",
        "--position",
        "王=rejected",
        "--position",
        "李=rejected",
        "--position",
        "赵=approved",
    )
    assert against.code == 3 and "meeting.head_reason" in against.err
    ok = cli.json(
        *base,
        "--meeting-type",
        "executive",
        "--position",
        "王=approved",
        "--position",
        "李=approved",
        "--position",
        "赵=rejected",
        "--dissent",
        "赵=资金来源尚不明确",
    )
    assert ok.code == 0, ok.err
    assert ok.json()["status"] == "approved"
    payload = cli.json("audit", d).json()["events"][-1]["payload"]
    assert payload["meeting"]["dissent"] == {"赵": "资金来源尚不明确"}
    assert payload["meeting"]["positions"]["赵"] == "rejected"


def test_roles_are_checked_once_people_are_registered(cli: CLI):
    d = register(cli)
    assert cli("people", "add", "刘科长", "--role", "sponsor", "--unit", "区住建委").code == 0
    r = cli("start", d, "drafting", "--on", "2025-07-02", actor="路人甲")
    assert r.code == 3 and "role.not_permitted" in r.err
    assert cli("start", d, "drafting", "--on", "2025-07-02", actor="刘科长").code == 0
    actors = [e["actor"] for e in cli.json("audit", d).json()["events"]]
    assert actors[-1] == "刘科长"


@pytest.mark.both_engines
def test_a_calendar_import_recomputes_provisional_dates_with_an_audit_event(
    cli: CLI, tmp_path: Path
):
    r = cli.json(
        "register",
        "--title",
        "2027年计划",
        "--procedure",
        "national-2019",
        "--sponsor",
        "区发改委",
        "--on",
        "2026-11-02",
    )
    d = r.json()["id"]
    cli("start", d, "drafting", "--on", "2026-11-20")
    before = cli.json("status", d, "--as-of", "2026-11-20").json()["steps"][1]
    assert before["due_on"] == "2027-01-19" and before["provisional"] is True
    assert cli.json("calendar", "status").json()["provisional"][0]["decision"] == d
    schedule = tmp_path / "2027.toml"
    schedule.write_text(
        'year = 2027\nkind = "official"\nsource = "国务院办公厅关于2027年部分节假日安排的通知（测试）"\n'
        'holidays = ["2027-01-01..2027-01-03", "2027-01-19"]\n',
        encoding="utf-8",
    )
    imported = cli.json("calendar", "import", str(schedule))
    assert imported.code == 0, imported.err
    assert imported.json()["recomputed"][0]["due_after"] == "2027-01-20"
    after = cli.json("status", d, "--as-of", "2026-11-20").json()["steps"][1]
    assert after["due_on"] == "2027-01-20" and after["provisional"] is False
    assert cli.json("audit", d).json()["events"][-1]["action"] == "recompute_dates"
    bad = tmp_path / "bad.toml"
    bad.write_text('year = 2027\nkind = "official"\nsource = "x"\nholidays = ["2028-01-01"]\n')
    assert cli("calendar", "import", str(bad)).code == 2


def test_procedures_are_listed_and_shown_with_their_basis(cli: CLI):
    listing = cli.json("procedures").json()["procedures"]
    assert {p["id"] for p in listing} >= {"national-2019", "tianjin-2020", "tianjin-district-2020"}
    shown = cli("procedures", "show", "national-2019")
    assert "法定" in shown.out and "办公室政策" in shown.out and "公众参与" in shown.out
    steps = {s["id"]: s for s in cli.json("procedures", "show", "national-2019").json()["steps"]}
    assert steps["public_participation"]["minimum"]["basis"]["article"] == "Decree 713 Art. 15"
    assert (
        json.loads(cli("procedures", "show", "tianjin-2020", "--json").out)["id"] == "tianjin-2020"
    )


def test_interactive_commands_never_import_prefect(cli: CLI):
    import subprocess
    import sys

    d = register(cli)
    script = (
        "import sys\nfrom cli.main import main\n"
        f"for args in (['status', '{d}'], ['start', '{d}', 'drafting', '--on', '2025-07-02'],"
        f" ['overdue'], ['list'], ['audit', '{d}'], ['audit', 'verify'], ['procedures']):\n"
        "    main(args + ['--json'])\n"
        "print('PREFECT', sorted(m for m in sys.modules if m.split('.')[0] == 'prefect'))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        env={**cli.env, "DECIDE_ACTOR": "x"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "PREFECT []" in proc.stdout


@pytest.mark.both_engines
def test_an_unreachable_database_is_one_clear_line(cli: CLI, tmp_path: Path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    env = {**cli.env, "DECIDE_HOME": str(blocker)}
    env.pop("DECIDE_DATABASE_URL")
    for args in (("status", "2025-0001"), ("status", "2025-0001", "--json")):
        proc = __import__("subprocess").run(
            [__import__("tests.e2e.conftest", fromlist=["DECIDE"]).DECIDE, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        assert "cannot open the database" in (proc.stderr + proc.stdout)


OFFICE = (
    'id = "office-2025"\nversion = "1"\nextends = "national-2019"\n'
    'zh = "本区程序"\nen = "district office procedure"\n'
    '[[steps]]\nid = "public_participation"\n'
    'minimum = { amount = %d, unit = "calendar_days", shortenable = true, '
    'basis = { kind = "statute", article = "Decree 713 Art. 15" } }\n'
)


def test_a_decision_registered_from_an_office_file_outlives_the_file(cli: CLI, tmp_path: Path):
    office = tmp_path / "office.toml"
    office.write_text(OFFICE % 30, encoding="utf-8")
    r = cli.json("register", "--title", TITLE, "--procedure", str(office), "--sponsor", "区住建委",
                 "--on", "2025-03-03")  # fmt: skip
    assert r.code == 0, r.err
    d = r.json()["id"]
    assert (
        cli(
            "register",
            "--title",
            TITLE,
            "--procedure",
            str(office),
            "--sponsor",
            "区住建委",
            "--on",
            "2025-03-03",
        ).code
        == 0
    )  # fmt: skip  (the table renders too)
    office.unlink()
    for step, on in (("drafting", "2025-03-03"), ("public_participation", "2025-03-11")):
        assert cli("start", d, step, "--on", on).code == 0
        if step == "drafting":
            assert cli("complete", d, step, "--on", "2025-03-10").code == 0
    assert cli("complete", d, "public_participation", "--on", "2025-04-14").code == 0
    for reading in (("status", d), ("status", d, "--as-of", "2025-03-20"), ("documents", d),
                    ("list",), ("overdue", "--as-of", "2025-06-01"), ("audit", d)):  # fmt: skip
        done = cli(*reading)
        assert done.code == 0, (reading, done.err)
    longer = tmp_path / "longer.toml"
    longer.write_text(OFFICE % 40, encoding="utf-8")
    refused = cli.json("procedures", "migrate", d, "--to", str(longer), "--reason", "延长")
    assert refused.code == 3, refused.err
    assert refused.json()["rule"] == "minimum.public_participation"
    assert "Art. 15" in refused.json()["article"] and "event " in refused.json()["message"]
    assert events(cli, d) == 5  # nothing written
    same = tmp_path / "same.toml"
    same.write_text((OFFICE % 30).replace('version = "1"', 'version = "2"'), encoding="utf-8")
    done = cli.json("procedures", "migrate", "--all-open", "--to", str(same), "--reason", "改版")
    assert done.code == 0, done.err
    assert [m["decision"] for m in done.json()["migrated"] if m["changed"]] == [d, f"{d[:5]}0002"]
    assert cli.json("status", d).json()["procedure_version"] == "2"
    assert (
        cli("procedures", "migrate", d, "--all-open", "--to", str(same), "--reason", "x").code == 2
    )
    assert cli.json("audit", "verify").json()["ok"] is True
