"""The outbox as the automated work sees it: claim due rows, record each one's result, give back
what a stopping worker did not finish.  (The rows are written by the commands, in the same
transaction as the change that causes them.)"""

from __future__ import annotations

from app.commands import Commands
from store.outbox import OutboxItem

__all__ = ["claim", "finish", "release"]


def claim(cmds: Commands, *, worker: str, limit: int) -> list[OutboxItem]:
    with cmds.unit() as uow:
        claimed = uow.outbox.claim(worker=worker, now=cmds.clock(), limit=limit)
        uow.commit()
    return claimed


def finish(
    cmds: Commands, item_id: int, *, worker: str, tries: int, error: str | None = None
) -> None:
    """Mark an item done, or (``error``) failed: it is tried again later with backoff."""
    now = cmds.clock()
    with cmds.unit() as uow:
        if error is None:
            uow.outbox.done(item_id, now=now, worker=worker)
        else:
            uow.outbox.failed(item_id, error=error, now=now, tries=tries, worker=worker)
        uow.commit()


def release(cmds: Commands, worker: str) -> int:
    """Give back the rows this worker claimed but did not finish (on a clean stop)."""
    with cmds.unit() as uow:
        count = uow.outbox.release(worker)
        uow.commit()
    return count
