"""Notifiers: deliver a :class:`Message` to the console, a JSON Lines file, a webhook (generic,
企业微信 WeCom or 钉钉 DingTalk group robots) or e-mail.

The contract is ``send(message) -> None``: it returns once the message is delivered, or raises
:class:`DeliveryError`.  ``error.permanent`` tells the caller what to do with the item: ``False``
(a timeout, a refused connection, HTTP 5xx/408/429, SMTP 4xx, a robot saying "too fast") keep it
and try again later; ``True`` (:class:`PermanentDeliveryError`: another 4xx, SMTP 5xx, a bad
address or signature) retrying will not help, someone must fix the configuration.  Each
``send`` makes one attempt: retrying is the outbox's job (one retry layer, durable — see
:mod:`app.outbox`), and each notifier's ``name`` is the key of its delivery record there.
Error texts never carry a webhook's token or a password (:mod:`notify.redact`).
Settings (``notify.toml`` and environment variables) live in :mod:`notify.config`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import smtplib
import ssl as tls
import threading
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parsedate_to_datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import quote_plus, urlsplit

import httpx
from rich.console import Console
from rich.text import Text

from notify.config import (
    STYLES,
    NotifySettings,
    SmtpConfig,
    Style,
    WebhookConfig,
    check_webhook_url,
    load_notify_settings,
)
from notify.redact import redact
from procedures.errors import InputError

__all__ = [
    "ConsoleNotifier",
    "DeliveryError",
    "JsonlNotifier",
    "Message",
    "MultiNotifier",
    "Notifier",
    "NotifySettings",
    "PermanentDeliveryError",
    "SmtpConfig",
    "SmtpNotifier",
    "WebhookConfig",
    "WebhookNotifier",
    "build_notifier",
    "load_notify_settings",
]


def utc_now() -> datetime:
    """Delivery time stamps (the channels are adapters: they read the clock themselves)."""
    return datetime.now(UTC)


LEVEL_STYLES = {
    "due_soon": "yellow",
    "due_today": "yellow",
    "overdue": "red",
    "escalated": "bold white on red",
}
# robot errcodes that mean "busy / too fast, try later": -1 system busy (both), 45009 WeCom
# frequency limit, 130101 DingTalk sending too fast; every other non-zero errcode is permanent
TRANSIENT_ERRCODES = frozenset({-1, 45009, 130101})
_JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}
# a robot's answer is a line of JSON: more than this is not an answer (and never held in memory)
MAX_ANSWER_BYTES = 64 * 1024
T = TypeVar("T")


@dataclass(frozen=True)
class Message:
    kind: str  # "alert" | "step_ready" | "step_open" | "package" | "archive" | ...
    decision: str  # decision id, e.g. "2025-0001"
    title: str  # the decision's title
    text: str  # one human line in Chinese with the English ids beside
    data: dict[str, object]  # machine fields: level, step, due_on, role, attempt, ...
    key: str  # idempotency key, e.g. "alert:2025-0001:expert_review:1:overdue"

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "decision": self.decision,
            "title": self.title,
            "text": self.text,
            "data": self.data,
            "key": self.key,
        }


class DeliveryError(Exception):
    """Not delivered.  ``permanent`` False: retry later; True: do not retry."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        failures: Sequence[tuple[str, DeliveryError]] = (),
        delivered: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.failures = list(failures)  # MultiNotifier: (notifier name, its error)
        self.delivered = list(delivered)  # MultiNotifier: names that did deliver
        self.retry_after: float | None = None  # the server's Retry-After, in seconds


class PermanentDeliveryError(DeliveryError):
    def __init__(
        self,
        message: str,
        *,
        failures: Sequence[tuple[str, DeliveryError]] = (),
        delivered: Sequence[str] = (),
    ) -> None:
        super().__init__(message, permanent=True, failures=failures, delivered=delivered)


def _fail(message: str, permanent: bool, **extra: Sequence[object]) -> DeliveryError:
    cls = PermanentDeliveryError if permanent else DeliveryError
    return cls(message, **extra)  # type: ignore[arg-type]


class Notifier(Protocol):
    def send(self, message: Message) -> None: ...


def _json_default(value: object) -> object:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if isinstance(value, tuple):
        return list(value)
    return str(value)


def _dumps(doc: object, indent: int | None = None) -> str:
    return json.dumps(doc, ensure_ascii=False, indent=indent, default=_json_default)


