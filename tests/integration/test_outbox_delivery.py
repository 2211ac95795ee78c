"""Delivering outbox rows (``app.outbox.deliver``) on both databases with real channels: a JSON
Lines file and a webhook on a local HTTP server.  Exactly once per channel; superseded messages
are recorded, not sent; errors are kept redacted for the next try."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from app import outbox
from app.commands import Commands
from notify.channels import JsonlNotifier, MultiNotifier, Notifier, WebhookNotifier
from notify.messages import message_for
from notify.redact import redact
from store.fastsql import SQL
from store.uow import UnitOfWork

CLOCK = datetime(2026, 1, 10, 1, tzinfo=UTC)
WORKER = "test-worker"


class Hook:
    """A webhook on 127.0.0.1 answering each POST with the next status of ``statuses``."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.bodies: list[dict] = []
        self.paths: list[str] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                hook.bodies.append(json.loads(body))
                hook.paths.append(self.path)
                status = hook.statuses.pop(0) if hook.statuses else 200
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "600")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        port = self.server.server_address[1]
        self.url = f"http://user:PASSWORD1@127.0.0.1:{port}/hook?access_token=TOKEN123"


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.server.shutdown()
    h.server.server_close()


@pytest.fixture
def cmds(db, tmp_path) -> Commands:
    return Commands(db, tmp_path / "home", clock=lambda: CLOCK)


def channels(multi: MultiNotifier) -> dict[str, outbox.Channel]:
    """As the flows build them: one callable per named notifier."""

    def sender(n: Notifier) -> outbox.Channel:
        return lambda row, title: n.send(
            message_for(row.kind, row.decision_id or "", row.payload, title)
        )

    return {name: sender(n) for name, n in multi.channels}


def drafting_open(cmds: Commands) -> str:
    d = cmds.register(
        title="某区计划",
        procedure_id="national-2019",
        sponsor="区住建委",
        actor="a",
        on=date(2025, 3, 3),
    ).id
    cmds.start(d, "drafting", actor="a", on=date(2025, 3, 3))
    return d


def claim_all(cmds: Commands) -> list[outbox.OutboxItem]:
    with UnitOfWork(cmds.db) as uow:  # whatever waits for a backoff is due now (a later run)
        SQL("UPDATE outbox SET available_at = created_at").run(uow.link)
        uow.commit()
    return outbox.claim(cmds, worker=WORKER, limit=100)


