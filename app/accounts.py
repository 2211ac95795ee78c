"""Accounts, passwords and API tokens: who is acting, proven.

An account has a login, the name the audit shows, a unit (区司法局, 区住建委, …) and roles — the
procedure roles, ``auditor`` (reads and verifies everything, changes nothing) — and may be an
admin (manages accounts, grants and procedures; acts on no step by virtue of it).  Passwords are
hashed with Argon2id (``argon2-cffi``); API tokens are random, shown once, and kept only as their
SHA-256 with an expiry.  Every change of an account or a token is an audit event in the chain
(with digests, never a password, a hash or a token), so ``audit verify`` replays them and catches
an account edited in the database (``account_problems``).  Failed logins are audited and
throttled: after ``MAX_FAILURES`` in a row the login is locked for ``LOCK_MINUTES`` (or until an
admin unlocks it).

A home with no account is single-user, as before: acts are recorded with the typed name and
marked unauthenticated.  Once the first account exists (it needs no credential and must be an
admin), every changing command needs a token.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from procedures import AccessDenied, InputError, NotFound
from store.audit import AppendedEvent, Problem, utc_iso
from store.repository import AccountRecord
from store.table_rows import events_of_no_decision

if TYPE_CHECKING:
    from app.commands import Commands
    from store.uow import UnitOfWork

__all__ = [
    "ACCOUNT_EVENTS",
    "EXTRA_ROLES",
    "MAX_FAILURES",
    "Identity",
    "account_problems",
    "add_account",
    "authenticate",
    "change_account",
    "create_token",
    "is_locked",
    "known_roles",
    "list_accounts",
    "revoke_tokens",
    "set_password",
    "unlock",
]

MIN_PASSWORD = 12
MAX_FAILURES = 5
LOCK_MINUTES = 15
# failed logins from one client address within LOCK_MINUTES, whatever the logins typed, before
# it is refused for the rest of the window: a password tried against many logins (spraying)
# locks no single login.  High, for an office behind one NAT address.
CLIENT_MAX_FAILURES = 30
# the refusals that mean "too many failed logins" (HTTP 429 on the API and the console)
LOCKOUT_RULES = frozenset({"auth.locked", "auth.throttled"})
TOKEN_DAYS = 30
EXTRA_ROLES = {"auditor": "审计人员"}  # beside the procedure roles; admin is a flag of its own
LOGIN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
ACCOUNT_EVENTS = (
    "account_add",
    "account_change",
    "account_password",
    "token_create",
    "token_revoke",
)
THROTTLE_EVENTS = ("login_failed", "login_locked", "account_unlock")


@dataclass(frozen=True)
class Identity:
    """Who acts: an authenticated account (``login`` set), or in a home without accounts the
    name typed (``--actor``), recorded as unauthenticated.  ``on_behalf_of``: the external
    party (an expert panel, the Party committee) whose act the account records (代录)."""

    name: str
    login: str | None = None
    unit: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    admin: bool = False
    on_behalf_of: str | None = None

    @property
    def authenticated(self) -> bool:
        return self.login is not None

    def stamp(self) -> dict[str, Any]:
        """What every audit event records of the caller beside its name."""
        if not self.authenticated:
            party = {"on_behalf_of": self.on_behalf_of} if self.on_behalf_of else {}
            return {"unauthenticated": True, **party}
        out: dict[str, Any] = {"login": self.login, "unit": self.unit}
        if self.on_behalf_of:
            out["on_behalf_of"] = self.on_behalf_of
        return out


def _hasher() -> Any:
    """Argon2id with RFC 9106's second recommended parameters (64 MiB, 3 passes) unless
    ``DECIDE_ARGON2_MEMORY_KIB`` / ``DECIDE_ARGON2_TIME_COST`` lower them (a small machine;
    the test suite, which hashes hundreds of passwords).  A hash records its parameters, so
    passwords hashed under other settings still verify."""
    import os

    from argon2 import PasswordHasher

    memory = int(os.environ.get("DECIDE_ARGON2_MEMORY_KIB") or 65536)
    passes = int(os.environ.get("DECIDE_ARGON2_TIME_COST") or 3)
    return PasswordHasher(time_cost=max(1, passes), memory_cost=max(8 * 4, memory))


def _digest(text: str) -> str:
    # surrogatepass: a typed login may hold bytes that were not UTF-8 (it is then refused)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _roles_known(cmds: Commands) -> dict[str, str]:
    """Every role a preset names (by the national preset's Chinese name first), and auditor."""
    from procedures import load_procedure, preset_ids

    names: dict[str, str] = {}
    for preset in ["national-2019", *preset_ids()]:
        for role in load_procedure(preset).roles:
            names.setdefault(role.id, role.zh)
    return {**names, **EXTRA_ROLES}


def is_locked(cmds: Commands, account: AccountRecord) -> bool:
    """Whether the login is locked now after repeated failures (an admin may unlock it)."""
    return bool(account.locked_until and account.locked_until > utc_iso(cmds.clock()))


def known_roles(cmds: Commands) -> dict[str, str]:
    """The roles an account may be granted (id → 中文), as a form offers them."""
    return _roles_known(cmds)


def _check_password(password: str | None) -> str:
    if password is None or len(password) < MIN_PASSWORD:
        raise InputError(
            f"密码过短 the password must have at least {MIN_PASSWORD} characters "
            "(give it on standard input: --password-stdin)"
        )
    if len(password) > 1024 or any(c in password for c in "\r\n\x00"):
        raise InputError("密码无效 the password is too long or contains a line break")
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:  # bytes of standard input that are not UTF-8
        raise InputError("密码无效 the password is not valid UTF-8 text") from None
    return password


def _clean_roles(cmds: Commands, roles: Iterable[str]) -> tuple[str, ...]:
    from procedures.names import resolve_role

    known = _roles_known(cmds)
    choices = [_Name(k, v) for k, v in known.items()]
    return tuple(sorted({resolve_role(choices, r) for r in roles}))


class _Name:
    def __init__(self, id: str, zh: str) -> None:
        self.id, self.zh, self.en = id, zh, ""


def _record_event(
    cmds: Commands, uow: UnitOfWork, action: str, actor: Identity | None, payload: dict[str, Any]
) -> None:
    uow.audit.append(
        decision_id=None,
        action=action,
        actor=actor.name if actor else "anonymous",
        effective_on=cmds.today(),
        recorded_at=cmds.clock(),
        # the caller apart from the account acted on (both have a unit)
        payload={**payload, "by": actor.stamp() if actor else {"unauthenticated": True}},
    )


def _check_duties(roles: Iterable[str], admin: bool) -> None:
    """Separation of duties: an admin account acts on no step, so it holds no procedure role;
    an auditor changes nothing, so the auditor role goes with no acting role."""
    held = set(roles)
    acting = held - {"auditor"}
    if admin and acting:
        raise InputError(
            "管理员账户不得兼任办理角色 an admin account holds no procedure role (it acts on no "
            f"step): give {', '.join(sorted(acting))} to another account"
        )
    if "auditor" in held and acting:
        raise InputError(
            "审计人员不得兼任办理角色 the auditor role goes with no acting role (an auditor "
            f"changes nothing): {', '.join(sorted(acting))}"
        )


def _require_admin(uow: UnitOfWork, by: Identity | None, what: str) -> None:
    if by is None or not by.authenticated:
        raise AccessDenied(
            f"须以管理员身份登录 {what} needs an admin's token",
            rule="auth.required",
            remedy="decide tokens create LOGIN --password-stdin, then set DECIDE_TOKEN",
            authenticated=False,
        )
    if not by.admin:
        raise AccessDenied(
            f"{by.name} 不是管理员 is not an admin: {what} is for admins only",
            rule="permission.admin",
            remedy="ask an admin",
        )


def add_account(
    cmds: Commands,
    by: Identity | None,
    *,
    login: str,
    name: str,
    unit: str,
    roles: Iterable[str] = (),
    admin: bool = False,
    password: str | None,
) -> AccountRecord:
    """Add an account (audited).  The first one needs no credential and must be an admin;
    every later one is an admin's to add."""
    from app.commands import clean_text

    login = login.strip().lower()
    if not LOGIN.match(login):
        raise InputError(
            f"登录名无效 login {login!r}: 2-64 characters, a-z 0-9 . _ - (starting with a letter "
            "or digit)"
        )
    name_text = clean_text(name, "name (--name)", required=True, limit=128, name=True) or ""
    unit_text = clean_text(unit, "unit (--unit)", required=True, limit=200, name=True) or ""
    granted = _clean_roles(cmds, roles)
    _check_duties(granted, admin)
    with cmds.unit(write=False) as uow:
        if uow.accounts.any():  # permission first: a non-admin learns nothing of the input
            _require_admin(uow, by, "adding an account")
    secret = _check_password(password)
    with cmds.unit() as uow:
        first = not uow.accounts.any()
        if first and not admin:
            raise InputError(
                "第一个账户须为管理员 the first account must be an admin (--admin): it adds the others"
            )
        if not first:
            _require_admin(uow, by, "adding an account")
        if uow.accounts.get(login) is not None:
            raise InputError(f"账户已存在 account {login!r} exists")
        record = AccountRecord(
            login, name_text, unit_text, granted, admin, _hasher().hash(secret), True, 0, None
        )
        uow.accounts.add(record)
        _record_event(
            cmds,
            uow,
            "account_add",
            by,
            {
                "account": login,
                "name": name_text,
                "unit": unit_text,
                "roles": list(granted),
                "admin": admin,
                "password": _digest(record.password_hash),
            },
        )
        uow.commit()
    return record


def change_account(
    cmds: Commands,
    by: Identity | None,
    login: str,
    *,
    name: str | None = None,
    unit: str | None = None,
    grant: Iterable[str] = (),
    revoke: Iterable[str] = (),
    admin: bool | None = None,
    active: bool | None = None,
    reason: str | None = None,
) -> AccountRecord:
    """Grant or revoke roles, change the name, unit or admin flag, disable or enable (an admin's,
    audited from/to; an admin never changes their own grants).  Disabling revokes the tokens."""
    from app.commands import clean_text

    why = clean_text(reason, "reason (--reason)", required=True)
    added, removed = _clean_roles(cmds, grant), _clean_roles(cmds, revoke)
    with cmds.unit() as uow:
        _require_admin(uow, by, "changing an account")
        assert by is not None
        before = uow.accounts.get(login)
        if before is None:
            raise NotFound(f"没有此账户 no account {login!r}")
        changing_self = login == by.login and bool(
            added or removed or admin is not None or active is not None or unit or name
        )
        if changing_self:
            raise AccessDenied(
                "不得修改自己的权限、单位或姓名 an admin may not change their own grants, unit or "
                "name",
                rule="permission.self_grant",
                remedy="ask another admin",
            )
        after = before._replace(
            name=clean_text(name, "name", limit=128, name=True) or before.name,
            unit=clean_text(unit, "unit", limit=200, name=True) or before.unit,
            roles=tuple(sorted((set(before.roles) | set(added)) - set(removed))),
            admin=before.admin if admin is None else admin,
            active=before.active if active is None else active,
        )
        _check_duties(after.roles, after.admin)
        changes = {
            k: {"from": getattr(before, k), "to": getattr(after, k)}
            for k in ("name", "unit", "roles", "admin", "active")
            if getattr(before, k) != getattr(after, k)
        }
        if not changes:
            raise InputError("没有要修改的内容 nothing to change")
        uow.accounts.save(after)
        if not after.active:
            uow.accounts.revoke_tokens(login, utc_iso(cmds.clock()))
        _record_event(
            cmds,
            uow,
            "account_change",
            by,
            {"account": login, **_jsonable(changes), "reason": why},
        )
        uow.commit()
    return after


def _jsonable(changes: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(changes, default=list))
    return out


def set_password(
    cmds: Commands,
    by: Identity | None,
    login: str,
    password: str | None,
    *,
    current: str | None = None,
) -> None:
    """A new password (the account's own, given with its current one; or an admin's reset of
    another's); every token is revoked."""
    secret = _check_password(password)
    with cmds.unit() as uow:
        if by is None or not by.authenticated:
            raise AccessDenied(
                "须登录 changing a password needs a token",
                rule="auth.required",
                remedy="set DECIDE_TOKEN",
                authenticated=False,
            )
        if by.login != login:
            _require_admin(uow, by, "resetting another account's password")
        before = uow.accounts.get(login)
        if before is None:
            raise NotFound(f"没有此账户 no account {login!r}")
        if by.login == login and not _verified(before, current or ""):
            raise AccessDenied(
                "当前密码错误 the current password is wrong: a token alone does not change a "
                "password",
                rule="auth.current_password",
                remedy="give the current password, then the new one (two lines on stdin)",
                authenticated=False,
            )
        after = before._replace(password_hash=_hasher().hash(secret))
        uow.accounts.save(after)
        uow.accounts.throttle(login, 0, None)
        uow.accounts.revoke_tokens(login, utc_iso(cmds.clock()))
        _record_event(
            cmds,
            uow,
            "account_password",
            by,
            {"account": login, "password": _digest(after.password_hash)},
        )
        uow.commit()


def create_token(
    cmds: Commands,
    login: str,
    password: str | None,
    *,
    days: int = TOKEN_DAYS,
    client: str | None = None,
) -> tuple[str, datetime]:
    """Log in: a new API token for ``login`` (shown once) and its expiry.  A wrong password is
    audited and counted; the ``MAX_FAILURES``-th in a row locks the login for ``LOCK_MINUTES``.

    A login that does not exist (or a disabled one) answers exactly as a wrong password does --
    the same message, the password still checked (against a fixed hash), locked alike from its
    audited failures -- so neither the answer, its timing nor a lock tells an outsider which
    logins exist.  The password is checked outside the write transaction (it takes Argon2's
    time, and SQLite has one writer); what is typed as a login is recorded only when it is
    well-formed, else as a digest.

    ``client``: the caller's network address (the API and the console pass it): recorded with
    each failure, and once ``CLIENT_MAX_FAILURES`` failures came from it within ``LOCK_MINUTES``
    it is refused (``auth.throttled``) before any password is checked."""
    if not 1 <= days <= 366:
        raise InputError(f"--days 须在 1 与 366 之间 must be 1-366 (got {days})")
    typed = login.strip().lower()
    well_formed = bool(LOGIN.match(typed))
    login = typed if well_formed else "sha256:" + _digest(typed)[:16]
    now = cmds.clock()
    denied = AccessDenied(
        "登录名或密码错误 wrong login or password",
        rule="auth.login",
        remedy="check the login and the password",
        authenticated=False,
    )
    locked_out = AccessDenied(
        "登录已锁定 the login is locked after repeated failures",
        rule="auth.locked",
        remedy=f"wait {LOCK_MINUTES} minutes, or ask an admin to unlock it",
        authenticated=False,
    )
    since = utc_iso(now - timedelta(minutes=LOCK_MINUTES))
    key = '"account":' + json.dumps(login, ensure_ascii=False)
    client = client.strip()[:64] if client and client.strip() else None
    with cmds.unit(write=False) as uow:
        if client is not None:
            by_client = '"client":' + json.dumps(client, ensure_ascii=False)
            if uow.audit.count_recent("login_failed", by_client, since) >= CLIENT_MAX_FAILURES:
                raise AccessDenied(
                    "登录尝试过多 too many failed logins from this address",
                    rule="auth.throttled",
                    remedy=f"wait {LOCK_MINUTES} minutes",
                    authenticated=False,
                )
        account = uow.accounts.get(login) if well_formed else None
        usable = account is not None and account.active
        if account is not None and usable:
            failures = account.failures
            locked = bool(account.locked_until and account.locked_until > utc_iso(now))
        else:
            failures = uow.audit.count_recent("login_failed", key, since)
            locked = failures >= MAX_FAILURES
    if locked:
        raise locked_out
    ok = _verified(account if usable else None, password or "")
    with cmds.unit() as uow:
        if not ok or account is None or not usable:
            failures += 1
            lock = None
            if failures >= MAX_FAILURES:
                lock = utc_iso(now + timedelta(minutes=LOCK_MINUTES))
            if usable:
                uow.accounts.throttle(login, 0 if lock else failures, lock)
            failed: dict[str, Any] = {"account": login, "failures": failures}
            if client is not None:
                failed["client"] = client
            _record_event(cmds, uow, "login_failed", None, failed)
            if lock:
                _record_event(cmds, uow, "login_locked", None, {"account": login, "until": lock})
            uow.commit()
            raise denied
        token = secrets.token_urlsafe(32)
        expires = now + timedelta(days=days)
        sha = _digest(token)
        uow.accounts.add_token(sha, login, utc_iso(now), utc_iso(expires))
        if account.failures or account.locked_until:
            uow.accounts.throttle(login, 0, None)
        _record_event(
            cmds,
            uow,
            "token_create",
            _identity(account),
            {"account": login, "token": sha, "expires_at": utc_iso(expires)},
        )
        uow.commit()
    return token, expires


_DUMMY: list[str] = []


def _verified(account: AccountRecord | None, password: str) -> bool:
    """Whether ``password`` is the account's; without an account, checked against a fixed hash
    all the same (the same time taken) and False."""
    from argon2.exceptions import InvalidHashError, VerificationError

    if account is None and not _DUMMY:
        _DUMMY.append(_hasher().hash(secrets.token_urlsafe(16)))
    stored = account.password_hash if account is not None else _DUMMY[0]
    try:
        # as bytes: a password that is not UTF-8 (never accepted when set) simply fails
        typed = password.encode("utf-8", "surrogatepass")
        return bool(_hasher().verify(stored, typed)) and account is not None
    except (VerificationError, InvalidHashError):
        return False


def unlock(cmds: Commands, by: Identity | None, login: str) -> None:
    with cmds.unit() as uow:
        _require_admin(uow, by, "unlocking a login")
        if uow.accounts.get(login) is None:
            raise NotFound(f"没有此账户 no account {login!r}")
        uow.accounts.throttle(login, 0, None)
        _record_event(cmds, uow, "account_unlock", by, {"account": login})
        uow.commit()


def revoke_tokens(cmds: Commands, by: Identity | None, login: str) -> None:
    """Revoke every token of ``login`` (its own, or an admin's for any account)."""
    with cmds.unit() as uow:
        if by is None or not by.authenticated:
            raise AccessDenied(
                "须登录 revoking tokens needs a token",
                rule="auth.required",
                remedy="set DECIDE_TOKEN",
                authenticated=False,
            )
        if by.login != login:
            _require_admin(uow, by, "revoking another account's tokens")
        if uow.accounts.get(login) is None:
            raise NotFound(f"没有此账户 no account {login!r}")
        uow.accounts.revoke_tokens(login, utc_iso(cmds.clock()))
        _record_event(cmds, uow, "token_revoke", by, {"account": login})
        uow.commit()


def _identity(account: AccountRecord) -> Identity:
    return Identity(
        name=account.name,
        login=account.login,
        unit=account.unit,
        roles=frozenset(account.roles),
        admin=account.admin,
    )


def authenticate(
    uow: UnitOfWork, token: str | None, now: datetime, *, end: bool = False
) -> Identity:
    """The account a token proves (not revoked, not expired, the account active).  ``end``:
    the read-only ``uow`` reads nothing else — its transaction ends with the one query."""
    denied = AccessDenied(
        "令牌无效、已过期或已撤销 the token is not valid, has expired or was revoked",
        rule="auth.token",
        remedy="create one with decide tokens create LOGIN --password-stdin",
        authenticated=False,
    )
    if not token or len(token) > 256:
        raise denied
    found = uow.accounts.token_account(_digest(token.strip()), end=end)
    if found is None:
        raise denied
    record, account = found
    if record.revoked_at is not None or record.expires_at <= utc_iso(now):
        raise denied
    if account is None or not account.active:
        raise denied
    return _identity(account)


def list_accounts(cmds: Commands, by: Identity | None) -> list[AccountRecord]:
    with cmds.unit(write=False) as uow:
        allowed = by is not None and by.authenticated and (by.admin or "auditor" in by.roles)
        if uow.accounts.any() and not allowed:
            raise AccessDenied(
                "账户列表仅限管理员和审计人员 the accounts are for admins and auditors",
                rule="permission.accounts",
                remedy="use an admin's or an auditor's token",
                authenticated=by is not None and by.authenticated,
            )
        return uow.accounts.all()


# -- verification ------------------------------------------------------------------------------
def account_problems(uow: UnitOfWork) -> Iterator[Problem]:
    """The accounts and tokens tables against the events that made them: an account added,
    granted a role, disabled or given a password outside the engine is reported."""
    accounts: dict[str, dict[str, Any]] = {}
    tokens: dict[str, dict[str, Any]] = {}
    # every account event is of no decision: read through the index, not a scan of the log
    for event in events_of_no_decision(uow.link, ACCOUNT_EVENTS):
        yield from _fold(event, accounts, tokens)
    for row in uow.accounts.all():
        want = accounts.pop(row.login, None)
        have = {
            "name": row.name,
            "unit": row.unit,
            "roles": sorted(row.roles),
            "admin": row.admin,
            "active": row.active,
            "password": _digest(row.password_hash),
        }
        if want is None:
            yield Problem(None, "accounts", f"account {row.login!r} has no account_add event")
            continue
        differ = [
            # never a password or its hash in a message: only that it differs
            k if k == "password" else f"{k} stored {have[k]!r}, recorded {want[k]!r}"
            for k in sorted(have)
            if have[k] != want[k]
        ]
        if differ:
            yield Problem(
                want["seq"],
                "accounts",
                f"account {row.login!r}: the accounts row differs from what its audit events "
                f"record ({'; '.join(differ)}) — the accounts table was edited outside the engine",
            )
    for login, want in accounts.items():
        yield Problem(want["seq"], "accounts", f"account {login!r} was deleted from the table")
    for kept in uow.accounts.tokens():
        tok = tokens.pop(kept.sha256, None)
        if tok is None:
            yield Problem(None, "tokens", f"a token of {kept.login!r} has no token_create event")
            continue
        revoked = kept.revoked_at is not None
        if (kept.login, kept.expires_at) != (tok["login"], tok["expires_at"]) or (
            tok["revoked"] and not revoked
        ):
            yield Problem(
                tok["seq"],
                "tokens",
                f"a token of {kept.login!r} differs from its token_create/token_revoke events "
                "(login, expiry or revocation): the tokens table was edited outside the engine",
            )


def _fold(
    event: AppendedEvent, accounts: dict[str, dict[str, Any]], tokens: dict[str, dict[str, Any]]
) -> Iterator[Problem]:
    data = json.loads(event.payload)
    login = data.get("account")
    if event.action == "account_add":
        accounts[login] = {
            "seq": event.seq,
            "name": data["name"],
            "unit": data["unit"],
            "roles": sorted(data["roles"]),
            "admin": bool(data["admin"]),
            "active": True,
            "password": data["password"],
        }
        return
    now = accounts.get(login)
    if now is None and event.action != "token_revoke":
        yield Problem(event.seq, "accounts", f"event {event.seq} names unknown account {login!r}")
        return
    if event.action == "account_change" and now is not None:
        for key in ("name", "unit", "roles", "admin", "active"):
            if key in data:
                now[key] = sorted(data[key]["to"]) if key == "roles" else data[key]["to"]
        if not now["active"]:
            _revoke(tokens, login)
    elif event.action == "account_password" and now is not None:
        now["password"] = data["password"]
        _revoke(tokens, login)
    elif event.action == "token_create":
        tokens[data["token"]] = {
            "seq": event.seq,
            "login": login,
            "expires_at": data["expires_at"],
            "revoked": False,
        }
    elif event.action == "token_revoke":
        _revoke(tokens, login)


def _revoke(tokens: dict[str, dict[str, Any]], login: str) -> None:
    for tok in tokens.values():
        if tok["login"] == login:
            tok["revoked"] = True
