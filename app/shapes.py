"""The JSON documents every interface answers with: the CLI's ``--json`` and the API's bodies
(English ids, dates as YYYY-MM-DD) — one definition, so the two never drift apart."""

from __future__ import annotations

import json
from typing import Any, Protocol

from procedures.planner import Plan, StepView
from procedures.state import Decision

__all__ = [
    "ACTION_LABELS",
    "account_json",
    "decision_json",
    "documents_json",
    "event_json",
    "list_item_json",
    "overdue_json",
    "step_json",
]


# What an audit event's action is called wherever one is shown (Chinese, then the id).
ACTION_LABELS = {
    "register": "登记 register",
    "start": "开始 start",
    "complete": "完成 complete",
    "skip": "跳过 skip",
    "extend": "延期 extend",
    "reuse": "沿用 reuse",
    "attach": "附加材料 attach",
    "recompute_dates": "重算日期 recompute_dates",
    "amend": "修改 amend",
    "procedure_migrate": "迁移程序 procedure_migrate",
    "alert": "提醒 alert",
    "package": "材料包 package",
    "archive": "归档包 archive",
    "person_add": "添加人员 person_add",
    "person_remove": "移除人员 person_remove",
    "calendar_import": "导入日历 calendar_import",
    "account_add": "新建账户 account_add",
    "account_change": "修改账户 account_change",
    "account_password": "修改密码 account_password",
    "account_unlock": "解锁登录 account_unlock",
    "token_create": "签发令牌 token_create",
    "token_revoke": "吊销令牌 token_revoke",
    "login_failed": "登录失败 login_failed",
    "login_locked": "登录锁定 login_locked",
}


def step_json(s: StepView) -> dict[str, Any]:
    return {
        "step": s.step,
        "status": s.status,
        "attempt": s.attempt,
        "opened_on": s.opened_on,
        "earliest_close_on": s.earliest_close_on,
        "guaranteed_until": s.guaranteed_until,
        "respond_by": s.respond_by,
        "due_on": s.due_on,
        "due_basis": s.due_basis,
        "closed_on": s.closed_on,
        "outcome": s.outcome,
        "provisional": s.provisional,
        "close_provisional": s.close_provisional,
        "alert": s.alert,
        "overdue_working_days": s.overdue_working_days,
        "shortened": s.shortened,
        "reason": s.reason,
        "methods": list(s.methods),
        "comment_until": s.comment_until,
        "window_until": s.window_until,
        "reused_from": s.reused_from,
        "minimum_basis": s.minimum_basis,
        "package_missing": list(s.package_missing),
    }


def decision_json(d: Decision, view: Plan) -> dict[str, Any]:
    return {
        "id": d.id,
        "title": d.title,
        "procedure": d.procedure_id,
        "procedure_version": d.procedure_version,
        "flags": sorted(d.flags),
        "sponsor": d.sponsor,
        "co_sponsors": list(d.co_sponsors),
        "target_on": d.target_on,
        "catalogue_year": d.catalogue_year,
        "registered_on": d.registered_on,
        "status": view.status,
        "version": d.version,
        "as_of": view.as_of,
        "target_alert": view.target_alert,
        "steps": [step_json(s) for s in view.steps],
    }


class Summary(Protocol):
    """What a list row shows of a decision: a ``Plan``, or ``app.inbox.Listed``."""

    @property
    def status(self) -> str: ...
    @property
    def current(self) -> tuple[StepView, ...]: ...
    @property
    def worst_alert(self) -> str | None: ...


def list_item_json(d: Decision, view: Summary) -> dict[str, Any]:
    """One row of ``decide list --json``."""
    return {
        "id": d.id,
        "title": d.title,
        "sponsor": d.sponsor,
        "procedure": d.procedure_id,
        "status": view.status,
        "current": [s.step for s in view.current],
        "alert": view.worst_alert,
    }


def account_json(a: Any) -> dict[str, Any]:
    """An account as ``decide accounts … --json`` shows it (never its password hash)."""
    return {
        "login": a.login,
        "name": a.name,
        "unit": a.unit,
        "roles": list(a.roles),
        "admin": a.admin,
        "active": a.active,
        "locked_until": a.locked_until,
    }


def event_json(e: Any) -> dict[str, Any]:
    """One audit event as ``decide audit DECISION --json`` shows it."""
    return {
        "seq": e.seq,
        "action": e.action,
        "actor": e.actor,
        "effective_on": e.effective_on,
        "recorded_at": e.recorded_at,
        "payload": json.loads(e.payload),
        "prev_hash": e.prev_hash,
        "hash": e.hash,
    }


def documents_json(found: Any) -> dict[str, Any]:
    """``decide documents DECISION --json``: the documents and the Art. 29 package state."""
    package = found.package

    def entry(e: Any) -> dict[str, Any]:
        out = {"step": e.step, "attempt": e.attempt, "kind": e.kind, "article": e.article}
        if e.reused_from is not None:
            out["reused_from"] = e.reused_from
        if e.document is not None:
            out["filed_attempt"] = e.document.attempt
        return out

    return {
        "decision": found.decision.id,
        "documents": [
            {
                "step": d.step,
                "attempt": d.attempt,
                "kind": d.kind,
                "filename": d.filename,
                "size": d.size,
                "sha256": d.sha256,
            }
            for d in found.documents
        ],
        "package": {
            "article": "Decree 713 Art. 29",
            "complete": package.complete,
            "present": [
                {**entry(e), "sha256": e.document.sha256} for e in package.present if e.document
            ],
            "missing": [entry(e) for e in package.missing],
            "pending": [entry(e) for e in package.pending],
        },
    }


def overdue_json(report: Any) -> dict[str, Any]:
    """``decide overdue --json`` and ``GET /overdue``: what is due as of a date, most urgent
    first, with the number of decisions at each level."""
    return {
        "as_of": report.as_of,
        "decisions": report.decisions,
        "decisions_by_level": report.by_level,
        "complete": report.complete,
        "items": [
            {
                "decision": i.decision,
                "step": i.step,
                "level": i.level,
                "due_on": i.due_on,
                "overdue_working_days": i.overdue_working_days,
                "provisional": i.provisional,
                "due_basis": i.due_basis,
            }
            for i in report.items
        ],
    }
