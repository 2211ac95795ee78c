"""The console's reading pages (to-do list, decisions, a decision, audit, overdue board,
calendar) and ``install``, which mounts them, the forms (``web.forms``) and the stylesheet on the
API's app.  Each route asks the application layer, as the API's routes do, and renders."""

import json
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from app.accounts import Identity
from app.commands import Commands
from procedures import DecideError, preset_ids
from procedures.planner import ALERT_LEVELS
from web import accounts, builds, forms, session, steps
from web.common import (
    BadCsrf,
    NeedLogin,
    Services,
    caller,
    error_page,
    level_of,
    page,
    reading,
)

__all__ = ["install", "router"]

PAGE = 50


def router(services: Services) -> APIRouter:
    r = APIRouter(include_in_schema=False)

    # as the API's reads (api.app): the caller found on the event loop's thread, the reading
    # pages rendered there on SQLite (``web.common.reading``)
    read = reading(services)

    async def who(request: Request) -> Identity:
        return caller(request, services())

    async def services_now() -> Commands:
        return services()

    Cmds = Annotated[Commands, Depends(services_now)]
    Who = Annotated[Identity, Depends(who)]

    @r.get("/")
    async def home(request: Request) -> Response:
        target = "/inbox" if session.token_of(request) else "/login"
        return RedirectResponse(target, status_code=303)

    @r.get("/login")
    async def login_form(request: Request, next: str = "/inbox") -> Response:
        value = session.login_value(request)
        response = page(request, "login.html", None, next=_local(next), csrf_login=value)
        session.keep_login(request, response, value)
        return response

    @r.get("/inbox")
    @read
    def inbox(request: Request, cmds: Cmds, me: Who, level: str | None = None) -> Response:
        from app.inbox import inbox as find

        day = cmds.today()
        items = find(cmds, me, day)
        counts = Counter(level_of(i.step.alert) for i in items)
        shown = [i for i in items if level is None or level_of(i.step.alert) == level]
        return page(
            request, "inbox.html", me, today=day, items=shown, counts=counts, level=level,
            total=len(items),
        )  # fmt: skip

    @r.get("/decisions")
    @read
    def decisions(
        request: Request,
        cmds: Cmds,
        me: Who,
        q: str | None = None,
        sponsor: str | None = None,
        status: str | None = None,
        step: str | None = None,
        alert: str | None = None,
        catalogue_year: str | None = None,
        cursor: str | None = None,
    ) -> Response:
        from app.inbox import find_decisions

        day = cmds.today()
        filters = _filters(q, sponsor, status, step, alert, catalogue_year)
        rows, after = find_decisions(cmds, me, day, cursor=cursor or None, limit=PAGE, **filters)
        query = {k: v for k, v in (("q", q), ("sponsor", sponsor), ("status", status),
                 ("step", step), ("alert", alert), ("catalogue_year", catalogue_year)) if v}  # fmt: skip
        return page(
            request, "decisions.html", me, today=day, rows=rows, next_cursor=after, query=query,
            cursor=cursor, alerts=ALERT_LEVELS, presets=preset_ids(),
        )  # fmt: skip

    @r.get("/decisions.xlsx")
    def decisions_xlsx(
        cmds: Cmds,
        me: Who,
        q: str | None = None,
        sponsor: str | None = None,
        status: str | None = None,
        step: str | None = None,
        alert: str | None = None,
        catalogue_year: str | None = None,
    ) -> Response:
        from web.export import decisions_workbook

        day = cmds.today()
        body = decisions_workbook(
            cmds, me, day, _filters(q, sponsor, status, step, alert, catalogue_year)
        )
        return Response(
            body,
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="decisions-{day}.xlsx"'},
        )

    @r.get("/decisions/new")
    @read
    def new_decision(request: Request, cmds: Cmds, me: Who) -> Response:
        proc = cmds.procedure("national-2019")
        return page(
            request, "register.html", me, today=cmds.today(), presets=preset_ids(), proc=proc
        )

    @r.get("/decisions/{decision_id}")
    @read
    def decision(request: Request, decision_id: str, cmds: Cmds, me: Who) -> Response:
        return steps.decision_page(request, cmds, me, decision_id)

    @r.get("/decisions/{decision_id}/audit")
    @read
    def audit(request: Request, decision_id: str, cmds: Cmds, me: Who) -> Response:
        from app.queries import audit_events

        d, _ = cmds.status(decision_id, who=me)
        events = [(e, json.loads(e.payload)) for e in audit_events(cmds, decision_id, me)]
        proc = cmds.procedure_of(d)
        return page(
            request,
            "audit.html",
            me,
            today=cmds.today(),
            d=d,
            events=events,
            step_zh={s.id: s.zh for s in proc.steps},
            outcome_zh={(s.id, o.id): o.zh for s in proc.steps for o in s.outcomes},
            kinds={k.id: k.zh for k in proc.documents},
        )

    @r.get("/decisions/{decision_id}/audit.jsonl")
    def audit_export(decision_id: str, cmds: Cmds, me: Who) -> Response:
        from app.queries import audit_events

        lines = [
            json.dumps(
                {
                    "seq": e.seq,
                    "decision_id": e.decision_id,
                    "action": e.action,
                    "actor": e.actor,
                    "effective_on": e.effective_on.isoformat(),
                    "recorded_at": e.recorded_at,
                    "payload": json.loads(e.payload),
                    "prev_hash": e.prev_hash,
                    "hash": e.hash,
                },
                ensure_ascii=False,
            )
            for e in audit_events(cmds, decision_id, me)
        ]
        return Response(
            "\n".join(lines) + "\n",
            media_type="application/x-ndjson",
            headers={"Content-Disposition": f'attachment; filename="{decision_id}-audit.jsonl"'},
        )

    @r.get("/documents/{sha256}")
    def download(sha256: str, cmds: Cmds, me: Who) -> Response:
        from app.inbox import document_for

        doc, path = document_for(cmds, me, sha256)
        return FileResponse(path, filename=doc.filename, media_type="application/octet-stream")

    @r.get("/decisions/{decision_id}/files/{name}")
    def built_file(decision_id: str, name: str, cmds: Cmds, me: Who) -> Response:
        """The package manifest or the archive ZIP the flows built for the decision."""
        cmds.status(decision_id, who=me)  # refused unless the caller may read it
        for path in steps.built_files(cmds, decision_id):
            if path.name == name:
                return FileResponse(path, filename=path.name)
        raise_not_found(name)
        raise AssertionError  # pragma: no cover

    @r.get("/overdue")
    def overdue(request: Request, cmds: Cmds, me: Who, sponsor: str | None = None) -> Response:
        from app.queries import overdue as find

        day = cmds.today()
        report = find(cmds, day, limit=200, sponsor=sponsor or None, who=me)
        return page(request, "overdue.html", me, today=day, report=report, sponsor=sponsor)

    @r.get("/calendar")
    @read
    def calendar(request: Request, cmds: Cmds, me: Who, year: int | None = None) -> Response:
        from web.calendar_view import year_view

        day = cmds.today()
        shown = year or day.year
        return page(
            request, "calendar.html", me, today=day, year=shown,
            view=year_view(cmds.calendar(), shown),
        )  # fmt: skip

    @r.get("/audit")
    async def verify_form(request: Request, cmds: Cmds, me: Who) -> Response:
        return page(request, "verify.html", me, today=cmds.today(), report=None)

    @r.get("/accounts")
    @read
    def accounts(request: Request, cmds: Cmds, me: Who) -> Response:
        from web.accounts import accounts_page

        return accounts_page(request, cmds, me)

    return r


