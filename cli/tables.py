"""The Rich tables people read, laid out for the width they are read at.

Each table is a renderable that picks its layout when printed: at 120 columns or more it shows
everything; below that it drops or shortens dates (MM-DD within the year of the view, the opened
column gone) before it ever splits an identifier: id columns never wrap, and a Chinese name and
its English id sit on two lines of one cell.  A pipe or a file gets the wide layout (the console
is 160 columns there unless COLUMNS says otherwise).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date
from typing import Any

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.markup import escape
from rich.table import Table

from app.shapes import ACTION_LABELS
from cli.render import ALERT_STYLE, alert_text, outcome_label
from procedures import Procedure
from procedures.model import COUNTING
from procedures.planner import (
    ALERT_LABELS,
    DECISION_STATUS_LABELS,
    DUE_BASIS_LABELS,
    STATUS_LABELS,
    Plan,
    StepView,
)
from procedures.state import Decision

__all__ = [
    "WIDE",
    "audit_table",
    "list_table",
    "overdue_table",
    "procedure_table",
    "status_table",
]

WIDE = 120  # from this many columns on, every column is shown in full
STATUS_STYLE = {
    "done": "green",
    "open": "cyan",
    "ready": "bold",
    "paused": "magenta",
    "skipped": "dim",
    "waiting": "dim",
}
# short Chinese labels for narrow screens (the English id always follows)
SHORT_STATUS = {
    "waiting": "等待",
    "ready": "可开始",
    "open": "办理中",
    "paused": "暂停",
    "done": "已完成",
    "skipped": "已跳过",
}
SHORT_ALERT = {
    "due_soon": "将到期",
    "due_today": "今日到期",
    "overdue": "逾期",
    "escalated": "升级",
}
SHORT_BASIS = {
    "statute": "法定",
    "local_rule": "地方",
    "office_policy": "政策",
    "meeting": "会议",
    "target": "目标",
    "analogy": "参照",
}
# what the short basis labels stand for (a policy figure must never pass for a statutory one)
LEGEND = (
    "政策 = 办公室政策 office policy (非法定 not statute) · 法定 statute · 地方 local rule · "
    "会议 meeting · 目标 target · 暂定 provisional · #N attempt N · MM-DD = {year}"
)
LEGEND_WIDE = (
    "政策 = 办公室政策 office policy (非法定 not statute) · 法定 statute · 地方 地方规定 local rule · "
    "会议 set by the meeting · 目标 catalogue target · 暂定 provisional (no official calendar yet) "
    "· #N attempt N"
)


_SHORT_DATES = ("最早\nmin", "到期\ndue", "完成\ndone")


class _ByWidth:
    """A table built when it is printed, for the width it is printed at."""

    def __init__(self, build: Callable[[bool], Table]) -> None:
        self.build = build

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.build(options.max_width >= WIDE)


def _day(d: date | None, year: int, wide: bool) -> str:
    """A date in full, or MM-DD when narrow and in ``year`` (another year keeps its year)."""
    if d is None:
        return ""
    return d.isoformat() if wide or d.year != year else d.strftime("%m-%d")


def _alert(level: str | None, wide: bool) -> str:
    if not level or wide:
        return alert_text(level)
    return alert_text(level).replace(ALERT_LABELS[level], SHORT_ALERT[level])


def _two(zh: str, id_: str) -> str:
    return f"{zh}\n{id_}"


# -- status --------------------------------------------------------------------------------------
def status_table(d: Decision, view: Plan, proc: Procedure) -> RenderableType:
    """Every step of a decision as of the view's date (``proc``: the decision's procedure)."""
    return _ByWidth(lambda wide: _status(d, view, proc, wide))


def _status_title(d: Decision, view: Plan, proc: Procedure) -> str:
    sponsors = escape(d.sponsor) + (
        f"（协办 {escape('、'.join(d.co_sponsors))}）" if d.co_sponsors else ""
    )
    title = (
        f"{d.id} {escape(d.title)}\n{proc.zh} ({d.procedure_id}) · 承办单位 {sponsors} · "
        f"{DECISION_STATUS_LABELS[view.status]} {view.status} · 截至 as of {view.as_of}"
    )
    if d.target_on:
        title += f" · 目标日期 target {d.target_on} {alert_text(view.target_alert)}"
    return title


def _status(d: Decision, view: Plan, proc: Procedure, wide: bool) -> Table:
    table = Table(
        title=_status_title(d, view, proc),
        title_justify="left",
        show_edge=wide,
        caption=LEGEND.format(year=view.as_of.year) if not wide else LEGEND_WIDE,
        caption_justify="left",
    )
    table.add_column("步骤 step", no_wrap=True)
    table.add_column("状态 status", no_wrap=True)
    if wide:
        table.add_column("开始\nopened", no_wrap=True)
    dates = ("最早结束\nearliest", "到期 due", "完成\nclosed") if wide else _SHORT_DATES
    for col in dates:
        table.add_column(col, no_wrap=True)
    table.add_column("结果\noutcome", overflow="fold")
    for s in view.steps:
        table.add_row(*_status_row(s, proc, view.as_of.year, wide))
    return table


def _status_row(s: StepView, proc: Procedure, year: int, wide: bool) -> list[str]:
    """One step: its names (and attempt, from the second on), where it stands with its alert
    (a short label, the lateness, the id), its dates, its outcome."""
    number = s.attempt if (s.attempt and s.reason is None) or s.opened_on else 0
    label = STATUS_LABELS[s.status] if wide else SHORT_STATUS[s.status]
    status = f"[{STATUS_STYLE[s.status]}]{_two(label, s.status)}[/]"
    if s.package_missing:  # ready, but the Art. 29 package is not complete
        status += f"\n[yellow]材料不齐\n缺{len(s.package_missing)}项[/]"
    if s.alert:
        late = f" +{s.overdue_working_days}wd" if s.overdue_working_days else ""
        status += f"\n[{ALERT_STYLE[s.alert]}]{SHORT_ALERT[s.alert]}{late}\n{s.alert}[/]"
    due = _day(s.due_on, year, wide)
    if s.due_on and s.due_basis:
        due += f"\n[dim]{SHORT_BASIS[s.due_basis]}[/]"
    if s.provisional and s.due_on:
        due += "\n[yellow]暂定[/]"
    earliest = _day(s.earliest_close_on, year, wide)
    if s.guaranteed_until:  # binds the submitter (Art. 26): the reviewer may close sooner
        earliest = f"保证审查至\n{_day(s.guaranteed_until, year, wide)}"
        if wide:
            earliest = f"保证审查时间至\nguaranteed until\n{_day(s.guaranteed_until, year, wide)}"
    if s.shortened:
        earliest = "[yellow]已缩短\nshortened[/]"
        if s.respond_by and s.guaranteed_until:
            earliest += f"\n答复 respond {_day(s.respond_by, year, wide)}"
        elif s.earliest_close_on:  # a shortened comment window still runs its course
            earliest += f"\n{_day(s.earliest_close_on, year, wide)}"
    if s.comment_until and s.status == "open":  # the deadline the notice published (Art. 15)
        earliest = f"征求意见至\n{_day(s.comment_until, year, wide)}\n{earliest}"
    if s.minimum_basis and (s.earliest_close_on or s.guaranteed_until) and not s.reused_from:
        earliest += f"\n[dim]{SHORT_BASIS[s.minimum_basis]}[/]"
    if s.reused_from:
        earliest = f"沿用#{s.reused_from}\nreused"
    closed = _day(s.closed_on, year, wide)
    if s.close_provisional:
        closed += "\n[yellow]暂定 provisional[/]"
    step = _two(f"{s.zh} #{number}" if number > 1 else s.zh, s.step)
    row = [step, status] + ([_day(s.opened_on, year, wide)] if wide else [])
    outcome = outcome_label(proc, s.step, s.outcome).replace(" ", "\n", 1)
    return [*row, earliest, due, closed, outcome]


# -- list and alerts -------------------------------------------------------------------------
def list_table(
    rows: Sequence[tuple[Decision, Plan]],
    total: int,
    *,
    closed_too: bool,
    procs: Mapping[str, Procedure],
) -> RenderableType:
    """The decision list; ``procs`` maps each decision id to its procedure."""
    return _ByWidth(lambda wide: _list(rows, total, closed_too, procs, wide))


def _list(
    rows: Sequence[tuple[Decision, Plan]],
    total: int,
    closed_too: bool,
    procs: Mapping[str, Procedure],
    wide: bool,
) -> Table:
    which = "" if closed_too else " 件未归档 open (--all: archived too)"
    shown = "" if len(rows) == total else f"; showing the first {len(rows)} (--limit N)"
    table = Table(title=f"重大行政决策 decisions: {total:,}{which}{shown}", title_justify="left")
    table.add_column("编号 id", no_wrap=True)
    table.add_column("名称 title", ratio=1, min_width=12, overflow="fold")
    if wide:
        table.add_column("程序 procedure", no_wrap=True)
    table.add_column("状态 status", no_wrap=True)
    table.add_column("当前步骤 current", no_wrap=True)
    table.add_column("提醒\nalert", no_wrap=True)
    for d, view in rows:
        current = "\n".join(f"{s.zh} ({SHORT_STATUS[s.status]})\n{s.step}" for s in view.current)
        cells = [d.id, escape(d.title)]
        if wide:
            proc = procs.get(d.id)
            cells.append(
                f"{d.procedure_id}\n[dim]v{proc.version if proc else d.procedure_version}[/]"
            )
        status = DECISION_STATUS_LABELS[view.status]
        level = view.worst_alert
        alert = f"[{ALERT_STYLE[level]}]{_two(SHORT_ALERT[level], level)}[/]" if level else ""
        cells += [_two(status, view.status), current, alert]
        table.add_row(*cells)
    return table


def overdue_table(title: str, items: Sequence[Any]) -> RenderableType:
    """The alerts of ``decide overdue``, most urgent first."""
    return _ByWidth(lambda wide: _overdue(title, items, wide))


def _overdue(title: str, items: Sequence[Any], wide: bool) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("决策 decision", min_width=10, ratio=1, overflow="fold")
    table.add_column("步骤 step", no_wrap=True)
    table.add_column("提醒 level", no_wrap=True)
    table.add_column("到期 due", no_wrap=True)
    table.add_column("逾期工作日\noverdue wd" if wide else "逾期\nwd", justify="right")
    for i in items:
        due = i.due_on.isoformat() if i.due_on else ""
        if i.provisional:
            due += "\n暂定 provisional" if wide else "\n暂定"
        if i.due_basis:
            due += "\n" + (DUE_BASIS_LABELS[i.due_basis] if wide else SHORT_BASIS[i.due_basis])
        level = f"[{ALERT_STYLE[i.level]}]{_two(SHORT_ALERT[i.level], i.level)}[/]"
        table.add_row(
            f"{i.decision}\n{escape(i.title)}",
            _two(i.zh, i.step or "target"),
            level,
            due,
            str(i.overdue_working_days or ""),
        )
    return table


# -- audit -----------------------------------------------------------------------------------
AUDIT_KEYS = (
    "step",
    "outcome",
    "title",
    "reason",
    "shorten_reason",
    "respond_by",
    "guaranteed_until",
    "shortened",
    "provisional",
    "note",
    "status",
    "attempt",
)


def audit_table(decision: str, events: Sequence[Any]) -> RenderableType:
    """A decision's audit timeline (recording time and full hashes only when wide)."""
    return _ByWidth(lambda wide: _audit(decision, events, wide))


