"""Deep verification: the decisions' state must be what their audit events say.

The chain proves the events were not altered; this proves the state tables were not altered
either.  Each decision's change events (register, start, complete, skip, extend, amend,
procedure_migrate) are replayed by ``app.history.fold`` through the same pure transitions that
first accepted them, under the pinned definitions they name (each must hash to its key) and the
calendar the ``calendar_import`` events record, and the result is compared with the stored
title, flags, target date, sponsor, co-sponsors, assignments, catalogue year, registration date,
attempts, definition, status and version — each column that differs named with both values.  An
event the rules now refuse is reported too (it can also mean an imported holiday schedule moved
a minimum period after the fact: the message says so).  Each decision's ``alerts`` rows are
compared with its ``alert`` events, and the deadline scan's index dates and the to-do index with
its replayed plan (``app.alert_replay``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from app.alert_replay import alert_problems, index_problems, recorded_alerts, todo_problems
from app.commands import Commands
from app.history import CHANGES, Broken, Refused, definitions_named, fold
from app.table_replay import recorded_calendar
from procedures import DecideError, Procedure, plan
from procedures.definition import Definition, unpin
from procedures.planner import Plan
from procedures.state import Decision
from store.audit import AppendedEvent, Problem
from store.audit_split import processes
from store.table_rows import alert_events, alert_rows, index_dates, todo_rows
from store.uow import UnitOfWork

__all__ = ["replay_problems"]


def replay_problems(
    cmds: Commands, jobs: int | None = None, notes: list[str] | None = None
) -> Iterator[Problem]:
    """Every decision replayed, 500 a transaction; with many decisions (or ``jobs`` > 1) in
    ``jobs`` processes, one per usable core by default: decisions are independent, so each
    process takes a contiguous share of the ids and the problems come back in id order.

    The calendar is the one the ``calendar_import`` events record, not the schedules table (an
    edited table is named by ``app.table_replay``; a period it shortened, at the event that used
    it).  A share whose process fails (killed, or a calling script without a ``__main__`` guard)
    or that saw another calendar (a schedule imported meanwhile) is replayed here instead.
    ``notes``: how many decisions are pinned by no event (from before revision 0005).
    """
    with cmds.unit(write=False) as uow:
        cal, revision = recorded_calendar(uow)
        ids = uow.decisions.ids()
    unattested = [0]
    parts = processes(cmds.db.url, jobs, len(ids), PARALLEL_MIN_DECISIONS)
    pool = _pool(parts - 1) if parts > 1 else None
    if pool is None:
        yield from _replay_ids(cmds.db, ids, cal, unattested)
    else:
        size = -(-len(ids) // parts)
        shares = [ids[i : i + size] for i in range(0, len(ids), size)]
        with pool:
            later = [pool.submit(_replay_share, cmds.db.url, share) for share in shares[1:]]
            yield from _replay_ids(cmds.db, shares[0], cal, unattested)
            for share, future in zip(shares[1:], later, strict=True):
                try:
                    seen, found, count = future.result()
                except Exception:  # a failed process: its share is replayed here (a bug re-raises)
                    seen, found, count = None, [], 0
                if seen == revision:
                    unattested[0] += count
                    yield from found
                else:
                    yield from _replay_ids(cmds.db, share, cal, unattested)
    if notes is not None:
        notes.append(
            "alerts rows were checked against their alert events, and the deadline scan's "
            "index dates and the to-do index against each replayed plan"
        )
    if unattested[0] and notes is not None:
        notes.append(
            f"{unattested[0]} 项决策 decisions were registered before revision 0005: no event "
            "names the definition the upgrade pinned them to, so it is checked by procedure id "
            "only (its content by its hash), not verifiable before revision 0005"
        )


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


def _replay_share(url: str, ids: list[str]) -> tuple[int, list[Problem], int]:
    """One process's share, the calendar revision it replayed with, and how many of its
    decisions no event pins."""
    from store.dbapi import Database

    db = Database(url)
    try:
        with UnitOfWork(db, write=False) as uow:
            cal, revision = recorded_calendar(uow)
        unattested = [0]
        found = list(_replay_ids(db, ids, cal, unattested))
        return revision, found, unattested[0]
    finally:
        db.close()


def _replay_ids(db: Any, ids: list[str], cal: Any, unattested: list[int]) -> Iterator[Problem]:
    for start in range(0, len(ids), 500):
        # one snapshot a batch: the rows and the events as of one moment, whoever writes
        with UnitOfWork(db, write=False, snapshot=True) as uow:
            decisions = uow.decisions.many(ids[start : start + 500])
            batch = [d.id for d in decisions]
            # only the events that change a decision's state, and the alerts (most are notes)
            events = uow.audit.events_of(batch, CHANGES)
            raised = alert_events(uow.link, batch)
            shas = {d.procedure_sha256 for d in decisions if d.procedure_sha256}
            named = {d: definitions_named(found) for d, found in events.items()}
            for found in named.values():
                shas |= found
            definitions = uow.definitions.many(sorted(shas))
            alerts = alert_rows(uow.link, batch)
            index = index_dates(uow.link, batch)
            todo = todo_rows(uow.link, batch)
        for decision in decisions:
            changes = events[decision.id]
            if decision.procedure_sha256 and not named[decision.id]:
                unattested[0] += 1
            recorded = recorded_alerts(raised[decision.id])
            yield from alert_problems(decision.id, recorded, alerts[decision.id])
            view = _replay_one(decision, changes, cal, definitions)
            if isinstance(view, Problem):
                yield view
            else:
                yield from index_problems(
                    decision.id,
                    view,
                    decision.registered_on,
                    cal,
                    recorded[0],
                    index.get(decision.id, (None, None)),
                )
                yield from todo_problems(decision, view, todo[decision.id])


def _resolver(decision: Decision, definitions: dict[str, Definition]) -> Any:
    def resolve(sha: str | None, seq: int | None) -> Procedure:
        if sha is None or sha not in definitions:
            what = (
                "no definition is pinned" if sha is None else f"definition {sha[:12]}… is missing"
            )
            raise Broken(seq, f"{what} (procedure_definitions)")
        try:
            return unpin(definitions[sha])
        except DecideError as exc:
            raise Broken(seq, str(exc)) from None

    return resolve


def _shown(value: Any) -> str:
    """A value for a message: dates and tuples as read, long text cut."""
    if isinstance(value, frozenset):
        value = sorted(value)
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "…"


def _differ(stored: dict[str, Any], recorded: dict[str, Any]) -> list[str]:
    """Each field whose stored value is not the recorded one: "field stored X, recorded Y"."""
    return [
        f"{k} stored {_shown(stored[k])}, recorded {_shown(recorded[k])}"
        for k in stored
        if stored[k] != recorded[k]
    ]


def _replay_one(
    decision: Decision,
    events: list[AppendedEvent],
    cal: Any,
    definitions: dict[str, Definition],
) -> Problem | Plan:
    """The first problem of one decision's state; when there is none, its replayed plan."""
    if not any(e.action == "register" for e in events):
        return Problem(
            events[0].seq if events else None,
            "state",
            f"决策 decision {decision.id} ({decision.title}): the decisions row has no register "
            "event: it was added to the decisions table outside the engine (or the newest "
            "events were cut off the log: see the checkpoints)",
        )
    first = events[0].seq
    try:
        history, proc = fold(
            events, cal, _resolver(decision, definitions), pinned=decision.procedure_sha256
        )
    except Broken as broken:
        return Problem(broken.seq, "definition", f"decision {decision.id}: {broken.message}")
    except Refused as refused:
        event = refused.event
        return Problem(
            event.seq,
            "replay",
            f"decision {decision.id}: event {event.seq} ({event.action} {refused.step or ''}) "
            f"is refused on replay: {refused.error} — the state was edited, or a holiday "
            "schedule imported since moved a period",
        )
    if history.sha256 != decision.procedure_sha256:
        return Problem(
            first,
            "definition",
            f"decision {decision.id}: pinned to definition {str(decision.procedure_sha256)[:12]}…, "
            f"but its audit events end with {str(history.sha256)[:12]}…: the decisions table "
            "was edited outside the engine",
        )
    recorded_id, recorded_version = history.procedure
    stored = {
        "title": decision.title,
        "flags": decision.flags,
        "target_on": decision.target_on,
        "procedure": (
            decision.procedure_id,
            decision.procedure_version if recorded_version is not None else None,
        ),
        "sponsor": decision.sponsor,
        "co_sponsors": decision.co_sponsors,
        "assignments": tuple((k, tuple(v)) for k, v in sorted(decision.assignments.items()) if v),
        "catalogue_year": decision.catalogue_year,
        "registered_on": decision.registered_on,
    }
    events_say = {
        "title": history.title,
        "flags": history.flags,
        "target_on": history.target_on,
        "procedure": history.procedure,
        "sponsor": history.sponsor,
        "co_sponsors": history.co_sponsors,
        "assignments": history.assignments,
        "catalogue_year": history.catalogue_year,
        "registered_on": history.registered_on,
    }
    differ = _differ(stored, events_say)
    if proc is not None and (
        proc.id != recorded_id or recorded_version not in (None, proc.version)
    ):
        # pinned at upgrade to another procedure than registered
        differ.append(f"definition pinned is {proc.id} {proc.version}, registered {recorded_id}")
    if differ:
        return Problem(
            first,
            "state",
            f"decision {decision.id}: the decisions row differs from what its register, amend "
            f"and migration events record — {'; '.join(differ)}: the decisions table was "
            "edited outside the engine",
        )
    attempts, changes = history.attempts, history.changes
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
        if where < len(attempts) and where < len(decision.attempts):
            detail = "; ".join(_differ(dict(decision.attempts[where]), dict(attempts[where])))
        elif where < len(attempts):
            detail = "the row is missing"
        else:
            detail = "the row has no event"
        return Problem(
            first,
            "state",
            f"decision {decision.id}: the stored step attempts differ "
            f"from what its audit events record (first at position {where}, step "
            f"{step}: {detail}): the step_attempts table was edited outside the engine",
        )
    if proc is None:  # not reached: an unpinned decision has a migration, which pins it
        return Problem(first, "definition", f"decision {decision.id}: no definition is pinned")
    view = plan(
        proc, history.flags, attempts, decision.registered_on, cal, target_on=history.target_on
    )
    if (decision.status, decision.version) != (view.status, changes):
        return Problem(
            first,
            "state",
            f"decision {decision.id}: stored status/version "
            f"{decision.status}/{decision.version} ≠ {view.status}/{changes} from its "
            "audit events: the decisions table was edited outside the engine",
        )
    return view  # the state is what the events make it: its plan, for the scan's index