def lines(path: Path) -> list[dict]:
    return (
        [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
        if path.exists()
        else []
    )


def test_a_retry_sends_only_to_the_channels_that_did_not_deliver(cmds, hook, tmp_path):
    drafting_open(cmds)
    jsonl = tmp_path / "alerts.jsonl"
    multi = MultiNotifier([JsonlNotifier(jsonl), WebhookNotifier(hook.url)])
    hook.statuses = [500]  # the webhook fails once
    (row,) = [r for r in claim_all(cmds) if r.payload["event"] == "step_open"]
    first = outbox.deliver(cmds, row, channels(multi), worker=WORKER)
    assert first.outcome == "failed" and first.delivered == (f"jsonl:{jsonl}",)
    (again,) = [r for r in claim_all(cmds) if r.id == row.id]
    second = outbox.deliver(cmds, again, channels(multi), worker=WORKER)
    assert second.outcome == "delivered" and second.delivered == (multi.names[1],)
    assert len(lines(jsonl)) == 1  # the file had it: not written twice
    assert len(hook.bodies) == 2  # one failed attempt, one delivery
    state = outbox.item(cmds, row.id)
    assert state is not None and state.done and state.outcome == "delivered"
    assert state.channels == {f"jsonl:{jsonl}", multi.names[1]}


def test_a_channel_keeps_its_delivery_record_when_notify_toml_is_reordered(cmds, hook):
    """Two robots on one host (as every WeCom robot is): each keeps its identity whatever the
    order of the configuration, so a retry after reordering sends only to the one that failed."""
    drafting_open(cmds)
    first, second = f"{hook.url}?key=AAA", f"{hook.url}?key=BBB"
    hook.statuses = [200, 500]  # the first robot delivers, the second fails
    (row,) = [r for r in claim_all(cmds) if r.payload["event"] == "step_open"]
    before = MultiNotifier([WebhookNotifier(first), WebhookNotifier(second)])
    assert outbox.deliver(cmds, row, channels(before), worker=WORKER).outcome == "failed"
    after = MultiNotifier([WebhookNotifier(second), WebhookNotifier(first)])  # edited file
    (again,) = [r for r in claim_all(cmds) if r.id == row.id]
    assert outbox.deliver(cmds, again, channels(after), worker=WORKER).outcome == "delivered"
    assert [p.rsplit("=", 1)[-1] for p in hook.paths] == ["AAA", "BBB", "BBB"]
    assert "AAA" not in " ".join(after.names) and "BBB" not in " ".join(after.names)


def test_a_step_message_whose_state_no_longer_holds_is_superseded_not_sent(cmds, tmp_path):
    d = drafting_open(cmds)
    cmds.complete(d, "drafting", actor="a", on=date(2025, 3, 10))  # drafting closed meanwhile
    jsonl = tmp_path / "alerts.jsonl"
    rows = [r for r in claim_all(cmds) if r.payload.get("step") == "drafting"]
    assert [r.payload["event"] for r in rows] == ["step_ready", "step_open"]
    for row in rows:
        settled = outbox.deliver(
            cmds, row, channels(MultiNotifier([JsonlNotifier(jsonl)])), worker=WORKER
        )
        assert settled.outcome == "superseded"
        state = outbox.item(cmds, row.id)
        assert state is not None and state.done and state.outcome == "superseded"
    assert lines(jsonl) == []
    assert not [r for r in claim_all(cmds) if r.payload.get("step") == "drafting"]  # settled


def test_a_message_that_still_holds_is_delivered(cmds, tmp_path):
    drafting_open(cmds)
    jsonl = tmp_path / "alerts.jsonl"
    multi = MultiNotifier([JsonlNotifier(jsonl)])
    outcomes = {
        r.payload["event"]: outbox.deliver(cmds, r, channels(multi), worker=WORKER).outcome
        for r in claim_all(cmds)
        if r.payload.get("step") == "drafting"
    }
    # registered ready, then opened: the ready message is superseded by the open one
    assert outcomes == {"step_ready": "superseded", "step_open": "delivered"}
    assert [x["data"]["event"] for x in lines(jsonl)] == ["step_open"]


def test_a_failure_is_kept_redacted_and_retried_no_sooner_than_retry_after(cmds, hook):
    drafting_open(cmds)
    hook.statuses = [429]

    def leaky(row: outbox.OutboxItem, title: str) -> None:  # an error text quoting its URL
        WebhookNotifier(hook.url).send(
            message_for(row.kind, row.decision_id or "", row.payload, title)
        )

    (row,) = [r for r in claim_all(cmds) if r.payload["event"] == "step_open"]
    secrets = ("TOKEN123", "PASSWORD1")

    def failing(row: outbox.OutboxItem, title: str) -> None:
        raise RuntimeError(f"POST {hook.url} failed")

    settled = outbox.deliver(
        cmds, row, {"hook": failing, "leaky": leaky}, worker=WORKER, redact=redact
    )
    assert settled.outcome == "failed"
    state = outbox.item(cmds, row.id)
    assert state is not None and not state.done and state.last_error
    assert "failed" in state.last_error and "HTTP 429" in state.last_error
    assert not any(s in state.last_error for s in secrets), state.last_error
    with UnitOfWork(cmds.db, write=False) as uow:
        (available,) = SQL("SELECT available_at FROM outbox WHERE id = :id").rows(
            uow.link, {"id": row.id}
        )[0]
    # the server's Retry-After (600 s) beats the first backoff (5 s)
    later = CLOCK.replace(tzinfo=None) + timedelta(seconds=600)
    assert str(available).replace("T", " ")[:19] == str(later)[:19]