class ConsoleNotifier:
    """One Rich line per message, coloured by ``data["level"]``."""

    name = "console"

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False)

    def send(self, message: Message) -> None:
        style = LEVEL_STYLES.get(str(message.data.get("level", "")), "")
        try:  # Text, not markup: a title may contain "[...]"
            self.console.print(Text(message.text, style=style), soft_wrap=True)
        except OSError as e:
            raise DeliveryError(f"console: {e}") from e


class JsonlNotifier:
    """Appends one JSON object per message (the Message fields and ``sent_at``, UTC ISO 8601)."""

    def __init__(self, path: Path, *, now: Callable[[], datetime] = utc_now) -> None:
        self.path = Path(path)
        self.name = f"jsonl:{self.path}"
        self._now = now
        self._lock = threading.Lock()

    def send(self, message: Message) -> None:
        line = _dumps({**message.to_dict(), "sent_at": self._now().isoformat()}) + "\n"
        try:
            with self._lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # 0600 when new, like the database and the keys: alerts name decisions, some
                # of them undisclosable
                flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
                with os.fdopen(os.open(self.path, flags, 0o600), "a", encoding="utf-8") as f:
                    f.write(line)
                    f.flush()
                    os.fsync(f.fileno())
        except (PermissionError, IsADirectoryError, NotADirectoryError) as e:
            raise PermanentDeliveryError(f"{self.name}: {e}") from e
        except OSError as e:  # disk full, I/O error: may pass
            raise DeliveryError(f"{self.name}: {e}") from e


