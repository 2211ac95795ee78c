"""The console's forms: sign-in and out, registering a decision, acting on a step (with an
upload), verifying the audit chain (accounts: ``web.accounts``).  Every POST carries the CSRF
value (``web.common.form_of``); a refusal re-renders the page with the rule, the article and
the remedy."""

import dataclasses
import tempfile
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from app.accounts import LOCKOUT_RULES, Identity
from app.commands import Commands
from app.requests import (
    AttachmentIn,
    AttachRequest,
    CompleteRequest,
    ExtendRequest,
    HearingIn,
    MeetingIn,
    RegisterRequest,
    ReuseRequest,
    SkipRequest,
    StartRequest,
)
from app.requests import Request as AppRequest
from procedures import AccessDenied, DecideError, InputError
from web import session, steps
from web.common import Services, caller, form_of, page

__all__ = ["router"]

CHUNK = 1 << 16
DATE_LABELS = {  # the form fields' Chinese names, for a date that is not one
    "on": "生效日期",
    "target": "目标日期",
    "respond_by": "要求答复日期",
    "comment_until": "征求意见截止",
    "next_meeting": "下次会议",
    "hearing_on": "听证会举行日期",
    "hearing_notice_on": "听证会公告日期",
    "hearing_materials_on": "听证材料送达日期",
}
VERBS = ("start", "complete", "skip", "extend", "reuse", "attach")


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value.strip() or None if isinstance(value, str) else None


def _day(form: FormData, name: str) -> date | None:
    value = _text(form, name)
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        label = DATE_LABELS.get(name, name)
        raise InputError(
            f"日期无效 {label} {name}: {value!r} is not a date (YYYY-MM-DD, 如 2025-03-03)"
        ) from exc


def _all(form: FormData, name: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in form.getlist(name) if isinstance(v, str) and v.strip())


def _members(form: FormData) -> tuple[dict[str, str], dict[str, str]]:
    """The meeting form's member rows (name, position, dissent; one row a member, blank rows
    ignored): each member's position and the dissent stated, by name."""

    def column(name: str) -> list[str]:
        return [v.strip() if isinstance(v, str) else "" for v in form.getlist(name)]

    names, positions, dissents = (
        column("member"),
        column("member_position"),
        column("member_dissent"),
    )
    position: dict[str, str] = {}
    dissent: dict[str, str] = {}
    for row, name in enumerate(names, start=1):
        said = positions[row - 1] if row <= len(positions) else ""
        why = dissents[row - 1] if row <= len(dissents) else ""
        if not name:
            if said or why:
                raise InputError(f"成员第 {row} 行缺姓名 member row {row} has no name")
            continue
        if name in position:
            raise InputError(f"成员 {name!r} 重复 member {name!r} is listed twice")
        if not said:
            raise InputError(f"成员 {name!r} 未填表态 member {name!r} has no position")
        position[name] = said
        if why:
            dissent[name] = why
    return position, dissent


def _meeting(form: FormData) -> MeetingIn | None:
    kind = _text(form, "meeting_type")
    if kind is None:
        return None
    position, dissent = _members(form)
    return MeetingIn(
        meeting_type=kind,
        chair=_text(form, "chair") or "",
        position=position,
        dissent=dissent,
        head_reason=_text(form, "head_reason"),
    )


def _hearing(form: FormData) -> HearingIn | None:
    held = _day(form, "hearing_on")
    if held is None:
        return None
    notice, materials = _day(form, "hearing_notice_on"), _day(form, "hearing_materials_on")
    if notice is None or materials is None:
        raise InputError(
            "听证会须填写公告日期和材料送达日期 a hearing needs its notice and materials dates"
        )
    return HearingIn(notice_on=notice, materials_on=materials, on=held)


def _step_request(
    verb: str, decision: str, step: str, form: FormData, files: tuple[AttachmentIn, ...]
) -> AppRequest:
    common: dict[str, Any] = {
        "decision": decision,
        "step": step,
        "on": _day(form, "on"),
        "on_behalf_of": _text(form, "on_behalf_of"),
    }
    if verb == "start":
        return StartRequest(
            **common,
            shorten_reason=_text(form, "shorten_reason"),
            respond_by=_day(form, "respond_by"),
            method=_all(form, "method"),
            comment_until=_day(form, "comment_until"),
        )
    if verb == "complete":
        return CompleteRequest(
            **common,
            outcome=_text(form, "outcome"),
            note=_text(form, "note"),
            attach=files,
            meeting=_meeting(form),
            next_meeting=_day(form, "next_meeting"),
            hearing=_hearing(form),
        )
    if verb == "attach":
        if not files:
            raise InputError("请选择要上传的文件 choose a file to upload")
        return AttachRequest(**common, attach=files, note=_text(form, "note"))
    reason = _text(form, "reason")
    if verb == "skip":
        return SkipRequest(**common, reason=reason)
    if verb == "extend":
        return ExtendRequest(**common, reason=reason)
    return ReuseRequest(**common, reason=reason)


