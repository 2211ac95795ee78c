"""What the JSON API (and next the console) asks beside the CLI's commands: who is calling with a
bearer token, the caller's inbox (the steps they may act on now, most urgent first), the decision
list with its filters and cursor, a document by its hash, and the audit verification for auditors.

Every answer is decided here, with ``app.permissions``: the API's routes only parse and render.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

from app import permissions
from app.accounts import Identity, authenticate
from app.admin import audit_verify
from app.commands import Commands
from app.queries import plan_all
from procedures import AccessDenied, Complete, InputError, NotFound, Procedure, Start, WorkCalendar
from procedures.loader import load_procedure, preset_ids
from procedures.model import Step
from procedures.names import resolve
from procedures.planner import ALERT_LEVELS, AlertLevel, Plan, StepView, alert_level
from procedures.state import Decision
from store.audit import VerifyReport
from store.repository import StoredDocument
from store.schedules import load_calendar
from store.todo import TodoItem

__all__ = [
    "InboxItem",
    "Listed",
    "api_caller",
    "document_for",
    "find_decisions",
    "inbox",
    "verify_for",
]

FIRST_ACCOUNT = "decide accounts add LOGIN --name NAME --unit UNIT --admin --password-stdin"
MAX_PAGE = 200


def api_caller(cmds: Commands, token: str | None) -> Identity:
    """The account a bearer token proves.  The API always needs one: a home without accounts
    is refused too (its acts would be anonymous), with how to create the first account.  One
    read transaction: a valid token is proof enough that accounts exist."""
    with cmds.unit(write=False) as uow:
        if token:
            try:
                return authenticate(uow, token, cmds.clock(), end=True)  # one round trip
            except AccessDenied:
                if uow.accounts.any():
                    raise
        if not uow.accounts.any():
            raise AccessDenied(
                "本系统尚无账户 this home has no accounts: the API needs one",
                rule="auth.no_accounts",
                remedy=f"create the first account with {FIRST_ACCOUNT}, then POST /api/v1/tokens",
                authenticated=False,
            )
    raise AccessDenied(
        "须登录 not authenticated: send Authorization: Bearer TOKEN",
        rule="auth.required",
        remedy="POST /api/v1/tokens with login and password",
        authenticated=False,
    )


@dataclass(frozen=True)
class InboxItem:
    decision: Decision
    step: StepView
    action: str  # what the caller may do now: start (a ready step) or complete (an open one)


def _urgency(item: InboxItem) -> tuple[int, date, str, str]:
    level = item.step.alert
    rank = ALERT_LEVELS.index(level) if level else -1
    return (-rank, item.step.due_on or date.max, item.decision.id, item.step.step)


INBOX_PAGE = 50  # the most urgent items shown (a page of the to-do list)


def inbox(
    cmds: Commands, who: Identity, as_of: date, *, limit: int = INBOX_PAGE
) -> list[InboxItem]:
    """The steps ``who`` may act on as of a date (ready: start; open: complete), most urgent
    first (alert level, then due date), at most ``limit``.

    Read from the to-do index (``store.todo``), a page at a time in due-date order — which is
    the order of urgency, since an alert level only rises as its due date gets older — in the
    lanes ``permissions.lanes`` names for the caller; each item of the page is then decided by
    ``permissions.may_read`` and ``permissions.check_act``, so the cost follows the page, not
    the caller's workload.  An item's ``step`` holds what the index keeps (status, attempt,
    role, due date and basis, provisional) and the alert level as of ``as_of``; its
    ``decision`` is the decision without its attempts."""
    lanes = permissions.lanes(who)
    found: list[tuple[Decision, Step, TodoItem, str]] = []
    with cmds.unit(write=False) as uow:
        after: tuple[date, str, str] | None = None
        while len(found) < limit:
            page = uow.todo.page(lanes, after, limit)
            heads = {d.id: d for d in uow.decisions.heads([i.decision_id for i in page])}
            procs = cmds.pinned(uow, heads.values(), plannable_only=True)
            for entry in page:
                hit = _actionable(who, heads.get(entry.decision_id), procs, entry, as_of)
                if hit is not None:
                    found.append(hit)
            if len(page) < limit:
                break
            after = page[-1].key
        # read last (the alert levels need it only now): on PostgreSQL it ends the transaction
        # in the same round trip
        cal = load_calendar(uow.link, end=True)
    items = []
    for d, step, entry, kind in found:
        alert, late = alert_level(cal, entry.due_on, as_of) if entry.due_on else (None, 0)
        items.append(InboxItem(d, _view(step.zh, step.en, entry, alert, late), kind))
    items.sort(key=_urgency)
    return items[:limit]


def _actionable(
    who: Identity,
    d: Decision | None,
    procs: dict[str, Procedure],
    entry: TodoItem,
    as_of: date,
) -> tuple[Decision, Step, TodoItem, str] | None:
    """The index entry's decision, step and action, if ``who`` may read the decision and take
    the step's action (``app.permissions`` decides: the index only narrows)."""
    if d is None or entry.status not in ("ready", "open") or not permissions.may_read(who, d):
        return None
    proc = procs.get(d.procedure_sha256 or "")
    step = proc.step(entry.step) if proc is not None else None
    if proc is None or step is None:
        return None
    action = _action(entry.status, step.id, as_of)
    try:
        permissions.check_act(who, proc, d, step, action)
    except AccessDenied:
        return None
    return d, step, entry, action.kind


