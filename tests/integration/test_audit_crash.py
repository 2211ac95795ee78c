"""A writer killed with SIGKILL in the middle of appending leaves a whole, verifiable chain.

The writer is a real process appending one event per transaction (the event and the head move
commit together) and printing each committed seq.  After the kill, every printed event is in
the database, at most the one being committed when the signal came is there too, and the chain,
the head and the per-decision links verify.  A second writer then continues the same chain.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import Engine, text

from store.audit import verify

ROOT = Path(__file__).resolve().parents[2]
WRITER = """
import sys
from datetime import UTC, date, datetime
from sqlmodel import Session
from store.audit import AuditLog
from store.db import make_engine

engine = make_engine(sys.argv[1])
if engine.dialect.name == "sqlite":
    engine = engine.execution_options(sqlite_begin="IMMEDIATE")
i = 0
while True:
    i += 1
    with Session(engine) as session, session.begin():
        row = AuditLog(session).append(
            decision_id=f"2025-{i % 4:04d}" if i % 7 else None, action="note", actor="崩溃测试",
            effective_on=date(2025, 3, 3), payload={"i": i, "text": "写入中" * (i % 50)},
            recorded_at=datetime.now(UTC))
        seq = row.seq
    print(seq, flush=True)
"""


def write_then_kill(url: str, at_least: int) -> list[int]:
    """Run a writer until it has committed ``at_least`` events, SIGKILL it, return its seqs."""
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, url],
        cwd=ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    printed: list[int] = []
    deadline = time.monotonic() + 60
    try:
        while len(printed) < at_least and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            printed.append(int(line))
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    printed += [int(line) for line in proc.stdout.read().split()]
    assert len(printed) >= at_least, proc.stderr.read()
    assert proc.returncode == -signal.SIGKILL
    return printed


def events_in(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM audit_events")).scalar_one())


def test_a_writer_killed_mid_stream_leaves_the_chain_whole(database_url, engine):
    last = 0
    for _ in range(2):  # kill one writer, let a new one carry on the same chain, kill it too
        printed = write_then_kill(database_url, 40)
        assert printed == list(range(last + 1, printed[-1] + 1))
        last = printed[-1]
        report = verify(engine)
        assert report.ok, report.problems
        assert report.events == events_in(engine) == report.head_seq
        assert last <= report.events <= last + 1
        last = report.events
