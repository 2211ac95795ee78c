"""``decide serve``: one long-running process that keeps the automated work going.

APScheduler (the embedded scheduler; Prefect's own schedules need a server) runs the outbox
drain every few seconds and the deadline scan daily at a set time in Asia/Shanghai, plus both
once at start (which is also the catch-up after downtime); and it signs audit checkpoints every
``DECIDE_CHECKPOINT_MINUTES`` and whenever ``DECIDE_CHECKPOINT_EVENTS`` events were appended since
the last (polled with the drain), never without a new event — each time-stamped when a TSA is
configured and handed to the notifiers through the outbox (:mod:`app.witness`).  Misfire handling is set
on purpose: APScheduler's default grace time of one second would silently drop a scan whose
time passed while the process was busy or the machine asleep; here a late scan still runs
(up to 12 hours late) and missed runs are coalesced into one.  SIGINT/SIGTERM stop it cleanly:
no new job starts, running jobs finish, and anything not done stays in the outbox.
``notify.toml`` is read and checked before anything runs: a mistake in it stops the service at
start, not at the first delivery.  Printed errors are redacted (no token, no password).
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from queue import Empty, Queue

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from rich.console import Console
from rich.markup import escape

from app.clock import SHANGHAI, today_shanghai
from app.commands import Commands
from app.witness import Witnessed, check_settings, witness_checkpoint
from flows.orchestration import drain, release_claims, scan_flow, use
from notify.redact import redact

__all__ = ["parse_time", "serve"]


def parse_time(value: str) -> tuple[int, int]:
    from procedures import InputError

    try:
        hour, minute = (int(p) for p in value.strip().split(":"))
    except ValueError:
        raise InputError(f"--scan-at {value!r} is not a time HH:MM") from None
    if not (0 <= hour < 24 and 0 <= minute < 60):
        raise InputError(f"--scan-at {value!r} is not a time HH:MM")
    return hour, minute


def serve(
    cmds: Commands,
    *,
    drain_seconds: float = 5.0,
    scan_at: str = "08:30",
    once: bool = False,
    console: Console | None = None,
    stop: threading.Event | None = None,
) -> None:
    console = console or Console()
    hour, minute = parse_time(scan_at)
    secrets = use(cmds).secrets  # reads and checks notify.toml: a mistake stops us here
    worker = f"{os.uname().nodename}:{os.getpid()}"
    stop = stop or threading.Event()

    def run_scan() -> None:
        raised = asyncio.run(scan_flow(today_shanghai()))
        console.print(f"[bold]期限扫描 deadline scan[/]: {len(raised)} new alert(s)")

    def run_drain() -> None:
        results = asyncio.run(drain(worker=worker))
        for r in results:
            status = (
                f"[green]{r.get('outcome', 'ok')}[/]"
                if r["ok"]
                else f"[red]retry later[/] {escape(r.get('error', ''))}"
            )
            console.print(f"  outbox #{r['id']} {r.get('kind', '')}: {status}")

    every = cmds.checkpoints
    checkpoints = check_settings(cmds)  # a roots file that cannot be used stops us here

    def checkpoint_after(events: int, why: str) -> Callable[[], None]:
        def checkpoint() -> None:
            made = witness_checkpoint(cmds, min_events=events)
            if made is not None:
                console.print(_describe(made, why))

        return checkpoint

    guarded = _guard(console, stop, secrets)
    if once:
        guarded(run_scan)()
        if every.every_minutes > 0 or every.every_events > 0:
            guarded(checkpoint_after(1, "over the new events"))()  # the drain hands it out
        guarded(run_drain)()
        return
    # APScheduler keeps the times (interval, daily cron in Asia/Shanghai, misfires, coalescing);
    # its jobs only queue the work, which runs here in the main thread, one job at a time.  So a
    # SIGTERM lands in the main thread: it sets ``stop``; a flow it interrupts leaves its rows in
    # the outbox, and the claims of this worker are released on the way out, for the next run.
    queue: Queue[Callable[[], None]] = Queue()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    now = datetime.now(SHANGHAI)
    scheduler = BackgroundScheduler(timezone=SHANGHAI)
    scheduler.add_job(queue.put, args=[guarded(run_scan)], id="scan-at-start", next_run_time=now)
    scheduler.add_job(
        queue.put,
        IntervalTrigger(seconds=drain_seconds),
        args=[guarded(run_drain)],
        next_run_time=now + timedelta(seconds=1),
        id="drain",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=max(30, int(drain_seconds * 4)),
    )
    scheduler.add_job(
        queue.put,
        CronTrigger(hour=hour, minute=minute, timezone=SHANGHAI),
        args=[guarded(run_scan)],
        id="scan",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=12 * 3600,
    )
    if every.every_minutes > 0:
        scheduler.add_job(
            queue.put,
            IntervalTrigger(minutes=every.every_minutes),
            args=[guarded(checkpoint_after(1, f"on schedule (every {every.every_minutes:g} min)"))],
            id="checkpoint",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(60, int(every.every_minutes * 30)),
        )
    if every.every_events > 0:
        scheduler.add_job(
            queue.put,
            IntervalTrigger(seconds=drain_seconds),
            args=[
                guarded(checkpoint_after(every.every_events, f"after {every.every_events} events"))
            ],
            next_run_time=now + timedelta(seconds=1),
            id="checkpoint-events",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(30, int(drain_seconds * 4)),
        )
    scheduler.start()
    console.print(
        f"decide serve: outbox every {drain_seconds:g}s, deadline scan daily at "
        f"{hour:02d}:{minute:02d} Asia/Shanghai, {escape(checkpoints)} — Ctrl-C or SIGTERM to "
        "stop"
    )
    while not stop.is_set():
        try:
            job = queue.get(timeout=0.2)
        except Empty:
            continue
        if not stop.is_set():
            job()
    console.print("stopping …")
    scheduler.shutdown(wait=True)
    released = release_claims(worker)
    console.print(
        f"stopped cleanly ({released} unfinished outbox row(s) released for the next run)"
    )


def _describe(made: Witnessed, why: str) -> str:
    head = f"[bold]审计检查点 audit checkpoint[/] #{made.seq} signed {why}"
    if made.stamped_at is not None:
        return f"{head}, 时间戳 time-stamped {made.stamped_at:%Y-%m-%d %H:%M:%S} UTC by {made.tsa}"
    if made.stamp_error is not None:
        return (
            f"{head} [red]but NOT time-stamped[/] (handed out unstamped): "
            f"{escape(made.stamp_error)}"
        )
    return f"{head} (no time-stamping authority configured)"


def _guard(
    console: Console, stop: threading.Event, secrets: tuple[str, ...] = ()
) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """A job that fails logs and waits for its next run; the service keeps going.  A stop
    signal that lands inside a flow reaches us as Prefect's ``TerminationSignal`` (its handler
    is the one installed while a flow runs), not through ours: it stops the service too."""

    def wrap(job: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                job()
            except Exception as exc:
                text = escape(redact(repr(exc), secrets))  # may quote a URL with its token
                console.print(f"[red]{job.__name__} failed[/]: {text}")
            except BaseException as exc:  # Prefect's TerminationSignal: the service is stopping
                if type(exc).__name__ != "TerminationSignal":
                    raise
                console.print(f"{job.__name__} interrupted by the stop signal")
                stop.set()

        run.__name__ = job.__name__
        return run

    return wrap
