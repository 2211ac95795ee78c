"""``decide serve`` as a real process: it scans, delivers an alert, and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

from store.dbapi import Database
from store.fastsql import SQL
from store.uow import UnitOfWork
from tests.e2e.conftest import CLI, DECIDE


# SQLite only: what serve runs on PostgreSQL (the scan, the outbox, the checkpoints) is tested in
# process on both engines (tests/flows); here the point is the process — its signals and exit
def test_serve_delivers_alerts_and_stops_cleanly_on_sigterm(cli: CLI, tmp_path: Path):
    home = Path(cli.env["DECIDE_HOME"])
    r = cli.json(
        "register",
        "--title",
        "某区2026年背街小巷整治方案",
        "--procedure",
        "national-2019",
        "--sponsor",
        "区城管委",
        "--on",
        "2026-09-01",
    )
    decision = r.json()["id"]
    assert cli("start", decision, "drafting", "--on", "2026-09-01").code == 0  # due 2026-11-02
    home.mkdir(exist_ok=True)
    (home / "notify.toml").write_text('console = true\njsonl = "alerts.jsonl"\n', encoding="utf-8")
    proc = subprocess.Popen(
        [DECIDE, "serve", "--drain-seconds", "1"],
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    alerts = home / "alerts.jsonl"
    deadline = time.monotonic() + 120
    lines: list[dict] = []
    while time.monotonic() < deadline and proc.poll() is None:
        if alerts.exists():
            lines = [json.loads(x) for x in alerts.read_text(encoding="utf-8").splitlines()]
            if any(x["kind"] == "alert" for x in lines):
                break
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=180)  # Prefect flushes its events on the way out
    assert proc.returncode == 0, out
    assert "stopped cleanly" in out
    # Prefect's logs and events were sent before its server stopped, not retried against it
    assert "Error logging to API" not in out, out
    # the first scan catches up four levels: one message, the highest, with each level's day
    (alert,) = [x["data"] for x in lines if x["kind"] == "alert"]
    assert alert["level"] == "escalated", out
    assert [lv for lv, _ in alert["reached"]] == ["due_soon", "due_today", "overdue", "escalated"]
    assert alert["notify"] == ["decision_body", "sponsor"]
    # nothing lost: whatever the stop interrupted is still in the outbox, unclaimed, and the
    # next run delivers it — without delivering anything twice
    again = subprocess.run(
        [DECIDE, "serve", "--once"], env=cli.env, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stdout + again.stderr
    db = Database(cli.env["DECIDE_DATABASE_URL"])
    with UnitOfWork(db, write=False) as uow:
        assert uow.outbox.pending() == 0
        assert [e.action for e in uow.audit.events(decision)].count("alert") == 4
    db.close()
    final = [json.loads(x) for x in alerts.read_text(encoding="utf-8").splitlines()]
    assert sorted(x["key"] for x in final) == sorted({x["key"] for x in final})  # no duplicates


def test_a_mistake_in_notify_toml_stops_serve_at_start_naming_the_key(cli: CLI):
    home = Path(cli.env["DECIDE_HOME"])
    r = cli.json(
        "register", "--title", "某区计划", "--procedure", "national-2019", "--sponsor", "区城管委"
    )
    assert r.code == 0, r.err
    home.mkdir(exist_ok=True)
    (home / "notify.toml").write_text("consle = true\n", encoding="utf-8")
    run = subprocess.run(
        [DECIDE, "serve", "--once"], env=cli.env, capture_output=True, text=True, timeout=180
    )
    out = run.stdout + run.stderr
    assert run.returncode != 0, out
    assert "未知配置项 unknown key 'consle'" in out and "did you mean 'console'" in out, out
    assert "Traceback" not in out
    db = Database(cli.env["DECIDE_DATABASE_URL"])
    with UnitOfWork(db, write=False) as uow:  # nothing was tried: no delivery failed later
        assert uow.outbox.pending() > 0
        assert SQL("SELECT max(tries) FROM outbox").rows(uow.link) == [(0,)]
    db.close()


def test_a_prefect_server_that_does_not_start_is_a_clear_error_and_leaves_no_process(
    cli: CLI,
):
    """Prefect's temporary server is started up front and stopped on every way out: here it
    is given no time to answer, so ``serve`` fails at once — with a message, not a traceback —
    and the server process it spawned is gone when ``serve`` has exited."""
    env = {**cli.env, "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "0"}
    r = subprocess.run(
        [DECIDE, "serve", "--once"], env=env, capture_output=True, text=True, timeout=120
    )
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "Prefect's local server did not start" in out and "PREFECT_API_URL" in out
    assert "Traceback" not in out
    port = int(re.search(r"Starting temporary server on http://127\.0\.0\.1:(\d+)", out)[1])
    with socket.socket() as s:  # nothing listens there…
        assert s.connect_ex(("127.0.0.1", port)) != 0
    assert (
        not [  # …and no server process for that port is left running
            p
            for p in Path("/proc").glob("[0-9]*/cmdline")
            if _readable(p) and f"--port\0{port}\0" in _readable(p) and "uvicorn" in _readable(p)
        ]
    )


def _readable(cmdline: Path) -> str:
    try:
        return cmdline.read_bytes().decode(errors="replace")
    except OSError:  # the process has gone meanwhile
        return ""
