"""The to-do index (revision 0010) is what planning gives, and the inbox read from it is the
inbox that planning every decision gives (the algorithm before the index), for every kind of
caller.

Random histories — registrations with co-sponsors and assigned units, undisclosable ones,
starts, completions with every kind of outcome (returns, pauses, deferrals), reuses, skips,
extensions, amendments that assign and unassign units, a local day off imported mid-way (its
dates recomputed), a migration to another preset — and after each day: the rows of every
decision equal the rows of its plan, a rebuild from nothing equals the rows kept, and for each
caller the inbox equals the reference, at several page sizes.
"""

from __future__ import annotations

import contextlib
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from app import permissions
from app.accounts import Identity
from app.admin import import_schedule
from app.commands import Attachment, Commands
from app.inbox import find_decisions, inbox
from app.migrate import migrate as migrate_procedure
from app.queries import plan_all
from procedures import Complete, DecideError, Start, load_procedure
from store.db import make_engine, migrate
from store.dbapi import Database
from store.fastsql import SQL
from store.todo import COLUMNS, rebuild, rows_for
from store.uow import UnitOfWork
from tests.conftest import meeting

CLOCK = datetime(2030, 1, 1, tzinfo=UTC)
PRESETS = ("national-2019", "tianjin-2020", "tianjin-district-2020")
UNITS = ("区发改委", "区住建委", "区财政局")
ASSESSOR, EXPERTS = "区风险评估中心", "区专家咨询委"
ROWS = SQL(f"SELECT {', '.join(COLUMNS)} FROM todo ORDER BY decision_id, step, unit")
WIPE = SQL("DELETE FROM todo")


def caller(unit: str, *roles: str) -> Identity:
    return Identity(name=f"{unit}{'+'.join(roles)}", login="-".join(roles) or "x", unit=unit,
                    roles=frozenset(roles))  # fmt: skip


CALLERS = [
    *(caller(u, "sponsor") for u in UNITS),
    caller(ASSESSOR, "risk_assessor"),
    caller(UNITS[0], "risk_assessor"),
    caller(EXPERTS, "expert"),
    caller("区司法局", "legal_office"),
    caller("区政府办公室", "decision_body"),
    caller("区政府", "head"),
    caller("区档案馆", "archivist"),
    caller("区委办公室", "party_committee"),
    caller("区审计局", "auditor"),
    caller(UNITS[1], "sponsor", "legal_office"),
    caller("区司法局", "sponsor"),  # a sponsor's role in a unit that sponsors nothing
    Identity(name="管理员", login="admin", unit="区政府办公室", admin=True),
    Identity(name="经办人"),  # a single-user home: everything
]


def fresh(path: Path) -> Commands:
    url = f"sqlite:///{path / 'decide.db'}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    return Commands(Database(url), path / "home", clock=lambda: CLOCK)


def planned(cmds: Commands, as_of: date) -> list[tuple[Any, ...]]:
    """Every decision planned as of a date, with its definition."""
    with cmds.unit(write=False) as uow:
        decisions = uow.decisions.many(uow.decisions.ids())
        procs = cmds.pinned(uow, decisions, plannable_only=True)
        cal = uow.calendar()
    return [
        (d, view, procs[d.procedure_sha256 or ""])
        for d, view in plan_all(decisions, as_of, cal, procs)
    ]


def reference(
    plans: list[tuple[Any, ...]], who: Identity, as_of: date, limit: int
) -> list[tuple[object, ...]]:
    """The inbox as it was computed before the index: plan every decision the caller may
    read and keep the ready and open steps ``check_act`` allows, most urgent first."""
    found = []
    for d, view, proc in plans:
        if not permissions.may_read(who, d):
            continue
        for s in view.steps:
            step = proc.step(s.step)
            if s.status not in ("ready", "open") or step is None:
                continue
            action = (Start if s.status == "ready" else Complete)(step=s.step, on=as_of)
            try:
                permissions.check_act(who, proc, d, step, action)
            except DecideError:
                continue
            found.append((d, s, action.kind))
    found.sort(key=lambda f: (-_rank(f[1].alert), f[1].due_on or date.max, f[0].id, f[1].step))
    return [_shown(d.id, s, kind) for d, s, kind in found[:limit]]


def listed(rows: list[tuple[Any, Any]]) -> list[tuple[object, ...]]:
    return [
        (d.id, v.status, [(s.step, s.status) for s in v.current], v.worst_alert) for d, v in rows
    ]


def reference_list(
    plans: list[tuple[Any, ...]], who: Identity, **only: Any
) -> list[tuple[object, ...]]:
    """The decision list as planning every decision gives it."""
    rows = [
        (d, view)
        for d, view, _ in sorted(plans, key=lambda p: p[0].id)
        if permissions.may_read(who, d)
        and ("step" not in only or only["step"] in {s.step for s in view.current})
        and ("alert" not in only or view.worst_alert == only["alert"])
    ]
    return listed(rows)


