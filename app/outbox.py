"""The outbox as the automated work sees it: claim due rows, deliver each message exactly once
per channel, record each row's result, give back what a stopping worker did not finish.  (The
rows are written by the commands, in the same transaction as the change that causes them.)

Exactly once per channel: each channel that delivers a row gets a ``deliveries`` record,
committed at once, so a retry after one channel failed sends only to the channels without one.
(A crash between a channel's send and its record can still repeat that one channel: delivery
to a webhook or a mailbox cannot share our transaction.)

One retry layer, the outbox's own backoff (``store.outbox``: 5 s doubling, at most an hour, or
a server's Retry-After when longer).  It is durable — a row waits in the database, survives a
restart of ``decide serve`` and is taken over by another worker — whereas a notifier sleeping
between attempts or a Prefect task retry holds a worker, is lost with the process, and would
multiply with the outbox's own retries.  So a notifier makes one attempt per ``send`` and the
Prefect tasks have no retries.

Superseded: a step message (``step_ready``/``step_open``) or an alert whose state no longer holds
when it is delivered — the step attempt is no longer ready/open, the decision is decided — is not
sent: its row is marked done with ``outcome = 'superseded'`` (the ``outbox`` table, and the line
``decide serve`` prints for the row), so the first ``serve`` after weeks does not announce steps
closed long ago.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from app.commands import Commands
from procedures.planner import Plan
from store.outbox import OutboxItem, OutboxState

__all__ = [
    "Channel",
    "OutboxItem",
    "Settled",
    "claim",
    "deliver",
    "finish",
    "item",
    "release",
    "still_holds",
]

# a channel delivers one row's message, given the row and the decision's title; it raises on
# failure (an attribute ``retry_after``, seconds, asks the backoff to wait at least that long)
Channel = Callable[[OutboxItem, str], None]
_STEP_EVENTS = {"step_ready": "ready", "step_open": "open"}


@dataclass(frozen=True)
class Settled:
    """What became of one row in one run."""

    id: int
    kind: str
    outcome: str  # delivered / superseded / failed (kept for a later try)
    delivered: tuple[str, ...] = ()  # the channels that delivered it in this run
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome != "failed"


def claim(cmds: Commands, *, worker: str, limit: int) -> list[OutboxItem]:
    with cmds.unit(appends=False) as uow:
        claimed = uow.outbox.claim(worker=worker, now=cmds.clock(), limit=limit)
        uow.commit()
    return claimed


def item(cmds: Commands, item_id: int) -> OutboxState | None:
    """One row as an operator sees it (outcome, last error, the channels that delivered it)."""
    with cmds.unit(write=False) as uow:
        return uow.outbox.get(item_id)


def finish(
    cmds: Commands,
    item_id: int,
    *,
    worker: str,
    tries: int,
    error: str | None = None,
    outcome: str = "delivered",
    retry_after: float | None = None,
) -> None:
    """Mark an item done (with its ``outcome``), or (``error``) failed: it is tried again later
    with backoff, not before ``retry_after`` seconds when given."""
    now = cmds.clock()
    with cmds.unit(appends=False) as uow:
        if error is None:
            uow.outbox.done(item_id, now=now, worker=worker, outcome=outcome)
        else:
            wait = timedelta(seconds=retry_after or 0)
            uow.outbox.failed(
                item_id, error=error, now=now, tries=tries, worker=worker, at_least=wait
            )
        uow.commit()


def still_holds(view: Plan, payload: Mapping[str, object]) -> bool:
    """Whether the state a message announces still holds: its step attempt is still ready/open
    (as announced, for a step message), or the decision still undecided (a target alert)."""
    step, attempt = payload.get("step"), payload.get("attempt")
    if not step:  # the decision's target date
        return view.target_due is not None
    now = next((s for s in view.steps if s.step == step), None)
    if now is None or now.attempt != attempt:
        return False
    wanted = _STEP_EVENTS.get(str(payload.get("event", "")))
    return now.status == wanted if wanted else now.status in ("ready", "open")


def deliver(
    cmds: Commands,
    row: OutboxItem,
    channels: Mapping[str, Channel],
    *,
    worker: str,
    redact: Callable[[str], str] = str,
) -> Settled:
    """Send one message row to each channel that has not delivered it yet, recording each
    delivery; the row is done when every channel has it, superseded when its state no longer
    holds (a row of no decision, a checkpoint, always holds), else failed (its error, passed
    through ``redact``, kept for the next try)."""
    if row.decision_id is None:  # about no decision (an audit checkpoint): it always holds
        title = str(row.payload.get("title") or "")
    else:
        decision, view = cmds.status(row.decision_id)
        if not still_holds(view, row.payload):
            finish(cmds, row.id, worker=worker, tries=row.tries, outcome="superseded")
            return Settled(row.id, row.kind, "superseded")
        title = str(row.payload.get("title") or decision.title)
    with cmds.unit(write=False) as uow:
        had = uow.outbox.delivered(row.id)
    sent: list[str] = []
    failures: list[tuple[str, Exception]] = []
    for name, send in channels.items():
        if name in had:
            continue
        try:
            send(row, title)
        except Exception as exc:  # one channel failing must not stop the others
            failures.append((name, exc))
            continue
        with cmds.unit(
            appends=False
        ) as uow:  # at once: a later failure must not lose this delivery
            uow.outbox.record_delivery(row.id, channel=name, now=cmds.clock())
            uow.commit()
        sent.append(name)
    if not failures:
        finish(cmds, row.id, worker=worker, tries=row.tries)
        return Settled(row.id, row.kind, "delivered", tuple(sent))
    error = redact("; ".join(f"{name}: {exc}" for name, exc in failures))
    waits = [
        w for _, exc in failures if isinstance(w := getattr(exc, "retry_after", None), int | float)
    ]
    finish(
        cmds,
        row.id,
        worker=worker,
        tries=row.tries,
        error=error,
        retry_after=max(waits, default=None),
    )
    return Settled(row.id, row.kind, "failed", tuple(sent), error)


def release(cmds: Commands, worker: str) -> int:
    """Give back the rows this worker claimed but did not finish (on a clean stop)."""
    with cmds.unit(appends=False) as uow:
        count = uow.outbox.release(worker)
        uow.commit()
    return count