def raise_not_found(name: str) -> None:
    from procedures import NotFound

    raise NotFound(f"没有此文件 no file {name!r} (未生成 not built yet)")


def _local(target: str) -> str:
    """Only a path of this site (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") else "/inbox"


def _filters(
    q: str | None,
    sponsor: str | None,
    status: str | None,
    step: str | None,
    alert: str | None,
    catalogue_year: str | None,
) -> dict[str, Any]:
    from procedures import InputError

    year: int | None = None
    if catalogue_year:
        if not catalogue_year.strip().isdigit():
            raise InputError(f"目录年度须为数字 catalogue year {catalogue_year!r} is not a year")
        year = int(catalogue_year)
    if alert and alert not in ALERT_LEVELS:
        raise InputError(f"未知的提醒级别 unknown alert level {alert!r}")
    return {
        "q": q or None,
        "sponsor": sponsor or None,
        "status": status or None,
        "step": step or None,
        "alert": alert or None,
        "catalogue_year": year,
    }


def install(app: FastAPI, services: Services) -> None:
    """Mount the console on ``app``: its pages, its forms, its stylesheet, and the pages for a
    missing session, a missing CSRF value, a refusal, an unknown page or a malformed query, and
    an unexpected error — in Chinese with the English beside it, the navigation kept for a
    signed-in user, never a traceback (the API under /api/ keeps its JSON errors)."""
    from fastapi.concurrency import run_in_threadpool
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    app.include_router(router(services))
    app.include_router(forms.router(services))
    app.include_router(builds.router(services))
    app.include_router(accounts.router(services))
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    api_handlers = {
        kind: app.exception_handlers.get(kind)
        for kind in (DecideError, HTTPException, RequestValidationError, Exception)
    }

    def signed_in(request: Request) -> Identity | None:
        if session.token_of(request) is None:
            return None
        try:
            return caller(request, services())
        except Exception:  # no valid session, or no database: the page shows no navigation
            return None

    def handler(kind: type[Exception]) -> Any:
        async def answer(request: Request, exc: Exception) -> Response:
            api = api_handlers.get(kind)
            if request.url.path.startswith("/api/") and api is not None:
                response: Response = await api(request, exc)  # type: ignore[misc]
                return response
            if isinstance(exc, NeedLogin):
                return error_page(request, exc)
            who = await run_in_threadpool(signed_in, request)
            if isinstance(exc, DecideError | BadCsrf):
                return error_page(request, exc, who)
            return other_error_page(request, exc, who)

        return answer

    for kind in (DecideError, NeedLogin, BadCsrf, HTTPException, RequestValidationError, Exception):
        app.add_exception_handler(kind, handler(kind))


def other_error_page(request: Request, exc: Exception, who: Identity | None) -> Response:
    """An unknown page, a wrong method, a malformed query value, or a bug (logged, never shown)."""
    import logging

    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    if isinstance(exc, HTTPException):
        status = exc.status_code
        title, message = {
            404: (
                "页面不存在 page not found",
                "没有这个页面 there is no such page: 请从导航进入 use the menu",
            ),
            405: (
                "不支持此操作 method not allowed",
                "此地址不接受该请求 this address does not take this request: 请从页面上的表单提交 use the page's form",
            ),
        }.get(status, ("请求无效 bad request", str(exc.detail)))
    elif isinstance(exc, RequestValidationError):
        status = 400
        fields = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg', '')}"
            for e in exc.errors()
        )
        title, message = (
            "输入无效 invalid input",
            f"请检查地址中的参数 check the address's values ({fields})",
        )
    else:
        logging.getLogger("decide.web").exception("unexpected error")
        status = 500
        title, message = (
            "内部错误 internal error",
            "出现了意外错误，已记录 an unexpected error was logged: 请稍后再试或联系管理员 try again later or ask an admin",
        )
    return page(request, "error.html", who, status=status, title=title, message=message)
