"""``overdue`` pages through the decisions in next-due order: any page is the head of the full
list, and the counts per level are those of the full list."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta

from app.commands import Commands
from app.queries import decisions_with_plans, overdue
from procedures.planner import ALERT_LEVELS

CLOCK = datetime(2026, 1, 10, tzinfo=UTC)
AS_OF = date(2025, 9, 1)


def test_a_page_is_the_head_of_the_full_list_and_the_counts_are_whole(db, tmp_path):
    cmds = Commands(db, tmp_path / "home", clock=lambda: CLOCK)
    rng = random.Random(7)
    for n in range(24):
        on = AS_OF - timedelta(days=rng.randint(40, 120))
        d = cmds.register(
            title=f"决策{n}",
            procedure_id=rng.choice(["national-2019", "tianjin-2020"]),
            sponsor=["区发改委", "区住建委"][n % 2],
            actor="办公室",
            on=on,
            target_on=AS_OF + timedelta(days=rng.randint(-30, 10)) if n % 3 else None,
        ).id
        if n % 4:
            cmds.start(d, "drafting", actor="办公室", on=on + timedelta(days=rng.randint(0, 15)))
    full = overdue(cmds, AS_OF)
    assert full.complete and len(full.items) > 15
    assert [i.level for i in full.items] == sorted(
        (i.level for i in full.items), key=lambda level: -ALERT_LEVELS.index(level)
    )
    assert {i.level for i in full.items} >= {"overdue", "escalated"}
    worst = {}
    for item in full.items:  # most urgent first: the first item of a decision is its worst
        worst.setdefault(item.decision, item.level)
    assert full.decisions == len(worst)
    assert full.by_level == {level: n for level, n in Counter(worst.values()).items()} and list(
        full.by_level
    ) == sorted(full.by_level, key=ALERT_LEVELS.index, reverse=True)
    for limit in range(1, len(full.items) + 2):
        page = overdue(cmds, AS_OF, limit=limit)
        assert page.items == full.items[:limit], limit
        assert page.complete == (limit >= len(full.items))
        assert (page.decisions, page.by_level) == (full.decisions, full.by_level)
    one = overdue(cmds, AS_OF, sponsor="区住建委")
    assert one.items == [i for i in full.items if int(i.title[2:]) % 2]
    assert one.decisions == len({i.decision for i in one.items}) < full.decisions
    assert overdue(cmds, AS_OF, sponsor="不存在的单位").items == []


def test_the_list_counts_every_decision_and_plans_only_the_page(db, tmp_path):
    cmds = Commands(db, tmp_path / "home", clock=lambda: CLOCK)
    ids = [
        cmds.register(
            title=f"决策{n}",
            procedure_id="national-2019",
            sponsor=["区发改委", "区住建委"][n % 2],
            actor="办公室",
            on=date(2025, 3, 3),
        ).id
        for n in range(5)
    ]
    total, rows = decisions_with_plans(cmds, AS_OF, open_only=True, limit=2)
    assert total == 5 and [d.id for d, _ in rows] == ids[:2]
    assert all(v.status == "in_progress" for _, v in rows)
    total, rows = decisions_with_plans(cmds, AS_OF, open_only=True, sponsor="区住建委")
    assert total == 2 and [d.id for d, _ in rows] == [ids[1], ids[3]]
