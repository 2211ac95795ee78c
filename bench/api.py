"""Latency of the JSON API under `decide web` with 16 concurrent clients, beside the same
operations through the application layer in-process (so the HTTP overhead is visible).

usage: .venv/bin/python bench/api.py [--decisions 100000] [--engine sqlite|postgresql|both]
                                     [--clients 16] [--requests 25] [--runs 3] [--workers 2]

Measured: p50/p95 of `GET /inbox` (a sponsor's: 1/20 of the decisions are its unit's, each with
drafting open), `GET /decisions/{id}` and a `complete` (drafting, each client on decisions of
its own), and commands per second (completes alone, 16 clients) — medians over the runs.  The
decisions come from `bench/seed.py` (N decisions registered with drafting started, rows copied
from one made by the real commands, cached under /tmp; the to-do index filled as revision 0010
fills it), copied afresh for each engine; the accounts are added through the application layer.
A reference measured in the same run: a fixed pure-Python loop (ms), and the load average —
other work on the machine slows every figure.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
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

DECIDE = str(Path(sys.executable).parent / "decide")
UNITS = seed.UNITS
PASSWORD = "bench password 2026"
PG_BASE = os.environ.get("DECIDE_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/")


def accounts(cmds: Any) -> tuple[str, str]:
    """An admin, and two section chiefs (sponsors) of the first two units: their tokens."""
    from app.accounts import add_account, create_token

    add_account(cmds, None, login="admin", name="管理员", unit="区政府办公室", admin=True,
                password=PASSWORD)  # fmt: skip
    admin = cmds.identify(token=create_token(cmds, "admin", PASSWORD)[0])
    for login, unit in (("chief", UNITS[0]), ("chief2", UNITS[1])):
        add_account(cmds, admin, login=login, name=f"科长{login}", unit=unit,
                    roles=("sponsor",), password=PASSWORD)  # fmt: skip
    return create_token(cmds, "chief", PASSWORD)[0], create_token(cmds, "chief2", PASSWORD)[0]


def cpu_reference() -> float:
    """A fixed pure-Python loop, in ms (the machine's speed at the time)."""
    start = time.perf_counter()
    total = 0
    for i in range(2_000_000):
        total += i * i % 7
    return (time.perf_counter() - start) * 1000


def commit_reference(url: str, n: int = 200) -> float:
    """A durable commit of one row on the same database, in ms (median of ``n``): the floor
    under every complete, which commits once (SQLite ``synchronous=FULL``: an fsync of the WAL;
    PostgreSQL: the WAL flush of its commit) while holding the single writer's lock (SQLite) or
    the audit chain's head row (PostgreSQL), so completes/s cannot pass 1000 / this figure."""
    from store.dbapi import Database

    db = Database(url)
    link = db.link()
    raw = link.driver
    raw.execute("CREATE TABLE IF NOT EXISTS bench_commit (n INTEGER)")
    Database.end(link, commit=True)
    times = []
    for _ in range(n):
        start = time.perf_counter()
        Database.begin(link, write=True)
        raw.execute("INSERT INTO bench_commit (n) VALUES (1)")
        Database.end(link, commit=True)
        times.append(time.perf_counter() - start)
    raw.execute("DROP TABLE bench_commit")
    Database.end(link, commit=True)
    db.close()
    return statistics.median(times) * 1000


def cpu_seconds(pids: list[int]) -> float:
    """The CPU time (user + system) the processes ``pids`` have used so far (gone ones: 0)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def descendants(root: int) -> list[int]:
    """``root`` and every process below it (the ``decide web`` workers)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += parents.get(pid, [])
    return found


def backends(url: str) -> list[int]:
    """PostgreSQL: the server processes serving this database's other sessions (the
    workers' connections); SQLite: none."""
    if not url.startswith("postgresql"):
        return []
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1)) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        ).fetchall()
    return [int(r[0]) for r in rows]


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


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