def _save_upload(upload: UploadFile, folder: Path, limit: int) -> Path | None:
    name = Path((upload.filename or "").replace("\\", "/")).name.strip()
    if not name:
        return None
    path = folder / name
    size = 0
    with path.open("wb") as out:
        while chunk := upload.file.read(CHUNK):
            size += len(chunk)
            if size > limit:
                raise InputError(
                    f"文件过大 the file is larger than the limit of {limit} bytes: nothing stored"
                )
            out.write(chunk)
    return path


def _login_status(exc: DecideError) -> int:
    """401 for a wrong login or password; 429 once the login or the address is locked."""
    if isinstance(exc, AccessDenied):
        return 429 if exc.rule in LOCKOUT_RULES else 401
    return 400


def router(services: Services) -> APIRouter:
    r = APIRouter(include_in_schema=False)
    Cmds = Annotated[Commands, Depends(services)]

    @r.post("/login")
    async def login(request: Request, cmds: Cmds) -> Response:
        from app.accounts import create_token

        form = await form_of(request)
        target = _text(form, "next") or "/inbox"
        if not target.startswith("/") or target.startswith("//"):
            target = "/inbox"
        try:
            token, _ = await run_in_threadpool(
                create_token,
                cmds,
                _text(form, "login") or "",
                _text(form, "password"),
                days=1,
                client=request.client.host if request.client else None,
            )
        except DecideError as exc:
            value = session.login_value(request)
            answer = page(
                request, "login.html", None, status=_login_status(exc),
                error=exc, next=target, csrf_login=value, login=_text(form, "login") or "",
            )  # fmt: skip
            session.keep_login(request, answer, value)
            return answer
        response = RedirectResponse(target, status_code=303)
        session.remember(request, response, token)
        return response

    @r.post("/logout")
    async def logout(request: Request) -> Response:
        await form_of(request)
        response = RedirectResponse("/login", status_code=303)
        session.clear(response)
        return response

    @r.post("/decisions/new")
    async def register(request: Request, cmds: Cmds) -> Response:
        form = await form_of(request)
        who = await run_in_threadpool(caller, request, cmds)
        try:
            year = _text(form, "catalogue_year")
            if year is not None and not (year.isascii() and year.isdigit()):
                raise InputError(
                    f"目录年度须为四位数字 catalogue year {year!r} is not a year (2025)"
                )
            req = RegisterRequest(
                title=_text(form, "title") or "",
                procedure=_text(form, "procedure") or "national-2019",
                sponsor=_text(form, "sponsor") or "",
                flag=_all(form, "flag"),
                target=_day(form, "target"),
                catalogue_year=int(year) if year else None,
                on=_day(form, "on"),
                co_sponsor=tuple(
                    u.strip() for u in (_text(form, "co_sponsor") or "").split(",") if u.strip()
                ),
            )
            done = await run_in_threadpool(cmds.execute, req, actor=who)
        except (DecideError, ValueError) as exc:
            error = exc if isinstance(exc, DecideError) else InputError(str(exc))
            proc = cmds.procedure("national-2019")
            from procedures import preset_ids

            return page(
                request, "register.html", who, status=400, today=cmds.today(), error=error,
                presets=preset_ids(), proc=proc, form=form,
            )  # fmt: skip
        return RedirectResponse(f"/decisions/{done.decision.id}?done=register", status_code=303)

    @r.post("/decisions/{decision_id}/steps/{step}/{verb}")
    async def act(request: Request, decision_id: str, step: str, verb: str, cmds: Cmds) -> Response:
        form = await form_of(request)
        who = await run_in_threadpool(caller, request, cmds)
        if verb not in VERBS:
            raise InputError(f"未知操作 unknown action {verb!r}")
        party = _text(form, "on_behalf_of")
        actor = dataclasses.replace(who, on_behalf_of=party) if party else who
        upload = form.get("file")
        kind = _text(form, "kind") or ""
        try:
            with tempfile.TemporaryDirectory(prefix="decide-web-") as tmp:
                files: tuple[AttachmentIn, ...] = ()
                if isinstance(upload, UploadFile):
                    path = await run_in_threadpool(
                        _save_upload, upload, Path(tmp), cmds.max_attachment_bytes
                    )
                    if path is not None:
                        files = (AttachmentIn(kind=kind, path=path),)
                req = _step_request(verb, decision_id, step, form, files)
                await run_in_threadpool(cmds.execute, req, actor=actor)
        except DecideError as exc:
            error: DecideError = exc
        except ValueError as exc:  # a field the request model refuses
            error = InputError(str(exc))
        else:
            return RedirectResponse(
                f"/decisions/{decision_id}?done={verb}#step-{step}", status_code=303
            )
        code = 400 if isinstance(error, InputError) else 409
        return await run_in_threadpool(
            lambda: steps.decision_page(
                request, cmds, who, decision_id, refusal=error, failed=f"{step}/{verb}",
                status=code,
            )
        )  # fmt: skip

    @r.post("/audit")
    async def verify(request: Request, cmds: Cmds) -> Response:
        from app.inbox import verify_for

        form = await form_of(request)
        who = await run_in_threadpool(caller, request, cmds)
        chain_only = _text(form, "chain_only") is not None
        report = await run_in_threadpool(lambda: verify_for(cmds, who, replay=not chain_only))
        return page(request, "verify.html", who, today=cmds.today(), report=report)

    _ = Identity
    return r
