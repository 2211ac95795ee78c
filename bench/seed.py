"""A fast seed for ``bench/api.py`` and ``bench/web.py``: N decisions, each registered and its
drafting started (so that each can be completed), written exactly as the store writes them.

Going through ``Commands`` costs two commands per decision (about 40 s per 2,000 here), so
100,000 would take half an hour.  Instead one decision is made by the real ``Commands`` in a
scratch database, and its rows are the template: ``decisions``, ``step_attempts`` and the two
audit events (``register``, ``start``) are copied for each decision with its own id, title and
sponsor (``UNITS`` in turn; the register event carries them too), the events hashed in order
with ``store.audit.event_text`` (the chain verifies), and the id counter and chain head set.
The to-do index is then filled by ``store.todo.rebuild`` — what revision 0010 runs on an
existing home — and checked against the template's own rows, which ``Commands`` wrote.  Outbox
rows (the notifications a real home would have sent long ago) are not copied.

The SQLite file is cached as /tmp/decide-seed-<N>.db; ``copy_to_postgresql`` loads it into a
PostgreSQL database with COPY (as ``bench/scale.py`` does).  Accounts are added afterwards by
the benchmarks, through the application layer.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from hashlib import sha256
from pathlib import Path
from typing import Any

VERSION = 1  # bump when the rows change (the cached files are rebuilt)
UNITS = [f"区第{i}委" for i in range(20)]
BUILD_DAY = datetime(2026, 3, 2, 4, tzinfo=UTC)
REGISTERED = date(2026, 3, 2)
BULK = ("procedure_definitions", "id_counters", "decisions", "step_attempts", "audit_events",
        "todo")  # fmt: skip


def seed_path(n: int) -> Path:
    return Path(f"/tmp/decide-seed-{n}-v{VERSION}.db")


def _template() -> dict[str, Any]:
    """One decision through the real commands: its rows, column by column."""
    from app.commands import Commands
    from store.dbapi import Database

    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/t.db")
        db.ensure_schema()
        cmds = Commands(db, Path(tmp) / "home", clock=lambda: BUILD_DAY)
        d = cmds.register(title="基准决策 0", procedure_id="national-2019", sponsor=UNITS[0],
                          actor="bench", on=REGISTERED)  # fmt: skip
        cmds.start(d.id, "drafting", actor="bench", on=REGISTERED)
        db.close()
        con = sqlite3.connect(f"{tmp}/t.db")
        out = {t: _table(con, t) for t in ("decisions", "step_attempts", "audit_events", "todo",
                                          "procedure_definitions")}  # fmt: skip
        con.close()
    return out


def _table(con: sqlite3.Connection, table: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    cur = con.execute(f"SELECT * FROM {table}")
    return [c[0] for c in cur.description], cur.fetchall()


def build(n: int) -> Path:
    """The cached SQLite file with ``n`` decisions (built if missing)."""
    from store.audit import GENESIS, canonical_json, event_text
    from store.dbapi import Database, Link
    from store.todo import rebuild

    path = seed_path(n)
    if path.exists():
        return path
    t0 = time.perf_counter()
    tpl = _template()
    part = path.with_suffix(".part")
    for p in (part, Path(f"{part}-wal"), Path(f"{part}-shm")):
        p.unlink(missing_ok=True)
    db = Database(f"sqlite:///{part}")
    db.ensure_schema()
    db.close()
    con = sqlite3.connect(part, isolation_level=None)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA foreign_keys=OFF")
    con.execute("BEGIN")
    cols, rows = tpl["procedure_definitions"]
    _insert(con, "procedure_definitions", cols, rows)
    dcols, (drow,) = tpl["decisions"]
    acols, arows = tpl["step_attempts"]
    ecols, erows = tpl["audit_events"]
    a_id, a_dec = acols.index("id"), acols.index("decision_id")
    decisions, attempts, events = [], [], []
    seq, prev = 0, GENESIS
    for i in range(n):
        did = f"{REGISTERED.year}-{i + 1:04d}"
        title, sponsor = f"基准决策 {i}", UNITS[i % len(UNITS)]
        row = dict(zip(dcols, drow, strict=True))
        row.update(id=did, title=title, sponsor=sponsor)
        decisions.append(tuple(row[c] for c in dcols))
        for a in arows:
            a = list(a)
            a[a_id], a[a_dec] = None, did
            attempts.append(tuple(a))
        dprev = GENESIS
        for e in erows:
            ev = dict(zip(ecols, e, strict=True))
            payload = json.loads(ev["payload"])
            if ev["action"] == "register":
                payload.update(title=title, sponsor=sponsor)
            text = canonical_json(payload)
            recorded = BUILD_DAY + timedelta(milliseconds=2 * i + (ev["action"] == "start"))
            at = recorded.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            seq += 1
            digest = sha256(
                event_text(prev, seq, did, dprev, ev["action"], ev["actor"],
                           str(ev["effective_on"]), at, text).encode()
            ).hexdigest()  # fmt: skip
            ev.update(seq=seq, decision_id=did, decision_prev_hash=dprev, recorded_at=at,
                      payload=text, prev_hash=prev, hash=digest)  # fmt: skip
            events.append(tuple(ev[c] for c in ecols))
            prev = dprev = digest
    _insert(con, "decisions", dcols, decisions)
    _insert(con, "step_attempts", acols, attempts)
    _insert(con, "audit_events", ecols, events)
    con.execute("INSERT INTO id_counters (year, last) VALUES (?, ?)", (REGISTERED.year, n))
    con.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (seq, prev))
    t_rows = time.perf_counter() - t0
    rebuild(Link(con, "sqlite"))  # revision 0010's own fill of the to-do index
    con.execute("COMMIT")
    kept = {tuple(r[1:]) for r in tpl["todo"][1]}  # what Commands wrote for the template
    first = {tuple(r[1:]) for r in con.execute("SELECT * FROM todo WHERE decision_id = ?",
                                               (f"{REGISTERED.year}-0001",))}  # fmt: skip
    assert first == kept, (first, kept)
    con.execute("PRAGMA journal_mode=WAL")
    con.close()
    part.rename(path)
    print(f"  seeded {n:,} decisions in {time.perf_counter() - t0:.0f} s "
          f"(rows {t_rows:.0f} s, to-do index the rest) → {path}", flush=True)  # fmt: skip
    return path


def _insert(con: sqlite3.Connection, table: str, cols: list[str], rows: list[Any]) -> None:
    marks = ", ".join("?" * len(cols))
    con.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})", rows)


def sqlite_copy(n: int, where: Path) -> str:
    """A fresh copy of the seed to measure on; its URL."""
    where.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(build(n), where / "decide.db")
    return f"sqlite:///{where / 'decide.db'}"


def copy_to_postgresql(n: int, base: str, name: str) -> str:
    """A fresh PostgreSQL database ``name`` (dropped first) holding the seed; its URL."""
    import psycopg

    from store.dbapi import Database

    src_path = build(n)
    admin_url = base.replace("postgresql+psycopg://", "postgresql://") + "postgres"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{base}{name}"
    db = Database(url)
    db.ensure_schema()
    db.close()
    t0 = time.perf_counter()
    src = sqlite3.connect(src_path)
    conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
    conn.execute("SET synchronous_commit = off")
    for table in BULK:
        cols = [r[1] for r in src.execute(f"PRAGMA table_info({table})")]
        names = ", ".join(cols)
        with conn.cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in src.execute(f"SELECT {names} FROM {table} ORDER BY rowid"):
                copy.write_row(row)
    head = src.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    conn.execute("UPDATE audit_head SET seq = %s, hash = %s WHERE id = 1", head)
    conn.execute("SELECT setval(pg_get_serial_sequence('step_attempts', 'id'), "
                 "(SELECT max(id) FROM step_attempts))")  # fmt: skip
    conn.commit()
    conn.autocommit = True
    conn.execute("VACUUM ANALYZE")
    conn.close()
    src.close()
    print(f"  copied the seed into PostgreSQL {name} in {time.perf_counter() - t0:.0f} s",
          flush=True)  # fmt: skip
    return url