class WebhookNotifier:
    """POST JSON to a webhook, once per ``send`` (the outbox retries: see :mod:`app.outbox`).

    ``timeout`` bounds the whole delivery — connecting, sending, the answer's head and body —
    not each read (httpx's timeouts are per read: a server dripping one byte every few seconds
    never trips them).  The answer is streamed and read only as far as needed: not at all for a
    generic webhook's 2xx, at most ``max_answer`` bytes otherwise.  With ``style="dingtalk"`` and
    a ``secret``, the request is signed (加签): ``timestamp`` in ms and ``sign`` =
    urlencode(base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}"))) added to the URL.
    A 429/503's ``Retry-After`` is passed on as ``DeliveryError.retry_after``.
    """

    def __init__(
        self,
        url: str,
        *,
        style: Style = "generic",
        timeout: float = 10.0,
        secret: str | None = None,
        max_answer: int = MAX_ANSWER_BYTES,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self.url = check_webhook_url(url, "webhook")
        if style not in STYLES:
            raise InputError(f"webhook style: expected one of {', '.join(STYLES)}, got {style!r}")
        if secret and style != "dingtalk":
            raise InputError(f"webhook secret: only used by style 'dingtalk', not {style!r}")
        if timeout <= 0:
            raise InputError(f"webhook timeout: expected seconds > 0, got {timeout}")
        self.style, self.secret, self.timeout, self.max_answer = style, secret, timeout, max_answer
        # a stable identity for the delivery records, whatever the order in notify.toml (two
        # WeCom robots share a host): a digest of the URL, never the token itself (names are
        # logged)
        digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:10]
        self.name = f"webhook:{style}:{urlsplit(url).hostname}:{digest}"
        self._now = now

    def close(self) -> None:
        """Nothing to release: each delivery opens and closes its own connection."""

    def body(self, message: Message) -> dict[str, object]:
        if self.style == "generic":
            return message.to_dict()
        return {"msgtype": "text", "text": {"content": message.text}}

    def signed_url(self) -> str:
        if not self.secret:
            return self.url
        timestamp = str(int(self._now().timestamp() * 1000))
        to_sign = f"{timestamp}\n{self.secret}".encode()
        digest = hmac.new(self.secret.encode(), to_sign, hashlib.sha256).digest()
        sign = quote_plus(base64.b64encode(digest).decode("ascii"))
        return f"{self.url}{'&' if '?' in self.url else '?'}timestamp={timestamp}&sign={sign}"

    def send(self, message: Message) -> None:
        content = _dumps(self.body(message)).encode("utf-8")
        answer = _in_own_loop(self._post(content))
        problem, retry_after, permanent = self._judge(answer)
        if not problem:
            return
        error = _fail(f"{self.name}: {problem}", permanent)
        error.retry_after = retry_after
        raise error

    def _redact(self, text: str) -> str:
        return redact(text, (self.url, self.secret))

    async def _post(self, content: bytes) -> _Answer:
        deadline = asyncio.get_running_loop().time() + self.timeout
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                request = client.build_request(
                    "POST", self.signed_url(), content=content, headers=_JSON_HEADERS
                )
                async with asyncio.timeout_at(deadline):
                    response = await client.send(request, stream=True)
                try:
                    return await self._answer(response, deadline)
                finally:
                    await response.aclose()
        except TimeoutError:
            raise DeliveryError(
                f"{self.name}: no answer within {self.timeout:g} s (the deadline of one delivery)"
            ) from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as e:
            raise PermanentDeliveryError(f"{self.name}: {self._redact(str(e))}") from None
        except httpx.HTTPError as e:  # refused or reset connections, per-read timeouts, …
            raise DeliveryError(
                f"{self.name}: {type(e).__name__}: {self._redact(str(e))}"
            ) from None

    async def _answer(self, response: httpx.Response, deadline: float) -> _Answer:
        """The status, headers and as much of the body as is needed, by the deadline."""
        status, body = response.status_code, bytearray()
        if self.style == "generic" and 200 <= status < 300:
            return _Answer(status, response.headers, b"", complete=True)  # delivered
        cap = self.max_answer if self.style != "generic" else 200  # an error text: its start
        complete = True
        try:
            async with asyncio.timeout_at(deadline):
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > cap:
                        complete = False
                        break
        except TimeoutError:
            complete = False  # the status stands; the body is what arrived in time
        return _Answer(status, response.headers, bytes(body[:cap]), complete)

    def _judge(self, answer: _Answer) -> tuple[str, float | None, bool]:
        """(problem or "", Retry-After seconds, permanent)."""
        status = answer.status
        if status in (408, 429) or status >= 500:
            wait = self._retry_after(answer.headers) if status in (429, 503) else None
            return f"HTTP {status}", wait, False
        text = self._redact(answer.body.decode("utf-8", "replace"))
        if not 200 <= status < 300:
            return f"HTTP {status}: {text[:200]}", None, True
        if self.style == "generic":
            return "", None, False
        if not answer.complete:
            return f"answer not read: larger than {self.max_answer} bytes or too slow", None, False
        try:
            doc = json.loads(answer.body)
        except ValueError:
            doc = None
        errcode = doc.get("errcode") if isinstance(doc, dict) else None
        if not isinstance(errcode, int):
            return f"unexpected answer: {text[:200]!r}", None, False
        if errcode == 0:
            return "", None, False
        problem = f"errcode {errcode}: {self._redact(str(doc.get('errmsg', '')))}"
        return problem, None, errcode not in TRANSIENT_ERRCODES

    def _retry_after(self, headers: httpx.Headers) -> float | None:
        value = headers.get("Retry-After")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:  # or an HTTP date
            return max(0.0, (parsedate_to_datetime(value) - self._now()).total_seconds())
        except (TypeError, ValueError):
            return None


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: httpx.Headers
    body: bytes
    complete: bool  # False: cut at the cap or at the deadline


def _in_own_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Runs ``coro`` in a fresh event loop on its own thread: the caller may already be inside
    one (the Prefect flows are async), and asyncio's deadline is what bounds a delivery."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="webhook") as pool:
        return pool.submit(asyncio.run, coro).result()


