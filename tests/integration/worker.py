"""A separate process issuing real commands, for the race and crash tests.

usage: python -m tests.integration.worker DATABASE_URL HOME MODE [ARGS...]
  race-step DECISION STEP GO_FILE      wait for GO_FILE, then start and complete STEP (retrying on
                                       "changed meanwhile"); prints one line per outcome
  conflict DECISION OUTCOME GO_FILE    wait for GO_FILE, then complete legality_review with OUTCOME
                                       once; exit code = the error's exit code (0 applied)
  churn COUNT                          register COUNT decisions and drive each a few steps, printing
                                       "committed ID VERSION" after every command
"""

from __future__ import annotations

import sys
import time
from datetime import date, datetime
from pathlib import Path

from app.commands import Commands
from procedures import Conflict, DecideError
from store.dbapi import Database

CLOCK = datetime(2025, 12, 31, 4, 0, tzinfo=__import__("datetime").UTC)


def main() -> int:
    url, home, mode, *args = sys.argv[1:]
    cmds = Commands(Database(url), Path(home), clock=lambda: CLOCK)
    if mode in ("race-step", "conflict"):
        go = Path(args[2])
        while not go.exists():
            time.sleep(0.001)
    if mode == "race-step":
        decision, step = args[0], args[1]
        for verb in ("start", "complete"):
            while True:
                try:
                    if verb == "start":
                        cmds.start(decision, step, actor="race", on=date(2025, 3, 11))
                    else:
                        outcome = "controllable" if step == "risk_assessment" else None
                        cmds.complete(
                            decision, step, actor="race", on=date(2025, 4, 14), outcome=outcome
                        )
                    print(f"{verb} ok", flush=True)
                    break
                except Conflict:
                    print(f"{verb} conflict", flush=True)
        return 0
    if mode == "conflict":
        try:
            cmds.complete(
                args[0], "legality_review", actor="race", on=date(2025, 4, 30), outcome=args[1]
            )
        except DecideError as exc:
            print(type(exc).__name__, exc, flush=True)
            return exc.exit_code
        print("applied", flush=True)
        return 0
    if mode == "churn":
        for i in range(int(args[0])):
            d = cmds.register(
                title=f"压力测试决策 {i}",
                procedure_id="national-2019",
                sponsor="区住建委",
                actor="churn",
                on=date(2025, 3, 3),
            )
            print(f"committed {d.id} 1", flush=True)
            for verb, step, on in (
                ("start", "drafting", date(2025, 3, 3)),
                ("complete", "drafting", date(2025, 3, 10)),
                ("start", "public_participation", date(2025, 3, 11)),
            ):
                after, _ = getattr(cmds, verb)(d.id, step, actor="churn", on=on)
                print(f"committed {d.id} {after.version}", flush=True)
        return 0
    raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    sys.exit(main())
