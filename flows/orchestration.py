"""Prefect flows around the store: drain the outbox per decision, scan deadlines.

Reads as: load → decide → persist → notify.  Each decision's outbox rows run in one flow run
tagged with the decision id (so the Prefect UI shows each decision's runs); each row is one task
that does one side effect.  Flow and task parameters carry ids only (a decision id, outbox row
ids, the worker's name, a date): the Prefect server stores and shows parameters, so the store
and the notifiers come from the serving process's own configuration (:func:`use`, or the
composition root :func:`app.bootstrap.bootstrap` reading the environment), never from a
parameter.  No Prefect retries: the outbox's durable backoff is the one retry layer (why: see
:mod:`app.outbox`), and whatever fails stays in the outbox for a later try.  Every error text
that is stored or printed is redacted first (:mod:`notify.redact`).  Only ``decide serve`` and
``decide demo`` import this module.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

from prefect import flow, tags, task

from app import outbox
from app.alerts import scan
from app.bootstrap import bootstrap
from app.commands import Commands
from app.outbox import OutboxItem
from app.work import build_archive, build_package
from notify.channels import MultiNotifier, Notifier, build_notifier, load_notify_settings
from notify.messages import message_for
from notify.redact import redact

__all__ = ["Services", "decision_flow", "drain", "release_claims", "scan_flow", "services", "use"]


@dataclass(frozen=True)
class Services:
    """What the flows of this process work on: its store and its notifiers."""

    cmds: Commands
    notifier: MultiNotifier
    secrets: tuple[str, ...] = ()

    def redact(self, text: str) -> str:
        return redact(text, self.secrets)


_current: list[Services] = []  # this process's services (one; a list so nothing is global-rebound)


def use(cmds: Commands, notifier: MultiNotifier | None = None) -> Services:
    """Make ``cmds`` (and its home's notifiers) what this process's flows work on.  Reads and
    checks ``notify.toml`` now, so a mistake in it stops ``serve`` at start, not at delivery."""
    settings = load_notify_settings(cmds.home)
    made = Services(cmds, notifier or build_notifier(settings), settings.secrets())
    _current[:] = [made]
    return made


def services() -> Services:
    """This process's services; by default from its environment (``DECIDE_HOME``, ...)."""
    if not _current:
        use(bootstrap(migrate=False))
    return _current[0]


def _channels(notifier: MultiNotifier) -> dict[str, outbox.Channel]:
    def sender(n: Notifier) -> outbox.Channel:
        def send(row: OutboxItem, title: str) -> None:
            n.send(message_for(row.kind, row.decision_id or "", row.payload, title))

        return send

    return {name: sender(n) for name, n in notifier.channels}


@task(name="outbox-item", task_run_name="outbox-{item_id}")
async def handle(item_id: int, worker: str) -> dict[str, Any]:
    """Carry out one outbox row: a message to each channel without it, a package, an archive."""
    svc = services()
    state = outbox.item(svc.cmds, item_id)
    if state is None or state.done:  # settled meanwhile (another worker took the lease over)
        return {"id": item_id, "ok": True, "outcome": "already done"}
    row = state.item
    try:
        if row.kind in ("build_package", "build_archive"):
            return _work(svc.cmds, row, worker)
        settled = outbox.deliver(
            svc.cmds, row, _channels(svc.notifier), worker=worker, redact=svc.redact
        )
    except Exception as exc:  # kept in the outbox, with the reason, for a later try
        error = svc.redact(f"{type(exc).__name__}: {exc}")
        outbox.finish(svc.cmds, row.id, worker=worker, tries=row.tries, error=error)
        return {"id": row.id, "kind": row.kind, "ok": False, "error": error}
    result = {"id": row.id, "kind": row.kind, "ok": settled.ok, "outcome": settled.outcome}
    return result | ({"error": settled.error} if settled.error else {})


def _work(cmds: Commands, row: OutboxItem, worker: str) -> dict[str, Any]:
    build = build_package if row.kind == "build_package" else build_archive
    out = build(cmds, row.decision_id or "")
    # "current": a user had it built for this state already (app.builds): no second file
    outcome = "done" if out.built else "current"
    outbox.finish(cmds, row.id, worker=worker, tries=row.tries, outcome=outcome)
    return {"id": row.id, "kind": row.kind, "ok": True, "outcome": outcome, "file": str(out.path)}


@flow(name="decision-outbox", flow_run_name="decision-{decision_id}")
async def decision_flow(decision_id: str, items: list[int], worker: str) -> list[dict[str, Any]]:
    """One decision's pending side effects (outbox row ids), in the order they were written."""
    return [await handle(item_id, worker) for item_id in items]


async def drain(*, worker: str, limit: int = 20) -> list[dict[str, Any]]:
    """Claim due outbox rows and run each decision's flow; returns what happened."""
    claimed = outbox.claim(services().cmds, worker=worker, limit=limit)
    by_decision: dict[str, list[int]] = defaultdict(list)
    for row in claimed:
        by_decision[row.decision_id or ""].append(row.id)
    results: list[dict[str, Any]] = []
    for decision_id, ids in by_decision.items():
        # rows of no decision (audit checkpoints for the witnesses) run as "decision-audit"
        with tags(f"decision:{decision_id}" if decision_id else "audit"):
            results.extend(await decision_flow(decision_id or "audit", ids, worker))
    return results


@flow(name="deadline-scan")
async def scan_flow(as_of: date) -> list[dict[str, Any]]:
    """Raise every alert level reached by ``as_of`` and not raised before (SPEC §4)."""
    raised = scan(services().cmds, as_of)
    return [
        {
            "decision": a.decision,
            "step": a.step,
            "level": a.level,
            "due_on": str(a.due_on),
            "first_reached_on": str(a.first_reached_on),
        }
        for a in raised
    ]


def release_claims(worker: str) -> int:
    """Give back the rows this worker claimed but did not finish (on a clean stop)."""
    return outbox.release(services().cmds, worker)
