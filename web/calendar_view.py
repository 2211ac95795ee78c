"""The calendar page's data: a year's official days off, its 调休 working days, and whether the
year is provisional (no official schedule: statutory holidays and weekends only, SPEC §3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from procedures import WorkCalendar

__all__ = ["YearView", "year_view"]


@dataclass(frozen=True)
class YearView:
    year: int
    provisional: bool
    holidays: list[date]  # weekdays off (statutory holidays and local days off)
    makeup: list[date]  # weekends that are working days (调休)
    months: list[list[tuple[date, str]]]  # each month's days with their kind


def year_view(cal: WorkCalendar, year: int) -> YearView:
    holidays: list[date] = []
    makeup: list[date] = []
    months: list[list[tuple[date, str]]] = [[] for _ in range(12)]
    d = date(year, 1, 1)
    while d.year == year:
        weekend = d.weekday() >= 5
        working = cal.is_working_day(d)
        kind = "work"
        if not working and not weekend:
            kind = "holiday"
            holidays.append(d)
        elif not working:
            kind = "off"
        elif weekend:
            kind = "makeup"
            makeup.append(d)
        months[d.month - 1].append((d, kind))
        d += timedelta(days=1)
    return YearView(year, cal.is_provisional_year(year), holidays, makeup, months)
