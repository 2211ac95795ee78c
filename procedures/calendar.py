"""Working-day calendar for counting statutory periods.

Periods are counted as the Civil Code prescribes:

* Art. 201 — the day a period starts is not counted; counting begins the next day.
* Art. 203 — if the last day of a period is not a working day, the period ends on the next
  working day.

Working days follow the official State Council holiday schedule as carried by the
``chinesecalendar`` package: weekends and statutory holidays are days off, and the weekend
make-up days (调休) **are** working days. A year without an official schedule still has its
statutory holidays (fixed by 《全国年节及纪念日放假办法》, see :mod:`procedures.statutory`): the
calendar takes those and the weekends, leaves the 调休 arrangement unknown, and flags every result
touching such a year *provisional* (SPEC §3).
An office can load the next year's schedule itself (``kind = "official"``) or add local extra
days off (``kind = "local"``) from a small TOML file, see :func:`parse_schedule`.

Everything here is pure: no clock, no I/O except :func:`load_schedule`. A :class:`WorkCalendar`
is immutable and indexes every working day of the supported range (1950-2150) once, so queries
are a ``bisect`` away.
"""

from __future__ import annotations

import tomllib
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from datetime import date
from functools import lru_cache
from itertools import compress
from pathlib import Path
from typing import Any, Literal, NamedTuple

from chinese_calendar import constants as _cc  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from procedures.errors import CalendarError, InputError
from procedures.statutory import statutory_days

__all__ = ["Dated", "Schedule", "WorkCalendar", "load_schedule", "parse_schedule"]

MIN_DATE = date(1950, 1, 1)
MAX_DATE = date(2150, 12, 31)
_LO, _HI = MIN_DATE.toordinal(), MAX_DATE.toordinal()
_FIELDS = {"year", "kind", "source", "holidays", "workdays"}


class Dated(NamedTuple):
    on: date
    provisional: bool  # True if computed (partly) in a year with no official schedule