@lru_cache(maxsize=1024)
def _action(status: str, step: str, on: date) -> Start | Complete:
    return Start(step=step, on=on) if status == "ready" else Complete(step=step, on=on)


@lru_cache(maxsize=20_000)
def _view(zh: str, en: str, entry: TodoItem, alert: AlertLevel | None, late: int) -> StepView:
    """An item's view: immutable, so the items a to-do list shows again are built once."""
    return StepView(
        step=entry.step,
        zh=zh,
        en=en,
        role=entry.role,
        status=entry.status,  # ready or open: what the index keeps
        attempt=entry.attempt,
        due_on=entry.due_on,
        due_basis=entry.due_basis,
        provisional=entry.provisional,
        alert=alert,
        overdue_working_days=late,
    )


@dataclass(frozen=True)
class Listed:
    """A decision as the list shows it — its status, the steps it stands at (ready, open or
    paused, in the procedure's order) and its worst alert — read from the decision's row and
    the to-do index instead of planned: the worst alert is that of ``next_due_on``, the
    earliest due date of what can carry one (an alert level only rises as a due date gets
    older).  ``Plan`` answers the same three questions."""

    status: str
    current: tuple[StepView, ...]
    worst_alert: AlertLevel | None


def find_decisions(
    cmds: Commands,
    who: Identity,
    as_of: date,
    *,
    q: str | None = None,
    sponsor: str | None = None,
    status: str | None = None,
    step: str | None = None,
    alert: AlertLevel | None = None,
    catalogue_year: int | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[tuple[Decision, Listed | Plan]], str | None]:
    """The decisions ``who`` may read, in id order after ``cursor``, matching every filter
    given (``q``: text in the title; ``step``: a current step; ``alert``: the worst alert); at
    most ``limit`` and the cursor of the next page (None on the last).  Read in keyset pages
    (the cost follows the page); a decision is planned only if its row predates the deadline
    index (``next_due_on`` unknown)."""
    if not 1 <= limit <= MAX_PAGE:
        raise InputError(f"limit 须在 1 与 {MAX_PAGE} 之间 must be 1-{MAX_PAGE} (got {limit})")
    step = step_named(step.strip()) if step and step.strip() else None
    needle = q.strip().casefold() if q and q.strip() else None
    found: list[tuple[Decision, Listed | Plan]] = []
    with cmds.unit(write=False) as uow:
        cal = uow.calendar()
        after, batch = cursor, limit + 1
        while len(found) <= limit:
            ids = uow.decisions.ids(
                status=(status,) if status else None,
                sponsor=sponsor,
                # a superset (``may_read`` decides): an undisclosable decision is read by the
                # units taking part too, so it is not left out here
                unit=None if permissions.reads_all(who) else who.unit,
                catalogue_year=catalogue_year,
                after=after,
                limit=batch,
            )
            if not ids:
                break
            after = ids[-1]
            heads, due = uow.decisions.heads_and_due(ids)
            kept = [
                d
                for d in heads
                if permissions.may_read(who, d) and (needle is None or needle in d.title.casefold())
            ]
            procs = cmds.pinned(uow, kept, plannable_only=True)
            kept = [d for d in kept if (d.procedure_sha256 or "") in procs]
            current = uow.todo.current([d.id for d in kept if due.get(d.id) is not None])
            undated = [d.id for d in kept if due.get(d.id) is None]  # from before revision 0002
            planned = {d.id: v for d, v in plan_all(uow.decisions.many(undated), as_of, cal, procs)}
            for d in kept:
                row: Listed | Plan | None = planned.get(d.id)
                if row is None:
                    row = _listed(d, procs[d.procedure_sha256 or ""], current[d.id], due[d.id],
                                  as_of, cal)  # fmt: skip
                if step is not None and step not in {s.step for s in row.current}:
                    continue
                if alert is not None and row.worst_alert != alert:
                    continue
                found.append((d, row))
            if len(ids) < batch:
                break
            batch = min(batch * 2, 500)  # the filters are selective: read further at a time
    page = found[:limit]
    return page, (page[-1][0].id if len(found) > limit else None)


