"""Deep verification: the decisions' state must be what their audit events say.

The chain proves the events were not altered; this proves the state tables were not altered
either.  Each decision's change events (register, start, complete, skip, extend, amend,
procedure_migrate) are replayed by ``app.history.fold`` through the same pure transitions that
first accepted them, under the pinned definitions they name (each must hash to its key), and the
result is compared with the stored title, flags, target date, attempts, definition, status and
version.  An event the rules now refuse is reported too (it can also mean an imported holiday
schedule moved a minimum period after the fact: the message says so).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from app.commands import Commands
from app.history import CHANGES, Broken, Refused, definitions_named, fold
from procedures import DecideError, Procedure, plan
from procedures.definition import Definition, unpin
from procedures.state import Decision
from store.audit import AppendedEvent, Problem
from store.audit_split import processes
from store.uow import UnitOfWork

__all__ = ["replay_problems"]


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
                shas |= definitions_named(found)
            definitions = uow.definitions.many(sorted(shas))
        for decision in decisions:
            yield from _replay_one(decision, events[decision.id], cal, definitions)


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


def _replay_one(
    decision: Decision,
    events: list[AppendedEvent],
    cal: Any,
    definitions: dict[str, Definition],
) -> Iterator[Problem]:
    first = events[0].seq if events else None
    try:
        history, proc = fold(
            events, cal, _resolver(decision, definitions), pinned=decision.procedure_sha256
        )
    except Broken as broken:
        yield Problem(broken.seq, "definition", f"decision {decision.id}: {broken.message}")
        return
    except Refused as refused:
        event = refused.event
        yield Problem(
            event.seq,
            "replay",
            f"decision {decision.id}: event {event.seq} ({event.action} {refused.step or ''}) "
            f"is refused on replay: {refused.error} — the state was edited, or a holiday "
            "schedule imported since moved a period",
        )
        return
    if history.sha256 != decision.procedure_sha256:
        yield Problem(
            first,
            "definition",
            f"decision {decision.id}: pinned to definition {str(decision.procedure_sha256)[:12]}…, "
            f"but its audit events end with {str(history.sha256)[:12]}…: the decisions table "
            "was edited outside the engine",
        )
        return
    recorded = (history.title, history.flags, history.target_on)
    if recorded != (decision.title, decision.flags, decision.target_on):
        yield Problem(
            first,
            "state",
            f"decision {decision.id}: the stored title, flags or target date differ from what "
            "its audit events record (register, amend): the decisions table was edited outside "
            "the engine",
        )
        return
    recorded_id, recorded_version = history.procedure
    stored = {
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
        "procedure": history.procedure,
        "sponsor": history.sponsor,
        "co_sponsors": history.co_sponsors,
        "assignments": history.assignments,
        "catalogue_year": history.catalogue_year,
        "registered_on": history.registered_on,
    }
    differ = sorted(k for k in stored if stored[k] != events_say[k])
    if proc is not None and (
        proc.id != recorded_id or recorded_version not in (None, proc.version)
    ):
        differ.append("definition")  # pinned at upgrade to another procedure than registered
    if differ:
        yield Problem(
            first,
            "state",
            f"decision {decision.id}: the stored {', '.join(differ)} differ from what its "
            "register and migration events record: the decisions table was edited outside the "
            "engine",
        )
        return
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
        yield Problem(
            first,
            "state",
            f"decision {decision.id}: the stored step attempts differ "
            f"from what its audit events record (first at position {where}, step "
            f"{step}): the state tables were edited outside the engine",
        )
        return
    if proc is None:
        return  # not reached: an unpinned decision has a migration, which pins it
    view = plan(
        proc, history.flags, attempts, decision.registered_on, cal, target_on=history.target_on
    )
    if (decision.status, decision.version) != (view.status, changes):
        yield Problem(
            first,
            "state",
            f"decision {decision.id}: stored status/version "
            f"{decision.status}/{decision.version} ≠ {view.status}/{changes} from its "
            "audit events: the decisions table was edited outside the engine",
        )
