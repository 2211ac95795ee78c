"""The message a notifier delivers for one outbox row: a human line in Chinese with the English
ids beside, the machine fields, and an idempotency key."""

from __future__ import annotations

from typing import Any

from notify.channels import Message

__all__ = ["message_for"]


def message_for(kind: str, decision: str, payload: dict[str, Any], title: str) -> Message:
    """The human line (Chinese with English ids beside) and data for one outbox row."""
    if kind == "alert":
        late = payload.get("overdue_working_days") or 0
        level = payload["level"]
        text = (
            f"【{payload['label']} {level}】{decision} {title} · {payload['zh']} "
            f"{payload['step'] or 'target'} · 到期 due {payload['due_on']}"
            + (
                f" · 逾期 {late} 个工作日 working days overdue"
                if late and level in ("overdue", "escalated")
                else ""
            )
            + (
                f" · 首次达到 first reached {payload['first_reached_on']}"
                if payload.get("first_reached_on")
                else ""
            )
            + (
                " · 报告决策机关 escalated to the decision body"
                if payload["level"] == "escalated"
                else ""
            )
        )
        key = f"alert:{decision}:{payload['step']}:{payload['attempt']}:{payload['level']}"
    else:
        event = payload.get("event", kind)
        verb = {"step_ready": "可以开始 ready", "step_open": "已开始 open"}.get(event, event)
        text = (
            f"【{verb}】{decision} {title} · {payload.get('zh', '')} {payload.get('step', '')}"
            f" · 承办 role "
            f"{payload.get('role', '')}"
            + (f" · 到期 due {payload['due_on']}" if payload.get("due_on") else "")
        )
        key = f"{event}:{decision}:{payload.get('step')}:{payload.get('attempt')}"
    return Message(kind=kind, decision=decision, title=title, text=text, data=payload, key=key)
