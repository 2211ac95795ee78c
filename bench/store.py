"""Audited transitions per second on SQLite and PostgreSQL, beside a bare sqlite3 loop.

A transition = one transaction holding a state change (decision version + step attempt), its
audit event (hash-chained) and an outbox row.  Printed:
  * bare sqlite3: the same three kinds of write per transaction, same durability (WAL,
    synchronous=FULL) — the ceiling for this disk;
  * store: our unit of work writing precomputed transitions (the store's own cost);
  * command: the whole `start` command (read, planner, write) as the CLI runs it.

usage: .venv/bin/python bench/store.py [--n 2000] [--rounds 5] [--postgres URL]
(--postgres defaults to $DECIDE_TEST_POSTGRES_URL; a scratch database is created and dropped.)
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, make_url, text  # noqa: E402

from app.commands import Commands  # noqa: E402
from procedures import Start, WorkCalendar, apply, load_procedure, plan  # noqa: E402
from store.dbapi import Database  # noqa: E402
from store.uow import UnitOfWork  # noqa: E402

CLOCK = datetime(2025, 12, 31, 4, tzinfo=UTC)
DAY = date(2025, 3, 3)


def bare_sqlite(path: Path, n: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE d (id TEXT PRIMARY KEY, version INT, status TEXT)")
    conn.execute(
        "CREATE TABLE a (seq INTEGER PRIMARY KEY, d TEXT, payload TEXT, prev TEXT, h TEXT)"
    )
    conn.execute("CREATE TABLE o (id INTEGER PRIMARY KEY, d TEXT, payload TEXT)")
    conn.executemany("INSERT INTO d VALUES (?, 1, 'x')", [(f"d{i}",) for i in range(n)])
    start = time.perf_counter()
    for i in range(n):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE d SET version = version + 1 WHERE id = ? AND version = 1", (f"d{i}",))
        conn.execute(
            "INSERT INTO a (d, payload, prev, h) VALUES (?, ?, ?, ?)",
            (f"d{i}", '{"step":"drafting"}', "0" * 64, f"{i:064d}"),
        )
        conn.execute("INSERT INTO o (d, payload) VALUES (?, ?)", (f"d{i}", "{}"))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return n / elapsed


def prepare(url: str, home: Path, n: int) -> Commands:
    db = Database(url)
    db.ensure_schema()
    cmds = Commands(db, home, clock=lambda: CLOCK)
    for i in range(n):
        cmds.register(
            title=f"基准决策 {i}",
            procedure_id="national-2019",
            sponsor="区发展改革委",
            actor="bench",
            on=DAY,
        )
    return cmds


def store_rate(cmds: Commands, ids: list[str]) -> float:
    proc, cal = load_procedure("national-2019"), WorkCalendar.official()
    with UnitOfWork(cmds.db, write=False) as uow:
        befores = uow.decisions.many(ids)
    work = []
    for before in befores:
        attempts = apply(proc, before.flags, before.attempts, Start(step="drafting", on=DAY), cal)
        view = plan(proc, before.flags, attempts, DAY, cal, target_on=before.target_on)
        work.append((before, attempts, view))
    start = time.perf_counter()
    for before, attempts, view in work:
        with UnitOfWork(cmds.db) as uow:
            version = uow.decisions.save(before, attempts, view)
            uow.audit.append(
                decision_id=before.id,
                action="start",
                actor="bench",
                effective_on=DAY,
                recorded_at=CLOCK,
                payload={"step": "drafting", "version": version},
            )
            uow.outbox.add(
                kind="notify",
                decision_id=before.id,
                now=CLOCK,
                payload={"event": "step_open", "step": "drafting"},
            )
            uow.commit()
    return len(work) / (time.perf_counter() - start)


def command_rate(cmds: Commands, ids: list[str]) -> float:
    start = time.perf_counter()
    for decision_id in ids:
        cmds.complete(decision_id, "drafting", actor="bench", on=date(2025, 3, 10))
    return len(ids) / (time.perf_counter() - start)


def run_engine(label: str, url: str, home: Path, n: int, rounds: int) -> dict[str, list[float]]:
    cmds = prepare(url, home, n * rounds)
    with UnitOfWork(cmds.db, write=False) as uow:
        ids = uow.decisions.ids()
    result: dict[str, list[float]] = {"store": [], "command": []}
    for r in range(rounds):
        chunk = ids[r * n : (r + 1) * n]
        result["store"].append(store_rate(cmds, chunk))
        result["command"].append(command_rate(cmds, chunk))
        print(
            f"  {label} round {r + 1}: store {result['store'][-1]:,.0f}/s, "
            f"command {result['command'][-1]:,.0f}/s",
            flush=True,
        )
    cmds.db.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--postgres", default=os.environ.get("DECIDE_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()} {platform.system()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; n={args.n} per round, {args.rounds} rounds"
    )
    rows: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        bare = [bare_sqlite(Path(tmp) / f"bare{r}.db", args.n) for r in range(args.rounds)]
        print(f"  bare sqlite3 rounds: {', '.join(f'{b:,.0f}' for b in bare)}")
        rows.append(("bare sqlite3 (3 writes/tx, WAL, synchronous=FULL)", statistics.median(bare)))
        res = run_engine(
            "sqlite",
            f"sqlite:///{Path(tmp) / 'decide.db'}",
            Path(tmp) / "home",
            args.n,
            args.rounds,
        )
        rows.append(
            ("decide store on SQLite (state + audit + outbox)", statistics.median(res["store"]))
        )
        rows.append(
            ("decide command on SQLite (read + plan + write)", statistics.median(res["command"]))
        )
        if args.postgres:
            name = f"decide_bench_{uuid.uuid4().hex[:8]}"
            admin = create_engine(
                make_url(args.postgres).set(database="postgres"), isolation_level="AUTOCOMMIT"
            )
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            try:
                url = make_url(args.postgres).set(database=name).render_as_string(False)
                res = run_engine("postgresql", url, Path(tmp) / "pghome", args.n, args.rounds)
                rows.append(("decide store on PostgreSQL", statistics.median(res["store"])))
                rows.append(("decide command on PostgreSQL", statistics.median(res["command"])))
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        else:
            print("  PostgreSQL skipped: no --postgres URL and no DECIDE_TEST_POSTGRES_URL")
    print("\naudited transitions per second (median):")
    for label, value in rows:
        print(f"  {label:58} {value:>10,.0f}")


if __name__ == "__main__":
    main()