def _audit(decision: str, events: Sequence[Any], wide: bool) -> Table:
    table = Table(title=f"审计记录 audit timeline {decision} ({len(events)})", title_justify="left")
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("生效日期\neffective", no_wrap=True)
    if wide:
        table.add_column("记录时间 recorded (UTC)", no_wrap=True)
    table.add_column("操作 action" if wide else "操作\naction", no_wrap=True)
    table.add_column(
        "人员 actor" if wide else "人员\nactor",
        ratio=1,
        overflow="fold",
        max_width=None if wide else 12,  # names fold; the data column keeps ids whole
    )
    table.add_column("内容 data", ratio=2, min_width=22, overflow="fold")
    table.add_column("哈希 hash" if wide else "哈希\nhash", no_wrap=True)
    for e in events:
        data = json.loads(e.payload)
        summary = "\n".join(f"{k}: {v}" for k, v in data.items() if k in AUDIT_KEYS)
        cells = [str(e.seq), str(e.effective_on)]
        if wide:
            cells.append(e.recorded_at[:19])
        action = ACTION_LABELS.get(e.action, e.action).replace(" ", "\n", 1)
        hash_ = e.hash[:12] if wide else e.hash[:8]
        cells += [action, escape(e.actor), escape(summary), hash_]
        table.add_row(*cells)
    return table


