"""Outcome effects (SPEC §2 "Outcomes and their effects"), the meeting record, and alerts (§4)."""

from __future__ import annotations

from datetime import date as D

import pytest

from procedures import Complete, Extend, InputError, Start, WorkCalendar, load_procedure
from procedures.transitions import majority_position
from tests.conftest import Run, meeting


def test_unlawful_returns_to_drafting_and_every_later_step_runs_again(national):
    run = Run(national, ["technical"]).to_legality_review()
    run.complete("legality_review", D(2025, 4, 30), "unlawful")
    view = run.plan(D(2025, 5, 6))
    assert view.step("drafting").status == "ready" and view.step("drafting").attempt == 2
    for step in ("public_participation", "expert_review", "legality_review"):
        assert view.step(step).status == "waiting"
        assert view.step(step).attempt == 2
    old = [a for a in run.attempts if a.step == "legality_review"]
    assert [(a.number, a.outcome, a.superseded) for a in old] == [(1, "unlawful", True)]
    # the second round runs through in full, with its own periods
    run.start("drafting", D(2025, 5, 6)).complete("drafting", D(2025, 5, 20))
    run.start("public_participation", D(2025, 5, 21))
    # the notice's window runs to 2025-06-20 (Art. 15); the step closes from the day after
    assert run.plan(D(2025, 5, 22)).step("public_participation").earliest_close_on == D(2025, 6, 21)


def test_incomplete_materials_stop_the_clock_and_resubmission_restarts_it(national):
    run = Run(national).to_legality_review()  # opened 2025-04-15
    """Decree 713 Art. 26: returned or supplement requested, the clock stops; the guaranteed
    review time and the due date run again from the resubmission."""
    run.complete("legality_review", D(2025, 4, 17), "incomplete")  # any day: the reviewer's call
    paused = run.plan(D(2025, 6, 30)).step("legality_review")
    assert paused.status == "paused" and paused.alert is None and paused.due_on is None
    refusal = run.refused(Complete(step="legality_review", on=D(2025, 4, 30), outcome="lawful"))
    assert refusal.rule == "step.paused"
    # a response date counted from the first receipt is too early for the new one
    early = run.refused(Start(step="legality_review", on=D(2025, 5, 6), respond_by=D(2025, 5, 14)))
    assert early.rule == "review_time.legality_review" and "2025-05-15" in early.remedy
    run.start("legality_review", D(2025, 5, 6))  # resubmitted on Tue 2025-05-06
    view = run.plan(D(2025, 5, 7)).step("legality_review")
    assert view.status == "open" and view.attempt == 1
    assert view.guaranteed_until == D(2025, 5, 15)  # 7 working days after 05-06
    assert view.respond_by == D(2025, 5, 15) and not view.shortened
    assert view.earliest_close_on is None  # binds the submitter, not the reviewer
    assert view.due_on == D(2025, 5, 27)  # 15 working days after 05-06
    run.complete("legality_review", D(2025, 5, 14), "lawful")


def test_resubmission_cannot_predate_the_return(national):
    run = Run(national).to_legality_review()
    run.complete("legality_review", D(2025, 4, 17), "incomplete")
    assert run.refused(Start(step="legality_review", on=D(2025, 4, 16))).rule == "date.order"


def test_revise_returns_to_legality_review_as_a_new_attempt(national):
    run = Run(national).to_discussion()
    run.complete("collective_discussion", D(2025, 5, 8), "revise", meeting=meeting("revise"))
    view = run.plan(D(2025, 5, 9))
    assert view.step("legality_review").status == "ready"
    assert view.step("legality_review").attempt == 2
    assert view.step("collective_discussion").status == "waiting"
    assert view.step("collective_discussion").attempt == 2
    assert view.step("drafting").status == "done"  # earlier steps stand


def test_deferred_discussion_stays_open_with_the_new_meeting_date_as_due(national):
    run = Run(national).to_discussion()
    run.complete(
        "collective_discussion",
        D(2025, 5, 8),
        "deferred",
        meeting=meeting("deferred"),
        next_meeting_on=D(2025, 6, 12),
    )
    view = run.plan(D(2025, 6, 12)).step("collective_discussion")
    assert view.status == "open" and view.due_on == D(2025, 6, 12) and view.alert == "due_today"
    assert view.due_basis == "meeting"
    with pytest.raises(InputError, match="next meeting date"):
        run.complete(
            "collective_discussion", D(2025, 6, 12), "deferred", meeting=meeting("deferred")
        )


def test_approval_opens_the_report_and_archiving_due_thirty_days_after_the_decision(national):
    run = Run(national).to_discussion()
    run.complete("collective_discussion", D(2025, 5, 8), "approved", meeting=meeting("approved"))
    view = run.plan(D(2025, 5, 9))
    assert view.status == "approved"
    assert view.step("party_committee_report").status == "ready"
    assert view.step("publication").status == "waiting"
    archiving = view.step("archiving")
    assert archiving.status == "ready" and archiving.due_on == D(2025, 6, 9)  # 06-07 is a Saturday


