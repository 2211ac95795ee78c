"""The decision list as an Excel workbook (openpyxl), with the same filters as the page."""

from __future__ import annotations

from datetime import date
from io import BytesIO
from typing import Any

from openpyxl import Workbook

from app.accounts import Identity
from app.commands import Commands

__all__ = ["MAX_ROWS", "decisions_workbook"]

MAX_ROWS = 20_000
HEADER = (
    "编号 id",
    "标题 title",
    "承办单位 sponsor",
    "状态 status",
    "当前步骤 current steps",
    "最高提醒 worst alert",
    "目录年度 catalogue year",
    "登记日期 registered",
    "目标日期 target",
)


def decisions_workbook(
    cmds: Commands, who: Identity, as_of: date, filters: dict[str, Any]
) -> bytes:
    from app.inbox import MAX_PAGE, find_decisions

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "决策事项"
    sheet.append(HEADER)
    cursor: str | None = None
    rows = 0
    while rows < MAX_ROWS:
        page, cursor = find_decisions(cmds, who, as_of, cursor=cursor, limit=MAX_PAGE, **filters)
        for d, view in page:
            sheet.append(
                (
                    d.id,
                    d.title,
                    d.sponsor,
                    view.status,
                    ", ".join(f"{s.zh} {s.step} ({s.status})" for s in view.current),
                    view.worst_alert or "",
                    d.catalogue_year,
                    d.registered_on,
                    d.target_on,
                )
            )
            rows += 1
        if cursor is None:
            break
    sheet.freeze_panes = "A2"
    for col, width in zip("ABCDEFGHI", (16, 40, 20, 12, 40, 12, 10, 12, 12), strict=True):
        sheet.column_dimensions[col].width = width
    out = BytesIO()
    book.save(out)
    return out.getvalue()
