"""Every gate of SPEC §2 ("Gates the engine must never let anyone bypass"), through the planner."""

from __future__ import annotations

from datetime import date as D

import pytest

from procedures import Complete, InputError, RuleViolation, Skip, Start
from procedures.amend import check_amend
from tests.conftest import Run, meeting

ALL_FLAGS = ("technical", "stability_risk")


# Gate 1 — order ---------------------------------------------------------------------------------
def test_a_step_cannot_start_before_the_steps_it_comes_after(national):
    run = Run(national, ALL_FLAGS)
    refusal = run.refused(Start(step="public_participation", on=D(2025, 3, 4)))
    assert refusal.rule == "order.after"
    assert "drafting" in refusal.message


@pytest.mark.parametrize("unfinished", ["public_participation", "expert_review", "risk_assessment"])
def test_legality_review_waits_for_each_parallel_step(national, unfinished):
    run = Run(national, ALL_FLAGS)
    run.start("drafting", D(2025, 3, 3)).complete("drafting", D(2025, 3, 10))
    for step in ("public_participation", "expert_review", "risk_assessment"):
        run.start(step, D(2025, 3, 11))
    for step, outcome in (
        ("public_participation", None),
        ("expert_review", None),
        ("risk_assessment", "controllable"),
    ):
        if step != unfinished:
            run.complete(step, D(2025, 4, 14), outcome)
    refusal = run.refused(Start(step="legality_review", on=D(2025, 4, 15)))
    assert refusal.rule == "order.after"
    assert unfinished in refusal.message


def test_parallel_steps_may_run_in_any_order_and_a_lawful_skip_counts_as_finished(national):
    run = Run(national, ALL_FLAGS)
    run.start("drafting", D(2025, 3, 3)).complete("drafting", D(2025, 3, 10))
    run.start("expert_review", D(2025, 3, 11)).complete("expert_review", D(2025, 3, 20))
    run.skip(
        "risk_assessment",
        D(2025, 3, 12),
        "已按《重大固定资产投资项目社会稳定风险评估暂行办法》评估",
    )
    run.start("public_participation", D(2025, 3, 11)).complete(
        "public_participation", D(2025, 4, 11)
    )
    assert run.status("legality_review") == "ready"
    run.start("legality_review", D(2025, 4, 11))
    assert run.status("legality_review") == "open"


def test_a_step_cannot_open_before_its_prerequisites_closed(national):
    run = Run(national)
    run.start("drafting", D(2025, 3, 3)).complete("drafting", D(2025, 3, 10))
    refusal = run.refused(Start(step="public_participation", on=D(2025, 3, 9)))
    assert refusal.rule == "date.order"


def test_steps_open_only_by_an_explicit_start(national):
    run = Run(national)
    assert run.plan(D(2026, 1, 1)).step("drafting").status == "ready"
    assert run.plan(D(2026, 1, 1)).step("drafting").opened_on is None


# Gate 2 — legality review before collective discussion (Art. 25) -------------------------------
def test_no_collective_discussion_without_a_legality_review(national):
    run = Run(national).to_legality_review()
    refusal = run.refused(Start(step="collective_discussion", on=D(2025, 4, 30)))
    assert refusal.rule == "gate.legality_review"
    assert refusal.article == "Decree 713 Art. 25"


def test_no_collective_discussion_after_an_unlawful_finding(national):
    run = Run(national).to_legality_review()
    run.complete("legality_review", D(2025, 4, 30), "unlawful")
    refusal = run.refused(Start(step="collective_discussion", on=D(2025, 5, 6)))
    assert refusal.rule == "gate.legality_review"


@pytest.mark.parametrize(
    "outcome,docs",
    [
        ("lawful", ()),
        ("lawful_with_changes", ("revised_draft",)),
        ("exploratory_with_risk_notice", ("legal_risk_statement",)),
    ],
)
def test_each_passing_legality_outcome_opens_the_discussion(national, outcome, docs):
    run = Run(national).to_legality_review()
    run.complete("legality_review", D(2025, 4, 30), outcome, documents=docs)
    assert run.status("collective_discussion") == "ready"


@pytest.mark.parametrize(
    "outcome,doc",
    [
        ("lawful_with_changes", "revised_draft"),
        ("exploratory_with_risk_notice", "legal_risk_statement"),
    ],
)
def test_a_passing_outcome_with_a_required_attachment_is_refused_without_it(national, outcome, doc):
    run = Run(national).to_legality_review()
    refusal = run.refused(Complete(step="legality_review", on=D(2025, 4, 30), outcome=outcome))
    assert refusal.rule == "documents.required"
    assert doc in refusal.message


