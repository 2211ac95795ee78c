"""Decree 713 Art. 26 on the command line: ``decide start D legality_review --respond-by`` is
refused (exit 3, nothing written) before the guaranteed review time ends, accepted and flagged
shortened with ``--shorten-reason``, shown in status and audit; ``procedures show`` gives the
review time with its basis."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import CLI
from tests.e2e.test_cli import events, register


def to_review(cli: CLI) -> str:
    d = register(cli)  # technical: expert review runs too
    for args in (
        ("start", d, "drafting", "--on", "2025-07-02"),
        ("complete", d, "drafting", "--on", "2025-07-10"),
        ("start", d, "public_participation", "--on", "2025-07-11"),
        ("start", d, "expert_review", "--on", "2025-07-11"),
        ("complete", d, "expert_review", "--on", "2025-07-25"),
        ("complete", d, "public_participation", "--on", "2025-08-12"),
    ):
        assert cli(*args).code == 0, (args, cli.json(*args).out)
    return d


@pytest.mark.both_engines
def test_art_26_the_submitter_leaves_the_reviewer_seven_working_days(cli: CLI):
    d = to_review(cli)
    before = events(cli, d)
    early = ("start", d, "legality_review", "--on", "2025-08-12", "--respond-by", "2025-08-19")
    refused = cli.json(*early)  # received Tue 08-12: the guaranteed time ends Thu 08-21
    assert refused.code == 3, refused.out
    error = refused.json()
    assert error["rule"] == "review_time.legality_review"
    assert error["article"] == "Decree 713 Art. 26" and "2025-08-21" in error["remedy"]
    human = cli(*early)
    assert human.code == 3 and "保证审查时间" in human.err and "Traceback" not in human.err
    assert events(cli, d) == before  # nothing written
    ok = cli.json(*early, "--shorten-reason", "防汛工程情况紧急")
    assert ok.code == 0, ok.out
    lr = next(s for s in ok.json()["steps"] if s["step"] == "legality_review")
    assert lr["shortened"] is True and lr["reason"] == "防汛工程情况紧急"
    assert (lr["guaranteed_until"], lr["respond_by"]) == ("2025-08-21", "2025-08-19")
    payload = cli.json("audit", d).json()["events"][-1]["payload"]
    assert payload["respond_by"] == "2025-08-19" and payload["shortened"] is True
    status = cli("status", d, "--as-of", "2025-08-13")
    assert "已缩短" in status.out and "shortened" in status.out
    # the reviewer answers on day 5, before the guaranteed time ends
    done = cli.json("complete", d, "legality_review", "--outcome", "lawful", "--on", "2025-08-19")
    assert done.code == 0, done.out
    assert cli.json("audit", "verify").json()["ok"] is True


def test_art_26_procedures_show_gives_the_review_time_with_its_basis(cli: CLI):
    shown = cli.json("procedures", "show", "national-2019").json()
    lr = next(s for s in shown["steps"] if s["id"] == "legality_review")
    assert lr["minimum"] is None
    assert lr["review_time"]["amount"] == 7 and lr["review_time"]["unit"] == "working_days"
    assert lr["review_time"]["basis"] == {
        "kind": "statute",
        "article": "Decree 713 Art. 26",
        "note": None,
    }
    human = cli("procedures", "show", "national-2019").out
    assert "保证审查时间 review time (binds the submitter)" in " ".join(human.split())
