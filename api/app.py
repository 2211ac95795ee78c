"""The routes under ``/api/v1``: each parses its input, asks the application layer (``app``) and
renders the CLI's ``--json`` shape.  Who is calling comes from ``Authorization: Bearer TOKEN``;
every route but ``POST /tokens`` needs it.  Nothing is kept in the process that another process
serving the same database would need (tokens, locks and state live in the database)."""

import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.security import HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import errors
from app.accounts import Identity
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
from app.requests import (
    Request as AppRequest,
)
from app.shapes import (
    account_json,
    decision_json,
    documents_json,
    event_json,
    list_item_json,
    overdue_json,
)
from procedures import AccessDenied, DecideError
from procedures.planner import AlertLevel
from web.common import reading

__all__ = ["PREFIX", "create_app"]

PREFIX = "/api/v1"
CHUNK = 1 << 16
MULTIPART_SLACK = 1 << 16  # the form's boundaries and other fields around the file


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginBody(_Body):
    login: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    days: int = 30


class StartBody(_Body):
    on: date | None = None
    shorten_reason: str | None = None
    respond_by: date | None = None
    method: tuple[str, ...] = ()
    comment_until: date | None = None
    on_behalf_of: str | None = None


class CompleteBody(_Body):
    """``decide complete``'s options; documents are uploaded on their own (``…/documents``)."""

    on: date | None = None
    outcome: str | None = None
    note: str | None = None
    meeting: MeetingIn | None = None
    next_meeting: date | None = None
    hearing: HearingIn | None = None
    on_behalf_of: str | None = None


class ReasonBody(_Body):
    on: date | None = None
    reason: str | None = None
    on_behalf_of: str | None = None


class RegisterBody(_Body):
    title: str
    procedure: str
    sponsor: str
    flag: tuple[str, ...] = ()
    target: date | None = None
    catalogue_year: int | None = None
    on: date | None = None
    co_sponsor: tuple[str, ...] = ()
    assign: tuple[str, ...] = ()


class AccountBody(_Body):
    login: str
    name: str
    unit: str
    role: tuple[str, ...] = ()
    admin: bool = False
    password: str = Field(max_length=1024)


class AccountChange(_Body):
    reason: str
    name: str | None = None
    unit: str | None = None
    grant: tuple[str, ...] = ()
    revoke: tuple[str, ...] = ()
    admin: bool | None = None
    active: bool | None = None


