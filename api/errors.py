"""One JSON object for every error, with the CLI's error ids: ``{"error": code, "message": …}``
and, for a refusal, ``rule``, ``article`` and ``remedy``.  No traceback and no input value is
ever echoed (a password sent in the wrong field stays unseen)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from app.accounts import LOCKOUT_RULES
from procedures import (
    AccessDenied,
    Conflict,
    DecideError,
    NotFound,
    RuleViolation,
)
from procedures.errors import Unavailable

__all__ = ["TooLarge", "install", "status_of"]

log = logging.getLogger("decide.api")


class TooLarge(Exception):
    """An upload over the attachment limit (413)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(
            f"文件过大 the file is larger than the limit of {limit:,} bytes "
            "(DECIDE_MAX_ATTACHMENT_BYTES); nothing was stored"
        )


def status_of(exc: DecideError) -> int:
    """The HTTP status of a project error (the CLI's exit codes, in HTTP)."""
    if isinstance(exc, AccessDenied):
        if exc.rule in LOCKOUT_RULES:
            return 429
        return 401 if exc.code == "not_authenticated" else 403
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, RuleViolation):
        return 422
    if isinstance(exc, Unavailable):
        return 503
    return 400  # bad_input, a wrong procedure file, a calendar out of range


def _answer(status: int, doc: dict[str, Any]) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(doc, status_code=status, headers=headers)


def _where(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form")]
    return ".".join(parts) or "request"


def _invalid(errors: list[Any]) -> JSONResponse:
    shown = "; ".join(
        f"{_where(tuple(e.get('loc', ())))}: {e.get('msg', 'invalid')}" for e in errors
    )
    return _answer(400, {"error": "bad_input", "message": f"输入无效 invalid input: {shown}"})


def install(app: FastAPI) -> None:
    """Map every error the routes can raise to one JSON object."""

    @app.exception_handler(DecideError)
    async def decide_error(_: Request, exc: DecideError) -> JSONResponse:
        doc = exc.to_dict()
        if isinstance(exc, AccessDenied) and exc.rule in LOCKOUT_RULES:
            doc = {**doc, "error": "locked" if exc.rule == "auth.locked" else "throttled"}
        return _answer(status_of(exc), doc)

    @app.exception_handler(RequestValidationError)
    async def request_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _invalid(list(exc.errors()))

    @app.exception_handler(ValidationError)
    async def model_invalid(_: Request, exc: ValidationError) -> JSONResponse:
        return _invalid(list(exc.errors()))

    @app.exception_handler(TooLarge)
    async def too_large(_: Request, exc: TooLarge) -> JSONResponse:
        return _answer(413, {"error": "too_large", "message": str(exc), "limit": exc.limit})

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed"}
        return _answer(
            exc.status_code,
            {"error": codes.get(exc.status_code, "bad_input"), "message": str(exc.detail)},
        )

    @app.exception_handler(Exception)
    async def bug(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")  # the traceback goes to the log, never to the client
        return _answer(500, {"error": "internal", "message": "内部错误 internal error"})