def test_rejection_leaves_only_archiving(national):
    run = Run(national).to_discussion()
    run.complete("collective_discussion", D(2025, 5, 8), "rejected", meeting=meeting("rejected"))
    view = run.plan(D(2025, 5, 9))
    assert view.status == "rejected"
    for step in ("party_committee_report", "publication"):
        assert view.step(step).status == "skipped"
        assert "rejected" in view.step(step).reason
    refusal = run.refused(Start(step="party_committee_report", on=D(2025, 5, 9)))
    assert refusal.rule == "decision.ended"
    run.start("archiving", D(2025, 5, 9)).complete("archiving", D(2025, 5, 20))
    assert run.plan(D(2025, 5, 20)).status == "closed"


def test_the_whole_procedure_closes_after_publication_and_archiving(national):
    run = Run(national).to_discussion()
    run.complete("collective_discussion", D(2025, 5, 8), "approved", meeting=meeting("approved"))
    run.start("party_committee_report", D(2025, 5, 9)).complete(
        "party_committee_report", D(2025, 5, 16)
    )
    run.start("publication", D(2025, 5, 19)).complete("publication", D(2025, 5, 23))
    run.start("archiving", D(2025, 5, 26)).complete("archiving", D(2025, 6, 3))
    assert run.plan(D(2025, 6, 3)).status == "closed"
    assert run.refused(Start(step="archiving", on=D(2025, 6, 4))).rule == "step.done"


def test_the_legality_review_due_date_may_be_extended_once_with_a_reason(national):
    run = Run(national).to_legality_review()  # opened 2025-04-15, due 15 wd later
    # 15 working days: Sunday 2025-04-27 is a make-up working day, 05-01..05 are holidays
    assert run.plan(D(2025, 4, 16)).step("legality_review").due_on == D(2025, 5, 8)
    assert (
        run.refused(Extend(step="legality_review", on=D(2025, 5, 6))).rule == "due.extension_reason"
    )
    run.extend("legality_review", D(2025, 5, 6), "涉及多部上位法，需征求法律顾问意见")
    assert run.plan(D(2025, 5, 7)).step("legality_review").due_on == D(2025, 5, 22)
    refusal = run.refused(Extend(step="legality_review", on=D(2025, 5, 7), reason="again"))
    assert refusal.rule == "due.extension_used"


def test_a_step_without_an_extendable_due_cannot_be_extended(national):
    run = Run(national)
    run.start("drafting", D(2025, 3, 3))
    assert (
        run.refused(Extend(step="drafting", on=D(2025, 3, 4), reason="x")).rule
        == "due.not_extendable"
    )


# The meeting record (Art. 30) -----------------------------------------------------------------
def test_the_discussion_needs_a_meeting_record(national):
    run = Run(national).to_discussion()
    refusal = run.refused(
        Complete(step="collective_discussion", on=D(2025, 5, 8), outcome="approved")
    )
    assert refusal.rule == "meeting.record_required" and refusal.article == "Decree 713 Art. 30"


@pytest.mark.parametrize("kind", ["circulation", "countersign", "会签"])
def test_circulation_or_countersigning_never_replaces_the_meeting(national, kind):
    run = Run(national).to_discussion()
    refusal = run.refused(
        Complete(
            step="collective_discussion",
            on=D(2025, 5, 8),
            outcome="approved",
            meeting=meeting("approved", meeting_type=kind),
        )
    )
    assert refusal.rule == "meeting.type"
    # "不得以传阅、会签代替" is a local rule, not the text of Decree 713 Art. 30: cited as such
    assert refusal.article == "Decree 713 Art. 30; 不得以传阅、会签代替: local rules"
    assert "地方规定" in refusal.message and "local rules" in refusal.message


def test_the_head_departing_from_the_majority_must_give_reasons(national):
    run = Run(national).to_discussion()
    record = meeting("rejected")  # every member said rejected; the head approves
    assert majority_position(record) == "rejected"
    refusal = run.refused(
        Complete(step="collective_discussion", on=D(2025, 5, 8), outcome="approved", meeting=record)
    )
    assert refusal.rule == "meeting.head_reason"
    with_reason = meeting("rejected", head_reason="项目列入市级民生工程，资金已落实")
    run.complete("collective_discussion", D(2025, 5, 8), "approved", meeting=with_reason)
    assert run.plan(D(2025, 5, 8)).status == "approved"


def test_one_dissent_within_a_majority_needs_no_reason_and_every_position_is_recorded(national):
    run = Run(national).to_discussion()
    positions = {
        "王副区长": "approved",
        "李副区长": "approved",
        "赵秘书长": "approved",
        "陈副区长": "rejected",
    }
    record = meeting("approved", positions=positions, dissent={"陈副区长": "资金测算偏乐观"})
    run.complete("collective_discussion", D(2025, 5, 8), "approved", meeting=record)
    run2 = Run(national).to_discussion()
    missing = meeting("approved", positions={"王副区长": "approved"})
    assert (
        run2.refused(
            Complete(
                step="collective_discussion", on=D(2025, 5, 8), outcome="approved", meeting=missing
            )
        ).rule
        == "meeting.positions"
    )


