"""Tests of procedures.calendar against the real chinesecalendar data (no mocks)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import chinese_calendar  # type: ignore[import-untyped]
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from procedures.calendar import Dated, Schedule, WorkCalendar, load_schedule, parse_schedule
from procedures.errors import CalendarError

CAL = WorkCalendar.official()
D = date.fromisoformat

SCHEDULE_2027 = """\
year = 2027
kind = "official"
source = "国务院办公厅关于2027年部分节假日安排的通知"
holidays = ["2027-01-01", "2027-02-06..2027-02-13"]   # 春节
workdays = ["2027-02-14"]                              # Sunday, 调休
"""


def _write(tmp_path: Path, text: str, name: str = "schedule.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


# --- SPEC §3 examples ------------------------------------------------------------------------


@pytest.mark.parametrize("day", [f"2025-10-0{i}" for i in range(1, 9)])
def test_national_day_2025_holidays(day: str) -> None:
    assert not CAL.is_working_day(D(day))


@pytest.mark.parametrize("day", [f"2026-02-{i}" for i in range(15, 24)])
def test_spring_festival_2026_holidays(day: str) -> None:
    assert not CAL.is_working_day(D(day))


@pytest.mark.parametrize("day", ["2025-09-28", "2025-10-11", "2026-02-14", "2026-02-28"])
def test_make_up_weekend_days_are_working(day: str) -> None:
    assert D(day).weekday() >= 5
    assert CAL.is_working_day(D(day))


def test_seven_working_days_after_friday_before_national_day() -> None:
    # After Fri 09-26: 09-28 (Sun, 调休), 09-29, 09-30, 10-09, 10-10, 10-11 (Sat, 调休), 10-13.
    expected = [
        "2025-09-28",
        "2025-09-29",
        "2025-09-30",
        "2025-10-09",
        "2025-10-10",
        "2025-10-11",
        "2025-10-13",
    ]
    start = D("2025-09-26")
    got = [CAL.add_working_days(start, n).on for n in range(1, 8)]
    assert got == [D(x) for x in expected]
    assert CAL.add_working_days(start, 7) == Dated(D("2025-10-13"), False)
    # chinesecalendar's own find_workday counts the start as index 0 and agrees.
    assert chinese_calendar.find_workday(7, start) == D("2025-10-13")


def test_start_day_not_counted() -> None:
    monday = D("2025-06-09")
    assert CAL.is_working_day(monday)
    assert CAL.add_working_days(monday, 1).on == D("2025-06-10")
    assert CAL.add_calendar_days(monday, 1).on == D("2025-06-10")
    assert CAL.working_days_between(monday, monday) == 0


def test_zero_working_days() -> None:
    assert CAL.add_working_days(D("2025-06-09"), 0).on == D("2025-06-09")
    assert CAL.add_working_days(D("2025-10-01"), 0).on == D("2025-10-09")
    with pytest.raises(ValueError):
        CAL.add_working_days(D("2025-06-09"), -1)
    with pytest.raises(ValueError):
        CAL.add_calendar_days(D("2025-06-09"), -1)


def test_calendar_period_ending_on_holiday_rolls_forward() -> None:
    assert D("2025-09-01") + timedelta(days=30) == D("2025-10-01")
    assert CAL.add_calendar_days(D("2025-09-01"), 30) == Dated(D("2025-10-09"), False)
    # ending on an ordinary working day: no roll
    assert CAL.add_calendar_days(D("2025-09-01"), 29).on == D("2025-09-30")
    # ending on a make-up Saturday: it is a working day, no roll
    assert CAL.add_calendar_days(D("2025-10-01"), 10).on == D("2025-10-11")


def test_next_working_day() -> None:
    assert CAL.next_working_day(D("2026-02-15")) == D("2026-02-24")
    assert CAL.next_working_day(D("2026-02-14")) == D("2026-02-14")


def test_working_days_between() -> None:
    assert CAL.working_days_between(D("2025-09-26"), D("2025-10-13")) == 7
    assert CAL.working_days_between(D("2025-10-13"), D("2025-09-26")) == -7
    assert CAL.working_days_between(D("2025-09-30"), D("2025-10-08")) == 0


# --- provisional years and schedules ----------------------------------------------------------


def test_covered_years_derived_from_data() -> None:
    years = {d.year for d in chinese_calendar.constants.holidays}
    assert set(range(min(years), max(years) + 1)) == CAL.covered_years
    assert {2004, 2025, 2026} <= CAL.covered_years
    assert CAL.is_provisional_year(2027) and not CAL.is_provisional_year(2026)
    assert CAL.schedules() == ()


def test_provisional_year_2027_keeps_the_statutory_holidays() -> None:
    """《全国年节及纪念日放假办法》 (国务院令第795号) fixes the holidays years ahead: 2027-01-01 is a
    holiday whatever the notice says (SPEC §3); only the 调休 arrangement is unknown."""
    assert not CAL.is_working_day(D("2027-01-01"))  # 元旦, a Friday
    assert not CAL.is_working_day(D("2027-01-02"))
    # 春节 2027: 除夕 02-05 to 初三 02-08, the weekend days given back on 02-09 and 02-10
    assert not any(CAL.is_working_day(D(f"2027-02-{d:02d}")) for d in range(5, 11))
    assert CAL.is_working_day(D("2027-02-11"))
    # 国庆 2027-10-01..03 (Fri-Sun), the weekend days given back on 10-04 and 10-05
    assert [CAL.is_working_day(D(f"2027-10-0{d}")) for d in range(1, 7)] == [False] * 5 + [True]
    assert CAL.add_working_days(D("2027-01-04"), 5) == Dated(D("2027-01-11"), True)
    # a span from 2026 into 2027 is provisional; one inside 2026 is not
    assert CAL.add_working_days(D("2026-12-28"), 5) == Dated(D("2027-01-05"), True)
    assert CAL.add_working_days(D("2026-12-01"), 5).provisional is False
    assert CAL.is_provisional_span(D("2026-12-01"), D("2027-01-04"))
    assert CAL.is_provisional_span(D("2027-01-04"), D("2026-12-01"))
    assert not CAL.is_provisional_span(D("2025-01-01"), D("2026-12-31"))


def test_a_minimum_over_a_provisional_national_day_ends_after_the_holidays() -> None:
    """Decree 713 Art. 15: 30 days from 2027-09-01 end 10-01, a holiday; Civil Code Art. 203 by
    analogy moves the end to the next working day, which the statutory holidays put on 10-06 —
    weekends alone would have said 10-01, too early for a minimum."""
    assert CAL.add_calendar_days(D("2027-09-01"), 30) == Dated(D("2027-10-06"), True)
    assert WorkCalendar.weekends_only().add_calendar_days(D("2027-09-01"), 30).on == D("2027-10-01")


def test_weekends_only_calendar() -> None:
    cal = WorkCalendar.weekends_only()
    assert cal.covered_years == frozenset()
    assert cal.is_working_day(D("2025-10-01"))  # a Wednesday, no holiday data
    assert not cal.is_working_day(D("2025-09-28"))  # a Sunday, no make-up data
    assert cal.add_working_days(D("2025-09-26"), 7) == Dated(D("2025-10-07"), True)


def test_official_2027_schedule_file(tmp_path: Path) -> None:
    sched = load_schedule(_write(tmp_path, SCHEDULE_2027))
    assert sched.kind == "official" and sched.year == 2027
    assert len(sched.holidays) == 9 and sched.workdays == (D("2027-02-14"),)
    cal = WorkCalendar.official([sched])
    assert 2027 in cal.covered_years and cal.schedules() == (sched,)
    assert not cal.is_working_day(D("2027-01-01"))
    assert cal.is_working_day(D("2027-02-14"))  # Sunday 调休
    # 2026-12-31 (Thu) + 1 working day: 2027-01-04 provisionally before the import (the
    # statutory 元旦), the same date no longer provisional after it
    assert CAL.add_working_days(D("2026-12-31"), 1) == Dated(D("2027-01-04"), True)
    assert cal.add_working_days(D("2026-12-31"), 1) == Dated(D("2027-01-04"), False)
    assert cal.add_working_days(D("2027-02-05"), 1) == Dated(D("2027-02-14"), False)
    assert cal.add_working_days(D("2027-12-31"), 1).provisional  # 2028 still uncovered


def test_official_schedule_replaces_year() -> None:
    sched = Schedule(year=2025, kind="official", source="test", holidays=(D("2025-06-10"),))
    cal = WorkCalendar.official([sched])
    assert not cal.is_working_day(D("2025-06-10"))
    assert cal.is_working_day(D("2025-10-01"))  # old 2025 holidays replaced
    assert not cal.is_working_day(D("2025-09-28"))  # old make-up day replaced
    assert CAL.is_working_day(D("2025-06-10"))  # the shared default calendar is untouched


def test_local_day_off(tmp_path: Path) -> None:
    text = 'year = 2025\nkind = "local"\nsource = "某市人民政府通知"\nholidays = ["2025-06-10"]\n'
    cal = WorkCalendar.official([load_schedule(_write(tmp_path, text))])
    assert cal.covered_years == CAL.covered_years
    assert CAL.add_working_days(D("2025-06-09"), 1).on == D("2025-06-10")
    assert cal.add_working_days(D("2025-06-09"), 1).on == D("2025-06-11")
    assert cal.add_calendar_days(D("2025-06-09"), 1).on == D("2025-06-11")
    # in an uncovered year a local day off applies and the result stays provisional
    text27 = text.replace("2025", "2027").replace("06-10", "01-05")
    cal27 = WorkCalendar.official([parse_schedule(text27, source_name="local27.toml")])
    assert cal27.add_working_days(D("2027-01-04"), 1) == Dated(D("2027-01-06"), True)
    assert not cal27.covered_years & {2027}


def test_native_toml_dates_accepted() -> None:
    text = 'year = 2027\nkind = "local"\nsource = "x"\nholidays = [2027-03-01]\n'
    assert parse_schedule(text, source_name="n.toml").holidays == (D("2027-03-01"),)


HEAD = 'year = 2027\nkind = "official"\nsource = "x"\n'


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (HEAD + 'holidays = ["2027-02-30"]\n', "2027-02-30"),
        (HEAD + 'holidays = ["tomorrow"]\n', "tomorrow"),
        (HEAD + 'holidays = ["2026-12-31"]\n', "not in year 2027"),
        (HEAD + 'holidays = ["2027-01-05..2027-01-01"]\n', "range starts after it ends"),
        (HEAD + 'holidays = ["2027-12-30..2028-01-02"]\n', "not in year 2027"),
        (
            HEAD + 'holidays = ["2027-02-06..2027-02-14"]\nworkdays = ["2027-02-14"]\n',
            "2027-02-14 is both a holiday and a workday",
        ),
        (
            HEAD.replace("official", "local") + 'workdays = ["2027-02-14"]\n',
            "local schedule may only list days off",
        ),
        (HEAD + 'holidays = ["2027-01-01"\n', "not valid TOML"),
        (HEAD + 'holiday = ["2027-01-01"]\n', "unknown key 'holiday'"),
        (HEAD.replace("2027", '"2027"'), "'year' must be an integer"),
        (HEAD.replace("official", "national"), "'kind'"),
        (HEAD.replace('"x"', '""'), "'source'"),
        (HEAD + 'holidays = "2027-01-01"\n', "must be a list"),
        (HEAD.replace("2027", "2200"), "outside the supported range"),
    ],
)
def test_malformed_schedule_files(tmp_path: Path, text: str, needle: str) -> None:
    path = _write(tmp_path, text, "bad.toml")
    with pytest.raises(CalendarError) as err:
        load_schedule(path)
    assert "bad.toml" in str(err.value)
    assert needle in str(err.value)


def test_unreadable_schedule_file(tmp_path: Path) -> None:
    with pytest.raises(CalendarError, match="cannot read"):
        load_schedule(tmp_path / "missing.toml")
    p = tmp_path / "latin1.toml"
    p.write_bytes(b'source = "\xe9"\n')
    with pytest.raises(CalendarError, match="cannot read"):
        load_schedule(p)


def test_schedule_model_validates() -> None:
    with pytest.raises(CalendarError, match="not in year"):
        Schedule(year=2027, kind="official", source="x", holidays=(D("2026-01-01"),))
    with pytest.raises(CalendarError, match="local"):
        Schedule(year=2027, kind="local", source="x", workdays=(D("2027-01-02"),))
    with pytest.raises(CalendarError, match="both"):
        Schedule(
            year=2027,
            kind="official",
            source="x",
            holidays=(D("2027-01-02"),),
            workdays=(D("2027-01-02"),),
        )


def test_out_of_range_dates() -> None:
    for call in (
        lambda: CAL.is_working_day(D("1949-12-31")),
        lambda: CAL.add_working_days(D("2151-01-01"), 1),
        lambda: CAL.add_working_days(D("2150-12-30"), 5),
        lambda: CAL.add_calendar_days(D("2150-12-01"), 60),
        lambda: CAL.working_days_between(D("2025-01-01"), D("2200-01-01")),
        lambda: CAL.next_working_day(D("1900-01-01")),
    ):
        with pytest.raises(CalendarError, match="2150-12-31"):
            call()
    assert CAL.is_working_day(D("1950-01-02")) and CAL.is_working_day(D("2150-12-31"))


def test_immutable() -> None:
    with pytest.raises(AttributeError):
        CAL._work = []
    assert WorkCalendar.official() is CAL  # built once and shared


# --- properties -------------------------------------------------------------------------------

days = st.dates(min_value=D("2004-01-01"), max_value=D("2027-12-31"))
counts = st.integers(min_value=0, max_value=60)


@given(days, counts)
def test_end_is_working_day(start: date, n: int) -> None:
    end = CAL.add_working_days(start, n)
    assert CAL.is_working_day(end.on)
    assert end.on > start or (n == 0 and end.on == start)
    assert end.provisional == CAL.is_provisional_span(start, end.on)


@given(days, days, counts)
def test_monotonic(a: date, b: date, n: int) -> None:
    a, b = min(a, b), max(a, b)
    assert CAL.add_working_days(a, n).on <= CAL.add_working_days(b, n).on
    assert CAL.add_calendar_days(a, n).on <= CAL.add_calendar_days(b, n).on


@given(days, st.integers(min_value=1, max_value=60))
def test_between_inverts_add(start: date, n: int) -> None:
    end = CAL.add_working_days(start, n).on
    assert CAL.working_days_between(start, end) == n
    assert CAL.working_days_between(end, start) == -n
    assert CAL.working_days_between(start, end - timedelta(days=1)) == n - 1


@given(days, st.integers(min_value=0, max_value=400))
def test_calendar_days_rolls_to_first_working_day(start: date, n: int) -> None:
    plain = start + timedelta(days=n)
    end = CAL.add_calendar_days(start, n).on
    assert end >= plain and CAL.is_working_day(end)
    d = plain
    while d < end:
        assert not CAL.is_working_day(d)
        d += timedelta(days=1)


@settings(max_examples=500)
@given(st.dates(min_value=D("2004-01-01"), max_value=D("2026-12-31")))
def test_matches_chinese_calendar(d: date) -> None:
    assert CAL.is_working_day(d) == chinese_calendar.is_workday(d)
    assert CAL.add_working_days(d, 0).on == chinese_calendar.find_workday(0, d)


def test_matches_chinese_calendar_exhaustively() -> None:
    d, end = D("2004-01-01"), D("2026-12-31")
    while d <= end:
        assert CAL.is_working_day(d) == chinese_calendar.is_workday(d), d
        d += timedelta(days=1)