# Gate 3 — no approval while the latest risk finding is uncontrollable (Art. 24) ----------------
def test_an_uncontrollable_risk_returns_to_drafting_and_a_new_assessment_follows(national):
    run = Run(national, ["stability_risk"])
    run.start("drafting", D(2025, 3, 3)).complete("drafting", D(2025, 3, 10))
    run.start("risk_assessment", D(2025, 3, 11))
    run.complete("risk_assessment", D(2025, 4, 1), "uncontrollable")
    view = run.plan(D(2025, 4, 2))
    assert view.step("drafting").status == "ready"
    assert view.step("drafting").attempt == 2
    assert view.step("risk_assessment").status == "waiting"
    assert view.step("risk_assessment").attempt == 2
    history = [a for a in run.attempts if a.step == "risk_assessment"]
    assert history[0].outcome == "uncontrollable" and history[0].superseded


def test_a_new_assessment_must_follow_an_uncontrollable_finding_not_a_skip(national):
    run = Run(national, ["stability_risk"])
    run.start("drafting", D(2025, 3, 3)).complete("drafting", D(2025, 3, 10))
    run.start("risk_assessment", D(2025, 3, 11))
    run.complete("risk_assessment", D(2025, 4, 1), "uncontrollable")
    run.start("drafting", D(2025, 4, 2)).complete("drafting", D(2025, 4, 10))
    refusal = run.refused(
        Skip(step="risk_assessment", on=D(2025, 4, 11), reason="已按其他规定评估")
    )
    assert refusal.rule == "gate.risk_assessment"
    assert refusal.article == "Decree 713 Art. 24"
    run.start("risk_assessment", D(2025, 4, 11))  # the way forward: assess again
    assert run.status("risk_assessment") == "open"


def test_approval_is_refused_while_the_latest_risk_finding_is_uncontrollable(national, tmp_path):
    """Defence in depth: a procedure where the assessment does not come before the discussion
    (an office's own file) still cannot approve over an uncontrollable finding (Art. 24)."""
    from procedures import load_procedure

    custom = tmp_path / "loose.toml"
    custom.write_text(
        'id = "loose"\nversion = "1"\nextends = "national-2019"\nzh = "宽松"\nen = "loose"\n'
        '[[steps]]\nid = "legality_review"\nafter = ["public_participation", "expert_review"]\n'
        '[[steps]]\nid = "risk_assessment"\n[[steps.outcomes]]\nid = "controllable"\n'
        'zh = "风险可控"\nen = "risk controllable"\neffect = "done"\n[[steps.outcomes]]\n'
        'id = "uncontrollable"\nzh = "风险不可控"\nen = "risk uncontrollable"\neffect = "done"\n'
        'article = "Decree 713 Art. 24"\nblocks = ["collective_discussion:approved"]\n',
        encoding="utf-8",
    )
    run = Run(load_procedure(custom), ["stability_risk"])
    run.start("drafting", D(2025, 3, 3)).complete("drafting", D(2025, 3, 10))
    run.start("risk_assessment", D(2025, 3, 11))
    run.complete("risk_assessment", D(2025, 4, 1), "uncontrollable")
    run.start("public_participation", D(2025, 3, 11)).complete(
        "public_participation", D(2025, 4, 11)
    )
    run.start("legality_review", D(2025, 4, 11)).complete(
        "legality_review", D(2025, 4, 22), "lawful"
    )
    run.start("collective_discussion", D(2025, 4, 23))
    refusal = run.refused(
        Complete(
            step="collective_discussion",
            on=D(2025, 4, 24),
            outcome="approved",
            meeting=meeting("approved"),
        )
    )
    assert refusal.rule == "gate.risk_assessment" and refusal.article == "Decree 713 Art. 24"
    run.complete("collective_discussion", D(2025, 4, 24), "rejected", meeting=meeting("rejected"))


def test_a_rerun_after_a_return_cannot_be_dated_before_the_return(national):
    run = Run(national).to_legality_review()  # legality review opened 2025-04-15
    run.complete("legality_review", D(2025, 11, 20), "unlawful")
    refusal = run.refused(Start(step="drafting", on=D(2025, 9, 1)))
    assert refusal.rule == "date.order" and "2025-11-20" in refusal.message
    run.start("drafting", D(2025, 11, 21))


def test_a_decision_cannot_be_dated_before_an_earlier_deferral(national):
    run = Run(national).to_discussion()  # discussion opened 2025-05-06
    run.complete(
        "collective_discussion",
        D(2025, 10, 20),
        "deferred",
        meeting=meeting("deferred"),
        next_meeting_on=D(2025, 11, 3),
    )
    refusal = run.refused(
        Complete(
            step="collective_discussion",
            on=D(2025, 9, 15),
            outcome="approved",
            meeting=meeting("approved"),
        )
    )
    assert refusal.rule == "date.order"


