"""Latency of the web console's pages under `decide web` with 16 concurrent sessions, beside
the application-layer calls behind them in-process (the reference: what rendering and HTTP add).

usage: .venv/bin/python bench/web.py [--decisions 100000] [--seconds 120] [--clients 16]
                                     [--requests 10] [--runs 3]

Seeds as many decisions as fit in ``--seconds`` (up to ``--decisions``; issue 14's target is
100,000) through `Commands`, cached under /tmp, then measures p50/p95 of the to-do list
(`GET /inbox`), a decision page (`GET /decisions/{id}`, with its timeline and forms) and the list
page (`GET /decisions`, 50 a page) for a sponsor signed in by cookie — medians over the runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

DECIDE = str(Path(sys.executable).parent / "decide")
UNITS = [f"区第{i}委" for i in range(20)]
PASSWORD = "bench password 2026"
BUILD_DAY = datetime(2026, 3, 2, 4, tzinfo=UTC)


def build(home: Path, url: str, n: int, seconds: float) -> int:
    from app.accounts import add_account, create_token
    from app.commands import Commands
    from store.dbapi import Database

    db = Database(url)
    db.ensure_schema()
    cmds = Commands(db, home, clock=lambda: BUILD_DAY)
    start = time.perf_counter()
    made = 0
    while made < n and time.perf_counter() - start < seconds:
        d = cmds.register(title=f"基准决策 {made}", procedure_id="national-2019",
                          sponsor=UNITS[made % len(UNITS)], actor="bench", on=date(2026, 3, 2))  # fmt: skip
        cmds.start(d.id, "drafting", actor="bench", on=date(2026, 3, 2))
        made += 1
        if made % 2000 == 0:
            print(f"  built {made} ({time.perf_counter() - start:.0f} s)", flush=True)
    add_account(cmds, None, login="admin", name="管理员", unit="区政府办公室", admin=True,
                password=PASSWORD)  # fmt: skip
    admin = cmds.identify(token=create_token(cmds, "admin", PASSWORD)[0])
    add_account(cmds, admin, login="chief", name="科长", unit=UNITS[0], roles=("sponsor",),
                password=PASSWORD)  # fmt: skip
    db.close()
    return made


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def in_threads(
    clients: int, work: Callable[[int], list[tuple[str, float]]]
) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {}
    lock = threading.Lock()
    go = threading.Barrier(clients)

    def run(c: int) -> None:
        go.wait()
        mine = work(c)
        with lock:
            for op, t in mine:
                found.setdefault(op, []).append(t)

    threads = [threading.Thread(target=run, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return found


def timed(op: str, fn: Callable[[], Any], out: list[tuple[str, float]]) -> None:
    start = time.perf_counter()
    fn()
    out.append((op, time.perf_counter() - start))


def _ok(answer: Any) -> None:
    if answer.status_code >= 300:
        raise SystemExit(f"{answer.request.url}: {answer.status_code} {answer.text[:300]}")


def sign_in(base: str) -> Any:
    import httpx

    client = httpx.Client(base_url=base, timeout=120, follow_redirects=True)
    page = client.get("/login").text
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert token
    answer = client.post("/login", data={"login": "chief", "password": PASSWORD,
                                         "csrf": token.group(1)})  # fmt: skip
    _ok(answer)
    return client


def over_http(base: str, read_id: str, clients: int, requests: int) -> dict[str, list[float]]:
    sessions = [sign_in(base) for _ in range(clients)]  # 16 sessions, each its own cookie

    def work(c: int) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        client = sessions[c]
        for _ in range(requests):
            timed("inbox", lambda: _ok(client.get("/inbox")), out)
            timed("decision", lambda: _ok(client.get(f"/decisions/{read_id}")), out)
            timed("list", lambda: _ok(client.get("/decisions")), out)
        return out

    try:
        return in_threads(clients, work)
    finally:
        for s in sessions:
            s.close()


def in_process(
    cmds: Any, token: str, read_id: str, clients: int, requests: int
) -> dict[str, list[float]]:
    from app.inbox import find_decisions, inbox
    from web.steps import offers_for

    def work(c: int) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        for _ in range(requests):
            who = cmds.identify(token=token)
            timed("inbox", lambda who=who: inbox(cmds, who, cmds.today()), out)

            def decision(who: Any = who) -> None:
                d, view = cmds.status(read_id, who=who)
                offers_for(cmds, who, d, view, cmds.procedure_of(d))

            timed("decision", decision, out)
            timed("list", lambda who=who: find_decisions(cmds, who, cmds.today(), limit=50), out)
        return out

    return in_threads(clients, work)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--decisions", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=120, help="seeding budget")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=10, help="per session and run")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    cache = Path(f"/tmp/decide-web-bench-{args.decisions}-{int(args.seconds)}")
    if not (cache / "decide.db").exists():
        shutil.rmtree(cache, ignore_errors=True)
        cache.mkdir(parents=True)
        print(f"seeding up to {args.decisions:,} decisions for {args.seconds:.0f} s …", flush=True)
        made = build(
            cache / "home", f"sqlite:///{cache / 'decide.db'}", args.decisions, args.seconds
        )
        (cache / "count").write_text(str(made))
    made = int((cache / "count").read_text())
    url = f"sqlite:///{cache / 'decide.db'}"
    home = cache / "home"

    from app.accounts import create_token
    from app.bootstrap import bootstrap
    from app.inbox import inbox

    cmds = bootstrap(home=home, database_url=url)
    token = create_token(cmds, "chief", PASSWORD)[0]
    who = cmds.identify(token=token)
    items = inbox(cmds, who, cmds.today())
    read_id = items[-1].decision.id
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DECIDE_")}
    env.update(DECIDE_HOME=str(home), DECIDE_DATABASE_URL=url)
    log = (cache / "web.log").open("wb")
    server = subprocess.Popen([DECIDE, "web", "--port", str(port)], env=env, stderr=log)
    base = f"http://127.0.0.1:{port}"
    results: dict[str, dict[str, list[tuple[float, float]]]] = {"http": {}, "in-process": {}}
    try:
        import httpx

        for _ in range(300):
            try:
                if httpx.get(f"{base}/login", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        for run in range(args.runs):
            for mode in ("http", "in-process"):
                start = time.perf_counter()
                if mode == "http":
                    found = over_http(base, read_id, args.clients, args.requests)
                else:
                    found = in_process(cmds, token, read_id, args.clients, args.requests)
                for op, ts in found.items():
                    results[mode].setdefault(op, []).append((statistics.median(ts), pct(ts, 0.95)))
                print(f"  run {run + 1} {mode}: {time.perf_counter() - start:.1f} s", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    print()
    print(
        f"decide web console on SQLite, {made:,} decisions seeded in {args.seconds:.0f} s "
        f"(target 100,000; the sponsor's to-do list holds {len(items):,}), {args.clients} "
        f"concurrent sessions × {args.requests} rounds, median of {args.runs} runs — "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"{'page':<10}{'HTTP p50':>12}{'HTTP p95':>12}{'app p50':>12}{'app p95':>12}")
    for op in ("inbox", "decision", "list"):
        h, p = results["http"][op], results["in-process"][op]
        print(
            f"{op:<10}"
            f"{statistics.median(x[0] for x in h) * 1000:>10.1f}ms"
            f"{statistics.median(x[1] for x in h) * 1000:>10.1f}ms"
            f"{statistics.median(x[0] for x in p) * 1000:>10.1f}ms"
            f"{statistics.median(x[1] for x in p) * 1000:>10.1f}ms"
        )
    cmds.db.close()


if __name__ == "__main__":
    main()