def over_http(port: int, token: str, own: list[list[str]], read_id: str, requests: int,
              clients: int, writes_only: bool = False) -> tuple[dict[str, list[float]], float]:  # fmt: skip
    """The clients as processes (``bench/clients.py``); the client times by operation (the
    server's under ``server:OP``), and the wall time."""
    from bench import clients as http_clients

    base = "/api/v1"
    scripts: list[list[http_clients.Request]] = []
    for c in range(clients):
        script: list[http_clients.Request] = []
        for i in range(requests):
            if not writes_only:
                script.append(("inbox", "GET", f"{base}/inbox", None))
                script.append(("status", "GET", f"{base}/decisions/{read_id}", None))
            path = f"{base}/decisions/{own[c][i]}/steps/drafting/complete"
            script.append(("complete", "POST", path, {}))
        scripts.append(script)
    headers = [{"Authorization": f"Bearer {token}"}] * clients
    client, server, wall = http_clients.run(port, scripts, headers)
    return {**client, **{f"server:{k}": v for k, v in server.items()}}, wall


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


def unit_ids(n: int, unit: int) -> list[str]:
    """The decisions of ``UNITS[unit]`` in the seed (each with drafting open)."""
    return [f"{seed.REGISTERED.year}-{i + 1:04d}" for i in range(unit, n, len(UNITS))]