def test_the_head_alone_is_not_a_collective_discussion(national):
    from procedures import MeetingRecord

    run = Run(national).to_discussion()
    alone = MeetingRecord(meeting_type="executive", chair="区长", attendees=("区长",), positions={})
    refusal = run.refused(
        Complete(step="collective_discussion", on=D(2025, 5, 8), outcome="approved", meeting=alone)
    )
    assert refusal.rule == "meeting.members" and refusal.article == "Decree 713 Art. 30"


def test_a_new_controllable_finding_allows_approval(national):
    run = Run(national, ["stability_risk"])
    run.start("drafting", D(2025, 3, 3)).complete("drafting", D(2025, 3, 10))
    run.start("risk_assessment", D(2025, 3, 11))
    run.complete("risk_assessment", D(2025, 4, 1), "uncontrollable")
    run.start("drafting", D(2025, 4, 2)).complete("drafting", D(2025, 4, 10))
    run.start("risk_assessment", D(2025, 4, 11)).complete(
        "risk_assessment", D(2025, 4, 25), "controllable"
    )
    # the window to 2025-05-11 (a Sunday) runs to Monday 05-12: the step closes from 05-13
    run.start("public_participation", D(2025, 4, 11)).complete(
        "public_participation", D(2025, 5, 13)
    )
    run.start("legality_review", D(2025, 5, 14)).complete(
        "legality_review", D(2025, 5, 23), "lawful"
    )
    run.start("collective_discussion", D(2025, 5, 26))
    run.complete("collective_discussion", D(2025, 5, 27), "approved", meeting=meeting("approved"))
    assert run.plan(D(2025, 5, 27)).status == "approved"


# Gate 4 — statutory minimum periods (Art. 15, Art. 26) -----------------------------------------
def test_public_comment_may_not_close_before_thirty_days(national):
    run = Run(national)
    run.start("drafting", D(2025, 3, 3)).complete("drafting", D(2025, 3, 10))
    run.start("public_participation", D(2025, 3, 11))
    refusal = run.refused(Complete(step="public_participation", on=D(2025, 4, 9)))
    assert refusal.rule == "minimum.public_participation"
    assert refusal.article == "Decree 713 Art. 15"
    assert "2025-04-10" in refusal.message
    run.complete("public_participation", D(2025, 4, 11))
    assert run.status("public_participation") == "done"


def test_a_comment_period_ending_in_national_day_runs_to_the_next_working_day(national):
    run = Run(national)
    run.start("drafting", D(2025, 8, 1)).complete("drafting", D(2025, 8, 29))
    run.start("public_participation", D(2025, 9, 1))  # +30 days = 2025-10-01, a holiday
    view = run.plan(D(2025, 9, 2)).step("public_participation")
    # Civil Code Art. 203 by analogy: the window runs to 10-09, the first working day after the
    # holiday, until 24:00 — the step closes from 10-10
    assert (view.comment_until, view.window_until) == (D(2025, 10, 1), D(2025, 10, 9))
    assert view.earliest_close_on == D(2025, 10, 10)
    run.refused(Complete(step="public_participation", on=D(2025, 10, 9)))
    run.complete("public_participation", D(2025, 10, 10))


def test_a_comment_period_shortened_with_a_reason_stated_at_opening(national):
    run = Run(national)
    run.start("drafting", D(2025, 3, 3)).complete("drafting", D(2025, 3, 10))
    run.start(
        "public_participation",
        D(2025, 3, 11),
        shorten_reason="防汛工程情况紧急",
        comment_until=D(2025, 3, 21),
    )
    view = run.plan(D(2025, 3, 12)).step("public_participation")
    # Art. 15: shortened with the urgency stated in the notice — and the shorter window it
    # published still runs its course
    assert view.shortened and view.earliest_close_on == D(2025, 3, 22)
    run.refused(Complete(step="public_participation", on=D(2025, 3, 21)))
    run.complete("public_participation", D(2025, 3, 25))
    assert run.status("public_participation") == "done"


def test_a_shortening_reason_is_refused_where_the_law_gives_no_shortenable_minimum(national):
    run = Run(national, ["technical"])
    run.start("drafting", D(2025, 3, 3)).complete("drafting", D(2025, 3, 10))
    refusal = run.refused(Start(step="expert_review", on=D(2025, 3, 11), shorten_reason="急"))
    assert refusal.rule == "minimum.not_shortenable"