class Schedule(BaseModel):
    """One year's official schedule, or a set of local extra days off."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    year: int
    kind: Literal["official", "local"]
    source: str
    holidays: tuple[date, ...] = ()
    workdays: tuple[date, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Schedule:
        if not MIN_DATE.year <= self.year <= MAX_DATE.year:
            raise CalendarError(
                f"{self.source}: year {self.year} outside the supported range "
                f"{MIN_DATE.year}-{MAX_DATE.year}"
            )
        for d in (*self.holidays, *self.workdays):
            if d.year != self.year:
                raise CalendarError(f"{self.source}: {d} is not in year {self.year}")
        if self.kind == "local" and self.workdays:
            raise CalendarError(
                f"{self.source}: a local schedule may only list days off, not workdays"
            )
        both = sorted(set(self.holidays) & set(self.workdays))
        if both:
            raise CalendarError(f"{self.source}: {both[0]} is both a holiday and a workday")
        return self


def load_schedule(path: str | Path) -> Schedule:
    """Read and validate a schedule TOML file."""
    from procedures.files import read_text

    try:
        text = read_text(Path(path), what="a schedule file")
    except InputError as e:
        raise CalendarError(f"{path}: cannot read schedule file: {e}") from None
    return parse_schedule(text, source_name=str(path))


def _parse_day(raw: Any, where: str, year: int) -> date:
    if type(raw) is date:  # a TOML native local date
        d = raw
    else:
        try:
            if not isinstance(raw, str) or len(raw.strip()) != 10:
                raise ValueError
            d = date.fromisoformat(raw.strip())
        except ValueError:
            raise CalendarError(f"{where}: not a date (expected YYYY-MM-DD)") from None
    if d.year != year:
        raise CalendarError(f"{where}: {d} is not in year {year}")
    return d


def _parse_days(value: Any, key: str, name: str, year: int) -> set[date]:
    if not isinstance(value, list):
        raise CalendarError(f"{name}: {key} must be a list of dates or 'a..b' ranges")
    out: set[date] = set()
    for raw in value:
        where = f"{name}: {key} entry {str(raw)!r}"
        if isinstance(raw, str) and ".." in raw:
            a_raw, _, b_raw = raw.partition("..")
            a, b = _parse_day(a_raw, where, year), _parse_day(b_raw, where, year)
            if a > b:
                raise CalendarError(f"{where}: range starts after it ends")
            out.update(date.fromordinal(o) for o in range(a.toordinal(), b.toordinal() + 1))
        else:
            out.add(_parse_day(raw, where, year))
    return out


def parse_schedule(text: str, *, source_name: str) -> Schedule:
    """Parse a schedule in TOML; every error is a :class:`CalendarError` naming ``source_name``.

    ``holidays`` / ``workdays`` list dates ``"2027-01-01"`` or inclusive ranges
    ``"2027-02-06..2027-02-13"``; all must lie in ``year``.
    """
    name = source_name
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise CalendarError(f"{name}: not valid TOML: {e}") from e
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise CalendarError(f"{name}: unknown key {unknown[0]!r} (allowed: {sorted(_FIELDS)})")
    year, kind, source = data.get("year"), data.get("kind"), data.get("source")
    if type(year) is not int:
        raise CalendarError(f"{name}: 'year' must be an integer, got {year!r}")
    if kind not in ("official", "local"):
        raise CalendarError(f'{name}: \'kind\' must be "official" or "local", got {kind!r}')
    if not isinstance(source, str) or not source.strip():
        raise CalendarError(f"{name}: 'source' must name the notice the days come from")
    holidays = _parse_days(data.get("holidays", []), "holidays", name, year)
    workdays = _parse_days(data.get("workdays", []), "workdays", name, year)
    try:  # the model checks the rest: year in range, local lists no workdays, no overlap
        return Schedule(
            year=year,
            kind=kind,
            source=source.strip(),
            holidays=tuple(sorted(holidays)),
            workdays=tuple(sorted(workdays)),
        )
    except (CalendarError, ValidationError) as e:
        raise CalendarError(f"{name}: {e}") from e


def _check(d: date) -> int:
    o = d.toordinal()
    if not _LO <= o <= _HI:
        raise CalendarError(f"date {d} outside the supported range {MIN_DATE}..{MAX_DATE}")
    return o


class WorkCalendar:
    """Immutable. Build once, share."""

    __slots__ = ("_covered", "_flags", "_prefix", "_schedules", "_work")
    _covered: frozenset[int]  # years with official data
    _flags: bytes  # 1 per working day, indexed by ordinal - _LO
    _prefix: list[int]  # prefix[i]: uncovered years among the first i supported years
    _schedules: tuple[Schedule, ...]
    _work: list[int]  # sorted ordinals of every working day in the supported range

    def __init__(
        self,
        holidays: Iterable[date],
        workdays: Iterable[date],
        covered: Iterable[int],
        schedules: tuple[Schedule, ...],
    ) -> None:
        n = _HI - _LO + 1
        week = bytes(1 if (_LO + i + 6) % 7 < 5 else 0 for i in range(7))
        flags = bytearray((week * (n // 7 + 1))[:n])
        for d in holidays:
            if _LO <= d.toordinal() <= _HI:
                flags[d.toordinal() - _LO] = 0
        for d in workdays:
            if _LO <= d.toordinal() <= _HI:
                flags[d.toordinal() - _LO] = 1
        cov = frozenset(y for y in covered if MIN_DATE.year <= y <= MAX_DATE.year)
        prefix = [0]
        for y in range(MIN_DATE.year, MAX_DATE.year + 1):
            prefix.append(prefix[-1] + (y not in cov))
        setter = object.__setattr__
        setter(self, "_flags", bytes(flags))
        setter(self, "_work", list(compress(range(_LO, _HI + 1), flags)))
        setter(self, "_covered", cov)
        setter(self, "_prefix", prefix)
        setter(self, "_schedules", schedules)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("WorkCalendar is immutable")

    def __repr__(self) -> str:
        years = sorted(self._covered)
        span = f"{years[0]}-{years[-1]}" if years else "none"
        return f"WorkCalendar(covered={span}, schedules={len(self._schedules)})"

    @classmethod
    def official(cls, schedules: Iterable[Schedule] = ()) -> WorkCalendar:
        """The national calendar from ``chinesecalendar``, then ``schedules`` applied in order.

        An official schedule replaces its year's special days (the last one for a year wins) and
        marks the year covered; local days off are added on top of everything, whatever the order.
        """
        return _build(tuple(schedules), official=True)

    @classmethod
    def weekends_only(cls, schedules: Iterable[Schedule] = ()) -> WorkCalendar:
        """No official data and no statutory holidays: every year provisional, weekends only
        (for tests and what-ifs)."""
        return _build(tuple(schedules), official=False)

    @property
    def covered_years(self) -> frozenset[int]:
        return self._covered

    def schedules(self) -> tuple[Schedule, ...]:
        return self._schedules

    def is_provisional_year(self, year: int) -> bool:
        return year not in self._covered

    def is_provisional_span(self, a: date, b: date) -> bool:
        lo, hi = (a.year, b.year) if a <= b else (b.year, a.year)
        if lo < MIN_DATE.year or hi > MAX_DATE.year:
            return True
        p = self._prefix
        return p[hi - MIN_DATE.year + 1] - p[lo - MIN_DATE.year] > 0

    def is_working_day(self, d: date) -> bool:
        return self._flags[_check(d) - _LO] == 1

    def next_working_day(self, d: date) -> date:
        """``d`` itself if it is a working day, else the first working day after it."""
        o = _check(d)
        if self._flags[o - _LO]:
            return d
        i = bisect_left(self._work, o)
        if i >= len(self._work):
            raise CalendarError(f"no working day after {d} within the supported range")
        return date.fromordinal(self._work[i])

    def _dated(self, start: date, o: int) -> Dated:
        end = date.fromordinal(o)
        p, y0 = self._prefix, MIN_DATE.year
        return Dated(end, p[end.year - y0 + 1] - p[start.year - y0] > 0)

    def add_working_days(self, start: date, n: int) -> Dated:
        """The ``n``-th working day after ``start`` (``start`` itself is never counted).

        ``n == 0`` gives ``start`` if it is a working day, else the next working day.
        """
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        o = _check(start)
        work = self._work
        i = bisect_right(work, o) + n - 1 if n else bisect_left(work, o)
        if i >= len(work):
            raise CalendarError(f"{start} + {n} working days falls after {MAX_DATE}")
        return self._dated(start, work[i])

    def add_calendar_days(self, start: date, n: int) -> Dated:
        """``start + n`` days, rolled forward to a working day (Civil Code Arts. 201, 203)."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        o = _check(start) + n
        if o > _HI:
            raise CalendarError(f"{start} + {n} days falls after {MAX_DATE}")
        if not self._flags[o - _LO]:
            i = bisect_left(self._work, o)
            if i >= len(self._work):
                raise CalendarError(f"{start} + {n} days falls after {MAX_DATE}")
            o = self._work[i]
        return self._dated(start, o)

    def working_days_between(self, a: date, b: date) -> int:
        """Working days ``d`` with ``a < d <= b``; minus the count over ``(b, a]`` if b < a."""
        oa, ob = _check(a), _check(b)
        return bisect_right(self._work, ob) - bisect_right(self._work, oa)


@lru_cache(maxsize=16)
def _build(schedules: tuple[Schedule, ...], *, official: bool) -> WorkCalendar:
    hol: dict[int, set[date]] = {}  # year -> official days off
    wrk: dict[int, set[date]] = {}  # year -> official make-up working days
    if official:
        base: dict[date, Any] = {**_cc.holidays, **_cc.workdays}
        years = range(min(base).year, max(base).year + 1)
        hol = {y: set() for y in years}
        wrk = {y: set() for y in years}
        for d in _cc.holidays:
            hol[d.year].add(d)
        for d in _cc.workdays:
            wrk[d.year].add(d)
    local: set[date] = set()
    for s in schedules:
        if s.kind == "official":
            hol[s.year], wrk[s.year] = set(s.holidays), set(s.workdays)
        else:
            local.update(s.holidays)
    # years no official data covers keep the holidays the law fixes (provisional: not covered)
    statutory = [days for y, days in statutory_days().items() if y not in hol] if official else []
    all_hol = set().union(*hol.values(), *statutory, local)
    all_wrk = set().union(*wrk.values()) - local  # a local day off wins over a make-up day
    return WorkCalendar(all_hol, all_wrk, hol.keys(), schedules)