@lru_cache(maxsize=1)
def _preset_steps() -> tuple[Step, ...]:
    steps = {s.id: s for pid in preset_ids() for s in load_procedure(pid).steps}
    return tuple(steps.values())


def step_named(value: str) -> str:
    """A step filter as a clerk types it — the id, or the step's Chinese or English name
    (合法性审查) — as the id.  A name no preset procedure's step has is refused with the near
    misses; an unknown id is kept (an office's own procedure may add steps) and matches what it
    matches."""
    try:
        return resolve("step", value, _preset_steps())
    except InputError:
        if value.isascii() and value.replace("_", "").isalnum():
            return value
        raise


def _listed(
    d: Decision,
    proc: Procedure,
    entries: list[TodoItem],
    due: date | None,
    as_of: date,
    cal: WorkCalendar,
) -> Listed:
    order = {s.id: i for i, s in enumerate(proc.steps)}
    views = []
    for entry in sorted(entries, key=lambda e: order.get(e.step, len(order))):
        step = proc.step(entry.step)
        if step is None:
            continue
        level, late = alert_level(cal, entry.due_on, as_of) if entry.due_on else (None, 0)
        views.append(_view(step.zh, step.en, entry, level, late))
    worst = alert_level(cal, due, as_of)[0] if due is not None and due != date.max else None
    return Listed(d.status, tuple(views), worst)


def document_for(cmds: Commands, who: Identity, sha256: str) -> tuple[StoredDocument, Path]:
    """A stored document by its SHA-256, if ``who`` may read a decision holding it (else, as
    for an unknown hash, ``NotFound``: the answer does not say it exists)."""
    sha = sha256.strip().lower()
    missing = NotFound(f"没有此文件 no document {sha[:64]!r} that you may read")
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise InputError(f"不是 SHA-256 {sha[:64]!r} is not a SHA-256 (64 hex digits)")
    with cmds.unit(write=False) as uow:
        ids = uow.decisions.ids(
            unit=None if permissions.reads_all(who) else who.unit,
            without_flag=permissions.hidden_flag(who),
        )
        for start in range(0, len(ids), 500):
            for d in uow.decisions.many(ids[start : start + 500]):
                if not permissions.may_read(who, d):
                    continue
                for doc in uow.documents.of(d.id):
                    if doc.sha256 == sha:
                        path = cmds.documents().path_for(sha)
                        if not path.is_file():
                            raise missing
                        return doc, path
    raise missing


def verify_for(cmds: Commands, who: Identity, *, replay: bool = True) -> VerifyReport:
    """``audit verify`` for an auditor or an admin (everyone else is refused)."""
    if not (who.admin or "auditor" in who.roles):
        raise AccessDenied(
            f"{who.name} 无权 is not permitted (needs auditor or admin)",
            rule="permission.audit",
            remedy="use an auditor's or an admin's token",
        )
    return audit_verify(cmds, replay=replay)
