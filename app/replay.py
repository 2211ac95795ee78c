"""Deep verification: the decisions' state must be what their audit events say.

The chain proves the events were not altered; this proves the state tables were not altered
either.  Each decision's events (register, start, complete, skip, extend) are replayed through
the same pure transitions that first accepted them, and the result is compared with the stored
attempts, status and version.  An event the rules now refuse is reported too (it can also mean
an imported holiday schedule moved a minimum period after the fact: the message says so).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

from app.commands import Commands
from procedures import (
    Complete,
    DecideError,
    Extend,
    MeetingRecord,
    Skip,
    Start,
    apply,
    load_procedure,
    plan,
    register,
)
from procedures.state import Action, Attempt
from store.audit import Problem
from store.audit_split import processes
from store.uow import UnitOfWork

__all__ = ["replay_problems"]

ACTIONS = {"start", "complete", "skip", "extend"}
CHANGES = ("register", *sorted(ACTIONS))


def _action(kind: str, on: date, data: dict[str, Any]) -> Action:
    step = data["step"]
    if kind == "start":
        return Start(step=step, on=on, shorten_reason=data.get("shorten_reason"))
    if kind == "skip":
        return Skip(step=step, on=on, reason=data.get("reason"))
    if kind == "extend":
        return Extend(step=step, on=on, reason=data.get("reason"))
    meeting = data.get("meeting")
    next_on = data.get("next_meeting_on")
    return Complete(
        step=step,
        on=on,
        outcome=data.get("outcome"),
        documents=tuple(d["kind"] for d in data.get("documents", ())),
        meeting=MeetingRecord.model_validate(meeting) if meeting else None,
        next_meeting_on=date.fromisoformat(next_on) if next_on else None,
    )


def replay_problems(cmds: Commands, jobs: int | None = None) -> Iterator[Problem]:
    """Every decision replayed, 500 a transaction; with many decisions (or ``jobs`` > 1) in
    ``jobs`` processes, one per usable core by default: decisions are independent, so each
    process takes a contiguous share of the ids and the problems come back in id order.

    A share whose process fails (killed, or a calling script without a ``__main__`` guard) or
    that saw another calendar (a schedule imported meanwhile) is replayed here instead.
    """
    with cmds.unit(write=False) as uow:
        cal = uow.calendar()
        revision = uow.calendar_revision()
        ids = uow.decisions.ids()
    parts = processes(cmds.db.url, jobs, len(ids), PARALLEL_MIN_DECISIONS)
    pool = _pool(parts - 1) if parts > 1 else None
    if pool is None:
        yield from _replay_ids(cmds.db, ids, cal)
        return
    size = -(-len(ids) // parts)
    shares = [ids[i : i + size] for i in range(0, len(ids), size)]
    with pool:
        later = [pool.submit(_replay_share, cmds.db.url, share) for share in shares[1:]]
        yield from _replay_ids(cmds.db, shares[0], cal)
        for share, future in zip(shares[1:], later, strict=True):
            try:
                seen, found = future.result()
            except Exception:  # a failed process: its share is replayed here (a bug re-raises)
                seen, found = None, []
            if seen == revision:
                yield from found
            else:
                yield from _replay_ids(cmds.db, share, cal)


def _pool(workers: int) -> Any:
    """A pool of fresh (spawned) processes, or None where processes cannot be started."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    try:
        return ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn")
        )
    except (OSError, RuntimeError, ValueError):
        return None


PARALLEL_MIN_DECISIONS = 5_000  # fewer replay in well under a second: not worth a process


def _replay_share(url: str, ids: list[str]) -> tuple[int, list[Problem]]:
    """One process's share, and the calendar revision it replayed with."""
    from store.dbapi import Database

    db = Database(url)
    try:
        with UnitOfWork(db, write=False) as uow:
            cal = uow.calendar()
            revision = uow.calendar_revision()
        return revision, list(_replay_ids(db, ids, cal))
    finally:
        db.close()


def _replay_ids(db: Any, ids: list[str], cal: Any) -> Iterator[Problem]:
    for start in range(0, len(ids), 500):
        with UnitOfWork(db, write=False) as uow:
            decisions = uow.decisions.many(ids[start : start + 500])
            # only the events that change a decision's state (most are notes and alerts)
            events = uow.audit.events_of([d.id for d in decisions], CHANGES)
        for decision in decisions:
            yield from _replay_one(decision, events[decision.id], cal)


def _replay_one(decision: Any, events: list[Any], cal: Any) -> Iterator[Problem]:
    proc = load_procedure(decision.procedure_id)
    attempts: tuple[Attempt, ...] = ()
    changes = 0
    for event in events:
        data = json.loads(event.payload)
        if event.action == "register":
            attempts = register(proc, event.effective_on)
            changes += 1
        elif event.action in ACTIONS:
            try:
                attempts = apply(
                    proc,
                    decision.flags,
                    attempts,
                    _action(event.action, event.effective_on, data),
                    cal,
                )
            except DecideError as exc:
                yield Problem(
                    event.seq,
                    "replay",
                    f"decision {decision.id}: event {event.seq} "
                    f"({event.action} {data.get('step')}) is refused on replay: {exc} "
                    "— the state was edited, or a holiday schedule imported since "
                    "moved a period",
                )
                return
            changes += 1
    first = events[0].seq if events else None
    if attempts != decision.attempts:
        where = next(
            (
                i
                for i, (a, b) in enumerate(zip(attempts, decision.attempts, strict=False))
                if a != b
            ),
            min(len(attempts), len(decision.attempts)),
        )
        step = attempts[where].step if where < len(attempts) else decision.attempts[where].step
        yield Problem(
            first,
            "state",
            f"decision {decision.id}: the stored step attempts differ "
            f"from what its audit events record (first at position {where}, step "
            f"{step}): the state tables were edited outside the engine",
        )
        return
    view = plan(
        proc, decision.flags, attempts, decision.registered_on, cal, target_on=decision.target_on
    )
    if (decision.status, decision.version) != (view.status, changes):
        yield Problem(
            first,
            "state",
            f"decision {decision.id}: stored status/version "
            f"{decision.status}/{decision.version} ≠ {view.status}/{changes} from its "
            "audit events: the decisions table was edited outside the engine",
        )
