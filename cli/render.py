"""What people see: Rich tables with Chinese labels and the English ids beside them; and the
``--json`` documents (English ids, dates as YYYY-MM-DD) built from the same data."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from typing import Any

from rich.console import Console
from rich.markup import escape

__all__ = [
    "Console",
    "alert_text",
    "console",
    "decision_json",
    "dump",
    "escape",
    "list_table",
    "outcome_label",
    "procedure_table",
    "status_table",
    "step_json",
]
from rich.table import Table

from procedures import Procedure
from procedures.planner import (
    ALERT_LABELS,
    DECISION_STATUS_LABELS,
    DUE_BASIS_LABELS,
    STATUS_LABELS,
    Plan,
    StepView,
)
from procedures.state import Decision

ALERT_STYLE = {
    "due_soon": "yellow",
    "due_today": "bold yellow",
    "overdue": "red",
    "escalated": "bold white on red",
}
STATUS_STYLE = {
    "done": "green",
    "open": "cyan",
    "ready": "bold",
    "paused": "magenta",
    "skipped": "dim",
    "waiting": "dim",
}


def console() -> Console:
    """A console for tables: when output is not a terminal (a pipe, a file, CI), use a width
    that fits the status table instead of Rich's 80-column default."""
    con = Console(highlight=False, soft_wrap=False)
    if not con.is_terminal and "COLUMNS" not in __import__("os").environ:
        con = Console(highlight=False, soft_wrap=False, width=160)
    return con


def dump(doc: Any) -> str:
    return json.dumps(doc, ensure_ascii=False, indent=2, default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, frozenset | set | tuple):
        return sorted(value)
    raise TypeError(type(value).__name__)


def alert_text(level: str | None) -> str:
    if not level:
        return ""
    return f"[{ALERT_STYLE[level]}]{ALERT_LABELS[level]} {level}[/]"


def outcome_label(proc: Procedure, step: str, outcome: str | None) -> str:
    if not outcome:
        return ""
    s = proc.step(step)
    o = s.outcome(outcome) if s else None
    return f"{o.zh} {outcome}" if o else outcome


def step_json(s: StepView) -> dict[str, Any]:
    return {
        "step": s.step,
        "status": s.status,
        "attempt": s.attempt,
        "opened_on": s.opened_on,
        "earliest_close_on": s.earliest_close_on,
        "due_on": s.due_on,
        "due_basis": s.due_basis,
        "closed_on": s.closed_on,
        "outcome": s.outcome,
        "provisional": s.provisional,
        "alert": s.alert,
        "overdue_working_days": s.overdue_working_days,
        "shortened": s.shortened,
        "reason": s.reason,
    }


def decision_json(d: Decision, view: Plan) -> dict[str, Any]:
    return {
        "id": d.id,
        "title": d.title,
        "procedure": d.procedure_id,
        "procedure_version": d.procedure_version,
        "flags": sorted(d.flags),
        "sponsor": d.sponsor,
        "target_on": d.target_on,
        "catalogue_year": d.catalogue_year,
        "registered_on": d.registered_on,
        "status": view.status,
        "version": d.version,
        "as_of": view.as_of,
        "target_alert": view.target_alert,
        "steps": [step_json(s) for s in view.steps],
    }


