"""The shipped statutory holidays (procedures/statutory-holidays.toml) are what the ``holidays``
package computes, and agree with the official schedules where those exist (SPEC §3)."""

from __future__ import annotations

import chinese_calendar
import pytest

from procedures.statutory import STATUTORY_FILE, generate, statutory_days


def test_the_shipped_file_is_what_the_package_computes() -> None:
    pytest.importorskip("holidays", reason="the holidays package is a test dependency")
    shipped = STATUTORY_FILE.read_text(encoding="utf-8")
    fresh = generate()
    # the header names the package version; the dates must be the same
    assert shipped.split("[years]")[1] == fresh.split("[years]")[1], (
        "regenerate with: .venv/bin/python -m procedures.statutory"
    )


@pytest.mark.parametrize("year", range(2015, 2027))
def test_statutory_holidays_are_days_off_in_every_official_year(year: int) -> None:
    """Each holiday the law fixes is a day off in the State Council's schedule of that year
    (the given-back days may be placed elsewhere by the notice, so they are not compared)."""
    official = {d for d in chinese_calendar.constants.holidays if d.year == year}
    text = STATUTORY_FILE.read_text(encoding="utf-8")
    line = next(ln for ln in text.splitlines() if ln.startswith(f"{year} = "))
    holidays = line.split("observed")[0]
    named = {d for d in statutory_days()[year] if str(d) in holidays}
    assert named and named <= official, sorted(named - official)


def test_every_year_ahead_has_the_thirteen_statutory_days() -> None:
    """国务院令第795号 (in force 2025-01-01): 13 days of holidays of all citizens a year (when 中秋
    falls within 国庆 the days coincide)."""
    text = STATUTORY_FILE.read_text(encoding="utf-8")
    for year in range(2027, 2101):
        line = next(ln for ln in text.splitlines() if ln.startswith(f"{year} = "))
        count = line.split("observed")[0].count('"')
        assert count // 2 in (12, 13), (year, count // 2)
