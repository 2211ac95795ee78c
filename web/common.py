"""What every console route shares: the services, the caller from the session cookie, the
templates, the CSRF check of a posted form, and how a refusal becomes a page."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from app.accounts import Identity
from app.commands import Commands
from app.shapes import ACTION_LABELS
from procedures import AccessDenied, Conflict, DecideError, InputError, NotFound, RuleViolation
from procedures.names import MEETING_TYPES
from procedures.planner import ALERT_LABELS, DECISION_STATUS_LABELS, STATUS_LABELS
from web import session

__all__ = [
    "LEVELS",
    "BadCsrf",
    "NeedLogin",
    "Services",
    "caller",
    "error_page",
    "form_of",
    "level_of",
    "page",
    "reading",
    "templates",
]

Services = Callable[[], Commands]
_R = TypeVar("_R")


def reading(services: Services) -> Callable[[Callable[..., _R]], Callable[..., Awaitable[_R]]]:
    """A read route's decorator: on SQLite it runs on the event loop's thread — its read is a
    millisecond or two of CPU, less than a hand-off to a worker thread and back (bench/README.md)
    — and on PostgreSQL in a worker thread, as a plain ``def`` route would: there it waits on
    round trips, and the loop serves other requests (and answers finished writes) meanwhile."""

    def wrap(route: Callable[..., _R]) -> Callable[..., Awaitable[_R]]:
        @functools.wraps(route)  # FastAPI reads the route's own signature through it
        async def run(*args: Any, **kwargs: Any) -> _R:
            if services().db.dialect == "sqlite":
                return route(*args, **kwargs)
            return await run_in_threadpool(route, *args, **kwargs)

        return run

    return wrap


templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.auto_reload = False  # the templates ship with the package: no stat per render
# the traffic lights: red after the due date, amber on or just before it, green otherwise
LEVELS = {"red": ("overdue", "escalated"), "amber": ("due_soon", "due_today")}
LIGHT_ZH = {"red": "红灯 逾期", "amber": "黄灯 临近", "green": "绿灯 正常"}
BASIS_ZH = {
    "statute": "法定",
    "local_rule": "地方规定",
    "office_policy": "办公室政策",
    "meeting": "会议确定",
}
# what the page after a successful form says (its ``done`` query value)
DONE_ZH = {
    "register": "已登记 registered",
    "start": "已开始 started",
    "complete": "已完成 completed",
    "attach": "已上传 uploaded",
    "extend": "已延期 extended",
    "skip": "已跳过 skipped",
    "reuse": "已沿用前次结果 reused",
    "package": "已生成提请审议材料清单 package manifest built",
    "archive": "已生成归档包 archive built",
    "package-current": "材料清单已是最新，未重复生成 the manifest for this state already stands",
    "archive-current": "归档包已是最新，未重复生成 the archive for this state already stands",
}
templates.env.globals.update(
    ALERT_LABELS=ALERT_LABELS,
    LIGHT_ZH=LIGHT_ZH,
    BASIS_ZH=BASIS_ZH,
    DONE_ZH=DONE_ZH,
    ACTION_LABELS=ACTION_LABELS,
    MEETING_TYPES=MEETING_TYPES,
    STATUS_LABELS=STATUS_LABELS,
    DECISION_STATUS_LABELS=DECISION_STATUS_LABELS,
)


class NeedLogin(Exception):
    """No valid session: the browser goes to the login page."""


class BadCsrf(Exception):
    """A POST without this session's CSRF value."""


def level_of(alert: str | None) -> str:
    for light, alerts in LEVELS.items():
        if alert in alerts:
            return light
    return "green"


templates.env.globals["level_of"] = level_of


def caller(request: Request, cmds: Commands) -> Identity:
    token = session.token_of(request)
    if token is None:
        raise NeedLogin
    from app.inbox import api_caller

    try:
        return api_caller(cmds, token)
    except AccessDenied as exc:
        raise NeedLogin from exc


async def form_of(request: Request) -> FormData:
    form = await request.form()
    sent = form.get("csrf")
    if not session.valid_csrf(request, sent if isinstance(sent, str) else None):
        raise BadCsrf
    return form


def page(
    request: Request, name: str, who: Identity | None, status: int = 200, **context: Any
) -> HTMLResponse:
    from app.clock import today_shanghai

    token = session.token_of(request)
    response = templates.TemplateResponse(
        request,
        name,
        {
            "who": who,
            "csrf": session.csrf_for(token) if token and who else "",
            "today": context.pop("today", None) or today_shanghai(),
            **context,
        },
        status_code=status,
    )
    # never kept by the browser: the back button after an action (or after logging out on a
    # shared office PC) asks the server again, so it shows the state now, or the login page
    response.headers["Cache-Control"] = "no-store"
    return response


def status_of(exc: DecideError) -> int:
    if isinstance(exc, AccessDenied):
        return 403
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, RuleViolation | Conflict):
        return 409
    if isinstance(exc, InputError):
        return 400
    return 503


def error_page(request: Request, exc: Exception, who: Identity | None = None) -> Response:
    if isinstance(exc, NeedLogin):
        target = request.url.path
        return RedirectResponse(f"/login?next={target}", status_code=303)
    if isinstance(exc, BadCsrf):
        return page(
            request,
            "error.html",
            who,
            status=403,
            title="请求被拒绝 forbidden",
            message="表单缺少有效的 CSRF 令牌 the form lacks a valid CSRF token: reload the page",
        )
    assert isinstance(exc, DecideError)
    if isinstance(exc, AccessDenied) and exc.code == "not_authenticated":
        return RedirectResponse("/login", status_code=303)
    return page(request, "error.html", who, status=status_of(exc), title="出错了", error=exc)