# -- a procedure ------------------------------------------------------------------------------
def procedure_table(proc: Procedure) -> RenderableType:
    """A procedure's steps, periods (statutory with the article, or office policy), outcomes."""
    return _ByWidth(lambda wide: _procedure(proc, wide))


def _procedure(proc: Procedure, wide: bool) -> Table:
    table = Table(
        title=f"{proc.zh} — {proc.id} v{proc.version}\n" + "\n".join(proc.sources),
        title_justify="left",
        show_lines=True,
        caption=_package_caption(proc),
        caption_justify="left",
    )
    table.add_column(
        "步骤 step\n办理角色 role · 前序 after" + ("" if wide else "\n结果 outcomes"), no_wrap=True
    )
    if wide:
        table.add_column("何时需要 required", ratio=1, overflow="fold")
    table.add_column("期限 periods", ratio=1, overflow="fold")
    if wide:
        table.add_column("结果 outcomes", no_wrap=True)
    for i, step in enumerate(proc.steps, 1):
        role = proc.role(step.role)
        after = "".join(
            f"\n  {p.step}" + (f"\n    :{'|'.join(p.outcomes)}" if p.outcomes else "")
            for p in step.after
        )
        cell = (
            f"{i} {_fold(step.zh)}\n{step.id}\n[dim]{_fold(step.article, 22)}[/]\n"
            f"[dim]role[/] {_fold(role.zh if role else '', 10)}\n  {step.role}"
            + (f"\n[dim]after[/]{after}" if after else "")
        )
        periods = "\n".join(_periods(proc, step))
        outcomes = "\n".join(f"{_fold(o.zh, 10)}\n[dim]·[/] {o.id}" for o in step.outcomes)
        if wide:
            table.add_row(cell, _required(step), periods, outcomes)
        else:  # 80 columns: the outcomes under the step, the periods beside them
            periods = _required(step) + ("\n" + periods if periods else "")
            table.add_row(f"{cell}\n[dim]结果 outcomes[/]\n{outcomes}", periods)
    return table


