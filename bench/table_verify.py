"""What verifying the tables beside the chain costs: ``.venv/bin/python bench/table_verify.py``.

``decide audit verify`` also checks the people, the imported holiday schedules, the stored
procedure definitions and that every decision the log names has its row
(``app.table_replay.table_problems``).  This script takes the chain of ``bench/audit_verify.py``
(1,000,000 events, 2,000 decisions; built once and cached), copies it, adds what a busy home
holds beside it — a row per decision, 200 people added by audited ``person_add`` events, five
imported schedules with their ``calendar_import`` events, the three presets' definitions — and
times, round after round (interleaved, so the machine's drift hits both alike), the chain
verification ``store.audit.verify`` in one process (the reference, with its events/s against
the 200,000 target) and ``table_problems``.  It prints each run, the medians, and the table
checks as a fraction of the chain's time.  ``--postgres URL`` does the same on PostgreSQL (a
database named ``decide_bench…``, rebuilt when it does not hold the expected rows).

    --events N      events in the chain (default 1,000,000)
    --runs R        rounds (default 5)
    --postgres URL  also on PostgreSQL, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/decide_bench_tables
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import sqlite3  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from datetime import UTC, date, datetime  # noqa: E402

from sqlalchemy import Engine  # noqa: E402

from app.table_replay import table_problems  # noqa: E402
from bench import audit_verify as chain_bench  # noqa: E402
from procedures import load_procedure, preset_ids  # noqa: E402
from procedures.definition import pin  # noqa: E402
from store.audit import verify  # noqa: E402
from store.db import make_engine  # noqa: E402
from store.dbapi import Database  # noqa: E402
from store.fastsql import SQL  # noqa: E402
from store.schedules import content_sha256  # noqa: E402
from store.uow import UnitOfWork  # noqa: E402

PEOPLE = 200
ROLES = ("sponsor", "legal_office", "risk_assessor", "decision_body", "archivist")
SCHEDULES = 5
NOW = datetime(2026, 1, 10, tzinfo=UTC)


def _schedule(i: int) -> str:
    return (
        f'year = {2025 + i}\nkind = "local"\nsource = "区政府通知第{i}号"\n'
        f'holidays = ["{2025 + i}-09-01", "{2025 + i}-10-09"]\n'
    )


def add_tables(url: str) -> None:
    """The rows beside the chain, with their events appended to it (the chain stays valid)."""
    db = Database(url)
    try:
        with UnitOfWork(db) as uow:
            if uow.people.any():
                return
            ids = [
                r[0]
                for r in SQL(
                    "SELECT DISTINCT decision_id FROM audit_events WHERE decision_id IS NOT NULL"
                ).rows(uow.link)
            ]
            defs = [pin(load_procedure(p)) for p in preset_ids()]
            for definition in defs:
                uow.definitions.add(definition, stored_at=NOW)
            insert = SQL(
                "INSERT INTO decisions (id, title, procedure_id, procedure_version, "
                "procedure_sha256, flags, sponsor, co_sponsors, assignments, registered_on, "
                "status, version) VALUES (:id, '基准决策', :pid, :ver, :sha, '[]', '区住建委', "
                "'[]', '{}', :on, 'in_progress', 1)"
            )
            for n, decision_id in enumerate(ids):
                d = defs[n % len(defs)]
                insert.run(
                    uow.link,
                    {"id": decision_id, "pid": d.id, "ver": d.version, "sha": d.sha256,
                     "on": date(2025, 1, 2)},
                )  # fmt: skip
            for i in range(PEOPLE):
                name, role, unit = f"人员{i:03d}", ROLES[i % len(ROLES)], f"单位{i % 20}"
                uow.people.add(name, role, unit)
                uow.audit.append(
                    decision_id=None,
                    action="person_add",
                    actor="区政府办公室",
                    effective_on=date(2025, 1, 2),
                    recorded_at=NOW,
                    payload={"name": name, "role": role, "unit": unit},
                )
            for i in range(SCHEDULES):
                text = _schedule(i)
                schedule = uow.add_schedule(text, source_name=f"local-{i}.toml", now=NOW)
                uow.audit.append(
                    decision_id=None,
                    action="calendar_import",
                    actor="区政府办公室",
                    effective_on=date(2025, 1, 2),
                    recorded_at=NOW,
                    payload={
                        "year": schedule.year,
                        "kind": schedule.kind,
                        "source": schedule.source,
                        "file": f"local-{i}.toml",
                        "holidays": schedule.holidays,
                        "workdays": schedule.workdays,
                        "sha256": content_sha256(text),
                        "recomputed": 0,
                    },
                )
            uow.commit()
    finally:
        db.close()


def sqlite_copy(events: int) -> str:
    base = Path(f"/tmp/decide-bench-audit-{events}.db")
    chain_bench.build_sqlite(base, events).dispose()
    path = Path(f"/tmp/decide-bench-tables-{events}.db")
    if not path.exists():
        shutil.copyfile(base, path)
        print(f"copied {base} to {path}")
    url = f"sqlite:///{path}"
    add_tables(url)
    return url


def postgres(url: str, events: int) -> str:
    engine = make_engine(url)
    ready = chain_bench.head_seq(engine) == events + PEOPLE + SCHEDULES  # built with the extras
    engine.dispose()
    if ready:
        print(f"reusing {url.rsplit('/', 1)[-1]} ({events:,} events and the tables beside them)")
        return url
    chain_bench.build_postgres(url, events).dispose()  # rebuilt unless it holds N events
    add_tables(url)
    return url


def run(label: str, url: str, runs: int) -> None:
    engine: Engine = make_engine(url)
    db = Database(url)
    chain_s: list[float] = []
    table_s: list[float] = []
    try:
        for r in range(runs):
            t = time.perf_counter()
            report = verify(engine, jobs=1)
            chain_s.append(time.perf_counter() - t)
            assert report.ok, report.problems[:3]
            t = time.perf_counter()
            with UnitOfWork(db, write=False) as uow:
                problems = list(table_problems(uow))
                people = len(uow.people.all())
            table_s.append(time.perf_counter() - t)
            assert not problems and people == PEOPLE, problems[:3]
            print(
                f"  {label} run {r + 1}: chain {report.events:,} events in {chain_s[-1]:.2f} s "
                f"= {report.events / chain_s[-1]:,.0f} events/s; tables {table_s[-1] * 1000:.0f} ms "
                f"(load average {os.getloadavg()[0]:.2f})"
            )
    finally:
        engine.dispose()
        db.close()
    chain, tables = statistics.median(chain_s), statistics.median(table_s)
    rate = report.events / chain
    print(
        f"{label}: median chain {chain:.2f} s ({rate:,.0f} events/s, target >= "
        f"{chain_bench.TARGET_RATE:,}: {'met' if rate >= chain_bench.TARGET_RATE else 'MISSED'}); "
        f"median table checks {tables * 1000:.0f} ms = {tables / chain:.1%} of the chain's time"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--postgres")
    args = parser.parse_args(argv)
    print(
        f"machine: {platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )
    run("sqlite", sqlite_copy(args.events), args.runs)
    if args.postgres:
        run("postgresql", postgres(args.postgres, args.events), args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
