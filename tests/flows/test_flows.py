"""Whole Prefect flows under the test harness (kept few): scan, then drain to a real webhook."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from app.commands import Commands
from store.dbapi import Database
from store.fastsql import SQL
from store.uow import UnitOfWork


class Flaky(BaseHTTPRequestHandler):
    """Answers 500 to the first two requests, then 200; records every body."""

    bodies: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        Flaky.bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(500 if len(Flaky.bodies) <= 2 else 200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook():
    Flaky.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def test_scan_then_drain_delivers_alerts_through_a_flaky_webhook(
    prefect_harness, database_url, tmp_path, webhook
):
    from flows.orchestration import StoreRef, drain, scan_flow

    home = tmp_path / "home"
    home.mkdir()
    (home / "notify.toml").write_text(
        f'console = false\njsonl = "alerts.jsonl"\n[[webhook]]\nurl = "{webhook}"\n',
        encoding="utf-8",
    )
    db = Database(database_url)
    db.ensure_schema()
    cmds = Commands(db, home, clock=lambda: datetime(2026, 1, 10, tzinfo=UTC))
    d = cmds.register(
        title="某区计划",
        procedure_id="national-2019",
        sponsor="区住建委",
        actor="a",
        on=date(2025, 3, 3),
    ).id
    cmds.start(d, "drafting", actor="a", on=date(2025, 3, 3))  # due 2025-05-06
    with UnitOfWork(db) as uow:  # deliver only the alerts in this test
        SQL("UPDATE outbox SET done_at = created_at").run(uow.link)
        uow.commit()
    ref = StoreRef(database_url=database_url, home=str(home))
    raised = asyncio.run(scan_flow(ref, date(2025, 5, 7)))
    assert [r["level"] for r in raised] == ["due_soon", "due_today", "overdue"]
    results = asyncio.run(drain(ref, worker="test"))
    assert [r["ok"] for r in results] == [True, True, True]
    # the first alert met two 500s and went through on the third try; the rest at once
    assert len(Flaky.bodies) == 5
    assert [b["data"]["level"] for b in Flaky.bodies[2:]] == ["due_soon", "due_today", "overdue"]
    lines = (home / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3 and "已逾期" in lines[-1]
    with UnitOfWork(db, write=False) as uow:
        assert uow.outbox.pending() == 0
    assert asyncio.run(scan_flow(ref, date(2025, 5, 7))) == []  # idempotent
    db.close()
