"""Random histories: whatever sequence of actions is tried, the accepted ones keep the law."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from procedures import (
    Complete,
    DecideError,
    Extend,
    Skip,
    Start,
    WorkCalendar,
    apply,
    load_procedure,
    plan,
    register,
)
from procedures.planner import current_attempt
from procedures.transitions import majority_position
from tests.conftest import meeting

PROC = load_procedure("national-2019")
CAL = WorkCalendar.official()
STEPS = [s.id for s in PROC.steps]


def build(kind, step, outcome, on, flag):
    out = None if outcome == "none" else outcome
    if kind == "start":
        # a response date five days on asks the legality reviewer for less than Art. 26's time
        soon = on + timedelta(days=5) if step == "legality_review" and out is None else None
        return Start(step=step, on=on, shorten_reason="紧急" if flag else None, respond_by=soon)
    if kind == "skip":
        return Skip(step=step, on=on, reason="已评估" if flag else None)
    if kind == "extend":
        return Extend(step=step, on=on, reason="复杂")
    docs = ("revised_draft", "legal_risk_statement") if flag else ()
    return Complete(
        step=step,
        on=on,
        outcome=out,
        documents=docs,
        meeting=meeting(out or "approved") if step == "collective_discussion" else None,
        next_meeting_on=on + timedelta(days=14),
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    flags=st.sets(st.sampled_from(["technical", "stability_risk", "undisclosable"])), data=st.data()
)
def test_accepted_actions_never_break_a_gate(flags, data):
    """Mostly act on steps that are ready or open (to go deep), sometimes on any step."""
    flags = frozenset(flags)
    day = date(2025, 1, 2)
    attempts = register(PROC, day)
    for _ in range(data.draw(st.integers(10, 120))):
        live = [s.step for s in plan(PROC, flags, attempts, day, CAL).current]
        step = (
            data.draw(st.sampled_from(live))
            if live and data.draw(st.integers(0, 9))
            else data.draw(st.sampled_from(STEPS))
        )
        outcomes = [o.id for o in PROC.step(step).outcomes] + ["none"]
        kind = data.draw(st.sampled_from(["start", "complete", "complete", "skip", "extend"]))
        day += timedelta(days=data.draw(st.integers(0, 40)))
        act = build(kind, step, data.draw(st.sampled_from(outcomes)), day, data.draw(st.booleans()))
        try:
            new = apply(PROC, flags, attempts, act, CAL)
        except DecideError:
            continue
        check_invariants(flags, attempts, new, act)
        attempts = new


def check_invariants(flags, before, after, act):
    view = plan(PROC, flags, after, act.on, CAL)
    # history is only ever appended to or updated in place: never shortened
    assert len(after) >= len(before)
    for old, new in zip(before, after, strict=False):
        assert (old.step, old.number) == (new.step, new.number)
    # gate 2: a collective discussion is open or done only over a passing legality review
    cd = current_attempt(after, "collective_discussion")
    if cd is not None:
        lr = current_attempt(after, "legality_review")
        assert lr is not None and lr.status == "done"
        assert PROC.step("legality_review").outcome(lr.outcome).passing
    # gate 3: approval never while the latest risk finding is uncontrollable
    if (
        isinstance(act, Complete)
        and act.step == "collective_discussion"
        and act.outcome == "approved"
    ):
        findings = [a.outcome for a in after if a.step == "risk_assessment" and a.outcome]
        assert not findings or findings[-1] != "uncontrollable"
        assert majority_position(act.meeting) in (None, "approved") or act.meeting.head_reason
    # gate 4: a response date sooner than Art. 26's review time only with a reason
    for a in after:
        if a.step == "legality_review" and a.respond_by is not None and a.status != "skipped":
            end = CAL.add_working_days(a.clock_start, 7).on
            assert a.respond_by >= end or a.shorten_reason
    # gate 4: a step closed before its minimum only if shortened at opening (or paused)
    for a in after:
        if a.status != "done" or a.shorten_reason or a.step != "public_participation":
            continue
        minimum = PROC.step(a.step).minimum
        start = a.clock_start
        end = (
            CAL.add_calendar_days(start, minimum.amount)
            if minimum.unit == "calendar_days"
            else CAL.add_working_days(start, minimum.amount)
        )
        outcome = PROC.step(a.step).outcome(a.outcome)
        assert a.closed_on >= end.on or outcome.ignores_minimum
    # gate 5: hard gates are never skipped; a skip always has a reason
    for a in after:
        if a.status == "skipped":
            assert a.step not in ("legality_review", "collective_discussion")
            assert a.skip_reason
    # gate 1: every open or done step has its prerequisites finished
    for s in view.steps:
        if s.status in ("open", "paused") or (s.status == "done" and s.opened_on):
            for pre in PROC.step(s.step).after:
                assert view.step(pre.step).status in ("done", "skipped"), (s.step, pre.step)
