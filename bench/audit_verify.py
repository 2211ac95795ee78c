"""Benchmark of audit verification: ``.venv/bin/python bench/audit_verify.py [options]``.

Builds (once; cached) a SQLite database holding a valid chain of 1,000,000 audit events (about
200-byte payloads with Chinese text, 2,000 decisions) through a bulk path that hashes each
event with the reference ``store.audit.event_hash``, then times ``store.audit.verify`` several
times and prints events/s per run and the median (target on SQLite and on PostgreSQL alike:
200,000 events/s, one million events in under 5 s, on a 2-core machine).  Each run verifies
with a signed Merkle checkpoint of the whole chain (its root is rebuilt, what users get) and,
interleaved as the reference, without one; the cost of the tree itself (the root over all
leaves, an inclusion and a consistency proof, built and checked) is printed first.  ``--postgres URL``
does the same on PostgreSQL, in the database the URL names, which must be called
``decide_bench…`` (it is dropped and rebuilt when it does not hold the expected chain).  Each
run also prints the load average, as other work on the machine skews the figures.

    --events N       events in the chain (default 1,000,000)
    --db PATH        the SQLite file (default /tmp/decide-bench-audit-N.db)
    --runs R         verification runs (default 5)
    --postgres URL   also on PostgreSQL, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/decide_bench_audit
    --pg-events N    events for PostgreSQL (default: --events)
    --jobs LIST      the ``jobs`` settings to compare, interleaved (default ``1,default``: one
                     process, and the default that users get: one per core for a long chain)
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse  # noqa: E402
import base64  # noqa: E402
import hashlib  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import sqlite3  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from datetime import UTC, date, datetime, timedelta  # noqa: E402

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from sqlalchemy import Engine, create_engine, make_url, text  # noqa: E402

from store.audit import GENESIS, canonical_json, event_hash, utc_iso, verify  # noqa: E402
from store.audit_chain import Checkpoint  # noqa: E402
from store.audit_split import PARALLEL_MIN_EVENTS  # noqa: E402
from store.checkpoints import event_hashes, tree_at  # noqa: E402
from store.db import make_engine, migrate  # noqa: E402
from store.merkle import (  # noqa: E402
    BLOCK,
    Range,
    Tree,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from store.note import sign_checkpoint  # noqa: E402
from store.signing import public_key_bytes  # noqa: E402

TARGET_RATE = 200_000  # events/s: one million events in under 5 s
DECISIONS = 2000
ACTIONS = ("register", "start", "complete", "extend", "skip", "note")
STEPS = (
    "drafting",
    "public_participation",
    "expert_review",
    "risk_assessment",
    "legality_review",
    "collective_discussion",
)
NOTES = (
    "专家论证会议纪要已提交，参会专家七名，意见已汇总并逐条回应。",
    "公开征求意见三十日，收到意见一百二十条，采纳四十五条。",
    "风险评估结论：风险可控，已制定化解措施。",
    "合法性审查意见：程序合法，内容合法，建议提交集体讨论。",
)
COLUMNS = (
    "seq",
    "decision_id",
    "decision_prev_hash",
    "action",
    "actor",
    "effective_on",
    "recorded_at",
    "payload",
    "prev_hash",
    "hash",
)


def events(n: int) -> Iterator[tuple[object, ...]]:
    """The rows of a valid chain of n events, hashed with the reference event_hash."""
    prev, last, start = GENESIS, dict[str, str](), datetime(2025, 1, 2, 1, 0, tzinfo=UTC)
    for seq in range(1, n + 1):
        decision = None if seq % 97 == 0 else f"2025-{(seq * 7919) % DECISIONS + 1:04d}"
        payload = {
            "step": STEPS[seq % len(STEPS)],
            "attempt": 1 + seq % 3,
            "version": seq // DECISIONS,
            "status": "in_progress",
            "note": NOTES[seq % len(NOTES)],
            "sha256": hashlib.sha256(str(seq).encode()).hexdigest()[:32],
        }
        event = {
            "seq": seq,
            "decision_id": decision,
            "decision_prev_hash": None if decision is None else last.get(decision, GENESIS),
            "action": ACTIONS[seq % len(ACTIONS)],
            "actor": "区政府办公室 王科长",
            "effective_on": (date(2025, 1, 2) + timedelta(days=seq % 700)).isoformat(),
            "recorded_at": utc_iso(start + timedelta(seconds=seq * 7, microseconds=seq % 999_983)),
            "payload": payload,
        }
        digest = event_hash(prev, event)
        if decision is not None:
            last[decision] = digest
        yield (
            seq,
            decision,
            event["decision_prev_hash"],
            event["action"],
            event["actor"],
            event["effective_on"],
            event["recorded_at"],
            canonical_json(payload),
            prev,
            digest,
        )
        prev = digest


def head_seq(engine: Engine) -> int:
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT seq FROM audit_head WHERE id = 1")).scalar_one())
    except Exception:
        return -1


def build_sqlite(path: Path, n: int) -> Engine:
    url = f"sqlite:///{path}"
    if path.exists() and head_seq(make_engine(url)) == n:
        print(f"reusing {path} ({n:,} events)")
        return make_engine(url)
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    t = time.perf_counter()
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA synchronous=OFF")
    con.execute("BEGIN")
    con.executemany(
        f"INSERT INTO audit_events ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
        events(n),
    )
    last = con.execute("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1").fetchone()
    con.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", last)
    con.execute("COMMIT")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    print(
        f"built {path}: {n:,} events in {time.perf_counter() - t:.1f} s "
        f"({path.stat().st_size / 1e6:.0f} MB)"
    )
    return make_engine(url)


def build_postgres(url: str, n: int) -> Engine:
    name = make_url(url).database or ""
    if not name.startswith("decide_bench"):
        raise SystemExit(f"refusing to rebuild database {name!r}: name it decide_bench…")
    engine = make_engine(url)
    if head_seq(engine) == n:
        print(f"reusing {make_url(url).database} ({n:,} events)")
        return engine
    engine.dispose()
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    engine = make_engine(url)
    migrate(engine)
    t = time.perf_counter()
    with engine.begin() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cur:
            with cur.copy(f"COPY audit_events ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for row in events(n):
                    copy.write_row(row)
            cur.execute(
                "UPDATE audit_head SET (seq, hash) = "
                "(SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1)"
            )
        conn.exec_driver_sql("ANALYZE audit_events")
    print(f"built {name}: {n:,} events in {time.perf_counter() - t:.1f} s")
    return engine


def merkle_head(engine: Engine) -> list[Checkpoint]:
    """A signed Merkle checkpoint of the whole chain, given to ``verify`` as a witness's head
    (so the same database is verified with and without a tree to rebuild), and the cost of
    the tree: its root, an inclusion and a consistency proof, built and checked."""
    key = Ed25519PrivateKey.generate()
    with engine.connect() as conn:
        size, chain_hash = conn.execute(text("SELECT seq, hash FROM audit_head")).one()
        t = time.perf_counter()
        tree = tree_at(conn, size)
        root = tree.root()
        built = time.perf_counter() - t
        t = time.perf_counter()
        streamed = Range()
        batch: list[str] = []
        for digest in event_hashes(conn, size):
            batch.append(digest)
            if len(batch) == 4096:
                streamed.extend_hex(batch)
                batch = []
        streamed.extend_hex(batch)
        assert streamed.root() == root
        rooted = time.perf_counter() - t
        t = time.perf_counter()
        index = size // 3
        proof = tree.inclusion(index)
        proved = time.perf_counter() - t
        hexes = list(event_hashes(conn, index + 1, index))
        t = time.perf_counter()
        assert verify_inclusion(index, size, leaf_hash(bytes.fromhex(hexes[0])), proof, root)
        checked = time.perf_counter() - t
        first = size // 2 + 12345
        old = Tree(event_hashes(conn, first), first, tree._load).root()
        t = time.perf_counter()
        consistency = tree.consistency(first)
        cproved = time.perf_counter() - t
        t = time.perf_counter()
        assert verify_consistency(first, size, old, root, consistency)
        cchecked = time.perf_counter() - t
    print(
        f"merkle, {size:,} leaves: root streamed from the database in {rooted:.2f} s; tree for "
        f"proofs (blocks of {BLOCK}) in {built:.2f} s; inclusion proof of leaf {index:,}: "
        f"{len(proof)} hashes built in {proved * 1e3:.1f} ms, checked in {checked * 1e3:.2f} ms; "
        f"consistency proof {first:,} → {size:,}: {len(consistency)} hashes built in "
        f"{cproved * 1e3:.1f} ms, checked in {cchecked * 1e3:.2f} ms"
    )
    note = sign_checkpoint(key, "bench.local/audit", size, root)
    public = base64.b64encode(public_key_bytes(key)).decode()
    return [Checkpoint(0, size, chain_hash, "", public, note, source="witness", label="bench")]


def run(
    label: str, engine: Engine, runs: int, jobs: list[int | None], heads: list[Checkpoint]
) -> bool:
    """Runs each ``jobs`` setting in turn, round after round (interleaved: the machine's drift
    hits all settings alike), with the Merkle checkpoint (what users get) and, for reference,
    without it; the target is judged on the default (None: what users get)."""
    rates: dict[int | None, list[float]] = {j: [] for j in jobs}
    bare: dict[int | None, list[float]] = {j: [] for j in jobs}
    for r in range(runs):
        for j in jobs:
            t = time.perf_counter()
            report = verify(engine, jobs=j)
            seconds = time.perf_counter() - t
            assert report.ok, report.problems[:3]
            bare[j].append(report.events / seconds)
            t = time.perf_counter()
            report = verify(engine, jobs=j, heads=heads)
            seconds = time.perf_counter() - t
            assert report.ok, report.problems[:3]
            rates[j].append(report.events / seconds)
            print(
                f"  {label} run {r + 1}, jobs {_name(j)}: {report.events:,} events in "
                f"{seconds:.2f} s = {rates[j][-1]:,.0f} events/s with the Merkle root, "
                f"{bare[j][-1]:,.0f} without (load average {os.getloadavg()[0]:.2f})"
            )
    met = True
    for j in jobs:
        median = statistics.median(rates[j])
        print(
            f"{label}, jobs {_name(j)}: without a Merkle checkpoint (reference) median "
            f"{statistics.median(bare[j]):,.0f} events/s"
        )
        print(
            f"{label}, jobs {_name(j)}: median {median:,.0f} events/s over {runs} runs "
            f"({report.events / median:.2f} s for {report.events:,} events)"
        )
        if j is None or len(jobs) == 1:
            met = median >= TARGET_RATE
            print(
                f"{label} target: >= {TARGET_RATE:,} events/s: {'met' if met else 'MISSED'} "
                f"({1_000_000 / median:.2f} s per million at the median)"
            )
    return met


def _name(jobs: int | None) -> str:
    return f"default ({default_jobs()})" if jobs is None else str(jobs)


def default_jobs() -> str:
    return f"one per core from {PARALLEL_MIN_EVENTS:,} events: {os.cpu_count()}"


def _jobs(text: str) -> list[int | None]:
    return [None if j.strip() in ("", "default") else int(j) for j in text.split(",")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--postgres")
    parser.add_argument("--pg-events", type=int)
    parser.add_argument("--jobs", type=_jobs, default=[1, None])
    args = parser.parse_args(argv)
    print(
        f"machine: {platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"SQLite {sqlite3.sqlite_version}"
    )
    path = args.db or Path(f"/tmp/decide-bench-audit-{args.events}.db")
    engine = build_sqlite(path, args.events)
    met = run("sqlite", engine, args.runs, args.jobs, merkle_head(engine))
    engine.dispose()
    if args.postgres:
        pg = build_postgres(args.postgres, args.pg_events or args.events)
        met = run("postgresql", pg, args.runs, args.jobs, merkle_head(pg)) and met
        pg.dispose()
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
