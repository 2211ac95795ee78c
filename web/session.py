"""Sessions and CSRF for the console, kept in nothing but the cookie and the database.

The session cookie holds an API token from ``app.accounts.create_token`` (256 random bits,
checked by its hash in the database), so every ``decide web`` process serving the same
database knows every session.  Each form carries ``csrf`` = HMAC-SHA256(token, "csrf"); the
login form, before any token exists, a double-submit value (the ``csrf_login`` cookie and the
hidden field must match).  Logging out deletes the cookie and revokes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

__all__ = [
    "LOGIN_COOKIE",
    "MAX_AGE",
    "SESSION_COOKIE",
    "clear",
    "csrf_for",
    "keep_login",
    "login_value",
    "remember",
    "token_of",
    "valid_csrf",
]

SESSION_COOKIE = "decide_session"
LOGIN_COOKIE = "csrf_login"
MAX_AGE = 8 * 3600  # a working day; the token itself lives a day in the database


def token_of(request: Request) -> str | None:
    value = request.cookies.get(SESSION_COOKIE)
    return value if value and len(value) <= 256 else None


def csrf_for(token: str) -> str:
    return hmac.new(token.encode(), b"csrf", hashlib.sha256).hexdigest()


def valid_csrf(request: Request, sent: str | None) -> bool:
    """``sent`` proves the form came from a page of this session (or, with no session, from
    the login page that set the ``csrf_login`` cookie)."""
    if not sent:
        return False
    token = token_of(request)
    if token is not None and hmac.compare_digest(sent, csrf_for(token)):
        return True
    cookie = request.cookies.get(LOGIN_COOKIE)
    return bool(cookie) and hmac.compare_digest(sent, cookie or "")


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


def login_value(request: Request) -> str:
    """The login form's double-submit value (kept while its cookie lasts)."""
    return request.cookies.get(LOGIN_COOKIE) or secrets.token_hex(32)


def keep_login(request: Request, response: Response, value: str) -> None:
    response.set_cookie(
        LOGIN_COOKIE,
        value,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/",
    )


def remember(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=MAX_AGE,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/",
    )
    response.delete_cookie(LOGIN_COOKIE, path="/")


def clear(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
