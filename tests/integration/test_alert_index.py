"""The scan plans only decisions whose next alert date has come (revision 0003), and raises
exactly what planning every decision with something due would raise.

Two databases live through the same random history — registrations, starts, completions with
every kind of outcome (returns, pauses, deferrals), extensions, skips, a local day off imported
mid-way, days without a scan (downtime) — and are scanned on the same days: one by the indexed
scan, the other with every ``next_alert_on`` wiped before each scan, which makes the scan plan
every decision with something due within the horizon (the behaviour before revision 0003).
The alerts raised must be identical, scan by scan.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.admin import import_schedule
from app.alerts import Alert, scan
from app.commands import Attachment, Commands
from procedures import DecideError, load_procedure
from store.db import make_engine, migrate
from store.dbapi import Database
from store.fastsql import SQL
from store.uow import UnitOfWork
from tests.conftest import meeting

CLOCK = datetime(2030, 1, 1, tzinfo=UTC)
PRESETS = ("national-2019", "tianjin-2020", "tianjin-district-2020")
WIPE = SQL("UPDATE decisions SET next_alert_on = NULL")
NEXT_ALERTS = SQL("SELECT id, next_alert_on FROM decisions ORDER BY id")


def fresh(path: Path) -> Commands:
    url = f"sqlite:///{path / 'decide.db'}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    return Commands(Database(url), path / "home", clock=lambda: CLOCK)


def raised(alerts: list[Alert]) -> list[tuple[object, ...]]:
    return [(a.decision, a.step, a.attempt, a.level, a.due_on, a.first_reached_on) for a in alerts]


def act(rng: random.Random, cmds: Commands, decision: str, day: date, files: Path) -> None:
    """One random action on a step of the decision that is ready or open (refusals are fine)."""
    _, view = cmds.status(decision, day)
    live = [s for s in view.steps if s.status in ("ready", "open")]
    if not live:
        return
    step = rng.choice(live)
    proc = cmds.procedure(view.procedure)
    if step.status == "ready":
        cmds.start(decision, step.step, actor="经办人", on=day)
        return
    kind = rng.choices(["complete", "extend", "skip"], weights=[8, 1, 1])[0]
    if kind == "extend":
        cmds.extend(decision, step.step, actor="经办人", reason="情况复杂", on=day)
        return
    if kind == "skip":
        cmds.skip(decision, step.step, actor="经办人", reason="已另行评估", on=day)
        return
    spec = proc.step(step.step)
    passing = [o for o in spec.outcomes if o.passing]
    outcome = rng.choice(passing if rng.random() < 0.7 and passing else list(spec.outcomes))
    kinds = set(spec.documents) | set(outcome.requires_documents)
    attachments = [Attachment(k, files / f"{k}.txt") for k in sorted(kinds)]
    cmds.complete(
        decision,
        step.step,
        actor="经办人",
        on=day,
        outcome=outcome.id,
        attachments=attachments,
        meeting=meeting(outcome.id) if spec.requires_meeting_record else None,
        next_meeting_on=day + timedelta(days=rng.randint(3, 20)),
    )


@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(seed=st.integers(0, 2**32 - 1))
def test_the_indexed_scan_raises_what_planning_everything_raises(seed, tmp_path_factory):
    rng = random.Random(seed)
    root = tmp_path_factory.mktemp("twins")
    files = root / "files"
    files.mkdir()
    for proc_id in PRESETS:
        for kind in load_procedure(proc_id).documents:
            (files / f"{kind.id}.txt").write_text(f"{kind.id} 材料", encoding="utf-8")
    local_day_off = root / "local.toml"
    local_day_off.write_text(
        'year = 2025\nkind = "local"\nsource = "区政府通知（测试）"\n'
        'holidays = ["2025-04-08", "2025-05-20"]\n',
        encoding="utf-8",
    )
    indexed, planned_all = fresh(root / "a"), fresh(root / "b")
    twins = (indexed, planned_all)
    decisions: list[str] = []
    day = date(2025, 1, 2)
    scans = 0
    while day < date(2025, 8, 30):
        if rng.random() < 0.08 or not decisions:
            kwargs = {
                "title": f"决策{len(decisions) + 1}",
                "procedure_id": rng.choice(PRESETS),
                "sponsor": "区发改委",
                "actor": "办公室",
                "on": day,
                "flags": frozenset(
                    f for f in ("technical", "stability_risk") if rng.random() < 0.5
                ),
                "target_on": day + timedelta(days=rng.randint(20, 200))
                if rng.random() < 0.6
                else None,
            }
            ids = {cmds.register(**kwargs).id for cmds in twins}
            assert len(ids) == 1
            decisions.append(ids.pop())
        if day == date(2025, 3, 20):
            for cmds in twins:
                import_schedule(cmds, local_day_off, "办公室")
        for decision in decisions:
            if rng.random() < 0.15:
                state = rng.getstate()
                outcomes = []
                for cmds in twins:  # the same action, accepted or refused alike
                    rng.setstate(state)
                    try:
                        act(rng, cmds, decision, day, files)
                        outcomes.append("ok")
                    except DecideError as exc:
                        outcomes.append(type(exc).__name__)
                assert outcomes[0] == outcomes[1]
        if rng.random() < 0.8:  # some days the scan does not run (downtime): it catches up
            with UnitOfWork(planned_all.db) as uow:
                WIPE.run(uow.link)
                uow.commit()
            assert raised(scan(indexed, day)) == raised(scan(planned_all, day)), day
            scans += 1
        day += timedelta(days=1)
    assert scans > 100
    with UnitOfWork(indexed.db, write=False) as uow:
        marks = NEXT_ALERTS.rows(uow.link)
    assert any(m[1] is not None for m in marks)  # the index was really used
    for cmds in twins:
        cmds.db.close()


def test_the_scan_plans_only_decisions_whose_next_alert_date_has_come(db, tmp_path):
    cmds = Commands(db, tmp_path / "home", clock=lambda: CLOCK)
    d = cmds.register(
        title="某区老旧小区改造计划",
        procedure_id="national-2019",
        sponsor="区住建委",
        actor="办公室",
        on=date(2025, 3, 3),
        target_on=date(2025, 6, 30),
    ).id
    cmds.start(d, "drafting", actor="办公室", on=date(2025, 3, 3))  # due 2025-05-06

    def candidates(as_of: date) -> list[str]:
        with UnitOfWork(db, write=False) as uow:
            return uow.decisions.alert_candidates(as_of, as_of + timedelta(days=30))

    def next_alert() -> object:
        with UnitOfWork(db, write=False) as uow:
            row = SQL("SELECT next_alert_on FROM decisions WHERE id = :id").run(uow.link, {"id": d})
            return row.fetchone()[0]

    assert next_alert() is None
    assert candidates(date(2025, 4, 10)) == [d]  # changed since the last scan: planned
    assert scan(cmds, date(2025, 4, 10)) == []
    assert str(next_alert()) == "2025-04-28"  # drafting due soon: 3 working days before 05-06
    assert candidates(date(2025, 4, 27)) == []
    assert candidates(date(2025, 4, 28)) == [d]
    assert [a.level for a in scan(cmds, date(2025, 4, 28))] == ["due_soon"]
    assert str(next_alert()) == "2025-05-06"
    assert candidates(date(2025, 5, 5)) == []
    draft = tmp_path / "draft.pdf"
    draft.write_bytes(b"%PDF draft")
    cmds.complete(
        d,
        "drafting",
        actor="办公室",
        on=date(2025, 4, 29),
        attachments=[Attachment("draft", draft)],
    )
    assert next_alert() is None  # a command forgets the date: the next scan plans it again
    assert candidates(date(2025, 6, 2)) == [d]  # the target date is within the horizon
    assert candidates(date(2025, 5, 30)) == []  # nothing due by 06-29: not even planned
    assert scan(cmds, date(2025, 5, 30)) == [] and next_alert() is None
    assert scan(cmds, date(2025, 6, 2)) == []
    assert str(next_alert()) == "2025-06-25"  # target due soon (06-30 is a Monday)
    day_off = tmp_path / "local.toml"
    day_off.write_text(
        'year = 2025\nkind = "local"\nsource = "区政府通知（测试）"\nholidays = ["2025-06-26"]\n',
        encoding="utf-8",
    )
    import_schedule(cmds, day_off, "办公室")  # no due date moves, but "3 working days before" does
    assert next_alert() is None
    raised = scan(cmds, date(2025, 6, 24))
    assert [(a.step, a.level, a.first_reached_on) for a in raised] == [
        ("", "due_soon", date(2025, 6, 24))
    ]
