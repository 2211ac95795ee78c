"""The decision page's timeline picture (``web.timeline.svg``) drawn from rows, over the
official calendar: month labels that never overlap, the span of a closed decision, days off and
调休 working days marked, a return on a row of its own."""

from __future__ import annotations

import itertools
import re
from datetime import date

from procedures import WorkCalendar
from web.timeline import MONTH_LABEL, Row, svg

CAL = WorkCalendar.official()


def row(label: str, opened: date, closed: date | None, outcome: str | None = None) -> Row:
    return Row(label, opened, closed, None, None, outcome, None, False)


def month_labels(picture: str) -> list[tuple[float, str]]:
    return [
        (float(x), text)
        for x, text in re.findall(
            r'<text class="month" x="([\d.]+)" y="24">([^<]+)</text>', picture
        )
    ]


def test_month_labels_never_overlap_however_long_the_span():
    for months in (2, 8, 20, 40, 90):
        closed = date(2025 + (3 + months) // 12, (3 + months) % 12 + 1, 1)
        picture = svg([row("拟订决策草案 #1", date(2025, 3, 3), closed)], CAL, date(2026, 12, 2))
        labels = month_labels(picture)
        assert labels, months
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(labels)]
        assert all(g >= MONTH_LABEL for g in gaps), (months, labels)
        assert all(x + MONTH_LABEL <= 960 for x, _ in labels), (months, labels)  # none cut off
    # a short span labels every month
    short = svg([row("公众参与 #1", date(2025, 9, 1), date(2025, 11, 10))], CAL, date(2025, 11, 20))
    assert [t for _, t in month_labels(short)] == ["2025-09", "2025-10", "2025-11"]


def test_a_closed_decision_is_drawn_to_its_last_date_and_an_open_one_to_today():
    closed = svg(
        [row("决策公布 #1", date(2025, 12, 22), date(2025, 12, 31))], CAL, date(2026, 12, 2)
    )
    assert "2026-12-02" not in closed and 'class="today"' not in closed
    assert "2025-12-22 – 2026-01-01" in closed  # the span in the picture's title
    still_open = svg([row("公众参与 #1", date(2025, 9, 1), None)], CAL, date(2025, 10, 20))
    assert 'class="today"' in still_open and "as of 2025-10-20" in still_open


def test_days_off_and_makeup_working_days_are_marked_and_a_return_has_its_own_row():
    rows = [
        row("合法性审查 #1", date(2025, 9, 22), date(2025, 10, 14), "unlawful"),
        row("合法性审查 #2", date(2025, 10, 20), date(2025, 10, 24), "lawful"),
    ]
    picture = svg(rows, CAL, date(2025, 10, 30))
    assert "2025-10-01 休息日" in picture  # 国庆节 (official calendar)
    assert "2025-09-28 调休上班" in picture  # a Sunday made a working day (调休)
    assert "2025-10-11 调休上班" in picture
    assert "2025-10-13 休息日" not in picture
    assert picture.count('class="bar returned"') == 1 and picture.count('class="bar closed"') == 1
