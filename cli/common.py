"""What every command module shares: the Typer app, the common options, parsing and output."""

from __future__ import annotations

import contextlib
import os
import sys
from datetime import date
from typing import Annotated, Any

import typer

from cli import render
from cli.render import stdout_gone
from procedures import InputError

__all__ = [
    "Actor",
    "AsOf",
    "Json",
    "On",
    "app",
    "caller",
    "close_opened",
    "commands",
    "pairs",
    "parse_date",
    "reader",
    "show",
    "stdout_gone",
    "who",
]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    help="重大行政决策程序 — the major administrative decision procedure.",
)

Json = Annotated[bool, typer.Option("--json", help="print one JSON document (English ids)")]
On = Annotated[
    str | None,
    typer.Option("--on", help="effective date YYYY-MM-DD (default: today, Asia/Shanghai)"),
]
AsOf = Annotated[str | None, typer.Option("--as-of", help="date YYYY-MM-DD (may be in the future)")]
Actor = Annotated[
    str | None,
    typer.Option(
        "--actor",
        help="who acts, in a home without accounts (or DECIDE_ACTOR); with accounts the token "
        "in DECIDE_TOKEN says who acts",
    ),
]


def parse_date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InputError(
            f"日期格式错误 {option} {value!r} is not a date (expected YYYY-MM-DD)"
        ) from None


_opened: list[Any] = []


def commands() -> Any:
    """The services for the home of ``DECIDE_HOME``; their database is closed when the command
    ends (``close_opened``)."""
    from app.bootstrap import bootstrap

    cmds = bootstrap()
    _opened.append(cmds.db)
    return cmds


def close_opened() -> None:
    """Close the databases this command opened: its connection ends with the command, not
    when the interpreter gets round to it (a SQLite file's shared-memory index included)."""
    while _opened:
        db = _opened.pop()
        with contextlib.suppress(Exception):  # a connection already lost: the answer stands
            db.close()


def who(actor: str | None, cmds: Any = None) -> Any:
    """Who is calling: the account ``DECIDE_TOKEN`` proves (then a typed ``--actor`` is
    refused), or in a home without accounts the name given (``--actor`` or DECIDE_ACTOR)."""
    token = os.environ.get("DECIDE_TOKEN") or None
    typed = actor if actor is not None else os.environ.get("DECIDE_ACTOR")
    cmds = cmds if cmds is not None else commands()
    if token is None and (typed is None or not typed.strip()):
        with cmds.unit(write=False) as uow:
            accounts = uow.accounts.any()
        if not accounts:
            raise InputError("须写明办理人 who is acting? give --actor NAME or set DECIDE_ACTOR")
    return cmds.identify(token=token, actor=actor if token else typed)


def reader(cmds: Any, *, auditing: bool = False, admin: bool = False) -> Any:
    """Who is reading: once accounts exist a token is needed to read too (each sees what its
    unit may, ``app.permissions``); ``auditing``: only auditors and admins (verify, export);
    ``admin``: only admins (signing a checkpoint).  None in a home without accounts."""
    from procedures import AccessDenied

    token = os.environ.get("DECIDE_TOKEN") or None
    if token is None:
        with cmds.unit(write=False) as uow:
            if uow.accounts.any():
                raise AccessDenied(
                    "须登录 not authenticated: this home has accounts",
                    rule="auth.required",
                    remedy="decide tokens create LOGIN --password-stdin, then set DECIDE_TOKEN",
                    authenticated=False,
                )
        return None
    who = cmds.identify(token=token)
    if (auditing or admin) and not (who.admin or (auditing and "auditor" in who.roles)):
        need = "admin" if admin else "auditor or admin"
        raise AccessDenied(
            f"{who.name} 无权 is not permitted (needs {need})",
            rule="permission.audit",
            remedy=f"use an {need}'s token",
        )
    return who


def caller(cmds: Any) -> Any:
    """The account ``DECIDE_TOKEN`` proves, or None (commands that need none: the first
    account, logging in)."""
    token = os.environ.get("DECIDE_TOKEN") or None
    return cmds.identify(token=token) if token else None


def show(as_json: bool, doc: Any, *renderables: Any) -> None:
    """Print the command's answer.  A reader that went away (``decide register … | head -1``)
    does not undo what was done: the command still ends normally, with its exit code — also
    when stdout is closed (``>&-``) or cannot be written (a full disk, ``>/dev/full``)."""
    if sys.stdout is None:  # started with stdout closed: nothing can be shown
        return
    try:
        if as_json:
            sys.stdout.write(render.dump(doc) + "\n")
        else:
            con = render.console()
            for r in renderables:
                con.print(r)
        sys.stdout.flush()
    except OSError:  # a broken pipe, a full disk, a closed descriptor
        stdout_gone()


def pairs(values: list[str] | None, option: str) -> dict[str, str]:
    """``NAME=VALUE`` options as a mapping (the meeting record's positions and dissent)."""
    result: dict[str, str] = {}
    for value in values or ():
        name, sep, rest = value.partition("=")
        if not sep or not name.strip() or not rest.strip():
            raise InputError(f"{option} 格式应为 expects NAME=VALUE, got {value!r}")
        result[name.strip()] = rest.strip()
    return result
