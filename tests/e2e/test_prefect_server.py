"""Scale-out smoke test: the same flows against a Prefect server backed by PostgreSQL.

Starts ``prefect server start`` on a free loopback port with its database on the test
PostgreSQL server, runs ``decide serve --once`` with ``PREFECT_API_URL`` pointing at it, and
checks through the server's API that the decision's flow run was recorded there, tagged with
the decision id.  Skipped without PostgreSQL.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, make_url, text

from tests.e2e.conftest import CLI, DECIDE
from tests.integration.conftest import PG_ENV, PG_SKIP


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def prefect_server(cli: CLI, tmp_path: Path):
    if not os.environ.get(PG_ENV):
        pytest.skip(PG_SKIP)
    if "postgresql" not in cli.env["DECIDE_DATABASE_URL"]:
        pytest.skip("the scale-out smoke test runs with decide on PostgreSQL too")
    name = f"prefect_{uuid.uuid4().hex[:8]}"
    admin = create_engine(
        make_url(os.environ[PG_ENV]).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    server_db = make_url(os.environ[PG_ENV]).set(drivername="postgresql+asyncpg", database=name)
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-server"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": server_db.render_as_string(False),
    }
    bin_dir = Path(DECIDE).parent
    proc = subprocess.Popen(
        [str(bin_dir / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    api = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            pytest.fail("the Prefect server did not start within 90 s")
        yield api
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_flows_run_against_a_prefect_server_on_postgresql(cli: CLI, prefect_server: str):
    decision = cli.json(
        "register",
        "--title",
        "扩展部署冒烟测试",
        "--procedure",
        "national-2019",
        "--sponsor",
        "市发改委",
        "--on",
        "2026-09-01",
    ).json()["id"]
    assert cli("start", decision, "drafting", "--on", "2026-09-01").code == 0
    env = {**cli.env, "PREFECT_API_URL": prefect_server, "DECIDE_NOTIFY_CONSOLE": "0"}
    run = subprocess.run(
        [DECIDE, "serve", "--once"], env=env, capture_output=True, text=True, timeout=180
    )
    assert run.returncode == 0, run.stdout + run.stderr
    found = httpx.post(
        f"{prefect_server}/flow_runs/filter",
        timeout=10,
        json={"flow_runs": {"tags": {"all_": [f"decision:{decision}"]}}},
    ).json()
    assert found and all(r["state_type"] == "COMPLETED" for r in found)
    scans = httpx.post(
        f"{prefect_server}/flows/filter",
        timeout=10,
        json={"flows": {"name": {"any_": ["deadline-scan"]}}},
    ).json()
    assert scans, "the deadline scan ran on the server too"