class ServerTiming:
    """Every answer says how long the server took, from receiving the request to sending its
    headers (``Server-Timing: app;dur=MS``, the W3C header browsers show): what bench/api.py
    and bench/web.py report as the server's side."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                took = (time.perf_counter() - start) * 1000
                message = {**message, "headers": [*message.get("headers", ()),
                           (b"server-timing", f"app;dur={took:.2f}".encode())]}  # fmt: skip
            await send(message)

        await self.app(scope, receive, timed)


class BodiesAfterIdentity:
    """A body is read only once it may be: an upload (multipart) needs a valid token or session
    first and a declared length within the attachment limit — else 401, 411 or 413 before a
    byte is read (an anonymous caller could otherwise fill the disk: FastAPI spools a multipart
    body before the route runs); any other body over 1 MiB is refused (413).

    A plain ASGI middleware: a request it lets through goes on untouched (Starlette's
    ``BaseHTTPMiddleware`` would wrap every answer in a stream and a task group)."""

    def __init__(self, app: ASGIApp, services: Callable[[], Commands]) -> None:
        self.app = app
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH"):
            refusal = self.refusal(Request(scope))
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def refusal(self, request: Request) -> Any:
        from fastapi.responses import JSONResponse

        multipart = request.headers.get("content-type", "").startswith("multipart/")
        length = request.headers.get("content-length")
        if not multipart:
            if length is not None and length.isdigit() and int(length) > 1 << 20:
                return JSONResponse(
                    {"error": "too_large", "message": "请求过大 a JSON or form body over 1 MiB"},
                    status_code=413,
                )
            return None
        cmds = self.services()
        if length is None or not length.isdigit():
            return JSONResponse(
                {"error": "length_required", "message": "上传须声明长度 an upload needs "
                 "Content-Length (no chunked uploads)"},
                status_code=411,
            )  # fmt: skip
        if int(length) > cmds.max_attachment_bytes + MULTIPART_SLACK:
            return JSONResponse(
                {"error": "too_large", "message": "文件过大 the upload exceeds the attachment "
                 f"limit ({cmds.max_attachment_bytes >> 20} MiB)",
                 "limit": cmds.max_attachment_bytes},
                status_code=413,
            )  # fmt: skip
        from web.session import SESSION_COOKIE

        header = request.headers.get("authorization", "")
        scheme, _, value = header.strip().partition(" ")
        token = value.strip() if scheme.lower() == "bearer" else None
        token = token or request.cookies.get(SESSION_COOKIE)
        try:
            if not token:
                raise AccessDenied(
                    "须登录 not authenticated", rule="auth.required", authenticated=False
                )
            cmds.identify(token=token)
        except DecideError as exc:
            return JSONResponse(exc.to_dict(), status_code=401)
        return None


_bearer = HTTPBearer(auto_error=False, description="a token from POST /api/v1/tokens")


def create_app(cmds_factory: Callable[[], Commands]) -> FastAPI:
    """The API over the services ``cmds_factory`` builds (once, on the first request)."""
    made: list[Commands] = []

    def services() -> Commands:
        if not made:
            made.append(cmds_factory())
        return made[0]

    # Who is calling (one query) is asked on the event loop's thread, and the reads run there
    # on SQLite (``web.common.reading``): a hand-off to a worker thread and back cost more than
    # the read itself (two context switches, and waits for a core under load — bench/README.md).
    # What may wait (a write: the writer's lock and a durable commit; an upload; a password
    # hash; a verification) stays a plain ``def``, run in a worker thread.
    async def caller(request: Request, _: Annotated[Any, Depends(_bearer)] = None) -> Identity:
        from app.inbox import api_caller

        header = request.headers.get("authorization")
        token: str | None = None
        if header is not None:
            scheme, _sep, value = header.strip().partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise AccessDenied(
                    "Authorization 头无效 the Authorization header is not 'Bearer TOKEN'",
                    rule="auth.token",
                    remedy="send Authorization: Bearer TOKEN (POST /api/v1/tokens makes one)",
                    authenticated=False,
                )
            token = value.strip()
        return api_caller(services(), token)

    async def services_now() -> Commands:  # async: resolved without a worker thread
        return services()

    read = reading(services)
    Cmds = Annotated[Commands, Depends(services_now)]
    Who = Annotated[Identity, Depends(caller)]

    app = FastAPI(
        title="decide",
        summary="重大行政决策程序 the major administrative decision procedure — JSON API",
        version="1",
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
    )
    errors.install(app)

    app.add_middleware(BodiesAfterIdentity, services=services)
    app.add_middleware(ServerTiming)  # added last: the outermost, timing everything inside

    r = APIRouter(prefix=PREFIX)

    def act(cmds: Commands, who: Identity, request: AppRequest) -> dict[str, Any]:
        done = cmds.execute(request, actor=who)
        return decision_json(done.decision, done.plan)

    # -- identity -------------------------------------------------------------------------
    @r.post("/tokens", status_code=201, tags=["identity"])
    def login(body: LoginBody, cmds: Cmds, request: Request) -> dict[str, Any]:
        """Log in: a new token (shown once) and its expiry.  Wrong: 401; locked (the login, or
        the client address after many failures): 429."""
        from app.accounts import create_token

        client = request.client.host if request.client else None
        token, expires = create_token(
            cmds, body.login, body.password, days=body.days, client=client
        )
        return {"token": token, "expires_at": expires.isoformat(timespec="seconds")}

    @r.get("/me", tags=["identity"])
    async def me(who: Who) -> dict[str, Any]:
        return {
            "login": who.login,
            "name": who.name,
            "unit": who.unit,
            "roles": sorted(who.roles),
            "admin": who.admin,
        }

    # -- reading --------------------------------------------------------------------------
    @r.get("/inbox", tags=["decisions"])
    @read
    def inbox(cmds: Cmds, who: Who, as_of: date | None = None) -> dict[str, Any]:
        """The steps the caller may act on now (ready: start; open: complete), most urgent
        first."""
        from app.inbox import inbox as find

        day = as_of or cmds.today()
        return {
            "as_of": day,
            "items": [
                {
                    "decision": i.decision.id,
                    "title": i.decision.title,
                    "sponsor": i.decision.sponsor,
                    "step": i.step.step,
                    "status": i.step.status,
                    "action": i.action,
                    "attempt": i.step.attempt,
                    "due_on": i.step.due_on,
                    "due_basis": i.step.due_basis,
                    "alert": i.step.alert,
                    "provisional": i.step.provisional,
                }
                for i in find(cmds, who, day)
            ],
        }

    @r.get("/decisions", tags=["decisions"])
    @read
    def list_decisions(
        cmds: Cmds,
        who: Who,
        q: str | None = None,
        sponsor: str | None = None,
        status: str | None = None,
        step: str | None = None,
        alert: AlertLevel | None = None,
        catalogue_year: int | None = None,
        cursor: str | None = None,
        limit: int = 50,
        as_of: date | None = None,
    ) -> dict[str, Any]:
        """The decisions the caller may read, in id order; ``next``: the cursor of the next
        page (null on the last)."""
        from app.inbox import find_decisions

        rows, after = find_decisions(
            cmds,
            who,
            as_of or cmds.today(),
            q=q,
            sponsor=sponsor,
            status=status,
            step=step,
            alert=alert,
            catalogue_year=catalogue_year,
            cursor=cursor,
            limit=limit,
        )
        return {"items": [list_item_json(d, v) for d, v in rows], "next": after}

    @r.get("/decisions/{decision_id}", tags=["decisions"])
    @read
    def status(decision_id: str, cmds: Cmds, who: Who, as_of: date | None = None) -> dict[str, Any]:
        d, view = cmds.status(decision_id, as_of, who=who)
        return decision_json(d, view)

    @r.get("/decisions/{decision_id}/audit", tags=["audit"])
    @read
    def audit(decision_id: str, cmds: Cmds, who: Who) -> dict[str, Any]:
        from app.queries import audit_events

        return {"events": [event_json(e) for e in audit_events(cmds, decision_id, who)]}

    @r.get("/overdue", tags=["decisions"])
    def overdue(  # without a limit it plans every decision with an alert: a worker thread
        cmds: Cmds,
        who: Who,
        as_of: date | None = None,
        limit: int | None = None,
        sponsor: str | None = None,
    ) -> dict[str, Any]:
        from app.queries import overdue as find

        day = as_of or cmds.today()
        report = find(cmds, day, limit=limit, sponsor=sponsor, who=who)
        return overdue_json(report)

    # -- changing -------------------------------------------------------------------------
    @r.post("/decisions", status_code=201, tags=["decisions"])
    def register(body: RegisterBody, cmds: Cmds, who: Who) -> dict[str, Any]:
        return act(cmds, who, RegisterRequest(**body.model_dump()))

    @r.post("/decisions/{decision_id}/steps/{step}/start", tags=["steps"])
    def start(decision_id: str, step: str, body: StartBody, cmds: Cmds, who: Who) -> Any:
        return act(cmds, who, StartRequest(decision=decision_id, step=step, **body.model_dump()))

    @r.post("/decisions/{decision_id}/steps/{step}/complete", tags=["steps"])
    def complete(decision_id: str, step: str, body: CompleteBody, cmds: Cmds, who: Who) -> Any:
        fields = {k: getattr(body, k) for k in type(body).model_fields}
        return act(cmds, who, CompleteRequest(decision=decision_id, step=step, **fields))

    @r.post("/decisions/{decision_id}/steps/{step}/skip", tags=["steps"])
    def skip(decision_id: str, step: str, body: ReasonBody, cmds: Cmds, who: Who) -> Any:
        return act(cmds, who, SkipRequest(decision=decision_id, step=step, **body.model_dump()))

    @r.post("/decisions/{decision_id}/steps/{step}/extend", tags=["steps"])
    def extend(decision_id: str, step: str, body: ReasonBody, cmds: Cmds, who: Who) -> Any:
        return act(cmds, who, ExtendRequest(decision=decision_id, step=step, **body.model_dump()))

    @r.post("/decisions/{decision_id}/steps/{step}/reuse", tags=["steps"])
    def reuse(decision_id: str, step: str, body: ReasonBody, cmds: Cmds, who: Who) -> Any:
        return act(cmds, who, ReuseRequest(decision=decision_id, step=step, **body.model_dump()))

    # -- documents ------------------------------------------------------------------------
    @r.post("/decisions/{decision_id}/steps/{step}/documents", status_code=201, tags=["documents"])
    def upload(
        decision_id: str,
        step: str,
        request: Request,
        cmds: Cmds,
        who: Who,
        file: Annotated[UploadFile, File()],
        kind: Annotated[str, Form()] = "",
        note: Annotated[str | None, Form()] = None,
        on: Annotated[date | None, Form()] = None,
    ) -> dict[str, Any]:
        """File a document on the step's current attempt (multipart: kind, file); over the
        attachment limit: 413, nothing stored."""
        limit = cmds.max_attachment_bytes
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit + MULTIPART_SLACK:
            raise errors.TooLarge(limit)
        name = Path((file.filename or "").replace("\\", "/")).name.strip()
        if name in ("", ".", ".."):
            name = "upload"
        with tempfile.TemporaryDirectory(prefix="decide-upload-") as tmp:
            path = Path(tmp) / name
            size = 0
            with path.open("wb") as out:
                while chunk := file.file.read(CHUNK):
                    size += len(chunk)
                    if size > limit:
                        raise errors.TooLarge(limit)
                    out.write(chunk)
            request_ = AttachRequest(
                decision=decision_id,
                step=step,
                on=on,
                note=note,
                attach=(AttachmentIn(kind=kind, path=path),),
            )
            return act(cmds, who, request_)

    @r.get("/decisions/{decision_id}/documents", tags=["documents"])
    @read
    def documents(decision_id: str, cmds: Cmds, who: Who) -> dict[str, Any]:
        from app.documents import documents_of

        return documents_json(documents_of(cmds, decision_id, who))

    @r.get("/documents/{sha256}", tags=["documents"], response_model=None)
    def download(sha256: str, cmds: Cmds, who: Who) -> Any:
        """A document by its SHA-256, if the caller may read a decision holding it."""
        from fastapi.responses import FileResponse

        from app.inbox import document_for

        doc, path = document_for(cmds, who, sha256)
        return FileResponse(
            path,
            filename=doc.filename,
            media_type="application/octet-stream",
            headers={"X-Content-SHA256": doc.sha256},
        )

    # -- built files (the Art. 29 package manifest, the archive ZIP) ------------------------
    @r.post("/decisions/{decision_id}/builds/{kind}", tags=["documents"])
    def build(decision_id: str, kind: str, cmds: Cmds, who: Who) -> dict[str, Any]:
        """Build ``package`` (the Art. 29 manifest: sponsor, decision body, legal office) or
        ``archive`` (the ZIP: archivist; once decided) now, as ``decide serve``'s flows would;
        ``built`` false when the file for this state already stood (nothing built again)."""
        from app.builds import build_now

        out = build_now(cmds, who, decision_id, kind)
        name = out.path.name if out.path else None
        return {
            "decision": decision_id,
            "kind": kind,
            "built": out.built,
            "file": name,
            "download": f"{PREFIX}/decisions/{decision_id}/files/{name}" if name else None,
            "complete": out.detail.get("complete"),
            "missing": [f"{m['step']}:{m['kind']}" for m in out.detail.get("missing", ())],
        }

    @r.get("/decisions/{decision_id}/files/{name}", tags=["documents"], response_model=None)
    def built_file(decision_id: str, name: str, cmds: Cmds, who: Who) -> Any:
        """A package manifest or the archive ZIP built for the decision."""
        from fastapi.responses import FileResponse

        from app.builds import built_files
        from procedures import NotFound

        cmds.status(decision_id, who=who)  # refused unless the caller may read it
        for path in built_files(cmds, decision_id):
            if path.name == name:
                return FileResponse(path, filename=path.name)
        raise NotFound(f"没有此文件 no file {name!r} (未生成 not built yet)")

    # -- audit and accounts ---------------------------------------------------------------
    @r.post("/audit/verify", tags=["audit"])
    def verify(cmds: Cmds, who: Who, chain_only: bool = False) -> dict[str, Any]:
        """Check the chain, checkpoints, documents and (unless chain_only) every decision's
        state (auditors and admins)."""
        from app.inbox import verify_for

        report = verify_for(cmds, who, replay=not chain_only)
        return {
            "ok": report.ok,
            "events": report.events,
            "head_seq": report.head_seq,
            "head_hash": report.head_hash,
            "checkpoints": report.checkpoints,
            "documents": report.documents,
            "problems": [
                {"seq": p.seq, "kind": p.kind, "message": p.message} for p in report.problems
            ],
        }

    @r.get("/accounts", tags=["accounts"])
    def accounts(cmds: Cmds, who: Who) -> dict[str, Any]:
        from app.accounts import list_accounts

        return {"items": [account_json(a) for a in list_accounts(cmds, who)]}

    @r.post("/accounts", status_code=201, tags=["accounts"])
    def add(body: AccountBody, cmds: Cmds, who: Who) -> dict[str, Any]:
        from app.accounts import add_account

        record = add_account(
            cmds,
            who,
            login=body.login,
            name=body.name,
            unit=body.unit,
            roles=body.role,
            admin=body.admin,
            password=body.password,
        )
        return account_json(record)

    @r.patch("/accounts/{login}", tags=["accounts"])
    def change(login: str, body: AccountChange, cmds: Cmds, who: Who) -> dict[str, Any]:
        from app.accounts import change_account

        record = change_account(
            cmds,
            who,
            login,
            name=body.name,
            unit=body.unit,
            grant=body.grant,
            revoke=body.revoke,
            admin=body.admin,
            active=body.active,
            reason=body.reason,
        )
        return account_json(record)

    @r.delete("/accounts/{login}/tokens", tags=["accounts"])
    def revoke(login: str, cmds: Cmds, who: Who) -> dict[str, Any]:
        from app.accounts import revoke_tokens

        revoke_tokens(cmds, who, login)
        return {"login": login, "revoked": True}

    app.include_router(r)
    from web import install

    install(app, services)  # the console's pages at /, beside the API
    return app
