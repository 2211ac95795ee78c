"""The only place that reads the clock: recording time (UTC) and today in Asia/Shanghai."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

__all__ = ["SHANGHAI", "today_shanghai", "utc_now"]

SHANGHAI = ZoneInfo("Asia/Shanghai")


def utc_now() -> datetime:
    return datetime.now(UTC)


def today_shanghai(now: datetime | None = None) -> date:
    return (now or utc_now()).astimezone(SHANGHAI).date()
