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
def db_upgrade(
    owner_url: Annotated[
        str | None,
        typer.Option(
            "--owner-url",
            envvar="DECIDE_OWNER_URL",
            help="PostgreSQL: migrate as this owner role, then grant the role of "
            "DECIDE_DATABASE_URL only what the application needs",
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """升级数据库结构 apply pending schema migrations; make the home private."""
    from app.schema import db_upgrade as run

    done = run(owner_url=owner_url)
    grants = done.grants
    doc = {
        "revision": done.revision,
        "grants": None
        if grants is None
        else {
            "role": grants.role,
            "owner": grants.owner,
            "schema": grants.schema,
            "tables": {k: list(v) for k, v in grants.tables.items()},
        },
        "tightened": list(done.tightened),
    }
    lines = [f"数据库结构版本 schema at revision {done.revision}"]
    if grants is not None:
        lines.append(
            f"应用角色 application role {grants.role} (owner {grants.owner}, schema "
            f"{grants.schema}): {len(grants.tables)} tables; "
            + ", ".join(f"{t}: {' '.join(p)}" for t, p in grants.tables.items() if len(p) < 4)
            + "; the others SELECT INSERT UPDATE DELETE; no TRUNCATE, no ALTER"
        )
    lines += [f"已收紧权限 made private: {line}" for line in done.tightened]
    show(as_json, doc, *lines)