def _rank(alert: object) -> int:
    from procedures.planner import ALERT_LEVELS

    return ALERT_LEVELS.index(alert) if alert else -1  # type: ignore[arg-type]


def _shown(decision: str, s: object, kind: str) -> tuple[object, ...]:
    return (
        decision,
        s.step,  # type: ignore[attr-defined]
        s.status,  # type: ignore[attr-defined]
        s.attempt,  # type: ignore[attr-defined]
        kind,
        s.due_on,  # type: ignore[attr-defined]
        s.due_basis,  # type: ignore[attr-defined]
        s.provisional,  # type: ignore[attr-defined]
        s.alert,  # type: ignore[attr-defined]
        s.overdue_working_days,  # type: ignore[attr-defined]
    )


def check_index(cmds: Commands, as_of: date) -> int:
    """The rows kept equal those of every decision's plan, and a rebuild gives them again."""
    with cmds.unit(write=False) as uow:
        decisions = uow.decisions.many(uow.decisions.ids())
        procs = cmds.pinned(uow, decisions, plannable_only=True)
        cal = uow.calendar()
        kept = [tuple(r) for r in ROWS.rows(uow.link)]
    planned = sorted(
        tuple(row[c] for c in COLUMNS)
        for d, view in plan_all(decisions, as_of, cal, procs)
        for row in rows_for(d, view)
    )
    assert _norm(kept) == _norm(planned)
    return len(kept)


def check_rebuild(cmds: Commands) -> None:
    """What revision 0010 writes for an existing home is the index the commands kept."""
    with UnitOfWork(cmds.db) as uow:
        kept = [tuple(r) for r in ROWS.rows(uow.link)]
        WIPE.run(uow.link)
        rebuild(uow.link)
        again = [tuple(r) for r in ROWS.rows(uow.link)]
        uow.commit()
    assert kept and _norm(again) == _norm(kept)


