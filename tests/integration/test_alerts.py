"""The deadline scan on both databases: once per level per attempt, catch-up after downtime."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from app.alerts import level_dates, scan
from app.commands import Commands
from procedures import WorkCalendar
from store.fastsql import SQL
from store.uow import UnitOfWork

CLOCK = datetime(2026, 1, 10, 1, tzinfo=UTC)


@pytest.fixture
def cmds(db, tmp_path) -> Commands:
    return Commands(db, tmp_path / "home", clock=lambda: CLOCK)


def drafting_started(cmds: Commands) -> str:
    d = cmds.register(
        title="某区2025年老旧小区改造计划",
        procedure_id="national-2019",
        sponsor="区住建委",
        actor="办公室",
        on=date(2025, 3, 3),
    )
    cmds.start(d.id, "drafting", actor="办公室", on=date(2025, 3, 3))  # due 2025-05-06
    return d.id


def outbox_alerts(cmds: Commands) -> list[dict]:
    with UnitOfWork(cmds.db, write=False) as uow:
        rows = SQL("SELECT payload FROM outbox WHERE kind = 'alert' ORDER BY id").rows(uow.link)
    return [json.loads(r[0]) for r in rows]


def test_level_dates_follow_the_working_day_calendar():
    cal = WorkCalendar.official()
    levels = level_dates(cal, date(2025, 5, 6), date(2025, 3, 3))
    # 2025-05-01..05 are holidays: from 04-28 only 04-29, 04-30 and 05-06 remain (3 working days)
    assert levels == {
        "due_soon": date(2025, 4, 28),
        "due_today": date(2025, 5, 6),
        "overdue": date(2025, 5, 7),
        "escalated": date(2025, 5, 13),
    }


def test_the_scan_raises_each_level_once_as_it_is_reached(cmds):
    decision = drafting_started(cmds)
    assert scan(cmds, date(2025, 4, 27)) == []  # a make-up Sunday: 4 working days still left
    assert [a.level for a in scan(cmds, date(2025, 4, 28))] == ["due_soon"]
    assert scan(cmds, date(2025, 4, 30)) == []  # still due soon: not raised again
    assert [a.level for a in scan(cmds, date(2025, 5, 6))] == ["due_today"]
    overdue = scan(cmds, date(2025, 5, 7))
    assert [(a.level, a.overdue_working_days) for a in overdue] == [("overdue", 1)]
    assert scan(cmds, date(2025, 5, 7)) == []  # idempotent
    escalated = scan(cmds, date(2025, 5, 13))
    assert [a.level for a in escalated] == ["escalated"]
    payloads = outbox_alerts(cmds)
    assert [p["level"] for p in payloads] == ["due_soon", "due_today", "overdue", "escalated"]
    assert payloads[-1]["notify"] == ["decision_body", "sponsor"]
    with UnitOfWork(cmds.db, write=False) as uow:
        actions = [e.action for e in uow.audit.events(decision)]
    assert actions.count("alert") == 4


def test_a_scan_after_a_month_of_downtime_raises_each_missed_level_once(cmds):
    drafting_started(cmds)
    raised = scan(cmds, date(2025, 6, 10))
    assert [(a.level, a.first_reached_on) for a in raised] == [
        ("due_soon", date(2025, 4, 28)),
        ("due_today", date(2025, 5, 6)),
        ("overdue", date(2025, 5, 7)),
        ("escalated", date(2025, 5, 13)),
    ]
    assert scan(cmds, date(2025, 6, 11)) == []


def test_a_catch_up_sends_one_message_with_the_highest_level_and_each_first_day(cmds):
    decision = drafting_started(cmds)
    scan(cmds, date(2025, 6, 10))
    (message,) = outbox_alerts(cmds)  # one message for the step attempt, not four
    assert message["level"] == "escalated"
    assert message["reached"] == [
        ["due_soon", "2025-04-28"],
        ["due_today", "2025-05-06"],
        ["overdue", "2025-05-07"],
        ["escalated", "2025-05-13"],
    ]
    assert message["overdue_working_days"] == 24  # 2025-05-07 .. 2025-06-10, working days
    with UnitOfWork(cmds.db, write=False) as uow:  # each level still raised and audited once
        events = [json.loads(e.payload) for e in uow.audit.events(decision) if e.action == "alert"]
        assert len(uow.alerts.of(decision)) == 4
    assert [e["level"] for e in events] == ["due_soon", "due_today", "overdue", "escalated"]


def test_only_late_levels_carry_the_working_days_overdue(cmds):
    decision = drafting_started(cmds)
    scan(cmds, date(2025, 6, 10))
    with UnitOfWork(cmds.db, write=False) as uow:
        events = [json.loads(e.payload) for e in uow.audit.events(decision) if e.action == "alert"]
    late = {e["level"]: e.get("overdue_working_days") for e in events}
    assert late == {"due_soon": None, "due_today": None, "overdue": 24, "escalated": 24}


def test_a_later_scan_tells_only_the_steps_with_a_new_level(cmds):
    drafting_started(cmds)
    scan(cmds, date(2025, 5, 6))  # due_soon and due_today: one message
    scan(cmds, date(2025, 5, 6))  # nothing new: no message
    scan(cmds, date(2025, 5, 7))  # overdue: one more, which still lists the earlier days
    messages = outbox_alerts(cmds)
    assert [m["level"] for m in messages] == ["due_today", "overdue"]
    assert [lv for lv, _ in messages[-1]["reached"]] == ["due_soon", "due_today", "overdue"]


def test_an_escalation_lists_each_recipient_once(cmds):
    cmds.register(
        title="目标日期",
        procedure_id="national-2019",
        sponsor="区发改委",
        actor="办公室",
        on=date(2025, 3, 3),
        target_on=date(2025, 6, 30),
    )
    scan(cmds, date(2025, 8, 1))
    (target,) = [m for m in outbox_alerts(cmds) if m["step"] == ""]
    assert target["level"] == "escalated" and target["role"] == "decision_body"
    assert target["notify"] == ["decision_body"]


def test_a_provisional_due_date_is_flagged_in_the_payload_and_the_text(cmds):
    from notify.messages import message_for

    cmds = Commands(cmds.db, cmds.home, clock=lambda: datetime(2027, 2, 1, 1, tzinfo=UTC))
    d = cmds.register(
        title="跨年", procedure_id="national-2019", sponsor="区", actor="a", on=date(2026, 11, 2)
    ).id
    cmds.start(d, "drafting", actor="a", on=date(2026, 11, 2))  # due in 2027: no schedule yet
    scan(cmds, date(2027, 2, 1))
    (message,) = outbox_alerts(cmds)
    assert message["provisional"] is True
    text = message_for("alert", d, message, "跨年").text
    assert "日期暂定" in text and "provisional" in text


def test_a_new_attempt_or_a_closed_step_changes_what_is_raised(cmds):
    decision = drafting_started(cmds)
    scan(cmds, date(2025, 5, 7))
    cmds.complete(decision, "drafting", actor="办公室", on=date(2025, 5, 8))
    assert scan(cmds, date(2025, 6, 30)) == []  # drafting closed: nothing more for it


def test_an_undecided_decision_past_its_target_is_alerted(cmds):
    d = cmds.register(
        title="目标日期测试",
        procedure_id="national-2019",
        sponsor="区发改委",
        actor="办公室",
        on=date(2025, 3, 3),
        target_on=date(2025, 6, 30),
    )
    raised = scan(cmds, date(2025, 7, 1))
    target = [a for a in raised if a.decision == d.id and a.step == ""]
    assert [a.level for a in target] == ["due_soon", "due_today", "overdue"]


def test_an_extension_does_not_raise_the_same_level_twice_for_one_attempt(cmds):
    d = cmds.register(
        title="延期", procedure_id="national-2019", sponsor="区", actor="a", on=date(2025, 3, 3)
    ).id
    cmds.start(d, "drafting", actor="a", on=date(2025, 3, 3))
    cmds.complete(d, "drafting", actor="a", on=date(2025, 3, 10))
    cmds.start(d, "public_participation", actor="a", on=date(2025, 3, 11))
    cmds.complete(d, "public_participation", actor="a", on=date(2025, 4, 11))
    cmds.start(d, "legality_review", actor="a", on=date(2025, 4, 11))  # due 15 working days later
    first = scan(cmds, date(2025, 5, 9))
    assert {a.level for a in first if a.step == "legality_review"} >= {"due_soon", "due_today"}
    cmds.extend(d, "legality_review", actor="a", reason="征求法律顾问意见", on=date(2025, 5, 9))
    again = scan(cmds, date(2025, 5, 26))
    assert {a.level for a in again if a.step == "legality_review"} <= {"overdue", "escalated"}
