"""Deep verification of what the deadline scan and the to-do lists keep per decision, against
the audit chain (SPEC §4; ``app.replay`` calls these for each decision it replays):

- ``alerts`` — each level is raised once per step attempt, so a row decides that a level is
  never raised again: each row must have the ``alert`` event written with it in the same
  transaction, and each event its row (``alert_problems``).  A row alone would silence an
  escalation to the decision body (Decree 713 Art. 38).
- the scan's index in ``decisions`` (``next_due_on``, ``next_alert_on``: the scan and ``decide
  overdue`` read only the decisions these put in reach) — a cache, so it need not be exact, but
  it must never be later than the replayed plan makes it: a later date hides the decision from
  the scan, and its alerts would not be raised (``index_problems``).  The bound is the scan's
  own arithmetic (``app.alerts.due_items`` / ``level_dates``) over the replayed plan and the
  levels the events raised.
- the to-do index (``store.todo``: what each unit's to-do list reads) — derived exactly from the
  replayed decision and plan (``store.todo.rows_for``): a row removed would hide a step from
  the to-do lists of the units taking part; a row added or changed, show what is not so
  (``todo_problems``; who may act is still decided by ``app.permissions``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from typing import Any

from app.alerts import due_items, level_dates
from app.table_replay import EDITED, OR_CUT
from procedures.calendar import WorkCalendar
from procedures.planner import Plan
from procedures.state import Decision
from store.audit import Problem
from store.repository import NOTHING_DUE, next_due
from store.table_rows import AlertKey
from store.todo import rows_for

__all__ = ["alert_problems", "index_problems", "recorded_alerts", "todo_problems"]


def _raised(payload: str) -> AlertKey | None:
    try:
        data = json.loads(payload)
        return AlertKey(
            data["step"],
            data["attempt"],
            data["level"],
            date.fromisoformat(data["due_on"]),
            date.fromisoformat(data["first_reached_on"]),
        )
    except (ValueError, KeyError, TypeError):
        return None


def recorded_alerts(events: Iterable[tuple[int, str]]) -> tuple[dict[AlertKey, int], list[int]]:
    """The levels the ``alert`` events (seq, payload) raised, each with its event's seq, and
    the seqs of the events that are not readable as one."""
    found: dict[AlertKey, int] = {}
    unreadable: list[int] = []
    for seq, payload in events:
        key = _raised(payload)
        if key is None:
            unreadable.append(seq)
        else:
            found.setdefault(key, seq)
    return found, unreadable


def _level(decision_id: str, key: AlertKey) -> str:
    step = f"step {key.step} attempt {key.attempt}" if key.step else "the target date"
    return f"decision {decision_id}, {step}, level {key.level}, due {key.due_on}"


def alert_problems(
    decision_id: str,
    recorded: tuple[dict[AlertKey, int], list[int]],
    rows: Sequence[AlertKey],
) -> Iterator[Problem]:
    """A decision's ``alerts`` rows must be the levels its ``alert`` events raised
    (``recorded_alerts`` of them)."""
    raised, unreadable = recorded
    left = dict(raised)
    for seq in unreadable:
        yield Problem(seq, "alerts", f"告警 alert event {seq} is not readable")
    for row in rows:
        if left.pop(row, None) is None:
            yield Problem(
                None,
                "alerts",
                f"告警 alerts row ({_level(decision_id, row)}, first reached "
                f"{row.first_reached_on}) has no alert event: it was added {EDITED}{OR_CUT} "
                "— the deadline scan now takes that level as raised and never raises it",
            )
    for key, seq in left.items():
        yield Problem(
            seq,
            "alerts",
            f"告警 the alert raised by event {seq} ({_level(decision_id, key)}) has no alerts "
            f"row: it was removed {EDITED}",
        )


def index_problems(
    decision_id: str,
    view: Plan,
    registered_on: date,
    cal: WorkCalendar,
    raised: Iterable[AlertKey],
    stored: tuple[date | None, date | None],
) -> Iterator[Problem]:
    """The scan's index must not put the decision out of its reach: ``next_due_on`` no later
    than the plan's next due date, ``next_alert_on`` no later than the first day a level not
    yet raised is reached (NULL: not known, the scan plans the decision)."""
    next_due_on, next_alert_on = stored
    due = next_due(view)
    if next_due_on is not None and next_due_on > due:
        yield Problem(
            None,
            "index",
            f"决策 decision {decision_id}: decisions.next_due_on {next_due_on} is later than "
            f"its replayed plan's next due date {_day(due)}: the deadline scan and decide "
            f"overdue would not see it until then — the decisions table was {EDITED} (or "
            "written by a version that planned otherwise)",
        )
    if next_alert_on is None:
        return
    done = {(k.step, k.attempt, k.level, k.due_on) for k in raised}
    first = NOTHING_DUE
    pending = None
    for item in due_items(view, registered_on):
        for level, day in level_dates(cal, item.due_on, item.start).items():
            if day < item.start or (item.step, item.attempt, level, item.due_on) in done:
                continue
            if day < first:
                first, pending = day, (item, level)
    if next_alert_on > first and pending is not None:
        item, level = pending
        step = f"step {item.step} attempt {item.attempt}" if item.step else "the target date"
        yield Problem(
            None,
            "index",
            f"决策 decision {decision_id}: decisions.next_alert_on {next_alert_on} is later than "
            f"{first}, when {step} (due {item.due_on}) reaches level {level}, never raised: "
            f"the deadline scan would not raise it until then — the decisions table was "
            f"{EDITED} (or written by a version that planned otherwise)",
        )


def _day(day: date) -> str:
    return "none (nothing falls due)" if day == NOTHING_DUE else str(day)


def _todo_name(row: dict[str, Any]) -> str:
    unit = f"unit {row['unit']}" if row["unit"] else "every unit"
    return f"step {row['step']} ({row['status']}, attempt {row['attempt']}) for {unit}"


def todo_problems(
    decision: Decision, view: Plan, stored: Sequence[dict[str, Any]]
) -> Iterator[Problem]:
    """The decision's to-do index rows must be those its replayed plan gives."""
    want = {(r["step"], r["unit"]): r for r in rows_for(decision, view)}
    have = {(r["step"], r["unit"]): r for r in stored}
    where = f"待办 to-do index (todo) of decision {decision.id}"
    for key in sorted(want.keys() - have.keys()):
        yield Problem(
            None,
            "todo",
            f"{where}: {_todo_name(want[key])} is missing: the step is hidden from the to-do "
            f"lists — the todo table was {EDITED} (or written by a version that planned "
            "otherwise)",
        )
    for key in sorted(have.keys() - want.keys()):
        yield Problem(
            None,
            "todo",
            f"{where}: {_todo_name(have[key])} is not in the replayed plan — the todo table "
            f"was {EDITED}",
        )
    for key in sorted(want.keys() & have.keys()):
        a, b = have[key], want[key]
        differ = [f"{c} stored {a[c]!r}, planned {b[c]!r}" for c in b if a[c] != b[c]]
        if differ:
            yield Problem(
                None,
                "todo",
                f"{where}: {_todo_name(b)}: {'; '.join(differ)} — the todo table was {EDITED} "
                "(or written by a version that planned otherwise)",
            )
