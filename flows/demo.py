"""``make demo``: a realistic district decision driven through the national procedure.

For now this runs on the pure planner (issue 2); the store, CLI and flows take it over as they
land.  The story: a district government's 2025 old-residential-area renovation plan, with a
comment period over the National Day holidays.
"""

from __future__ import annotations

from datetime import date

from rich.console import Console
from rich.table import Table

from procedures import Complete, MeetingRecord, Start, WorkCalendar, apply, load_procedure, plan
from procedures import register as register_attempts
from procedures.planner import ALERT_LABELS, STATUS_LABELS


def main() -> None:
    console = Console(width=160) if not Console().is_terminal else Console()
    proc = load_procedure("national-2019")
    cal = WorkCalendar.official()
    table = Table(title=f"{proc.zh} {proc.id} v{proc.version}")
    for col in ("#", "步骤 step", "最短期限 minimum", "办理期限 due"):
        table.add_column(col)
    for i, step in enumerate(proc.steps, 1):
        minimum = f"{step.minimum.label} [{step.minimum.basis.label}]" if step.minimum else "—"
        due = f"{step.due.label} [{step.due.basis.label}]" if step.due else "—"
        table.add_row(str(i), step.label, minimum, due)
    console.print(table)

    flags = frozenset({"technical"})
    attempts = register_attempts(proc, date(2025, 7, 1))
    members = ["王副区长", "李副区长", "赵秘书长"]
    script = [
        Start(step="drafting", on=date(2025, 7, 2)),
        Complete(step="drafting", on=date(2025, 8, 29)),
        Start(step="public_participation", on=date(2025, 9, 1)),
        Start(step="expert_review", on=date(2025, 9, 1)),
        Complete(step="expert_review", on=date(2025, 9, 26)),
        Complete(step="public_participation", on=date(2025, 10, 9)),
        Start(step="legality_review", on=date(2025, 10, 10)),
        Complete(step="legality_review", on=date(2025, 10, 21), outcome="lawful"),
        Start(step="collective_discussion", on=date(2025, 10, 23)),
        Complete(
            step="collective_discussion",
            on=date(2025, 10, 30),
            outcome="approved",
            meeting=MeetingRecord(
                meeting_type="executive",
                chair="张区长",
                attendees=("张区长", *members),
                positions={m: "approved" for m in members},
            ),
        ),
    ]
    for action in script:
        attempts = apply(proc, flags, attempts, action, cal)
    as_of = date(2025, 11, 20)
    view = plan(proc, flags, attempts, as_of, cal, target_on=date(2025, 12, 31))
    steps = Table(title=f"某区2025年老旧小区改造计划 — 截至 as of {as_of}")
    for col in (
        "步骤 step",
        "状态 status",
        "开始 opened",
        "最早结束 earliest",
        "到期 due",
        "完成 closed",
        "结果 outcome",
        "提醒 alert",
    ):
        steps.add_column(col)
    for s in view.steps:
        due = f"{s.due_on}{' (暂定 provisional)' if s.provisional else ''}" if s.due_on else ""
        alert = f"[red]{ALERT_LABELS[s.alert]} {s.alert}[/]" if s.alert else ""
        steps.add_row(
            f"{s.zh} {s.step}",
            f"{STATUS_LABELS[s.status]} {s.status}",
            str(s.opened_on or ""),
            str(s.earliest_close_on or ""),
            due,
            str(s.closed_on or ""),
            s.outcome or "",
            alert,
        )
    console.print(steps)


if __name__ == "__main__":
    main()
