"""Whole Prefect flows under the test harness (kept few): scan, then drain to a real webhook;
flow-run parameters carry ids only, and no secret reaches Prefect or a stored error."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from sqlalchemy import make_url

from app.commands import Commands
from store.dbapi import Database
from store.fastsql import SQL
from store.uow import UnitOfWork

PASSWORD, TOKEN = "Pr3fectMustNotSeeMe", "T0kenMustNotLeak"


class Flaky(BaseHTTPRequestHandler):
    """Answers 500 to the first ``failures`` requests, then 200; records every body."""

    bodies: ClassVar[list[dict]] = []
    failures: ClassVar[int] = 0

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        Flaky.bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(500 if len(Flaky.bodies) <= Flaky.failures else 200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[str]:
    Flaky.bodies, Flaky.failures = [], 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://hook:{PASSWORD}@127.0.0.1:{server.server_address[1]}/hook?access_token={TOKEN}"
    server.shutdown()


def home_with(tmp_path: Path, webhook: str) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "notify.toml").write_text(
        f'console = false\njsonl = "alerts.jsonl"\n[[webhook]]\nurl = "{webhook}"\n',
        encoding="utf-8",
    )
    return home


def drafting_open(db: Database, home: Path) -> Commands:
    cmds = Commands(db, home, clock=lambda: datetime(2026, 1, 10, tzinfo=UTC))
    d = cmds.register(
        title="某区计划",
        procedure_id="national-2019",
        sponsor="区住建委",
        actor="a",
        on=date(2025, 3, 3),
    ).id
    cmds.start(d, "drafting", actor="a", on=date(2025, 3, 3))  # due 2025-05-06
    with UnitOfWork(db) as uow:  # deliver only the alerts in these tests
        SQL("UPDATE outbox SET done_at = created_at").run(uow.link)
        uow.commit()
    return cmds


def due_again(db: Database) -> None:
    with UnitOfWork(db) as uow:  # the backoff has passed
        SQL("UPDATE outbox SET available_at = created_at").run(uow.link)
        uow.commit()


def test_a_flaky_webhook_gets_one_message_per_scan_and_the_file_gets_it_once(
    prefect_harness, database_url, tmp_path, webhook
):
    from flows.orchestration import drain, scan_flow, use

    home = home_with(tmp_path, webhook)
    db = Database(database_url)
    use(drafting_open(db, home))
    Flaky.failures = 2
    raised = asyncio.run(scan_flow(date(2025, 5, 7)))
    assert [r["level"] for r in raised] == ["due_soon", "due_today", "overdue"]
    results = [asyncio.run(drain(worker="test"))]
    due_again(db)
    results += [asyncio.run(drain(worker="test"))]
    due_again(db)
    results += [asyncio.run(drain(worker="test"))]
    # one message (the highest level) per step attempt; no Prefect retries: one attempt a drain
    assert [[r["ok"] for r in run] for run in results] == [[False], [False], [True]]
    assert len(Flaky.bodies) == 3 and Flaky.bodies[-1]["data"]["level"] == "overdue"
    lines = (home / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1 and "已逾期" in lines[0]  # the file had it at once: never again
    db.close()


def test_no_secret_reaches_prefects_parameters_or_the_stored_errors(
    prefect_harness, database_url, tmp_path, webhook
):
    from prefect.client.orchestration import get_client

    from app.bootstrap import bootstrap
    from flows.orchestration import drain, scan_flow, use

    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":  # the test server trusts: any password works
        database_url = url.set(password=PASSWORD).render_as_string(hide_password=False)
    home = home_with(tmp_path, webhook)
    db = Database(database_url)
    drafting_open(db, home)
    use(bootstrap(database_url=database_url, home=home, migrate=False))
    Flaky.failures = 1
    asyncio.run(scan_flow(date(2025, 5, 7)))
    assert [r["ok"] for r in asyncio.run(drain(worker="test"))] == [False]

    async def parameters() -> list[dict]:
        async with get_client() as client:
            return [run.parameters for run in await client.read_flow_runs()]

    seen = json.dumps(asyncio.run(parameters()), default=str)
    assert '"items"' in seen and '"as_of"' in seen  # read back from Prefect: ids only
    assert PASSWORD not in seen and TOKEN not in seen and "database_url" not in seen
    with UnitOfWork(db, write=False) as uow:
        errors = [r[0] for r in SQL("SELECT last_error FROM outbox").rows(uow.link) if r[0]]
    assert errors and all(PASSWORD not in e and TOKEN not in e for e in errors)
    db.close()
