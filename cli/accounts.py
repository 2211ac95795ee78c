"""Accounts and API tokens: ``decide accounts …`` and ``decide tokens …``.

Passwords are read from standard input only (``--password-stdin``: never an argument, which
``ps`` and the shell history would show); a token is shown once.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from cli.common import Json, app, caller, commands, show
from procedures import InputError

accounts_app = typer.Typer(help="账户 accounts, units and roles", no_args_is_help=True)
tokens_app = typer.Typer(help="令牌 API tokens (DECIDE_TOKEN)", no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")
app.add_typer(tokens_app, name="tokens")

PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="read the password from standard input")
]


def _password(from_stdin: bool) -> str:
    if not from_stdin:
        raise InputError(
            "须从标准输入提供密码 give the password on standard input with --password-stdin "
            "(never as an argument)"
        )
    # one line of at most 1024 characters (app.accounts refuses longer): standard input that
    # never ends a line (< /dev/zero) is not read without limit
    try:
        line = sys.stdin.readline(1026) if sys.stdin is not None else ""
    except UnicodeDecodeError:
        raise InputError("密码无效 the password on standard input is not UTF-8 text") from None
    return line[:-1] if line.endswith("\n") else line


def _account_doc(a: Any) -> dict[str, object]:
    return {
        "login": a.login,
        "name": a.name,
        "unit": a.unit,
        "roles": list(a.roles),
        "admin": a.admin,
        "active": a.active,
        "locked_until": a.locked_until,
    }


@accounts_app.command("add")
def accounts_add(
    login: str,
    name: Annotated[str, typer.Option("--name", help="the name the audit shows")],
    unit: Annotated[str, typer.Option("--unit", help="单位 e.g. 区司法局")],
    role: Annotated[
        list[str] | None, typer.Option("--role", help="a role (repeatable): sponsor, auditor, …")
    ] = None,
    admin: Annotated[bool, typer.Option("--admin", help="manages accounts and procedures")] = False,
    password_stdin: PasswordStdin = False,
    as_json: Json = False,
) -> None:
    """添加账户 add an account (the first needs no token and must be --admin)."""
    from app.accounts import add_account

    cmds = commands()
    secret = _password(password_stdin)
    record = add_account(
        cmds,
        caller(cmds),
        login=login,
        name=name,
        unit=unit,
        roles=role or (),
        admin=admin,
        password=secret,
    )
    doc = _account_doc(record)
    show(as_json, doc, f"已添加账户 account added: {record.login} ({record.name}, {record.unit})")


@accounts_app.command("list")
def accounts_list(as_json: Json = False) -> None:
    """账户列表 the accounts (admins and auditors)."""
    from rich.table import Table

    from app.accounts import list_accounts

    cmds = commands()
    rows = list_accounts(cmds, caller(cmds))
    table = Table(title="账户 accounts", title_justify="left")
    for col in ("登录名 login", "姓名 name", "单位 unit", "角色 roles", "状态 state"):
        table.add_column(col)
    for a in rows:
        state = ("管理员 admin " if a.admin else "") + (
            "有效 active" if a.active else "停用 disabled"
        )
        table.add_row(a.login, a.name, a.unit, "\n".join(a.roles) or "—", state)
    show(as_json, {"accounts": [_account_doc(a) for a in rows]}, table)


@accounts_app.command("change")
def accounts_change(
    login: str,
    reason: Annotated[str, typer.Option("--reason", help="why (kept in the audit log)")],
    grant: Annotated[list[str] | None, typer.Option("--grant", help="a role to grant")] = None,
    revoke: Annotated[list[str] | None, typer.Option("--revoke", help="a role to revoke")] = None,
    name: Annotated[str | None, typer.Option("--name")] = None,
    unit: Annotated[str | None, typer.Option("--unit")] = None,
    admin: Annotated[bool | None, typer.Option("--admin/--no-admin")] = None,
    disable: Annotated[bool, typer.Option("--disable", help="disable (tokens revoked)")] = False,
    enable: Annotated[bool, typer.Option("--enable")] = False,
    as_json: Json = False,
) -> None:
    """修改账户 grant or revoke roles, change the unit or name, disable (an admin's, audited)."""
    from app.accounts import change_account

    if disable and enable:
        raise InputError("give --disable or --enable, not both")
    cmds = commands()
    record = change_account(
        cmds,
        caller(cmds),
        login,
        name=name,
        unit=unit,
        grant=grant or (),
        revoke=revoke or (),
        admin=admin,
        active=False if disable else (True if enable else None),
        reason=reason,
    )
    show(as_json, _account_doc(record), f"已修改账户 account changed: {record.login}")


@accounts_app.command("password")
def accounts_password(
    login: str, password_stdin: PasswordStdin = False, as_json: Json = False
) -> None:
    """修改密码 set a new password: your own with the current one on the first line of stdin and
    the new one on the second; an admin's reset of another account with the new one only. Its
    tokens are revoked."""
    from app.accounts import set_password

    cmds = commands()
    by = caller(cmds)
    if not password_stdin:
        _password(False)
    lines = sys.stdin.read().splitlines()
    own = by is not None and by.login == login
    current, new = (
        (lines[0], lines[1]) if own and len(lines) >= 2 else (None, lines[-1] if lines else "")
    )
    set_password(cmds, by, login, new, current=current)
    show(as_json, {"login": login, "password": "changed"}, f"已修改密码 password changed: {login}")


@accounts_app.command("unlock")
def accounts_unlock(login: str, as_json: Json = False) -> None:
    """解锁 unlock a login locked after repeated failures (an admin's)."""
    from app.accounts import unlock

    cmds = commands()
    unlock(cmds, caller(cmds), login)
    show(as_json, {"login": login, "locked": False}, f"已解锁 unlocked: {login}")


@tokens_app.command("create")
def tokens_create(
    login: str,
    password_stdin: PasswordStdin = False,
    days: Annotated[int, typer.Option("--days", help="valid for N days (default 30)")] = 30,
    as_json: Json = False,
) -> None:
    """登录 log in: a new token for DECIDE_TOKEN (shown once, kept only as a hash)."""
    from app.accounts import create_token

    cmds = commands()
    token, expires = create_token(cmds, login, _password(password_stdin), days=days)
    shown = expires.isoformat(timespec="seconds")
    show(
        as_json,
        {"token": token, "expires_at": shown},
        f"{token}\n[dim]令牌仅显示一次 shown once; valid until {shown} — export DECIDE_TOKEN=…[/]",
    )


@tokens_app.command("revoke")
def tokens_revoke(login: str, as_json: Json = False) -> None:
    """撤销令牌 revoke every token of an account (your own, or an admin's)."""
    from app.accounts import revoke_tokens

    cmds = commands()
    revoke_tokens(cmds, caller(cmds), login)
    show(as_json, {"login": login, "revoked": True}, f"已撤销令牌 tokens revoked: {login}")