# Alerts (SPEC §4) ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "as_of,level,late",
    [
        (D(2025, 4, 3), None, 0),  # 5 working days before (04-04 is 清明, a holiday)
        (D(2025, 4, 7), None, 0),  # 4 working days before
        (D(2025, 4, 8), "due_soon", 0),  # 3 working days before
        (D(2025, 4, 10), "due_soon", 0),
        (D(2025, 4, 11), "due_today", 0),
        (D(2025, 4, 14), "overdue", 1),
        (D(2025, 4, 17), "overdue", 4),
        (D(2025, 4, 18), "escalated", 5),
    ],
)
def test_alert_levels_in_working_days(national, as_of, level, late):
    run = Run(national, ["technical"])
    run.start("drafting", D(2025, 3, 3)).complete("drafting", D(2025, 3, 10))
    run.start("expert_review", D(2025, 3, 13))  # due 20 working days later: 2025-04-11
    view = run.plan(as_of).step("expert_review")
    assert view.due_on == D(2025, 4, 11)
    assert (view.alert, view.overdue_working_days) == (level, late)


def test_an_undecided_decision_past_its_target_date_is_alerted(national):
    run = Run(national)
    plan = run.plan(D(2025, 12, 31), target_on=D(2025, 12, 1))
    assert plan.target_alert == "escalated" and plan.worst_alert == "escalated"
    decided = Run(national).to_discussion()
    decided.complete(
        "collective_discussion", D(2025, 5, 8), "approved", meeting=meeting("approved")
    )
    assert decided.plan(D(2025, 12, 31), target_on=D(2025, 5, 1)).target_alert is None


# Provisional dates ----------------------------------------------------------------------------
def test_a_due_date_in_a_year_without_official_data_is_provisional(national):
    run = Run(national, on=D(2026, 11, 2))
    run.start("drafting", D(2026, 11, 20))  # 60 days → 2027-01-19: no official 2027 schedule yet
    view = run.plan(D(2026, 11, 26)).step("drafting")
    assert view.due_on == D(2027, 1, 19) and view.provisional
    inside = Run(national, on=D(2026, 3, 2))
    inside.start("drafting", D(2026, 3, 2))
    assert not inside.plan(D(2026, 3, 3)).step("drafting").provisional


def test_an_imported_schedule_recomputes_a_provisional_date(national, tmp_path):
    from procedures import load_schedule

    path = tmp_path / "2027.toml"
    path.write_text(
        'year = 2027\nkind = "official"\nsource = "test schedule"\n'
        'holidays = ["2027-01-01..2027-01-03", "2027-01-19"]\n',
        encoding="utf-8",
    )
    cal = WorkCalendar.official([load_schedule(path)])
    run = Run(national, on=D(2026, 11, 2), cal=cal)
    run.start("drafting", D(2026, 11, 20))
    view = run.plan(D(2026, 11, 26)).step("drafting")
    assert view.due_on == D(2027, 1, 20) and not view.provisional


# Tianjin presets ------------------------------------------------------------------------------
def test_tianjin_needs_the_sponsors_own_legality_review_first():
    proc = load_procedure("tianjin-2020")
    run = Run(proc)
    run.start("drafting", D(2025, 3, 3)).complete("drafting", D(2025, 3, 10))
    run.start("public_participation", D(2025, 3, 11)).complete(
        "public_participation", D(2025, 4, 11)
    )
    refusal = run.refused(Start(step="legality_review", on=D(2025, 4, 11)))
    assert refusal.rule == "gate.internal_legality_review"
    run.start("internal_legality_review", D(2025, 4, 11))
    run.complete("internal_legality_review", D(2025, 4, 18), "passed")
    run.start("legality_review", D(2025, 4, 21))
    assert run.status("legality_review") == "open"


@pytest.mark.parametrize(
    "preset,days,kind",
    [
        ("national-2019", 30, "office_policy"),
        ("tianjin-2020", 30, "local_rule"),
        ("tianjin-district-2020", 30, "office_policy"),
    ],
)
def test_archive_hand_over_period_per_preset(preset, days, kind):
    due = load_procedure(preset).step("archiving").due
    assert (due.amount, due.unit, due.basis.kind, due.anchor) == (
        days,
        "calendar_days",
        kind,
        "collective_discussion",
    )


def test_tianjin_district_sends_the_dossier_to_the_justice_bureau_for_review_not_archiving():
    """北辰区、津南区 2022 catalogue notices: 决策作出后十日内报送区司法局审核 — a review step of the
    district justice bureau, 10 days from the decision (local rule), before the archiving."""
    proc = load_procedure("tianjin-district-2020")
    review = proc.step("dossier_review")
    assert review.role == "legal_office" and proc.role("legal_office").zh == "区司法局"
    sending = proc.step("dossier_submission")  # the 10 days bind the sponsor's sending
    assert (sending.due.amount, sending.due.unit, sending.due.basis.kind, sending.due.anchor) == (
        10,
        "calendar_days",
        "local_rule",
        "collective_discussion",
    )
    assert [p.step for p in review.after] == ["dossier_submission"]
    assert "dossier_review" in [p.step for p in proc.step("archiving").after]
    assert proc.role("archivist").zh != "区司法局"
