"""``decide serve`` (the outbox and the deadline scan) and ``decide demo``."""

from __future__ import annotations

import signal
from typing import Annotated

import typer

from cli.common import Json, app, commands, show


@app.command()
def serve(
    drain_seconds: Annotated[
        float, typer.Option("--drain-seconds", help="outbox poll interval")
    ] = 5.0,
    scan_at: Annotated[
        str,
        typer.Option(
            "--scan-at", envvar="DECIDE_SCAN_AT", help="daily deadline scan, HH:MM Asia/Shanghai"
        ),
    ] = "08:30",
    once: Annotated[bool, typer.Option("--once", help="scan and drain once, then exit")] = False,
) -> None:
    """后台服务 run the outbox (notifications, packages, archives) and the deadline scan."""
    cmds = commands()
    from notify.config import load_notify_settings

    load_notify_settings(cmds.home)  # a mistake in notify.toml stops us before Prefect starts
    from flows.prefect_env import configure, local_server

    configure(cmds.home)
    from flows.serve import serve as run

    # Until the service's own handlers are in place (set by ``run``), a stop signal ends the
    # start-up through the normal exit path, so Prefect's temporary server is stopped with it.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _exit_on_signal)
    with local_server():
        run(
            cmds,
            drain_seconds=drain_seconds,
            scan_at=scan_at,
            once=once,
        )


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


@app.command()
def demo() -> None:
    """演示 a district decision driven through the whole national procedure (fresh home)."""
    from cli.demo import main as run

    raise typer.Exit(run())


@app.command("db-upgrade")
def db_upgrade(as_json: Json = False) -> None:
    """Apply pending schema migrations explicitly."""
    from app.admin import db_upgrade as run

    revision = run()
    show(as_json, {"revision": revision}, f"schema at revision {revision}")