def test_the_submitter_must_leave_the_legality_reviewer_seven_working_days(national):
    """Decree 713 Art. 26 guarantees the reviewer 7 working days after receipt: it binds the
    submitter's requested response date, and the reviewer may answer sooner."""
    run = Run(national).to_legality_review(review=False)
    on = D(2025, 4, 15)  # Tue: the guaranteed time ends on 04-24 (the start day not counted)
    refusal = run.refused(Start(step="legality_review", on=on, respond_by=D(2025, 4, 23)))
    assert (refusal.rule, refusal.article) == ("review_time.legality_review", "Decree 713 Art. 26")
    assert "2025-04-24" in refusal.remedy
    run.start("legality_review", on, respond_by=D(2025, 4, 24))
    view = run.plan(D(2025, 4, 16)).step("legality_review")
    assert (view.guaranteed_until, view.earliest_close_on) == (D(2025, 4, 24), None)
    run.complete("legality_review", D(2025, 4, 23), "lawful")


# Gate 5 — skipping -----------------------------------------------------------------------------
@pytest.mark.parametrize("step", ["legality_review", "collective_discussion"])
def test_hard_gates_can_never_be_skipped(national, step):
    run = (
        Run(national).to_discussion()
        if step == "collective_discussion"
        else Run(national).to_legality_review()
    )
    refusal = run.refused(Skip(step=step, on=D(2025, 5, 7), reason="领导同意"))
    assert refusal.rule == "skip.not_allowed"
    assert "Art. 25" in refusal.article or "Art. 30" in refusal.article


def test_a_conditional_step_the_procedure_does_not_allow_to_skip_is_refused(national):
    run = Run(national, ["technical"])
    run.start("drafting", D(2025, 3, 3)).complete("drafting", D(2025, 3, 10))
    assert (
        run.refused(Skip(step="expert_review", on=D(2025, 3, 11), reason="x")).rule
        == "skip.not_allowed"
    )


def test_a_skip_needs_a_reason(national):
    run = Run(national, ["stability_risk"])
    run.start("drafting", D(2025, 3, 3)).complete("drafting", D(2025, 3, 10))
    refusal = run.refused(Skip(step="risk_assessment", on=D(2025, 3, 11), reason="   "))
    assert refusal.rule == "skip.reason_required"
    assert refusal.article == "Decree 713 Art. 22"


def test_steps_the_flags_do_not_require_are_skipped_from_the_start_with_the_reason(national):
    view = Run(national, ["undisclosable"]).plan(D(2025, 3, 3))
    for step in ("public_participation", "expert_review", "risk_assessment", "publication"):
        assert view.step(step).status == "skipped"
        assert view.step(step).reason.startswith("不需要 not required")
    assert "依法不予公开" in view.step("publication").reason


# Gate 6 — refusals write nothing; bad input is named ---------------------------------------------
def test_unknown_step_outcome_and_flag_are_input_errors(national):
    run = Run(national).to_legality_review()
    with pytest.raises(InputError, match="unknown step 'legal_review'"):
        run.start("legal_review", D(2025, 4, 16))
    with pytest.raises(InputError, match="unknown outcome 'ok'"):
        run.complete("legality_review", D(2025, 4, 30), "ok")
    with pytest.raises(InputError, match="several outcomes"):
        run.complete("legality_review", D(2025, 4, 30))
    with pytest.raises(InputError, match="unknown flag 'urgent'"):
        Run(national, ["urgent"])


def test_a_flag_that_adds_a_step_before_one_already_started_is_refused(national):
    run = Run(national).to_legality_review()
    with pytest.raises(RuleViolation) as info:
        check_amend(national, run.flags, frozenset({"technical"}), run.attempts)
    assert info.value.rule == "amend.step_order" and "legality_review" in info.value.message
    drafting = Run(national)
    drafting.start("drafting", D(2025, 3, 3)).complete("drafting", D(2025, 3, 10))
    check_amend(national, drafting.flags, frozenset({"technical"}), drafting.attempts)  # allowed


def test_a_flag_a_step_ran_under_cannot_be_removed_but_a_lawful_skip_is_no_run(national):
    run = Run(national, flags=["stability_risk"])
    run.start("drafting", D(2025, 3, 3)).complete("drafting", D(2025, 3, 10))
    run.start("risk_assessment", D(2025, 3, 11))
    with pytest.raises(RuleViolation) as info:
        check_amend(national, run.flags, frozenset(), run.attempts)
    assert info.value.rule == "amend.flag_in_use" and info.value.article == "Decree 713 Art. 22"
    skipped = Run(national, flags=["stability_risk"])
    skipped.start("drafting", D(2025, 3, 3)).complete("drafting", D(2025, 3, 10))
    skipped.skip("risk_assessment", D(2025, 3, 11), "已按有关规定评估")
    check_amend(national, skipped.flags, frozenset(), skipped.attempts)  # allowed
