"""Latency of the web console's pages under `decide web` with 16 concurrent sessions, beside
the application-layer calls behind them in-process (the reference: what rendering and HTTP add).

usage: .venv/bin/python bench/web.py [--decisions 100000] [--engine sqlite|postgresql]
                                     [--clients 16] [--requests 10] [--runs 3] [--workers 2]

The decisions come from `bench/seed.py` (N decisions with drafting open, cached under /tmp; the
to-do index filled as revision 0010 fills it).  A sponsor signed in by cookie in each of 16
client processes (`bench/clients.py`) reads the to-do list (`GET /inbox`, 50 of its unit's
5,000 items), a decision page (`GET /decisions/{id}`, with its timeline and forms) and the list
page (`GET /decisions`, 50 a page): p50/p95 on the server (its `Server-Timing` header, issue 14's
measure) and as the client waits, medians over the runs, beside the same calls in-process.
A reference in the same run: a fixed pure-Python loop (ms), and the load average.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench import seed  # noqa: E402
from bench.api import PG_BASE, accounts, cpu_reference, free_port, load, pct, unit_ids  # noqa: E402

DECIDE = str(Path(sys.executable).parent / "decide")
PASSWORD = "bench password 2026"
PAGES = ("inbox", "decision", "list")


def sign_in(base: str) -> str:
    """A session of the sponsor ``chief``: its cookie value."""
    import httpx

    with httpx.Client(base_url=base, timeout=120, follow_redirects=True) as client:
        page = client.get("/login").text
        token = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
        assert token
        answer = client.post("/login", data={"login": "chief", "password": PASSWORD,
                                             "csrf": token.group(1)})  # fmt: skip
        if answer.status_code >= 300:
            raise SystemExit(f"sign-in: {answer.status_code} {answer.text[:300]}")
        return str(client.cookies["decide_session"])


def over_http(port: int, cookies: list[str], read_id: str, requests: int) -> dict[str, list[float]]:
    from bench import clients as http_clients

    script: list[http_clients.Request] = []
    for _ in range(requests):
        script += [("inbox", "GET", "/inbox", None), ("decision", "GET", f"/decisions/{read_id}", None),
                   ("list", "GET", "/decisions", None)]  # fmt: skip
    headers = [{"Cookie": f"decide_session={c}"} for c in cookies]
    client, server, _ = http_clients.run(port, [script] * len(cookies), headers)
    return {**client, **{f"server:{k}": v for k, v in server.items()}}


def in_process(
    cmds: Any, token: str, read_id: str, clients: int, requests: int
) -> dict[str, list[float]]:
    from app.inbox import api_caller, find_decisions, inbox
    from web.steps import offers_for

    found: dict[str, list[float]] = {}
    lock = threading.Lock()
    go = threading.Barrier(clients)

    def timed(op: str, fn: Callable[[], Any], out: list[tuple[str, float]]) -> None:
        start = time.perf_counter()
        fn()
        out.append((op, time.perf_counter() - start))

    def work() -> None:
        out: list[tuple[str, float]] = []
        go.wait()
        for _ in range(requests):
            who = api_caller(cmds, token)  # as the console does for every page
            timed("inbox", lambda who=who: inbox(cmds, who, cmds.today()), out)

            def decision(who: Any = who) -> None:
                d, view = cmds.status(read_id, who=who)
                offers_for(cmds, who, d, view, cmds.procedure_of(d))

            timed("decision", decision, out)
            timed("list", lambda who=who: find_decisions(cmds, who, cmds.today(), limit=50), out)
        with lock:
            for op, t in out:
                found.setdefault(op, []).append(t)

    threads = [threading.Thread(target=work) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--decisions", type=int, default=100_000)
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=10, help="per session and run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="decide web --workers")
    args = parser.parse_args()
    from app.bootstrap import bootstrap

    work = Path(f"/tmp/decide-web-bench-{args.decisions}-run")
    if args.engine == "sqlite":
        import shutil

        shutil.rmtree(work, ignore_errors=True)
        url = seed.sqlite_copy(args.decisions, work)
    else:
        url = seed.copy_to_postgresql(args.decisions, PG_BASE, "decide_web_bench")
    home = work / "home"
    home.mkdir(parents=True, exist_ok=True)
    cmds = bootstrap(home=home, database_url=url)
    token, _ = accounts(cmds)
    read_id = unit_ids(args.decisions, 0)[-1]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DECIDE_")}
    env.update(DECIDE_HOME=str(home), DECIDE_DATABASE_URL=url)
    log = (work.parent / "decide-web-bench-web.log").open("wb")
    server = subprocess.Popen(
        [DECIDE, "web", "--port", str(port), "--workers", str(args.workers)], env=env, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    results: dict[str, dict[str, list[tuple[float, float]]]] = {"http": {}, "in-process": {}}
    cpu, loads = [cpu_reference()], [load()]
    try:
        import httpx

        for _ in range(600):
            try:
                if httpx.get(f"{base}/login", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        cookies = [sign_in(base) for _ in range(args.clients)]  # 16 sessions, one cookie each
        over_http(port, cookies, read_id, 1)  # untimed: imports, caches, templates
        in_process(cmds, token, read_id, args.clients, 1)
        for run in range(args.runs):
            for mode in ("http", "in-process"):
                start = time.perf_counter()
                if mode == "http":
                    found = over_http(port, cookies, read_id, args.requests)
                else:
                    found = in_process(cmds, token, read_id, args.clients, args.requests)
                for op, ts in found.items():
                    results[mode].setdefault(op, []).append((statistics.median(ts), pct(ts, 0.95)))
                print(f"  run {run + 1} {mode}: {time.perf_counter() - start:.1f} s", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()
        cmds.db.close()
    cpu.append(cpu_reference())
    loads.append(load())
    print()
    print(
        f"decide web --workers {args.workers} console on {args.engine}, {args.decisions:,} "
        f"decisions (each with drafting open; the sponsor's to-do list holds "
        f"{args.decisions // len(seed.UNITS):,}), {args.clients} concurrent sessions × "
        f"{args.requests} rounds, median of {args.runs} runs — {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; reference loop "
        f"{cpu[0]:.0f} / {cpu[1]:.0f} ms before / after, load average {loads[0]} / {loads[1]}"
    )
    heads = ("server p50", "server p95", "HTTP p50", "HTTP p95", "app p50", "app p95")
    print(f"{'page':<10}" + "".join(f"{h:>12}" for h in heads))
    for op in PAGES:
        http = results["http"]
        rows = (http[f"server:{op}"], http[op], results["in-process"][op])
        cells = [statistics.median(x[k] for x in r) * 1000 for r in rows for k in (0, 1)]
        print(f"{op:<10}" + "".join(f"{c:>10.1f}ms" for c in cells))


if __name__ == "__main__":
    main()
