"""Benchmark of procedures.calendar: ``.venv/bin/python bench/calendar.py [rounds] [calls]``.

Measures the build time of ``WorkCalendar.official()`` and the median call rates of
``add_working_days`` (target: >= 200,000/s), ``add_calendar_days`` and ``working_days_between``
over seeded random dates 2004-01-01..2027-12-31 with n in 1..40.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Running this file puts bench/ first on sys.path, where this very file would shadow the stdlib
# ``calendar`` module; drop bench/ and put the repository root there instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import os  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from datetime import date  # noqa: E402

TARGET = 200_000


def _rate(label: str, fn: Callable[[], None], calls: int, rounds: int) -> float:
    rates = []
    for r in range(rounds):
        t = time.perf_counter()
        fn()
        rate = calls / (time.perf_counter() - t)
        rates.append(rate)
        print(f"  {label} round {r + 1}: {rate:,.0f}/s")
    median = statistics.median(rates)
    print(f"{label}: median {median:,.0f} calls/s over {rounds} rounds of {calls:,}")
    return median


def main(rounds: int = 7, calls: int = 200_000) -> int:
    from procedures.calendar import WorkCalendar, _build

    print(
        f"machine: {platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()} ({platform.python_implementation()})"
    )
    _build.cache_clear()
    t = time.perf_counter()
    cal = WorkCalendar.official()
    print(f"build WorkCalendar.official(): {(time.perf_counter() - t) * 1000:.1f} ms")

    rng = random.Random(20250926)
    lo, hi = date(2004, 1, 1).toordinal(), date(2027, 12, 31).toordinal()
    starts = [date.fromordinal(rng.randint(lo, hi)) for _ in range(calls)]
    ends = [date.fromordinal(rng.randint(lo, hi)) for _ in range(calls)]
    ns = [rng.randint(1, 40) for _ in range(calls)]
    pairs = list(zip(starts, ns, strict=True))
    spans = list(zip(starts, ends, strict=True))

    def working() -> None:
        f = cal.add_working_days
        for s, n in pairs:
            f(s, n)

    def calendar_days() -> None:
        f = cal.add_calendar_days
        for s, n in pairs:
            f(s, n)

    def between() -> None:
        f = cal.working_days_between
        for a, b in spans:
            f(a, b)

    median = _rate("add_working_days", working, calls, rounds)
    _rate("add_calendar_days", calendar_days, calls, rounds)
    _rate("working_days_between", between, calls, rounds)
    ok = median >= TARGET
    print(f"add_working_days median {median:,.0f}/s: {'OK' if ok else 'BELOW'} target {TARGET:,}/s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(*(int(a) for a in sys.argv[1:3])))
