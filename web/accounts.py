"""Account administration in the console (admins; auditors read the list): add an account,
grant or revoke a role, disable or enable, unlock a login locked after failed logins.  Each
form posts to ``app.accounts``, which decides who may; a refusal or a bad value re-renders the
page with the rule and what to do, the add form keeping what was typed (never the password)."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from app.accounts import Identity
from app.commands import Commands
from procedures import AccessDenied, DecideError, NotFound
from web.common import Services, caller, error_page, form_of, page

__all__ = ["accounts_page", "router"]

DONE = {
    "add": "已新增账户 account added",
    "change": "已保存变更 change saved",
    "unlock": "已解锁 login unlocked",
}


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value.strip() or None if isinstance(value, str) else None


def _all(form: FormData, name: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in form.getlist(name) if isinstance(v, str) and v.strip())


def accounts_page(
    request: Request,
    cmds: Commands,
    me: Identity,
    *,
    error: DecideError | None = None,
    failed: str | None = None,
    typed: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    from app.accounts import is_locked, known_roles, list_accounts

    found = list_accounts(cmds, me)
    done = request.query_params.get("done")
    return page(
        request, "accounts.html", me, status=status, today=cmds.today(),
        accounts=found, roles=known_roles(cmds), error=error,
        locked_logins={a.login for a in found if is_locked(cmds, a)},
        failed=failed, typed=typed or {}, done=DONE.get(done or ""),
        done_login=request.query_params.get("login"), editable=me.admin,
    )  # fmt: skip


def _status(exc: DecideError) -> int:
    if isinstance(exc, AccessDenied):
        return 403
    return 404 if isinstance(exc, NotFound) else 400


def router(services: Services) -> APIRouter:
    r = APIRouter(include_in_schema=False)
    Cmds = Annotated[Commands, Depends(services)]

    async def refused(
        request: Request, cmds: Commands, who: Identity, exc: DecideError, failed: str,
        typed: dict[str, Any] | None = None,
    ) -> Response:  # fmt: skip
        def answer() -> Response:
            try:
                return accounts_page(request, cmds, who, error=exc, failed=failed, typed=typed,
                                     status=_status(exc))  # fmt: skip
            except AccessDenied:  # not even a reader of the accounts: the refusal alone
                return error_page(request, exc, who)

        return await run_in_threadpool(answer)

    @r.post("/accounts")
    async def add(request: Request, cmds: Cmds) -> Response:
        from app.accounts import add_account

        form = await form_of(request)
        who = await run_in_threadpool(caller, request, cmds)
        typed: dict[str, Any] = {
            "login": _text(form, "login") or "",
            "name": _text(form, "name") or "",
            "unit": _text(form, "unit") or "",
            "role": _all(form, "role"),
            "admin": _text(form, "admin") is not None,
        }
        try:
            record = await run_in_threadpool(
                lambda: add_account(
                    cmds, who, login=typed["login"], name=typed["name"], unit=typed["unit"],
                    roles=typed["role"], admin=typed["admin"], password=_text(form, "password"),
                )
            )  # fmt: skip
        except DecideError as exc:
            return await refused(request, cmds, who, exc, "add", typed)
        return RedirectResponse(f"/accounts?done=add&login={record.login}", status_code=303)

    @r.post("/accounts/{login}")
    async def change(request: Request, login: str, cmds: Cmds) -> Response:
        from app.accounts import change_account

        form = await form_of(request)
        who = await run_in_threadpool(caller, request, cmds)
        active = _text(form, "active")
        try:
            await run_in_threadpool(
                lambda: change_account(
                    cmds, who, login, grant=_all(form, "grant"), revoke=_all(form, "revoke"),
                    active=None if active is None else active == "1",
                    reason=_text(form, "reason") or "",
                )
            )  # fmt: skip
        except DecideError as exc:
            return await refused(request, cmds, who, exc, login)
        return RedirectResponse(f"/accounts?done=change&login={login}", status_code=303)

    @r.post("/accounts/{login}/unlock")
    async def unlock(request: Request, login: str, cmds: Cmds) -> Response:
        from app.accounts import unlock as unlock_login

        await form_of(request)
        who = await run_in_threadpool(caller, request, cmds)
        try:
            await run_in_threadpool(unlock_login, cmds, who, login)
        except DecideError as exc:
            return await refused(request, cmds, who, exc, login)
        return RedirectResponse(f"/accounts?done=unlock&login={login}", status_code=303)

    return r
