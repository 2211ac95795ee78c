"""What people see: Chinese labels with the English ids beside them, the line saying what a
command did, and the ``--json`` documents (English ids, dates as YYYY-MM-DD) built from the same
data.  The tables are in ``cli.tables``."""

from __future__ import annotations

import json
import os
import sys
from datetime import date
from typing import Any

import rich.console
from rich.markup import escape

__all__ = [
    "Console",
    "alert_text",
    "change_line",
    "console",
    "decision_json",
    "dump",
    "escape",
    "outcome_label",
    "stdout_gone",
    "step_json",
]

from app.shapes import decision_json, step_json  # the JSON shapes every interface answers with
from procedures import Procedure
from procedures.planner import ALERT_LABELS, Plan, StepView
from procedures.state import Decision

ALERT_STYLE = {
    "due_soon": "yellow",
    "due_today": "bold yellow",
    "overdue": "red",
    "escalated": "bold white on red",
}


class Console(rich.console.Console):
    """Rich's console, except that a reader going away (``| head -1``) ends only the output:
    Rich would exit 1, and a script takes that for a failed write and does it again."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        stdout_gone()


def stdout_gone() -> None:
    """Point stdout at the null device, so that what is still buffered (and Python's flush at
    exit) goes nowhere instead of failing with a second BrokenPipeError."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no usable descriptor: drop what is buffered
        sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    finally:
        os.close(devnull)


def console() -> Console:
    """A console for tables: when output is not a terminal (a pipe, a file, CI), use a width
    that fits the status table instead of Rich's 80-column default."""
    con = Console(highlight=False, soft_wrap=False)
    if not con.is_terminal and "COLUMNS" not in os.environ:
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


def change_line(action: str, d: Decision, view: Plan, proc: Procedure, step_id: str) -> str:
    """What a changing command did, in words: started, resubmitted, completed, returned to a
    step (with the new attempt), paused, deferred to a date, ended, skipped, extended to a date."""
    s = view.step(step_id)
    att = next((a for a in reversed(d.attempts) if a.step == step_id), None)
    head = f"{d.id} · {s.zh} {step_id}"
    if action == "start":
        if att is not None and att.pauses:
            return f"已重新提交材料，恢复计时 resubmitted, the clock runs again: {head}" + _due(s)
        return f"已开始 started {head} (第{s.attempt}次 attempt {s.attempt})" + _window(s) + _due(s)
    if action == "skip":
        return f"已跳过 skipped {head}"
    if action == "reuse":
        return f"已沿用第{s.reused_from}次结果 kept the result of attempt {s.reused_from}: {head}"
    if action == "attach":
        return f"已附加材料 documents filed: {head} (第{s.attempt}次 attempt {s.attempt})"
    if action == "extend":
        return f"已延长至 {s.due_on} extended to {s.due_on}: {head}"
    return _completed(d, view, proc, step_id, head)


def _window(s: StepView) -> str:
    """The comment window as published, and the day it runs to (Decree 713 Art. 15)."""
    if s.comment_until is None:
        return ""
    runs = (
        f", runs to {s.window_until}"
        if s.window_until and s.window_until != s.comment_until
        else ""
    )
    return (
        f" · 征求意见截止 comments until {s.comment_until}{runs}"
        f" · 最早结束 earliest close {s.earliest_close_on}"
        " (参照民法典第201、203条 Civil Code Arts. 201, 203 by analogy)"
    )


def _due(s: StepView) -> str:
    return f" · 到期 due {s.due_on}" if s.due_on else ""


def _completed(d: Decision, view: Plan, proc: Procedure, step_id: str, head: str) -> str:
    att = next((a for a in reversed(d.attempts) if a.step == step_id), None)
    if att is not None and att.status == "paused":
        return f"退回补充，暂停计时 paused (materials returned; the clock stops): {head}"
    if att is not None and att.status == "open" and att.deferrals:
        day = att.deferrals[-1].next_meeting_on
        return f"暂缓至 {day} deferred to {day}: {head}" + _due(view.step(step_id))
    step = proc.step(step_id)
    outcome = step.outcome(att.outcome) if step and att and att.outcome else None
    if outcome is None:
        return f"已完成 completed {head}"
    result = f"{head}: {outcome.zh} {outcome.id}"
    if outcome.effect == "return" and outcome.return_to:
        back = view.step(outcome.return_to)
        return (
            f"返回{back.zh} returned to {back.step} (第{back.attempt}次 attempt {back.attempt}) "
            f"· {result}"
        )
    if outcome.effect == "end":
        return f"决策终止 ended · {result}"
    return f"已完成 completed {result}"
