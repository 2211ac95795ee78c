"""Secrets out of error texts and logs: a URL's password and the values of its key, token,
secret or signature parameters (a WeCom robot's ``key``, a DingTalk ``access_token`` and
``sign``), and any known secret given by value (a signing secret, an SMTP password).

Everything that is stored in ``outbox.last_error`` or printed by ``decide serve`` passes through
:func:`redact`: an exception text may quote the URL it failed on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["MASK", "redact"]

MASK = "***"
# scheme://user:password@host — the password part
_USERINFO = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:)(?P<secret>[^@\s/]+)@")
# ?key=… &access_token=… and the like, in a URL or a form; case does not matter
_PARAM = re.compile(
    r"(?P<head>[?&;](?:[\w.-]*(?:key|token|secret|sign|signature|password|passwd|pwd|auth)"
    r"[\w.-]*)=)(?P<secret>[^&#\s'\"<>]+)",
    re.IGNORECASE,
)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with passwords in URLs, secret-looking URL parameters and ``secrets`` masked."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, MASK)  # longest first: one secret may contain another
    text = _USERINFO.sub(lambda m: m["head"] + MASK + "@", text)
    return _PARAM.sub(lambda m: m["head"] + MASK, text)