def _norm(rows: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    return sorted(
        tuple(str(v) if isinstance(v, date) else int(v) if isinstance(v, bool) else v for v in r)
        for r in rows
    )


def act(rng: random.Random, cmds: Commands, decision: str, day: date, files: Path) -> None:
    """One random action on the decision (refusals are fine)."""
    d, view = cmds.status(decision, day)
    if rng.random() < 0.06:
        unit = rng.choice((ASSESSOR, EXPERTS, UNITS[2]))
        role = "expert" if unit == EXPERTS else "risk_assessor"
        held = unit in d.assignments.get(role, ())
        cmds.amend(decision, actor="办公室", reason="调整指定单位", on=day,
                   **({"unassign": [f"{role}={unit}"]} if held else {"assign": [f"{role}={unit}"]}))  # fmt: skip
        return
    live = [s for s in view.steps if s.status in ("ready", "open")]
    if not live:
        return
    step = rng.choice(live)
    proc = cmds.procedure_of(d)
    spec = proc.step(step.step)
    assert spec is not None
    if step.status == "ready":
        earlier = any(a.step == step.step and a.number < step.attempt for a in d.attempts)
        if spec.reusable and earlier and rng.random() < 0.5:
            cmds.reuse(decision, step.step, actor="经办人", reason="前次结果仍然适用", on=day)
        else:
            cmds.start(decision, step.step, actor="经办人", on=day)
        return
    kind = rng.choices(["complete", "extend", "skip"], weights=[8, 1, 1])[0]
    if kind == "extend":
        cmds.extend(decision, step.step, actor="经办人", reason="情况复杂", on=day)
        return
    if kind == "skip":
        cmds.skip(decision, step.step, actor="经办人", reason="已另行评估", on=day)
        return
    passing = [o for o in spec.outcomes if o.passing]
    outcome = rng.choice(passing if rng.random() < 0.7 and passing else list(spec.outcomes))
    kinds = set(spec.documents) | set(outcome.requires_documents)
    cmds.complete(
        decision,
        step.step,
        actor="经办人",
        on=day,
        outcome=outcome.id,
        attachments=[Attachment(k, files / f"{k}.txt") for k in sorted(kinds)],
        meeting=meeting(outcome.id) if spec.requires_meeting_record else None,
        next_meeting_on=day + timedelta(days=rng.randint(3, 20)),
    )


def live_through(cmds: Commands, root: Path, rng: random.Random, until: date) -> None:
    files = root / "files"
    files.mkdir()
    for proc_id in PRESETS:
        for kind in load_procedure(proc_id).documents:
            (files / f"{kind.id}.txt").write_text(f"{kind.id} 材料", encoding="utf-8")
    day_off = root / "local.toml"
    day_off.write_text(
        'year = 2025\nkind = "local"\nsource = "区政府通知（测试）"\n'
        'holidays = ["2025-03-12", "2025-04-08"]\n',
        encoding="utf-8",
    )
    decisions: list[str] = []
    day = date(2025, 1, 2)
    rows_seen = 0
    while day < until:
        if rng.random() < 0.12 or not decisions:
            sponsor = rng.choice(UNITS)
            others = [u for u in UNITS if u != sponsor and rng.random() < 0.3]
            assign = [f"risk_assessor={ASSESSOR}"] if rng.random() < 0.4 else []
            assign += [f"expert={EXPERTS}"] if rng.random() < 0.3 else []
            flags = {f for f in ("technical", "stability_risk") if rng.random() < 0.5}
            if rng.random() < 0.2:
                flags.add("undisclosable")
            decisions.append(
                cmds.register(
                    title=f"决策{len(decisions) + 1}",
                    procedure_id=rng.choice(PRESETS),
                    sponsor=sponsor,
                    co_sponsors=others,
                    assign=assign,
                    actor="办公室",
                    on=day,
                    flags=flags,
                    target_on=day + timedelta(days=rng.randint(20, 200))
                    if rng.random() < 0.5
                    else None,
                ).id
            )
        if day == date(2025, 2, 20):
            import_schedule(cmds, day_off, "办公室")  # dates recomputed: set_dates
        if day == date(2025, 3, 3) and len(decisions) > 1:
            with contextlib.suppress(DecideError):  # an audited migration to another preset
                migrate_procedure(cmds, [decisions[0]], all_open=False, to="tianjin-2020",
                                  reason="适用天津规定", actor="办公室")  # fmt: skip
        for decision in decisions:
            if rng.random() < 0.25:
                with contextlib.suppress(DecideError):  # refusals are part of a history
                    act(rng, cmds, decision, day, files)
        if rng.random() < 0.2:
            rows_seen = max(rows_seen, check_index(cmds, day))
            for as_of in (day, day + timedelta(days=9)):
                plans = planned(cmds, as_of)
                for who in CALLERS[::3]:  # the decision list: status, current steps, worst alert
                    for only in ({}, {"step": "legality_review"}, {"alert": "overdue"}):
                        got = listed(find_decisions(cmds, who, as_of, limit=200, **only)[0])
                        assert got == reference_list(plans, who, **only), (who.name, only)
                for who in CALLERS:
                    for limit in (3, 50):
                        got = [
                            _shown(i.decision.id, i.step, i.action)
                            for i in inbox(cmds, who, as_of, limit=limit)
                        ]
                        assert got == reference(plans, who, as_of, limit), (who.name, as_of, limit)
        day += timedelta(days=1)
    assert rows_seen > 10  # the index was really exercised
    check_rebuild(cmds)


@settings(
    max_examples=2,
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),  # a history is too slow to shrink
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(seed=st.integers(0, 2**32 - 1))
def test_the_index_and_the_inbox_equal_what_planning_gives(seed, tmp_path_factory):
    root = tmp_path_factory.mktemp("todo")
    cmds = fresh(root)
    try:
        live_through(cmds, root, random.Random(seed), date(2025, 4, 20))
    finally:
        cmds.db.close()


@pytest.mark.postgres
def test_the_same_on_postgresql(db, database_url, tmp_path):
    if not database_url.startswith("postgresql"):
        pytest.skip("the SQLite half runs above, over many histories")
    cmds = Commands(db, tmp_path / "home", clock=lambda: CLOCK)
    live_through(cmds, tmp_path, random.Random(20261201), date(2025, 3, 20))


def test_an_existing_home_gets_its_index_at_the_upgrade(db, database_url, tmp_path):
    """Revision 0010 fills the index of the decisions already there (what a home upgraded
    from 0009 has): the rows the commands would have written, and the inbox reads them."""
    from alembic import command
    from alembic.config import Config

    from store.db import MIGRATIONS

    cmds = Commands(db, tmp_path / "home", clock=lambda: CLOCK)
    for i, sponsor in enumerate(UNITS):
        d = cmds.register(title=f"决策{i}", procedure_id=PRESETS[i], sponsor=sponsor,
                          actor="办公室", on=date(2025, 3, 3), assign=[f"expert={EXPERTS}"])  # fmt: skip
        cmds.start(d.id, "drafting", actor="经办人", on=date(2025, 3, 4))
    with cmds.unit(write=False) as uow:
        kept = _norm([tuple(r) for r in ROWS.rows(uow.link)])
    db.close()
    engine = make_engine(database_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    for target in ("0009", "head"):  # back to a home without the index, then the upgrade
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            (command.downgrade if target == "0009" else command.upgrade)(config, target)
    engine.dispose()
    with cmds.unit(write=False) as uow:
        assert _norm([tuple(r) for r in ROWS.rows(uow.link)]) == kept and len(kept) == 9
    items = inbox(cmds, caller(UNITS[1], "sponsor"), date(2025, 3, 5))
    assert [(i.decision.sponsor, i.step.step, i.action) for i in items] == [
        (UNITS[1], "drafting", "complete")
    ]
