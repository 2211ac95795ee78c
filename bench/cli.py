"""Wall time of `decide status` and `decide complete` on a database of 10,000 decisions, beside
`python -c "import prefect"` measured in the same run (target: each command ≤ 0.4 × that).

usage: .venv/bin/python bench/cli.py [--decisions 10000] [--runs 9] [--database-url URL]
The database is built once through the store (bulk registration) and cached under /tmp.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

BIN = Path(sys.executable).parent
DECIDE = str(BIN / "decide")


def build(home: Path, url: str, n: int) -> None:
    from app.commands import Commands
    from store.dbapi import Database

    db = Database(url)
    db.ensure_schema()
    cmds = Commands(db, home, clock=lambda: datetime(2025, 12, 31, 4, tzinfo=UTC))
    for i in range(n):
        d = cmds.register(
            title=f"基准决策 {i}",
            procedure_id="national-2019",
            sponsor="区发展改革委",
            actor="bench",
            flags=("technical",),
            on=date(2025, 3, 3),
        )
        cmds.start(d.id, "drafting", actor="bench", on=date(2025, 3, 3))
        if i % 1000 == 0:
            print(f"  built {i}/{n}", flush=True)


def timed(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(args, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{args} failed: {proc.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--decisions", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    home = Path(f"/tmp/decide-bench-cli-{args.decisions}")
    url = args.database_url or f"sqlite:///{home / 'decide.db'}"
    if not (home / "built").exists() or args.database_url:
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        print(f"building {args.decisions} decisions in {url} …", flush=True)
        build(home, url, args.decisions)
        (home / "built").touch()
    env = {
        **os.environ,
        "DECIDE_HOME": str(home),
        "DECIDE_DATABASE_URL": url,
        "DECIDE_ACTOR": "bench",
    }
    middle = f"2025-{args.decisions // 2:04d}"
    timed([DECIDE, "status", middle, "--json"], env)  # warm the OS cache
    used = home / "completed"  # decisions whose drafting an earlier run already completed
    offset = int(used.read_text()) if used.exists() else 0
    if offset + args.runs > args.decisions:
        raise SystemExit(f"all drafts completed; remove {home} to rebuild")
    used.write_text(str(offset + args.runs))
    prefect, status, complete = [], [], []
    for run in range(args.runs):
        prefect.append(timed([sys.executable, "-c", "import prefect"], env))
        status.append(timed([DECIDE, "status", middle, "--json"], env))
        target = f"2025-{offset + run + 1:04d}"
        complete.append(
            timed([DECIDE, "complete", target, "drafting", "--on", "2025-03-10", "--json"], env)
        )
    p = statistics.median(prefect)
    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; {args.decisions} decisions; {args.runs} runs each"
    )
    for label, values in (
        ("python -c 'import prefect'", prefect),
        ("decide status", status),
        ("decide complete", complete),
    ):
        m = statistics.median(values)
        print(f"  {label:30} median {m * 1000:7.0f} ms   ratio to prefect import {m / p:5.2f}")
    print("target: each decide command ≤ 0.40 × the prefect import")


if __name__ == "__main__":
    main()