def measure(engine: str, args: Any) -> dict[str, Any]:
    from app.bootstrap import bootstrap

    work = Path(f"/tmp/decide-api-bench-{args.decisions}-run")
    if engine == "sqlite":
        import shutil

        shutil.rmtree(work, ignore_errors=True)
        url = seed.sqlite_copy(args.decisions, work)
    else:
        url = seed.copy_to_postgresql(args.decisions, PG_BASE, "decide_api_bench")
    home = work / "home"
    cmds = bootstrap(home=home, database_url=url)
    token, token2 = accounts(cmds)
    ids, ids2 = unit_ids(args.decisions, 0), unit_ids(args.decisions, 1)
    read_id = ids[-1]  # never completed here (nor are the warm-up's, just before it)
    need = args.clients * (args.requests * args.runs * 2 + 2)  # every run, and the warm-up
    if need > min(len(ids), len(ids2)) - 1:
        raise SystemExit(f"{need} completes need more decisions per unit ({len(ids)})")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DECIDE_")}
    env.update(DECIDE_HOME=str(home), DECIDE_DATABASE_URL=url)
    home.mkdir(parents=True, exist_ok=True)
    log = (work.parent / f"decide-api-bench-{engine}-web.log").open("wb")
    server = subprocess.Popen(
        [DECIDE, "web", "--port", str(port), "--workers", str(args.workers)], env=env, stderr=log
    )
    base = f"http://127.0.0.1:{port}/api/v1"
    out: dict[str, Any] = {
        "cpu": [cpu_reference()],
        "load": [load()],
        "commit": [commit_reference(url)],
    }
    results: dict[str, dict[str, list[tuple[float, float]]]] = {"http": {}, "in-process": {}}
    writes: dict[str, list[float]] = {"http": [], "in-process": []}
    cpu: dict[str, list[float]] = {"server": [], "database": [], "clients": []}
    write_p95: dict[str, list[float]] = {"http": [], "in-process": []}
    try:
        import httpx

        for _ in range(600):
            try:
                if httpx.get(f"{base}/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        cursor = cursor2 = 0
        # one untimed round per mode first (imports, caches), on decisions the runs leave
        for runner, target, pool in (
            (over_http, port, ids),
            (in_process, cmds, ids[: -1 - args.clients]),
        ):
            warm = [[d] for d in pool[-1 - args.clients : -1]]
            runner(target, token, warm, read_id, 1, args.clients)  # type: ignore[operator]
        for run in range(args.runs):
            for mode in ("http", "in-process"):
                chunk = ids[cursor : cursor + args.clients * args.requests]
                cursor += len(chunk)
                own = plan_work(chunk, args.clients, args.requests)
                runner = over_http if mode == "http" else in_process
                target = port if mode == "http" else cmds
                found, wall = runner(target, token, own, read_id, args.requests, args.clients)
                for op, ts in found.items():
                    results[mode].setdefault(op, []).append((statistics.median(ts), pct(ts, 0.95)))
                chunk = ids2[cursor2 : cursor2 + args.clients * args.requests]
                cursor2 += len(chunk)
                own = plan_work(chunk, args.clients, args.requests)
                if mode == "http":
                    import resource

                    procs, pg = descendants(server.pid), backends(url)
                    before = (cpu_seconds(procs), cpu_seconds(pg),
                              resource.getrusage(resource.RUSAGE_CHILDREN))  # fmt: skip
                found, wall2 = runner(target, token2, own, read_id, args.requests, args.clients,
                                      writes_only=True)  # fmt: skip
                if mode == "http":
                    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
                    n = len(found["complete"])
                    cpu["server"].append((cpu_seconds(procs) - before[0]) / n)
                    cpu["database"].append((cpu_seconds(pg) - before[1]) / n)
                    used = kids.ru_utime + kids.ru_stime - before[2].ru_utime - before[2].ru_stime
                    cpu["clients"].append(used / n)
                writes[mode].append(len(found["complete"]) / wall2)
                write_p95[mode].append(pct(found["complete"], 0.95))
                print(f"  {engine} run {run + 1} {mode}: {wall:.1f} s mixed, {wall2:.1f} s "
                      "completes", flush=True)  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()
        cmds.db.close()
    out["cpu"].append(cpu_reference())
    out["load"].append(load())
    out["commit"].append(commit_reference(url))
    out.update(results=results, writes=writes, write_p95=write_p95, cpu_per_write=cpu)
    return out


def report(engine: str, res: dict[str, Any], args: Any) -> None:
    print()
    print(
        f"decide web --workers {args.workers} on {engine}, {args.decisions:,} decisions (each "
        f"with drafting open; the sponsor's unit has {args.decisions // len(UNITS):,}), "
        f"{args.clients} concurrent clients × {args.requests} rounds (inbox, status, complete), "
        f"median of {args.runs} runs — {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; reference loop {res['cpu'][0]:.0f} / {res['cpu'][1]:.0f} "
        f"ms before / after, load average {res['load'][0]} / {res['load'][1]}; one durable "
        f"commit {res['commit'][0]:.1f} / {res['commit'][1]:.1f} ms (at most "
        f"{1000 / max(res['commit']):.0f}–{1000 / min(res['commit']):.0f} completes/s)"
    )
    heads = ("HTTP p50", "HTTP p95", "server p50", "server p95", "in-proc p50", "in-proc p95")
    print(f"{'operation':<10}" + "".join(f"{h:>12}" for h in heads))
    for op in ("inbox", "status", "complete"):
        http = res["results"]["http"]
        rows = (http[op], http[f"server:{op}"], res["results"]["in-process"][op])
        cells = [statistics.median(x[k] for x in r) * 1000 for r in rows for k in (0, 1)]
        print(f"{op:<10}" + "".join(f"{c:>10.1f}ms" for c in cells))
    w, q = res["writes"], res["write_p95"]
    print(
        f"commands/s (completes alone, {args.clients} clients): HTTP "
        f"{statistics.median(w['http']):.0f} (p95 {statistics.median(q['http']) * 1000:.0f} ms), "
        f"in-process {statistics.median(w['in-process']):.0f} (p95 "
        f"{statistics.median(q['in-process']) * 1000:.0f} ms)"
    )
    per = {k: statistics.median(v) * 1000 for k, v in res["cpu_per_write"].items()}
    total = sum(per.values())
    print(
        f"CPU per complete over HTTP: server {per['server']:.1f} ms, database "
        f"{per['database']:.1f} ms, clients {per['clients']:.1f} ms — {total:.1f} ms, so "
        f"{os.cpu_count()} cores cannot pass {1000 * (os.cpu_count() or 1) / total:.0f}/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--decisions", type=int, default=100_000)
    parser.add_argument("--engine", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=25, help="per client and run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="decide web --workers")
    args = parser.parse_args()
    seed.build(args.decisions)
    engines = ("sqlite", "postgresql") if args.engine == "both" else (args.engine,)
    done = {engine: measure(engine, args) for engine in engines}
    for engine, res in done.items():
        report(engine, res, args)


if __name__ == "__main__":
    main()