class SmtpNotifier:
    """One e-mail per message (one attempt; the caller retries transient failures)."""

    def __init__(
        self,
        host: str,
        port: int = 25,
        *,
        sender: str,
        recipients: list[str],
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        ssl: bool = False,
        timeout: float = 10.0,
        local_hostname: str | None = None,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        if not recipients:
            raise InputError("smtp recipients: at least one address needed")
        if ssl and starttls:
            raise InputError("smtp: ssl and starttls: choose one")
        self.host, self.port, self.sender, self.recipients = host, port, sender, list(recipients)
        self.username, self.password = username, password
        self.starttls, self.ssl, self.timeout = starttls, ssl, timeout
        self.local_hostname = local_hostname
        self.name = f"smtp:{host}:{port}"
        self._now = now

    def build(self, message: Message) -> EmailMessage:
        msg = EmailMessage()
        line = " ".join(message.text.split())  # a header may not hold line breaks
        msg["Subject"] = "[decide] " + (line if len(line) <= 120 else line[:119] + "…")
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg["Date"] = format_datetime(self._now())
        msg["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or "decide.invalid")
        if message.key:
            msg["X-Decide-Key"] = message.key
        body = f"{message.text}\n\n{_dumps(message.data, indent=2)}\n"
        msg.set_content(body, cte="base64")  # UTF-8, and 7-bit clean for any server
        return msg

    def send(self, message: Message) -> None:
        msg = self.build(message)
        try:
            refused = self._deliver(msg)
        except smtplib.SMTPRecipientsRefused as e:
            codes = [code for code, _ in e.recipients.values()]
            temporary = all(400 <= code < 500 for code in codes)
            raise _fail(
                f"{self.name}: all recipients refused: {e.recipients}", not temporary
            ) from e
        except smtplib.SMTPResponseException as e:
            error = e.smtp_error
            text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
            permanent = 500 <= e.smtp_code < 600
            raise _fail(
                f"{self.name}: {e.smtp_code} {redact(text, [self.password])}", permanent
            ) from e
        except (smtplib.SMTPNotSupportedError, tls.SSLCertVerificationError) as e:
            raise PermanentDeliveryError(f"{self.name}: {e}") from e
        except (smtplib.SMTPException, OSError) as e:  # disconnected, refused, timeout, DNS
            raise DeliveryError(f"{self.name}: {type(e).__name__}: {e}") from e
        if refused:  # the others got it: a retry would send it twice
            raise PermanentDeliveryError(f"{self.name}: delivered, but refused for {refused}")

    def _deliver(self, msg: EmailMessage) -> dict[str, tuple[int, bytes]]:
        smtp: smtplib.SMTP
        if self.ssl:
            context = tls.create_default_context()
            smtp = smtplib.SMTP_SSL(
                self.host, self.port, self.local_hostname, timeout=self.timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(self.host, self.port, self.local_hostname, timeout=self.timeout)
        try:
            if self.starttls:
                smtp.starttls(context=tls.create_default_context())
            if self.username:
                smtp.login(self.username, self.password or "")
            return smtp.send_message(msg, self.sender, self.recipients)
        finally:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()


class MultiNotifier:
    """The configured notifiers, each under a stable name (``channels``: what the outbox records
    a delivery for).  ``send`` tries every one, then raises one :class:`DeliveryError` for all
    that failed (permanent only if every failure is)."""

    def __init__(self, notifiers: Sequence[Notifier]) -> None:
        self.notifiers = list(notifiers)
        self.names: list[str] = []
        for n in self.notifiers:
            name = str(getattr(n, "name", type(n).__name__))
            self.names.append(name if name not in self.names else f"{name}#{len(self.names)}")

    @property
    def channels(self) -> list[tuple[str, Notifier]]:
        return list(zip(self.names, self.notifiers, strict=True))

    def send(self, message: Message) -> None:
        failures: list[tuple[str, DeliveryError]] = []
        delivered: list[str] = []
        for name, notifier in self.channels:
            try:
                notifier.send(message)
            except DeliveryError as e:
                failures.append((name, e))
            except Exception as e:  # a broken notifier must not stop the others
                error = DeliveryError(f"{name}: {type(e).__name__}: {redact(str(e))}")
                error.__cause__ = e
                failures.append((name, error))
            else:
                delivered.append(name)
        if failures:
            summary = "; ".join(str(e) for _, e in failures)
            permanent = all(e.permanent for _, e in failures)
            raise _fail(
                f"{len(failures)} of {len(self.notifiers)} notifiers failed: {summary}",
                permanent,
                failures=failures,
                delivered=delivered,
            )

    def close(self) -> None:
        for n in self.notifiers:
            if callable(close := getattr(n, "close", None)):
                close()


def build_notifier(settings: NotifySettings, *, console: Console | None = None) -> MultiNotifier:
    notifiers: list[Notifier] = []
    if settings.console:
        notifiers.append(ConsoleNotifier(console))
    if settings.jsonl is not None:
        notifiers.append(JsonlNotifier(settings.jsonl))
    for w in settings.webhooks:
        notifiers.append(WebhookNotifier(w.url, style=w.style, timeout=w.timeout, secret=w.secret))
    if (s := settings.smtp) is not None:
        notifiers.append(
            SmtpNotifier(
                s.host,
                s.port,
                sender=s.sender,
                recipients=list(s.recipients),
                username=s.username,
                password=s.password,
                starttls=s.starttls,
                ssl=s.ssl,
                timeout=s.timeout,
            )
        )
    return MultiNotifier(notifiers)
