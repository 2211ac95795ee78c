"""Deep verification: the decisions' state must be what their audit events say.

The chain proves the events were not altered; this proves the state tables were not altered
either.  Each decision's events (register, start, complete, skip, extend) are replayed through
the same pure transitions that first accepted them, and the result is compared with the stored
attempts, status and version.  An event the rules now refuse is reported too (it can also mean
an imported holiday schedule moved a minimum period after the fact: the message says so).

Each decision is replayed under its pinned definitions, not under the presets or files as they
are now: the one its ``register`` event names, then, from each ``procedure_migrate`` event on,
the one that event names (a migration replays the history so far under the new definition, as
``decide procedures migrate`` did).  Each definition must hash to its key, and the decision must
end pinned to the definition its events end with.
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
    Procedure,
    Skip,
    Start,
    WorkCalendar,
    apply,
    check_flags,
    plan,
    register,
)
from procedures.definition import Definition, unpin
from procedures.state import Action, Attempt, Decision
from store.audit import AppendedEvent, Problem
from store.audit_split import processes
from store.uow import UnitOfWork

__all__ = ["MIGRATE", "HistoryRefused", "history", "rebuild", "replay_problems"]

ACTIONS = {"start", "complete", "skip", "extend"}
MIGRATE = "procedure_migrate"
CHANGES = ("register", MIGRATE, *sorted(ACTIONS))


class HistoryRefused(Exception):
    """An event of a decision's history that a definition refuses."""

    def __init__(self, event: AppendedEvent, step: str | None, error: DecideError) -> None:
        self.event, self.step, self.error = event, step, error
        super().__init__(f"event {event.seq} ({event.action} {step or ''}) is refused: {error}")


def history(events: list[AppendedEvent]) -> list[tuple[AppendedEvent, Action]]:
    """The actions a decision's events record (start, complete, skip, extend), in order."""
    found = []
    for event in events:
        if event.action in ACTIONS:
            found.append(
                (event, _action(event.action, event.effective_on, json.loads(event.payload)))
            )
    return found


def rebuild(
    proc: Procedure,
    decision: Decision,
    register_event: AppendedEvent | None,
    actions: list[tuple[AppendedEvent, Action]],
    cal: WorkCalendar,
) -> tuple[Attempt, ...]:
    """The attempts the history gives under ``proc`` (``HistoryRefused`` at the first event it
    refuses, the registration included: a flag the definition does not know)."""
    try:
        check_flags(proc, decision.flags)
    except DecideError as exc:
        if register_event is None:
            raise
        raise HistoryRefused(register_event, None, exc) from None
    attempts = register(proc, decision.registered_on)
    for event, action in actions:
        try:
            attempts = apply(proc, decision.flags, attempts, action, cal)
        except DecideError as exc:
            raise HistoryRefused(event, action.step, exc) from None
    return attempts


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
            shas = {d.procedure_sha256 for d in decisions if d.procedure_sha256}
            for found in events.values():
                shas |= _named_definitions(found)
            definitions = uow.definitions.many(sorted(shas))
        for decision in decisions:
            yield from _replay_one(decision, events[decision.id], cal, definitions)


def _named_definitions(events: list[AppendedEvent]) -> set[str]:
    names = set()
    for event in events:
        if event.action in ("register", MIGRATE):
            data = json.loads(event.payload)
            names |= {
                data[k] for k in ("procedure_sha256", "from_sha256", "to_sha256") if data.get(k)
            }
    return names


def _first_definition(decision: Decision, events: list[AppendedEvent]) -> str | None:
    """The definition the decision was registered under: named by its register event (and
    from before revision 0005, the one the first migration left, or the one pinned at upgrade)."""
    for event in events:
        if event.action in ("register", MIGRATE):
            data = json.loads(event.payload)
            named = data.get("procedure_sha256") or data.get("from_sha256")
            if named or event.action == MIGRATE:
                return str(named) if named else None
    return decision.procedure_sha256


class _Broken(Exception):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem


def _definition(
    decision: Decision, sha: str | None, definitions: dict[str, Definition], seq: int | None
) -> Procedure:
    if sha is None or sha not in definitions:
        what = "no definition is pinned" if sha is None else f"definition {sha[:12]}… is missing"
        raise _Broken(
            Problem(seq, "definition", f"decision {decision.id}: {what} (procedure_definitions)")
        )
    try:
        return unpin(definitions[sha])
    except DecideError as exc:
        raise _Broken(Problem(seq, "definition", f"decision {decision.id}: {exc}")) from None


def _replay_one(
    decision: Decision,
    events: list[AppendedEvent],
    cal: Any,
    definitions: dict[str, Definition],
) -> Iterator[Problem]:
    first = events[0].seq if events else None
    try:
        yield from _replay_checked(decision, events, cal, definitions, first)
    except _Broken as broken:
        yield broken.problem


def _replay_checked(
    decision: Decision,
    events: list[AppendedEvent],
    cal: Any,
    definitions: dict[str, Definition],
    first: int | None,
) -> Iterator[Problem]:
    sha = _first_definition(decision, events)
    # a decision from before revision 0005 whose procedure was not found has no definition
    # until its first migration: its earlier events are replayed then, under the new one
    unpinned = sha is None and any(e.action == MIGRATE for e in events)
    proc = None if unpinned else _definition(decision, sha, definitions, first)
    attempts: tuple[Attempt, ...] = ()
    done: list[tuple[AppendedEvent, Action]] = []
    registered: AppendedEvent | None = None
    changes = 0
    for event in events:
        data = json.loads(event.payload)
        try:
            if event.action == "register":
                registered = event
                attempts = register(proc, event.effective_on) if proc else ()
            elif event.action == MIGRATE:
                if data.get("from_sha256") != sha:
                    raise _Broken(
                        Problem(
                            event.seq,
                            "definition",
                            f"decision {decision.id}: event {event.seq} migrates from definition "
                            f"{str(data.get('from_sha256'))[:12]}…, but the decision was then "
                            f"under {str(sha)[:12]}…",
                        )
                    )
                sha = data.get("to_sha256")
                proc = _definition(decision, sha, definitions, event.seq)
                attempts = rebuild(proc, decision, registered, done, cal)
            elif event.action in ACTIONS:
                action = _action(event.action, event.effective_on, data)
                try:
                    if proc is not None:
                        attempts = apply(proc, decision.flags, attempts, action, cal)
                except DecideError as exc:
                    raise HistoryRefused(event, action.step, exc) from None
                done.append((event, action))
        except HistoryRefused as refused:
            yield Problem(
                refused.event.seq,
                "replay",
                f"decision {decision.id}: {refused} "
                "— the state was edited, or a holiday schedule imported since "
                "moved a period",
            )
            return
        changes += 1
    if sha != decision.procedure_sha256:
        yield Problem(
            first,
            "definition",
            f"decision {decision.id}: pinned to definition {str(decision.procedure_sha256)[:12]}…, "
            f"but its audit events end with {str(sha)[:12]}…: the decisions table was edited "
            "outside the engine",
        )
        return
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
    if proc is None:
        return  # not reached: an unpinned decision has a migration, which sets it
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
