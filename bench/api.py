"""Latency of the JSON API under `decide web` with 16 concurrent clients, beside the same
operations through the application layer in-process (so the HTTP overhead is visible).

usage: .venv/bin/python bench/api.py [--decisions 10000] [--clients 16] [--requests 25] [--runs 3]

Measured: p50/p95 of `GET /inbox` (a sponsor's), `GET /decisions/{id}` and a `complete` (drafting,
each client on decisions of its own), and commands per second (completes) — medians over the
runs.  The SQLite database is built once through `Commands` (N decisions spread over 20 sponsor
units, drafting open on each) and cached under /tmp; the accounts are added after the build.
Issue 13 asks for 100,000 decisions on SQLite and PostgreSQL; this script does SQLite, at the size
given (building 100,000 through the commands takes long: start with 10,000).
"""

from __future__ import annotations

import argparse
import os
import platform
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


def build(home: Path, url: str, n: int) -> None:
    from app.accounts import add_account, create_token
    from app.commands import Commands
    from store.dbapi import Database

    db = Database(url)
    db.ensure_schema()
    cmds = Commands(db, home, clock=lambda: BUILD_DAY)
    start = time.perf_counter()
    for i in range(n):
        d = cmds.register(
            title=f"基准决策 {i}",
            procedure_id="national-2019",
            sponsor=UNITS[i % len(UNITS)],
            actor="bench",
            on=date(2026, 3, 2),
        )
        cmds.start(d.id, "drafting", actor="bench", on=date(2026, 3, 2))
        if i % 1000 == 0:
            print(f"  built {i}/{n} ({time.perf_counter() - start:.0f} s)", flush=True)
    add_account(cmds, None, login="admin", name="管理员", unit="区政府办公室", admin=True,
                password=PASSWORD)  # fmt: skip
    admin = cmds.identify(token=create_token(cmds, "admin", PASSWORD)[0])
    add_account(cmds, admin, login="chief", name="科长", unit=UNITS[0], roles=("sponsor",),
                password=PASSWORD)  # fmt: skip
    db.close()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def in_threads(clients: int, work: Callable[[int], list[tuple[str, float]]]) -> tuple[
    dict[str, list[float]], float]:  # fmt: skip
    """Run ``work(client)`` in ``clients`` threads at once; the timings by operation and the
    wall time."""
    found: dict[str, list[float]] = {}
    lock = threading.Lock()
    go = threading.Barrier(clients + 1)

    def run(c: int) -> None:
        go.wait()
        mine = work(c)
        with lock:
            for op, t in mine:
                found.setdefault(op, []).append(t)

    threads = [threading.Thread(target=run, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    go.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return found, time.perf_counter() - start


def timed(op: str, fn: Callable[[], Any], out: list[tuple[str, float]]) -> None:
    start = time.perf_counter()
    fn()
    out.append((op, time.perf_counter() - start))


def plan_work(ids: list[str], clients: int, requests: int) -> list[list[str]]:
    """Each client's own decisions to complete drafting on (never shared: no conflicts)."""
    return [ids[c * requests : (c + 1) * requests] for c in range(clients)]


def over_http(base: str, token: str, own: list[list[str]], read_id: str, requests: int,
              clients: int, writes_only: bool = False) -> tuple[dict[str, list[float]], float]:  # fmt: skip
    import httpx

    def work(c: int) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
            for i in range(requests):
                if not writes_only:
                    timed("inbox", lambda: _ok(client.get("/inbox")), out)
                    timed("status", lambda: _ok(client.get(f"/decisions/{read_id}")), out)
                d = own[c][i]
                timed(
                    "complete",
                    lambda d=d: _ok(
                        client.post(f"/decisions/{d}/steps/drafting/complete", json={})
                    ),
                    out,
                )
        return out

    return in_threads(clients, work)


def _ok(answer: Any) -> None:
    if answer.status_code >= 300:
        raise SystemExit(f"{answer.request.url}: {answer.status_code} {answer.text[:300]}")


def in_process(cmds: Any, token: str, own: list[list[str]], read_id: str, requests: int,
               clients: int, writes_only: bool = False) -> tuple[dict[str, list[float]], float]:  # fmt: skip
    from app.inbox import inbox
    from app.requests import CompleteRequest

    def work(c: int) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        for i in range(requests):
            who = cmds.identify(token=token)  # as the API does on every request
            if not writes_only:
                timed("inbox", lambda who=who: inbox(cmds, who, cmds.today()), out)
                timed("status", lambda who=who: cmds.status(read_id, who=who), out)
            request = CompleteRequest(decision=own[c][i], step="drafting")
            timed("complete", lambda r=request, who=who: cmds.execute(r, actor=who), out)
        return out

    return in_threads(clients, work)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--decisions", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=25, help="per client and run")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    cache = Path(f"/tmp/decide-api-bench-{args.decisions}")
    if not (cache / "decide.db").exists():
        shutil.rmtree(cache, ignore_errors=True)
        cache.mkdir(parents=True)
        print(f"building {args.decisions:,} decisions in {cache} …", flush=True)
        build(cache / "home", f"sqlite:///{cache / 'decide.db'}", args.decisions)
    need = args.clients * args.requests * args.runs * 2  # HTTP and in-process, every run
    mine = [i for i in range(args.decisions) if i % len(UNITS) == 0]
    if need > len(mine):
        raise SystemExit(f"{need} completes need more decisions of {UNITS[0]} ({len(mine)})")
    work = Path(f"/tmp/decide-api-bench-{args.decisions}-run")
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(cache, work)  # every run of the script starts from the same state
    url = f"sqlite:///{work / 'decide.db'}"
    home = work / "home"

    from app.accounts import create_token
    from app.bootstrap import bootstrap
    from app.queries import decisions_with_plans

    cmds = bootstrap(home=home, database_url=url)
    token = create_token(cmds, "chief", PASSWORD)[0]
    who = cmds.identify(token=token)
    _, rows = decisions_with_plans(cmds, cmds.today(), open_only=True, who=who)
    ids = [d.id for d, v in rows if v.step("drafting").status == "open"]
    from app.accounts import add_account

    admin = cmds.identify(token=create_token(cmds, "admin", PASSWORD)[0])
    add_account(cmds, admin, login="chief2", name="科长二", unit=UNITS[1], roles=("sponsor",),
                password=PASSWORD)  # fmt: skip
    token2 = create_token(cmds, "chief2", PASSWORD)[0]
    who2 = cmds.identify(token=token2)
    _, rows2 = decisions_with_plans(cmds, cmds.today(), open_only=True, who=who2)
    ids2 = [d.id for d, v in rows2 if v.step("drafting").status == "open"]
    visible, read_id = len(rows), ids[-1]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DECIDE_")}
    env.update(DECIDE_HOME=str(home), DECIDE_DATABASE_URL=url)
    log = (work / "web.log").open("wb")  # read if a request fails
    server = subprocess.Popen([DECIDE, "web", "--port", str(port)], env=env, stderr=log)
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        import httpx

        for _ in range(300):
            try:
                if httpx.get(f"{base}/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        results: dict[str, dict[str, list[float]]] = {"http": {}, "in-process": {}}
        rates: dict[str, list[float]] = {"http": [], "in-process": []}
        cursor = 0
        for run in range(args.runs):
            for mode in ("http", "in-process"):
                chunk = ids[cursor : cursor + args.clients * args.requests]
                cursor += len(chunk)
                own = plan_work(chunk, args.clients, args.requests)
                if mode == "http":
                    found, wall = over_http(base, token, own, read_id, args.requests, args.clients)
                else:
                    found, wall = in_process(cmds, token, own, read_id, args.requests, args.clients)
                for op, ts in found.items():
                    results[mode].setdefault(op, []).append(
                        (statistics.median(ts), pct(ts, 0.95))  # type: ignore[arg-type]
                    )
                rates[mode].append(len(found["complete"]) / wall)
                print(f"  run {run + 1} {mode}: {wall:.1f} s", flush=True)
        writes: dict[str, list[float]] = {"http": [], "in-process": []}
        write_lat: dict[str, list[float]] = {"http": [], "in-process": []}
        cursor2 = 0
        for run in range(args.runs):
            for mode in ("http", "in-process"):
                chunk = ids2[cursor2 : cursor2 + args.clients * args.requests]
                cursor2 += len(chunk)
                own = plan_work(chunk, args.clients, args.requests)
                if mode == "http":
                    found, wall = over_http(
                        base, token2, own, read_id, args.requests, args.clients, writes_only=True
                    )
                else:
                    found, wall = in_process(
                        cmds, token2, own, read_id, args.requests, args.clients, writes_only=True
                    )
                writes[mode].append(len(found["complete"]) / wall)
                write_lat[mode].append(pct(found["complete"], 0.95))
                print(f"  writes run {run + 1} {mode}: {wall:.1f} s", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    print()
    print(
        f"decide web on SQLite, {args.decisions:,} decisions ({visible:,} open ones the sponsor "
        f"reads), {args.clients} concurrent clients × {args.requests} rounds (inbox, status, "
        f"complete), median of {args.runs} runs — {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    print(
        f"{'operation':<12}{'HTTP p50':>12}{'HTTP p95':>12}{'in-proc p50':>14}{'in-proc p95':>14}"
    )
    for op in ("inbox", "status", "complete"):
        h = results["http"][op]
        p = results["in-process"][op]
        print(
            f"{op:<12}"
            f"{statistics.median(x[0] for x in h) * 1000:>10.1f}ms"  # type: ignore[index]
            f"{statistics.median(x[1] for x in h) * 1000:>10.1f}ms"  # type: ignore[index]
            f"{statistics.median(x[0] for x in p) * 1000:>12.1f}ms"  # type: ignore[index]
            f"{statistics.median(x[1] for x in p) * 1000:>12.1f}ms"  # type: ignore[index]
        )
    print(
        f"commands/s (mixed load, completes per wall second): HTTP "
        f"{statistics.median(rates['http']):.0f}, in-process "
        f"{statistics.median(rates['in-process']):.0f}"
    )
    print(
        f"commands/s (completes only, {args.clients} clients): HTTP "
        f"{statistics.median(writes['http']):.0f} (p95 "
        f"{statistics.median(write_lat['http']) * 1000:.0f} ms), in-process "
        f"{statistics.median(writes['in-process']):.0f} (p95 "
        f"{statistics.median(write_lat['in-process']) * 1000:.0f} ms)"
    )
    cmds.db.close()


if __name__ == "__main__":
    main()
