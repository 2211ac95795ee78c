"""The application layer with a fake unit of work: what each use case writes, and that a refused
or failed command writes nothing (no database here; ``tests/integration`` runs the real stores)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from app.commands import Commands
from app.requests import CompleteRequest, RegisterRequest, StartRequest
from procedures import Conflict, InputError, RuleViolation
from tests.unit.fakes import FakeStore, FakeUnitOfWork, fixed_clock

D = date.fromisoformat


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def cmds(store: FakeStore, tmp_path: Path) -> Commands:
    return Commands(
        db=None,  # type: ignore[arg-type]  # never touched: every unit of work is the fake
        home=tmp_path,
        clock=fixed_clock(D("2026-06-30")),
        uow=lambda write=True: FakeUnitOfWork(store, write=write),
    )


def register(cmds: Commands, **kw: object) -> str:
    request = RegisterRequest(
        title="某区2026年老旧小区改造计划",
        procedure="national-2019",
        sponsor="区住建委",
        on=D("2026-03-02"),
        **kw,  # type: ignore[arg-type]
    )
    return cmds.execute(request, actor="区政府办公室 张主任").decision.id


def test_registration_writes_the_decision_its_event_and_the_ready_message(cmds, store):
    decision = register(cmds, flag=("technical",), target=D("2026-12-31"))
    assert list(store.decisions) == [decision] == ["2026-0001"]
    assert [e["action"] for e in store.events] == ["register"]
    assert store.events[0]["payload"]["flags"] == ["technical"]
    ready = [r["payload"]["step"] for r in store.outbox if r["kind"] == "notify"]
    assert ready == ["drafting"]  # the only step ready after initiation
    assert store.dates[decision].target_on == D("2026-12-31")
    assert store.commits == 1


def test_a_refused_action_writes_nothing(cmds, store):
    decision = register(cmds)
    before = copy_of(store)
    with pytest.raises(RuleViolation) as info:  # drafting is not done: gate 1
        cmds.execute(
            StartRequest(decision=decision, step="legality_review", on=D("2026-03-03")),
            actor="区住建委 刘科长",
        )
    assert info.value.rule
    assert copy_of(store) == before


def test_bad_input_is_refused_before_any_unit_of_work_commits(cmds, store):
    decision = register(cmds)
    before = copy_of(store)
    with pytest.raises(InputError):
        cmds.execute(
            StartRequest(decision=decision, step="drafting", on=D("2026-07-01")),  # future
            actor="区住建委 刘科长",
        )
    with pytest.raises(InputError):
        cmds.execute(StartRequest(decision=decision, step="no_such_step"), actor="x")
    assert copy_of(store) == before


def test_each_change_queues_messages_only_for_what_changed(cmds, store):
    decision = register(cmds, flag=("technical",))
    sponsor = "区住建委 刘科长"
    cmds.execute(
        StartRequest(decision=decision, step="drafting", on=D("2026-03-03")), actor=sponsor
    )
    cmds.execute(
        CompleteRequest(decision=decision, step="drafting", on=D("2026-04-01")), actor=sponsor
    )
    ready = {
        r["payload"]["step"] for r in store.outbox if r["payload"].get("event") == "step_ready"
    }
    assert ready == {"drafting", "public_participation", "expert_review"}
    seen = len(store.outbox)
    cmds.execute(
        StartRequest(decision=decision, step="public_participation", on=D("2026-04-02")),
        actor=sponsor,
    )
    new = [(r["payload"]["event"], r["payload"]["step"]) for r in store.outbox[seen:]]
    assert new == [("step_open", "public_participation")]  # expert_review is still just ready


def test_a_decision_changed_meanwhile_is_a_conflict_and_nothing_is_written(cmds, store):
    decision = register(cmds)
    real = cmds.uow

    def racing(write: bool = True) -> FakeUnitOfWork:
        if write:  # another clerk's command commits between this one's read and its write
            d = store.decisions[decision]
            store.decisions[decision] = d.model_copy(update={"version": d.version + 1})
        return real(write=write)  # type: ignore[misc]

    before = copy_of(store)
    cmds.uow = racing
    with pytest.raises(Conflict):
        cmds.execute(
            StartRequest(decision=decision, step="drafting", on=D("2026-03-03")), actor="刘科长"
        )
    after = copy_of(store)
    assert after["events"] == before["events"] and after["outbox"] == before["outbox"]
    assert after["commits"] == before["commits"]


def test_the_role_check_applies_once_people_exist(cmds, store):
    store.people["刘科长"] = {"sponsor"}
    store.people["区政府办公室 张主任"] = {"decision_body"}
    decision = register(cmds)
    with pytest.raises(RuleViolation) as info:
        cmds.execute(
            StartRequest(decision=decision, step="drafting", on=D("2026-03-03")),
            actor="区教育局 赵某",
        )
    assert info.value.rule == "role.not_permitted"
    cmds.execute(  # the sponsor opens the drafting step
        StartRequest(decision=decision, step="drafting", on=D("2026-03-03")), actor="刘科长"
    )


def copy_of(store: FakeStore) -> dict[str, object]:
    return {
        "decisions": dict(store.decisions),
        "events": list(store.events),
        "outbox": list(store.outbox),
        "commits": store.commits,
    }


def test_the_planner_runs_once_per_command(cmds, store, monkeypatch):
    import app.commands as commands_module

    calls: list[str] = []
    real_plan = commands_module.plan

    def counting(*args, **kw):  # the real planner, counted
        calls.append("plan")
        return real_plan(*args, **kw)

    monkeypatch.setattr(commands_module, "plan", counting)
    decision = register(cmds)
    assert len(calls) == 1
    calls.clear()
    cmds.execute(StartRequest(decision=decision, step="drafting", on=D("2026-03-03")), actor="x")
    assert len(calls) == 1