def status_table(d: Decision, view: Plan, proc: Procedure) -> Table:
    """The decision's steps; ``proc`` is the definition pinned to it (``Commands.procedure_of``)."""
    title = (
        f"{d.id} {escape(d.title)}\n{proc.zh} ({d.procedure_id}) · 承办单位 {escape(d.sponsor)} · "
        f"{DECISION_STATUS_LABELS[view.status]} {view.status} · 截至 as of {view.as_of}"
    )
    if d.target_on:
        title += f" · 目标日期 target {d.target_on} {alert_text(view.target_alert)}"
    table = Table(title=title, title_justify="left")
    table.add_column("步骤 step", overflow="fold")
    table.add_column("状态 status", overflow="fold")
    table.add_column("次 #", justify="right")
    for col in ("开始 opened", "最早结束 earliest", "到期 due", "完成 closed"):
        table.add_column(col, no_wrap=True)
    table.add_column("结果 outcome", overflow="fold")
    table.add_column("提醒 alert", overflow="fold")
    for s in view.steps:
        status = f"[{STATUS_STYLE[s.status]}]{STATUS_LABELS[s.status]} {s.status}[/]"
        due = str(s.due_on or "")
        if s.due_on and s.due_basis:
            due += f"\n[dim]{DUE_BASIS_LABELS[s.due_basis]}[/]"
        if s.provisional and s.due_on:
            due += " [yellow]暂定 provisional[/]"
        earliest = str(s.earliest_close_on or "")
        if s.shortened:
            earliest = "[yellow]已缩短 shortened[/]"
        late = f" +{s.overdue_working_days}wd" if s.overdue_working_days else ""
        number = str(s.attempt) if (s.attempt and s.reason is None) or s.opened_on else ""
        table.add_row(
            f"{s.zh} {s.step}",
            status,
            number,
            str(s.opened_on or ""),
            earliest,
            due,
            str(s.closed_on or ""),
            outcome_label(proc, s.step, s.outcome),
            alert_text(s.alert) + late,
        )
    return table


def procedure_table(proc: Procedure) -> Table:
    table = Table(
        title=f"{proc.zh} — {proc.id} v{proc.version}\n" + "\n".join(proc.sources),
        title_justify="left",
    )
    for col in (
        "#",
        "步骤 step",
        "办理角色 role",
        "前序 after",
        "何时需要 required",
        "最短期限 minimum",
        "办理期限 due",
        "结果 outcomes",
    ):
        table.add_column(col, overflow="fold")
    for i, step in enumerate(proc.steps, 1):
        role = proc.role(step.role)
        required = (
            "必经 always"
            if step.required.kind == "always"
            else (
                f"{'标记' if step.required.kind == 'when' else '未标记'} {step.required.flag} 时"
                f" {step.required.kind} {step.required.flag}"
            )
        )
        if step.hard_gate:
            required += "\n[bold]不得跳过 hard gate[/]"
        if step.skippable:
            required += "\n可说明理由跳过 skippable with reason"
        after = ", ".join(
            p.step + (":" + "|".join(p.outcomes) if p.outcomes else "") for p in step.after
        )
        table.add_row(
            str(i),
            f"{step.zh}\n{step.id}\n{step.article}",
            f"{role.zh if role else ''}\n{step.role}",
            after,
            required,
            _period(step.minimum),
            _period(step.due),
            "\n".join(f"{o.zh} {o.id}" for o in step.outcomes),
        )
    return table


def _period(period: Any) -> str:
    if period is None:
        return "—"
    text = f"{period.label}\n{period.basis.label}"
    if period.anchor != "opened":
        text += f"\n自 from {period.anchor}"
    if period.shortenable:
        text += "\n可说明理由缩短 shortenable with reason"
    if period.extension:
        text += f"\n可延长 +{period.extension.amount} ({period.extension.unit}) ×{period.extension.max_times}"
    return text


def list_table(rows: Sequence[tuple[Decision, Plan]], total: int, *, closed_too: bool) -> Table:
    which = "" if closed_too else " 件未归档 open (--all: archived too)"
    shown = "" if len(rows) == total else f"; showing the first {len(rows)} (--limit N)"
    table = Table(title=f"重大行政决策 decisions: {total:,}{which}{shown}", title_justify="left")
    for col in (
        "编号 id",
        "名称 title",
        "程序 procedure",
        "状态 status",
        "当前步骤 current",
        "最高提醒 worst alert",
    ):
        table.add_column(col, overflow="fold")
    for d, view in rows:
        current = ", ".join(f"{s.zh} {s.step} ({s.status})" for s in view.current)
        table.add_row(
            d.id,
            escape(d.title),
            d.procedure_id,
            f"{DECISION_STATUS_LABELS[view.status]} {view.status}",
            current,
            alert_text(view.worst_alert),
        )
    return table
