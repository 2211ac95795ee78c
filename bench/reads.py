"""The CPU one read costs the server: each read route of the JSON API and the console asked by
one sequential client (no queueing, so the figure is the request's own time and much less
sensitive to the machine's load than the 16-client p95 of `bench/api.py` and `bench/web.py`),
or profiled in-process with cProfile.

usage: .venv/bin/python bench/reads.py [--decisions 100000] [--engine sqlite|postgresql]
                                       [--requests 200] [--profile ROUTE [--top 40]]

Server mode (the default): `decide web --workers 1` on a fresh copy of the seed
(`bench/seed.py`), one keep-alive connection, ``--requests`` requests per route after 20
untimed ones; the median and p90 of the server's own time (its `Server-Timing` header) and of
the client's wait.  Routes: `GET /api/v1/me` (the framework's floor: a token check and a tiny
body), `/api/v1/inbox` (the sponsor's 50 most urgent of its unit's N/20 items),
`/api/v1/decisions/{id}`, `/api/v1/decisions` (a page of 50), and the console's `/inbox`, a
decision page and `/decisions`, signed in as the same sponsor.

``--profile ROUTE`` (one of the names printed): the app in this process under cProfile, called
through httpx's ASGI transport with FastAPI's worker-thread hand-offs run inline (so one thread
does all the work and cProfile sees it), ``--requests`` requests after 20 untimed ones; the
functions by own time and by cumulative time.  A reference in the same run: a fixed
pure-Python loop (ms), and the load average.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench import seed  # noqa: E402
from bench.api import PG_BASE, accounts, cpu_reference, free_port, load, pct, unit_ids  # noqa: E402

DECIDE = str(Path(sys.executable).parent / "decide")
_DUR = re.compile(r"app;dur=([0-9.]+)")


def routes(read_id: str) -> dict[str, tuple[str, bool]]:
    """Name → (path, as the console: by session cookie rather than bearer token)."""
    return {
        "api:me": ("/api/v1/me", False),
        "api:inbox": ("/api/v1/inbox", False),
        "api:decision": (f"/api/v1/decisions/{read_id}", False),
        "api:list": ("/api/v1/decisions", False),
        "web:inbox": ("/inbox", True),
        "web:decision": (f"/decisions/{read_id}", True),
        "web:list": ("/decisions", True),
    }


def headers_for(token: str, console: bool) -> dict[str, str]:
    return (
        {"Cookie": f"decide_session={token}"} if console else {"Authorization": f"Bearer {token}"}
    )


def home_for(args: Any) -> tuple[Any, str, str, str]:
    """A fresh copy of the seed: its URL, services, a sponsor's token and the decision read."""
    from app.bootstrap import bootstrap

    work = Path(f"/tmp/decide-reads-bench-{args.decisions}-run")
    if args.engine == "sqlite":
        shutil.rmtree(work, ignore_errors=True)
        url = seed.sqlite_copy(args.decisions, work)
    else:
        url = seed.copy_to_postgresql(args.decisions, PG_BASE, "decide_reads_bench")
    home = work / "home"
    home.mkdir(parents=True, exist_ok=True)
    cmds = bootstrap(home=home, database_url=url)
    token, _ = accounts(cmds)
    return url, cmds, token, unit_ids(args.decisions, 0)[-1]


def over_server(url: str, cmds: Any, token: str, read_id: str, args: Any) -> None:
    import http.client

    home = cmds.home
    env = {k: v for k, v in os.environ.items() if not k.startswith("DECIDE_")}
    env.update(DECIDE_HOME=str(home), DECIDE_DATABASE_URL=url)
    port = free_port()
    log = (home.parent.parent / "decide-reads-bench-web.log").open("wb")
    server = subprocess.Popen([DECIDE, "web", "--port", str(port), "--workers", "1"], env=env,
                              stderr=log)  # fmt: skip
    rows = []
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for _ in range(600):
            try:
                conn.request("GET", "/login")
                conn.getresponse().read()
                break
            except OSError:
                conn.close()
                time.sleep(0.1)
        spy = None
        for name, (path, console) in routes(read_id).items():
            if args.only and name != args.only:
                continue
            sent = headers_for(token, console)
            server_ms, client_ms = [], []
            for i in range(20 + args.requests):
                start = time.perf_counter()
                conn.request("GET", path, headers=sent)
                answer = conn.getresponse()
                body = answer.read()
                took = (time.perf_counter() - start) * 1000
                if answer.status != 200:
                    raise SystemExit(f"{path}: {answer.status} {body[:300]!r}")
                if i == 19 and args.spy:  # py-spy (a tool, not a dependency): pip install py-spy
                    spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "-r", "1000", "-f", "raw", "-o",
                                            args.spy, "-p", str(server.pid)])  # fmt: skip
                    time.sleep(1)
                if i >= 20:
                    found = _DUR.search(answer.getheader("server-timing") or "")
                    assert found, "no Server-Timing header"
                    server_ms.append(float(found.group(1)))
                    client_ms.append(took)
            rows.append((name, path, server_ms, client_ms, len(body)))
        if spy is not None:
            spy.send_signal(2)
            spy.wait()
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()
    print(f"{'route':<14}{'server p50':>12}{'server p90':>12}{'client p50':>12}{'bytes':>9}  path")
    for name, path, server_ms, client_ms, size in rows:
        print(f"{name:<14}{statistics.median(server_ms):>10.2f}ms{pct(server_ms, 0.9):>10.2f}ms"
              f"{statistics.median(client_ms):>10.2f}ms{size:>9}  {path}")  # fmt: skip


def profiled(cmds: Any, token: str, read_id: str, args: Any) -> None:
    import asyncio
    import cProfile
    import pstats

    import anyio.to_thread
    import httpx

    from api.app import create_app

    async def inline(func: Any, *a: Any, **_: Any) -> Any:  # one thread: cProfile sees it all
        return func(*a)

    anyio.to_thread.run_sync = inline  # type: ignore[assignment]
    path, console = routes(read_id)[args.profile]
    app = create_app(lambda: cmds)
    sent = headers_for(token, console)

    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            for _ in range(20):
                assert (await client.get(path, headers=sent)).status_code == 200
            profile = cProfile.Profile()
            start = time.perf_counter()
            profile.enable()
            for _ in range(args.requests):
                await client.get(path, headers=sent)
            profile.disable()
            took = (time.perf_counter() - start) * 1000 / args.requests
            print(f"{args.profile} {path}: {took:.2f} ms a request under cProfile")
            stats = pstats.Stats(profile).strip_dirs()
            stats.sort_stats("tottime").print_stats(args.top)
            stats.sort_stats("cumulative").print_stats(args.top)

    asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--decisions", type=int, default=100_000)
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--profile", default=None, help="a route's name: profile it in-process")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--only", default=None, help="a route's name: ask only that one")
    parser.add_argument(
        "--spy", default=None, help="with --only: py-spy's raw samples to this file"
    )
    args = parser.parse_args()
    url, cmds, token, read_id = home_for(args)
    ref, before = cpu_reference(), load()
    try:
        if args.profile:
            profiled(cmds, token, read_id, args)
        else:
            over_server(url, cmds, token, read_id, args)
    finally:
        cmds.db.close()
    print(f"{args.engine}, {args.decisions:,} decisions, one sequential client, "
          f"{args.requests} requests a route; reference loop {ref:.0f} / {cpu_reference():.0f} "
          f"ms before / after, load average {before} / {load()}")  # fmt: skip


if __name__ == "__main__":
    main()
