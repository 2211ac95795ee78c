"""``decide web`` for real: a subprocess serving the API on a free port, spoken to over HTTP."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from app.accounts import add_account
from app.bootstrap import bootstrap
from tests.api.conftest import PASSWORD

DECIDE = shutil.which("decide", path=str(Path(sys.executable).parent)) or "decide"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_decide_web_serves_the_api_over_http(tmp_path: Path) -> None:
    """Two worker processes on one socket (``--workers 2``), each building its services from
    the environment; every answer says how long the server took (``Server-Timing``)."""
    url = f"sqlite:///{tmp_path / 'decide.db'}"
    cmds = bootstrap(home=tmp_path / "home", database_url=url)
    add_account(cmds, None, login="admin", name="管理员", unit="区政府办公室", admin=True,
                password=PASSWORD)  # fmt: skip
    cmds.db.close()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DECIDE_")}
    env.update(DECIDE_HOME=str(tmp_path / "home"), DECIDE_DATABASE_URL=url)
    server = subprocess.Popen(
        [DECIDE, "web", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            assert time.monotonic() < deadline, "decide web did not answer within 60 s"
            time.sleep(0.2)
        with httpx.Client(base_url=base, timeout=10) as client:
            assert client.get("/me").status_code == 401
            login = client.post("/tokens", json={"login": "admin", "password": PASSWORD})
            assert login.status_code == 201
            token = login.json()["token"]
            for _ in range(4):  # a token made through one worker is known to the other
                me = client.get("/me", headers={"Authorization": f"Bearer {token}"})
                assert me.status_code == 200 and me.json()["admin"] is True
            assert me.headers["server-timing"].startswith("app;dur=")
            accounts = client.get("/accounts", headers={"Authorization": f"Bearer {token}"})
            assert [a["login"] for a in accounts.json()["items"]] == ["admin"]
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    err = server.stderr.read().decode() if server.stderr else ""
    assert "Traceback" not in err, err
