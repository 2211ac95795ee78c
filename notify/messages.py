"""The message a notifier delivers for one outbox row: a human line in Chinese with the English
ids beside, the machine fields, and an idempotency key.

An alert row carries one step attempt's highest level reached by one scan, with the day each
level was first reached (``reached``): one message, however many levels a catch-up raised.
A checkpoint row (no decision) carries the signed checkpoint's text, which the message gives
whole under one line saying whether and when it was time-stamped: a witness keeps it.
"""

from __future__ import annotations

from typing import Any

from notify.channels import Message

__all__ = ["message_for"]

# the labels of the levels a message lists (the payload carries the highest one's own label)
_LEVEL_ZH = {
    "due_soon": "即将到期",
    "due_today": "今日到期",
    "overdue": "已逾期",
    "escalated": "逾期升级",
}
PROVISIONAL = " · 日期暂定（该年官方节假日安排未公布）provisional: that year's official holiday schedule is not out yet"


def message_for(kind: str, decision: str, payload: dict[str, Any], title: str) -> Message:
    """The human line (Chinese with English ids beside) and data for one outbox row."""
    if kind == "alert":
        return _alert(decision, payload, title)
    if kind == "checkpoint":
        return _checkpoint(payload, title)
    event = payload.get("event", kind)
    verb = {"step_ready": "可以开始 ready", "step_open": "已开始 open"}.get(event, event)
    text = (
        f"【{verb}】{decision} {title} · {payload.get('zh', '')} {payload.get('step', '')}"
        f" · 承办 role {payload.get('role', '')}"
        + (f" · 到期 due {payload['due_on']}" if payload.get("due_on") else "")
        + (PROVISIONAL if payload.get("provisional") else "")
    )
    key = f"{event}:{decision}:{payload.get('step')}:{payload.get('attempt')}"
    return Message(kind=kind, decision=decision, title=title, text=text, data=payload, key=key)


def _alert(decision: str, payload: dict[str, Any], title: str) -> Message:
    level = payload["level"]
    late = payload.get("overdue_working_days")
    reached: list[Any] = payload.get("reached") or [[level, payload.get("first_reached_on")]]
    firsts = ", ".join(f"{_LEVEL_ZH.get(lv, lv)} {lv} {day}" for lv, day in reached if day)
    text = (
        f"【{payload['label']} {level}】{decision} {title} · {payload['zh']} "
        f"{payload['step'] or 'target'} · 到期 due {payload['due_on']}"
        + (f" · 逾期 {late} 个工作日 working days overdue" if late else "")
        + (f" · 首次达到 first reached: {firsts}" if firsts else "")
        + (" · 报告决策机关 escalated to the decision body" if level == "escalated" else "")
        + (PROVISIONAL if payload.get("provisional") else "")
    )
    key = f"alert:{decision}:{payload['step']}:{payload['attempt']}:{level}"
    return Message(kind="alert", decision=decision, title=title, text=text, data=payload, key=key)


def _checkpoint(payload: dict[str, Any], title: str) -> Message:
    stamp = payload.get("timestamp")
    if isinstance(stamp, dict):
        said = f"时间戳 time-stamped {stamp.get('time')} by {stamp.get('tsa')} (RFC 3161)"
    elif payload.get("timestamp_error"):
        said = f"未加时间戳 NOT time-stamped: {payload['timestamp_error']}"
    else:
        said = "未配置时间戳服务 no time-stamping authority configured"
    text = (
        f"【{title or '审计检查点 audit checkpoint'}】#{payload.get('seq')} "
        f"签名 signed {payload.get('signed_at')} · {said} · 请留存 keep this to check the log "
        f"against later (decide audit verify)\n{payload.get('checkpoint', '')}"
    )
    key = f"checkpoint:{payload.get('seq')}:{str(payload.get('sha256', ''))[:16]}"
    return Message(kind="checkpoint", decision="", title=title, text=text, data=payload, key=key)
