"""Decree 713 Art. 26 — "送请合法性审查，应当保证必要的审查时间，一般不少于7个工作日" binds the party that
submits: a requested response date earlier than 7 working days after receipt is refused unless a
reason is recorded (then flagged shortened); the reviewer may answer sooner; after ``incomplete``
the guaranteed time runs again from the resubmission.  And SPEC §3: a close that relies on a
provisional minimum end is accepted and recorded as provisional."""

from __future__ import annotations

from datetime import date as D
from pathlib import Path

import pytest

from procedures import InputError, InvalidDefinition, Start, load_procedure
from tests.conftest import Run
from tests.unit.test_loader import GOOD, write

RECEIPT = D(2025, 4, 15)  # Tue; 7 working days after it (the start day not counted): Thu 04-24
DAY_5 = D(2025, 4, 22)


def test_art_26_the_reviewer_may_give_the_opinion_on_day_five(national):
    run = Run(national).to_legality_review()  # materials received 2025-04-15
    run.complete("legality_review", DAY_5, "lawful")
    assert run.status("legality_review") == "done"


def test_art_26_a_response_date_on_day_five_is_refused_naming_the_earliest_lawful_date(national):
    run = Run(national).to_legality_review(review=False)
    refusal = run.refused(Start(step="legality_review", on=RECEIPT, respond_by=DAY_5))
    assert refusal.rule == "review_time.legality_review"
    assert refusal.article == "Decree 713 Art. 26"
    assert "2025-04-24" in refusal.remedy and "应当保证必要的审查时间" in str(refusal)
    assert "Civil Code Arts. 201 and 203" in str(refusal)


def test_art_26_a_response_date_on_day_five_with_a_reason_is_shortened(national):
    run = Run(national).to_legality_review(review=False)
    run.start("legality_review", RECEIPT, shorten_reason="防汛工程情况紧急", respond_by=DAY_5)
    view = run.plan(D(2025, 4, 16)).step("legality_review")
    assert view.shortened and view.reason == "防汛工程情况紧急"
    assert (view.guaranteed_until, view.respond_by) == (D(2025, 4, 24), DAY_5)


def test_art_26_without_a_response_date_the_guaranteed_end_is_asked(national):
    view = Run(national).to_legality_review().plan(D(2025, 4, 16)).step("legality_review")
    assert view.respond_by == view.guaranteed_until == D(2025, 4, 24) and not view.shortened


def test_art_26_a_shorten_reason_without_an_early_response_date_is_refused(national):
    run = Run(national).to_legality_review(review=False)
    for respond_by in (None, D(2025, 4, 24)):
        refusal = run.refused(
            Start(step="legality_review", on=RECEIPT, shorten_reason="急", respond_by=respond_by)
        )
        assert (refusal.rule, refusal.article) == (
            "review_time.not_shortened",
            "Decree 713 Art. 26",
        )


def test_art_26_a_response_date_before_receipt_is_bad_input(national):
    run = Run(national).to_legality_review(review=False)
    with pytest.raises(InputError, match="respond-by"):
        run.start("legality_review", RECEIPT, shorten_reason="急", respond_by=D(2025, 4, 14))


def test_art_26_a_response_date_on_a_step_without_a_review_time_is_refused(national):
    run = Run(national)
    run.start("drafting", D(2025, 3, 3)).complete("drafting", D(2025, 3, 10))
    refusal = run.refused(
        Start(step="public_participation", on=D(2025, 3, 11), respond_by=D(2025, 5, 1))
    )
    assert refusal.rule == "review_time.none"


def test_art_26_the_guaranteed_time_runs_again_from_the_resubmission(national):
    run = Run(national).to_legality_review(review=False)
    run.start("legality_review", RECEIPT, shorten_reason="急", respond_by=DAY_5)
    run.complete("legality_review", D(2025, 4, 17), "incomplete")
    # resubmitted Tue 05-06: the time runs again to Thu 05-15, and the earlier shortening is gone
    early = run.refused(Start(step="legality_review", on=D(2025, 5, 6), respond_by=D(2025, 5, 14)))
    assert early.rule == "review_time.legality_review" and "2025-05-15" in early.remedy
    run.start("legality_review", D(2025, 5, 6))
    view = run.plan(D(2025, 5, 7)).step("legality_review")
    assert (view.guaranteed_until, view.respond_by, view.shortened) == (
        D(2025, 5, 15),
        D(2025, 5, 15),
        False,
    )


def test_art_26_a_resubmission_may_itself_be_shortened_with_a_reason(national):
    run = Run(national).to_legality_review()
    run.complete("legality_review", D(2025, 4, 17), "incomplete")
    run.start("legality_review", D(2025, 5, 6), shorten_reason="汛期将至", respond_by=D(2025, 5, 9))
    view = run.plan(D(2025, 5, 7)).step("legality_review")
    assert view.shortened and view.respond_by == D(2025, 5, 9)


REVIEW_TIME = """
[steps.review_time]
amount = 7
unit = "working_days"
basis = { kind = "statute", article = "Art. 26" }
"""


EXTENSION = 'extension = { amount = 5, unit = "working_days", basis = { kind = "office_policy" } }'


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (REVIEW_TIME + EXTENSION + "\n", "not extended"),
        (REVIEW_TIME + 'anchor = "drafting"\n', "receipt of the materials"),
        (REVIEW_TIME.replace("working_days", "fortnights"), "fortnights"),
    ],
)
def test_art_26_the_loader_checks_a_review_time(tmp_path: Path, block: str, message: str):
    with pytest.raises(InvalidDefinition, match=message) as info:
        load_procedure(write(tmp_path, GOOD + block))
    assert info.value.step == "review"


def test_art_26_a_review_time_loads_and_is_never_a_minimum(tmp_path: Path):
    proc = load_procedure(write(tmp_path, GOOD + REVIEW_TIME, "ok.toml"))
    step = proc.step("review")
    assert step.review_time.amount == 7 and step.minimum is None


def test_spec_3_a_close_on_a_provisional_minimum_end_is_accepted_and_recorded(national):
    """2027 has no official schedule: the 30-day comment minimum (Art. 15) ends on a
    provisional date; closing on or after it is accepted, recorded as provisional."""
    run = Run(national, on=D(2027, 1, 4))
    run.start("drafting", D(2027, 1, 4)).complete("drafting", D(2027, 2, 26))
    run.start("public_participation", D(2027, 3, 1))
    open_ = run.plan(D(2027, 3, 2)).step("public_participation")
    assert open_.provisional and open_.window_until == D(2027, 3, 31)
    assert open_.earliest_close_on == D(2027, 4, 1)
    run.complete("public_participation", D(2027, 4, 1))
    done = run.plan(D(2027, 4, 1)).step("public_participation")
    assert done.status == "done" and done.close_provisional
    attempt = next(a for a in run.attempts if a.step == "public_participation")
    assert attempt.close_provisional


def test_spec_3_a_close_on_an_official_minimum_end_is_not_provisional(national):
    run = Run(national)
    run.start("drafting", D(2025, 3, 3)).complete("drafting", D(2025, 3, 10))
    run.start("public_participation", D(2025, 3, 11)).complete(
        "public_participation", D(2025, 4, 14)
    )
    assert not run.plan(D(2025, 4, 15)).step("public_participation").close_provisional
