"""Prefect flows around the store: drain the outbox per decision, scan deadlines.

Reads as: load → decide → persist → notify.  Each decision's outbox rows run in one flow run
tagged with the decision id (so the Prefect UI shows each decision's runs); each row is one task
that does one side effect.  Tasks retry transient failures only (a webhook answering 500, a
disk error); a business refusal (``BusinessRefusal``) or a permanent delivery error is never
retried by Prefect.  Whatever still fails stays in the outbox and is tried again later with
backoff: nothing is dropped.  Only ``decide serve`` and ``decide demo`` import this module.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

from prefect import flow, tags, task
from pydantic import BaseModel

from app import outbox
from app.alerts import scan
from app.bootstrap import bootstrap
from app.commands import Commands
from app.work import BusinessRefusal, build_archive, build_package
from notify.channels import DeliveryError, MultiNotifier, build_notifier, load_notify_settings
from notify.messages import message_for

__all__ = ["StoreRef", "decision_flow", "drain", "scan_flow"]


class StoreRef(BaseModel):
    """Where the store is: what tasks get instead of sessions or rows."""

    database_url: str
    home: str


def _commands(ref: StoreRef) -> Commands:
    return _commands_for(ref.database_url, ref.home)


@functools.cache
def _commands_for(database_url: str, home: str) -> Commands:
    return bootstrap(database_url=database_url, home=home, migrate=False)


@functools.cache
def _notifier(home: str) -> MultiNotifier:
    return build_notifier(load_notify_settings(Path(home)))


def _transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only what may succeed later."""
    try:
        state.result()
    except BusinessRefusal:
        return False
    except DeliveryError as exc:
        return not exc.permanent
    except Exception:
        return True
    return False


@task(name="outbox-item", retries=2, retry_delay_seconds=[1, 3], retry_condition_fn=_transient)
async def handle(ref: StoreRef, item: dict[str, Any]) -> dict[str, Any]:
    cmds = _commands(ref)
    kind, decision_id = item["kind"], item["decision_id"]
    if kind == "build_package":
        out = build_package(cmds, decision_id)
        return {"kind": kind, "file": str(out.path), "complete": out.detail["complete"]}
    if kind == "build_archive":
        out = build_archive(cmds, decision_id)
        return {"kind": kind, "file": str(out.path)}
    title = item["payload"].get("title") or cmds.status(decision_id)[0].title
    _notifier(ref.home).send(message_for(kind, decision_id, item["payload"], title))
    return {"kind": kind, "sent": True}


@flow(name="decision-outbox", flow_run_name="decision-{decision_id}")
async def decision_flow(
    ref: StoreRef, decision_id: str, items: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """One decision's pending side effects, in the order they were written."""
    cmds = _commands(ref)
    results = []
    for item in items:
        # an async task called in an async flow returns an awaitable (Prefect's overloads say State)
        state = await handle(ref, item, return_state=True)  # type: ignore[misc]
        if state.is_completed():
            outbox.finish(cmds, item["id"], worker=item["worker"], tries=item["tries"])
            results.append({"id": item["id"], "ok": True, **(await state.aresult())})
        else:
            error = repr(await state.aresult(raise_on_failure=False))
            outbox.finish(cmds, item["id"], worker=item["worker"], tries=item["tries"], error=error)
            results.append({"id": item["id"], "ok": False, "error": error})
    return results


async def drain(ref: StoreRef, *, worker: str, limit: int = 20) -> list[dict[str, Any]]:
    """Claim due outbox rows and run each decision's flow; returns what happened."""
    cmds = _commands(ref)
    claimed = outbox.claim(cmds, worker=worker, limit=limit)
    by_decision: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in claimed:
        by_decision[item.decision_id or ""].append(
            {
                "id": item.id,
                "decision_id": item.decision_id,
                "kind": item.kind,
                "payload": item.payload,
                "tries": item.tries,
                "worker": worker,
            }
        )
    results: list[dict[str, Any]] = []
    for decision_id, items in by_decision.items():
        with tags(f"decision:{decision_id}"):
            results.extend(await decision_flow(ref, decision_id, items))
    return results


@flow(name="deadline-scan")
async def scan_flow(ref: StoreRef, as_of: date) -> list[dict[str, Any]]:
    """Raise every alert level reached by ``as_of`` and not raised before (SPEC §4)."""
    raised = scan(_commands(ref), as_of)
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


def release_claims(ref: StoreRef, worker: str) -> int:
    """Give back the rows this worker claimed but did not finish (on a clean stop)."""
    return outbox.release(_commands(ref), worker)
