"""Decree 713 Art. 26 through the application layer and the store, on both databases: the
response date the submitter asks for, its refusal (nothing written), a shortening flagged in
the status, the audit and the package manifest, and the replay that rebuilds it; and SPEC §3's
provisional close recorded in the audit."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from app.admin import audit_verify
from app.commands import Commands
from app.history import CHANGES
from app.work import build_package
from procedures import RuleViolation


def commands(db, tmp_path, clock: datetime) -> Commands:
    return Commands(db, tmp_path / "home", clock=lambda: clock)


def to_review(c: Commands) -> str:
    """A decision whose legality review is ready (public participation closed 2025-04-14)."""
    d = c.register(
        title="合法性审查时间",
        procedure_id="national-2019",
        sponsor="区",
        actor="甲",
        on=date(2025, 3, 3),
    ).id
    c.start(d, "drafting", actor="甲", on=date(2025, 3, 3))
    c.complete(d, "drafting", actor="甲", on=date(2025, 3, 10))
    c.start(d, "public_participation", actor="甲", on=date(2025, 3, 11))
    c.complete(d, "public_participation", actor="甲", on=date(2025, 4, 14))
    return d


def events(c: Commands, d: str) -> list:
    with c.unit(write=False) as uow:
        return uow.audit.events_of([d], CHANGES)[d]


@pytest.fixture
def cmds(db, tmp_path) -> Commands:
    return commands(db, tmp_path, datetime(2026, 1, 10, tzinfo=UTC))


def test_art_26_a_day_five_response_date_is_refused_and_nothing_is_written(cmds):
    d = to_review(cmds)
    before, logged = cmds.status(d)[0], len(events(cmds, d))
    with pytest.raises(RuleViolation) as info:
        cmds.start(
            d, "legality_review", actor="甲", on=date(2025, 4, 15), respond_by=date(2025, 4, 22)
        )
    assert (info.value.rule, info.value.article) == (
        "review_time.legality_review",
        "Decree 713 Art. 26",
    )
    assert "2025-04-24" in info.value.remedy
    after = cmds.status(d)[0]
    assert (after.version, after.attempts) == (before.version, before.attempts)
    assert len(events(cmds, d)) == logged


def test_art_26_a_shortened_request_is_flagged_everywhere_and_replays(cmds):
    d = to_review(cmds)
    cmds.start(
        d,
        "legality_review",
        actor="甲",
        on=date(2025, 4, 15),
        respond_by=date(2025, 4, 22),
        shorten_reason="防汛工程情况紧急",
    )
    decision, view = cmds.status(d, as_of=date(2025, 4, 16))
    step = view.step("legality_review")
    assert step.shortened and (step.guaranteed_until, step.respond_by) == (
        date(2025, 4, 24),
        date(2025, 4, 22),
    )
    stored = next(a for a in decision.attempts if a.step == "legality_review")
    assert stored.respond_by == date(2025, 4, 22)  # kept by the store, not only planned
    payload = json.loads(events(cmds, d)[-1].payload)
    assert payload["respond_by"] == "2025-04-22" and payload["shortened"] is True
    assert payload["guaranteed_until"] == "2025-04-24"
    # the reviewer answers on day 5; the manifest lists the shortened period
    cmds.complete(d, "legality_review", actor="甲", on=date(2025, 4, 22), outcome="lawful")
    shortened = build_package(cmds, d).detail["shortened_periods"]
    assert [s["step"] for s in shortened] == ["legality_review"]
    report = audit_verify(cmds)
    assert report.ok, report.problems


def test_art_26_replay_rebuilds_the_response_date_from_the_payload(cmds):
    """Deep verification replays each start with its respond_by: an unshortened request and a
    resubmission after incomplete (the guaranteed time runs again) verify clean."""
    d = to_review(cmds)
    cmds.start(d, "legality_review", actor="甲", on=date(2025, 4, 15), respond_by=date(2025, 4, 30))
    cmds.complete(d, "legality_review", actor="甲", on=date(2025, 4, 17), outcome="incomplete")
    cmds.start(d, "legality_review", actor="甲", on=date(2025, 5, 6), respond_by=date(2025, 5, 20))
    view = cmds.status(d, as_of=date(2025, 5, 7))[1].step("legality_review")
    assert (view.guaranteed_until, view.respond_by) == (date(2025, 5, 15), date(2025, 5, 20))
    report = audit_verify(cmds)
    assert report.ok, report.problems


def test_spec_3_a_close_on_a_provisional_minimum_end_is_recorded_and_replays(db, tmp_path):
    """2027 has no official holiday schedule: the Art. 15 comment minimum ends provisionally;
    the close (the day after the window's last day) is accepted, and the attempt, the status and the audit payload say provisional."""
    c = commands(db, tmp_path, datetime(2027, 6, 1, tzinfo=UTC))
    d = c.register(
        title="暂定日期",
        procedure_id="national-2019",
        sponsor="区",
        actor="甲",
        on=date(2027, 1, 4),
    ).id
    c.start(d, "drafting", actor="甲", on=date(2027, 1, 4))
    c.complete(d, "drafting", actor="甲", on=date(2027, 2, 26))
    c.start(d, "public_participation", actor="甲", on=date(2027, 3, 1))
    c.complete(d, "public_participation", actor="甲", on=date(2027, 4, 1))
    decision, view = c.status(d)
    assert view.step("public_participation").close_provisional
    assert next(a for a in decision.attempts if a.step == "public_participation").close_provisional
    assert json.loads(events(c, d)[-1].payload)["provisional"] is True
    report = audit_verify(c)
    assert report.ok, report.problems


def test_spec_3_a_provisional_close_stands_when_the_official_schedule_moves_its_end(db, tmp_path):
    """The close was lawful on what was known: once a schedule making 2027-03-31 a day off is
    imported (the window now runs to 04-01, the step closes from 04-02), the replay reads the recorded flag and the close
    stands, flagged provisional — deep verification stays clean."""
    from app.admin import import_schedule

    c = commands(db, tmp_path, datetime(2027, 6, 1, tzinfo=UTC))
    d = c.register(
        title="暂定日期",
        procedure_id="national-2019",
        sponsor="区",
        actor="甲",
        on=date(2027, 1, 4),
    ).id
    c.start(d, "drafting", actor="甲", on=date(2027, 1, 4))
    c.complete(d, "drafting", actor="甲", on=date(2027, 2, 26))
    c.start(d, "public_participation", actor="甲", on=date(2027, 3, 1))
    c.complete(d, "public_participation", actor="甲", on=date(2027, 4, 1))
    schedule = tmp_path / "2027.toml"
    schedule.write_text(
        'year = 2027\nkind = "official"\nsource = "test"\nholidays = ["2027-03-31"]\n',
        encoding="utf-8",
    )
    import_schedule(c, schedule, "甲")
    report = audit_verify(c)
    assert report.ok, report.problems
    assert c.status(d)[1].step("public_participation").close_provisional
