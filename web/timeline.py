"""The decision's timeline picture: one row per attempt (opened → earliest close → due →
closed), days off shaded, 调休 working days marked, a return's new attempt on a row of its own.
Inline SVG drawn here from the plan, so the page needs no script and no chart library."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from html import escape

from procedures import Plan, WorkCalendar
from procedures.state import Decision

__all__ = ["Row", "rows_of", "svg"]

WIDTH, LABEL, ROW, HEAD = 960, 190, 26, 34
MAX_DAYS = 800  # beyond this the days off are not shaded one by one
MONTH_LABEL = 56  # a "2025-03" at the picture's 12 px, and a gap: labels closer would overlap


@dataclass(frozen=True)
class Row:
    label: str
    opened: date
    closed: date | None
    earliest: date | None
    due: date | None
    outcome: str | None
    reused_from: int | None
    provisional: bool


def rows_of(decision: Decision, view: Plan) -> list[Row]:
    names = {s.step: s.zh for s in view.steps}
    current = {(s.step, s.attempt): s for s in view.steps}
    rows: list[Row] = []
    for a in decision.attempts:
        if a.opened_on is None and a.reused_from is None:
            continue
        s = current.get((a.step, a.number))
        opened = a.opened_on or a.closed_on
        if opened is None:
            continue
        rows.append(
            Row(
                label=f"{names.get(a.step, a.step)} #{a.number}",
                opened=opened,
                closed=a.closed_on,
                earliest=s.earliest_close_on if s else None,
                due=s.due_on if s else None,
                outcome=a.outcome,
                reused_from=a.reused_from,
                provisional=bool(s and s.provisional),
            )
        )
    return rows


def _span(rows: Sequence[Row], as_of: date) -> tuple[date, date]:
    """The days drawn: from the first opening to the last date shown, today included while an
    attempt is still open (a closed decision's picture does not stretch to today)."""
    days = [r.opened for r in rows]
    days += [d for r in rows for d in (r.closed, r.earliest, r.due) if d]
    if any(r.closed is None for r in rows):
        days.append(as_of)
    return min(days), max(days) + timedelta(days=1)


def _label_every(month_width: float) -> int:
    """Label every Nth month (N dividing a year, then whole years) so labels never overlap."""
    for every in (1, 2, 3, 6, 12):
        if every * month_width >= MONTH_LABEL:
            return every
    return 12 * math.ceil(MONTH_LABEL / max(12 * month_width, 1e-9))


def svg(rows: list[Row], cal: WorkCalendar, as_of: date) -> str:
    """The picture, or an empty string when nothing has opened yet."""
    return _svg(tuple(rows), cal, as_of)


@lru_cache(maxsize=128)
def _svg(rows: tuple[Row, ...], cal: WorkCalendar, as_of: date) -> str:
    """Drawn once per rows, calendar (one object per set of schedules) and day: a page read
    again and again draws it once (the days off are shaded day by day)."""
    if not rows:
        return ""
    lo, hi = _span(rows, as_of)
    n = max((hi - lo).days, 1)
    scale = (WIDTH - LABEL - 10) / n
    height = HEAD + ROW * len(rows) + 30

    def x(d: date) -> float:
        return LABEL + (d - lo).days * scale

    out = [
        f'<svg class="timeline" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="时间轴 timeline {lo} – {hi}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>时间轴 timeline {lo} – {hi}</title>",
    ]
    if n <= MAX_DAYS:
        for i in range(n):
            d = lo + timedelta(days=i)
            weekend = d.weekday() >= 5
            working = cal.is_working_day(d)
            if not working:
                kind = "off" if weekend else "holiday"
                out.append(
                    f'<rect class="{kind}" x="{x(d):.1f}" y="{HEAD - 4}" width="{scale:.2f}" '
                    f'height="{ROW * len(rows) + 4}"><title>{d} 休息日</title></rect>'
                )
            elif weekend:  # a weekend made a working day (调休)
                out.append(
                    f'<rect class="makeup" x="{x(d):.1f}" y="{HEAD - 4}" width="{scale:.2f}" '
                    f'height="{ROW * len(rows) + 4}"><title>{d} 调休上班</title></rect>'
                )
    every = _label_every(30.44 * scale)
    month = date(lo.year, lo.month, 1)
    while month < hi:
        if month >= lo:
            out.append(
                f'<line class="grid" x1="{x(month):.1f}" x2="{x(month):.1f}" y1="14" '
                f'y2="{HEAD + ROW * len(rows)}"/>'
            )
            if (month.year * 12 + month.month - 1) % every == 0 and x(month) + MONTH_LABEL <= WIDTH:
                out.append(
                    f'<text class="month" x="{x(month) + 2:.1f}" y="24">{month:%Y-%m}</text>'
                )
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    for i, r in enumerate(rows):
        y = HEAD + i * ROW
        end = r.closed or as_of
        kind = "reused" if r.reused_from else ("closed" if r.closed else "open")
        if r.outcome in ("unlawful", "revise", "rejected", "incomplete"):
            kind = "returned"
        label = r.label + (f" (沿用 #{r.reused_from})" if r.reused_from else "")
        out.append(f'<text class="label" x="4" y="{y + 16}">{escape(label)}</text>')
        out.append(
            f'<rect class="bar {kind}" x="{x(r.opened):.1f}" y="{y + 5}" '
            f'width="{max((end - r.opened).days * scale, 3):.1f}" height="14" rx="3">'
            f"<title>{escape(label)}: {r.opened} → {r.closed or '进行中 open'}"
            f"{' ' + escape(r.outcome) if r.outcome else ''}</title></rect>"
        )
        for mark_on, cls, name in ((r.earliest, "earliest", "最早结束"), (r.due, "due", "期限")):
            if mark_on is not None:
                d = mark_on
                mark = "?" if r.provisional else ""
                out.append(
                    f'<path class="mark {cls}" d="M{x(d):.1f} {y + 2} l5 -0 l-5 20 l-5 -20 z">'
                    f"<title>{name} {cls} {d}{mark}</title></path>"
                )
    if lo <= as_of < hi:
        today = x(as_of)
        out.append(
            f'<line class="today" x1="{today:.1f}" x2="{today:.1f}" y1="{HEAD - 6}" '
            f'y2="{HEAD + ROW * len(rows)}"><title>今日 as of {as_of}</title></line>'
        )
    legend_y = HEAD + ROW * len(rows) + 20
    legend = [
        ("open", "进行中"),
        ("closed", "已完成"),
        ("returned", "退回"),
        ("reused", "沿用"),
        ("holiday", "法定假日"),
        ("makeup", "调休上班"),
    ]
    for j, (cls, text) in enumerate(legend):
        lx = 4 + j * 120
        out.append(
            f'<rect class="bar {cls} legend" x="{lx}" y="{legend_y - 10}" width="12" height="12"/>'
            f'<text class="legend" x="{lx + 16}" y="{legend_y}">{text}</text>'
        )
    out.append("</svg>")
    return "".join(out)