def _fold(text: str, width: int = 12) -> str:
    """Long Chinese text in lines of at most ``width`` characters (a role such as
    决策承办单位或者负责风险评估工作的其他单位 would take the whole screen)."""
    if len(text) <= width:
        return text
    return "\n".join(text[i : i + width] for i in range(0, len(text), width))


def _package_caption(proc: Procedure) -> str:
    """The Art. 29 package and how periods are counted, under the steps."""
    lines = []
    if proc.package:
        lines.append(
            "提请集体讨论的材料 the submission package (Decree 713 Art. 29), each when its step ran:"
        )
        for rule in proc.package:
            kind = proc.document(rule.kind)
            when = f" — 标记 when {' / '.join(rule.when)}" if rule.when else ""
            lines.append(
                f"  {kind.zh if kind else rule.kind} {rule.kind} ({rule.article or '—'}){when}"
            )
    lines.append(f"期间计算 counting: {COUNTING}")
    return "\n".join(lines)


def _required(step: Any) -> str:
    req = step.required
    if req.kind == "always":
        text = "必经 always"
    else:
        text = f"{'标记' if req.kind == 'when' else '未标记'} {req.flag} 时 {req.kind} {req.flag}"
    if step.hard_gate:
        text += "\n[bold]不得跳过 hard gate[/]"
    if step.skippable:
        text += "\n可说明理由跳过 skippable with reason"
    if step.reusable:
        text += "\n退回后可说明理由沿用前次结果 reusable after a return, with a reason"
    if step.requires_package:
        text += "\n[bold]材料齐全方可开始 needs the Art. 29 package[/]"
    return text


def _periods(proc: Procedure, step: Any) -> Iterator[str]:
    if step.methods:
        names = "、".join(
            f"{m.zh} {m.id}" for mid in step.methods if (m := proc.method(mid)) is not None
        )
        yield f"方式 methods (Art. 14; default {step.methods[0]}): {names}"
        for mid in step.methods:
            m = proc.method(mid)
            if m is not None and m.materials_days:
                yield (
                    f"{m.zh} {m.id}: 材料于{m.materials_days}日前送达 materials ≥ "
                    f"{m.materials_days} days before ({m.materials_article or m.article})"
                )
    periods = (
        ("最短 minimum", step.minimum),
        ("保证审查时间 review time (binds the submitter)", step.review_time),
        ("办理 due", step.due),
    )
    for name, period in periods:
        if period is None:
            continue
        if period.method:
            m = proc.method(period.method)
            name = f"{m.zh if m else period.method}期限 window of {period.method}"
        text = f"{name}: {period.label} {period.basis.label}"
        if period.method:
            text += "; 至公告的截止日期，自公布次日起算 to the deadline the notice publishes, from the next day"
        if period.anchor != "opened":
            text += f"; 自 from {period.anchor}"
        if period.shortenable:
            text += "; 可说明理由缩短 shortenable with reason"
        if period.extension:
            ext = period.extension
            text += f"; 可延长 +{ext.amount} ({ext.unit}) ×{ext.max_times}"
        yield text
    for rule in step.requires_documents:
        kind = proc.document(rule.kind)
        when = f" 标记 when {' / '.join(rule.when)}" if rule.when else ""
        yield f"须附 needs {kind.zh if kind else rule.kind} {rule.kind}{when} ({rule.article or step.article})"
