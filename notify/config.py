"""Where alerts go: defaults, then ``notify.toml`` (or ``$DECIDE_NOTIFY_FILE``), then environment
variables; later wins.  Everything is checked here, so a typo fails at start-up with the file or
variable and the key named, not hours later when the first alert is due.

Relative ``jsonl`` paths (file or ``DECIDE_NOTIFY_JSONL``; ``false``/``off`` disables) are
relative to ``DECIDE_HOME``; a relative ``DECIDE_NOTIFY_FILE`` to the working directory.  Empty
environment variables count as unset.  A webhook without ``style`` gets the one its host implies
(qyapi.weixin.qq.com → wecom, oapi.dingtalk.com → dingtalk, else generic).  Secrets may come
from the environment: ``password_env`` (SMTP; the password itself is never accepted in the file)
and ``secret_env`` (a webhook's DingTalk signing secret).

Every error names the file (or variable) and the key, in Chinese with the English beside: an
unknown key also says which known key it is closest to (``consle`` → did you mean ``console``).
``decide serve`` reads the settings when it starts, so a mistake stops it at once.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from procedures.errors import InputError

__all__ = [
    "STYLES",
    "NotifySettings",
    "SmtpConfig",
    "Style",
    "WebhookConfig",
    "check_webhook_url",
    "load_notify_settings",
]

Style = Literal["generic", "wecom", "dingtalk"]
STYLES: tuple[Style, ...] = ("generic", "wecom", "dingtalk")
# a webhook without ``style`` gets the one its host implies
_HOST_STYLES: dict[str, Style] = {"qyapi.weixin.qq.com": "wecom", "oapi.dingtalk.com": "dingtalk"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_OFF = _FALSE | {"none"}


@dataclass(frozen=True)
class WebhookConfig:
    url: str
    style: Style = "generic"
    secret: str | None = field(default=None, repr=False)
    timeout: float = 10.0


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    sender: str
    recipients: tuple[str, ...]
    port: int = 25
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    ssl: bool = False
    timeout: float = 10.0


@dataclass(frozen=True)
class NotifySettings:
    console: bool = True
    jsonl: Path | None = None
    webhooks: tuple[WebhookConfig, ...] = ()
    smtp: SmtpConfig | None = None

    def secrets(self) -> tuple[str, ...]:
        """What must never appear in an error text or a log: webhook URLs (their tokens may sit
        in the path or the query), signing secrets, the SMTP password."""
        found: list[str | None] = []
        for w in self.webhooks:
            parts = urlsplit(w.url)
            found += [w.url, parts.query, parts.path if len(parts.path) > 1 else None, w.secret]
        if self.smtp is not None:
            found.append(self.smtp.password)
        return tuple(s for s in found if s)


def check_webhook_url(url: str, where: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"{where}: webhook url must be http(s)://host/…, got {parts.scheme!r}")
    return url


def _want(value: object, kind: type | tuple[type, ...], where: str, what: str) -> Any:
    # bool is an int in Python; a port of `true` is a mistake, not 1
    if isinstance(value, kind) and not (isinstance(value, bool) and kind in (int, (int, float))):
        return value
    raise InputError(f"{where}: expected {what}, got {value!r}")


def _bool(text: str, where: str) -> bool:
    if text.strip().lower() in _TRUE:
        return True
    if text.strip().lower() in _FALSE:
        return False
    raise InputError(f"{where}: expected 1/0 (true/false, yes/no, on/off), got {text!r}")


def _int(text: str, where: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InputError(f"{where}: expected an integer, got {text!r}") from None


def _only(table: Mapping[str, object], allowed: set[str], where: str) -> None:
    for key in table:
        if key == "password" and "password_env" in allowed:
            raise InputError(
                f"{where}: password: not accepted in the file; name an environment variable "
                "with password_env (default DECIDE_SMTP_PASSWORD)"
            )
        if key not in allowed:
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint = f"是否应为 did you mean {close[0]!r}? " if close else ""
            raise InputError(
                f"{where}: 未知配置项 unknown key {key!r} — {hint}"
                f"(可用 known: {', '.join(sorted(allowed))})"
            )


def _webhook(raw: object, where: str, env: Mapping[str, str]) -> WebhookConfig:
    table = _want(raw, dict, where, "a table ([[webhook]])")
    _only(table, {"url", "style", "secret", "secret_env", "timeout"}, where)
    if "url" not in table:
        raise InputError(f"{where}: url: missing")
    url = check_webhook_url(_want(table["url"], str, f"{where}: url", "a string"), f"{where}: url")
    style = table.get("style", _HOST_STYLES.get(urlsplit(url).hostname or "", "generic"))
    if style not in STYLES:
        raise InputError(f"{where}: style: expected one of {', '.join(STYLES)}, got {style!r}")
    secret = table.get("secret")
    if "secret_env" in table:
        name = _want(table["secret_env"], str, f"{where}: secret_env", "a variable name")
        secret = env.get(name) or None
        if secret is None:
            raise InputError(f"{where}: secret_env: environment variable {name} is not set")
    if secret is not None:
        _want(secret, str, f"{where}: secret", "a string")
        if style != "dingtalk":
            raise InputError(f"{where}: secret: only used by style 'dingtalk', not {style!r}")
    timeout = _want(table.get("timeout", 10.0), (int, float), f"{where}: timeout", "seconds")
    if timeout <= 0:
        raise InputError(f"{where}: timeout: expected seconds > 0, got {timeout}")
    return WebhookConfig(url=url, style=cast(Style, style), secret=secret, timeout=float(timeout))


_SMTP_FILE_KEYS: dict[str, type | tuple[type, ...]] = {
    "host": str,
    "port": int,
    "sender": str,
    "recipients": list,
    "username": str,
    "password_env": str,
    "starttls": bool,
    "ssl": bool,
    "timeout": (int, float),
}
_SMTP_ENV = {
    "DECIDE_SMTP_HOST": "host",
    "DECIDE_SMTP_PORT": "port",
    "DECIDE_SMTP_FROM": "sender",
    "DECIDE_SMTP_TO": "recipients",
    "DECIDE_SMTP_USER": "username",
    "DECIDE_SMTP_SSL": "ssl",
    "DECIDE_SMTP_STARTTLS": "starttls",
}


def _smtp(table: dict[str, Any] | None, where: str, env: Mapping[str, str]) -> SmtpConfig | None:
    values: dict[str, Any] = {}
    if table is not None:
        _only(table, set(_SMTP_FILE_KEYS), where)
        for key, kind in _SMTP_FILE_KEYS.items():
            if key in table:
                values[key] = _want(table[key], kind, f"{where}: {key}", _kind_name(kind))
        for r in values.get("recipients", []):
            _want(r, str, f"{where}: recipients", "a list of addresses")
    from_env = False
    for var, key in _SMTP_ENV.items():
        if not (text := env.get(var)):
            continue
        from_env = True
        if key == "port":
            values[key] = _int(text, var)
        elif key in ("ssl", "starttls"):
            values[key] = _bool(text, var)
        elif key == "recipients":
            values[key] = [a.strip() for a in text.split(",") if a.strip()]
        else:
            values[key] = text.strip()
    if table is None and not from_env:
        return None
    where = where if table is not None else "DECIDE_SMTP_*"
    for key, var in (("host", "DECIDE_SMTP_HOST"), ("sender", "DECIDE_SMTP_FROM")):
        if not values.get(key):
            raise InputError(f"{where}: {key}: missing (or set {var})")
    if not values.get("recipients"):
        raise InputError(f"{where}: recipients: missing or empty (or set DECIDE_SMTP_TO)")
    ssl, starttls = values.get("ssl", False), values.get("starttls", False)
    if ssl and starttls:
        raise InputError(f"{where}: ssl and starttls: choose one (ssl for 465, starttls for 587)")
    port = values.get("port", 465 if ssl else 587 if starttls else 25)
    if not 0 < port < 65536:
        raise InputError(f"{where}: port: expected 1-65535, got {port}")
    password_var = values.get("password_env", "DECIDE_SMTP_PASSWORD")
    password = env.get("DECIDE_SMTP_PASSWORD") or env.get(password_var) or None
    if "password_env" in values and password is None:
        raise InputError(f"{where}: password_env: environment variable {password_var} is not set")
    return SmtpConfig(
        host=values["host"],
        sender=values["sender"],
        recipients=tuple(values["recipients"]),
        port=port,
        username=values.get("username"),
        password=password,
        starttls=starttls,
        ssl=ssl,
        timeout=float(values.get("timeout", 10.0)),
    )


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names: dict[type, str] = {str: "a string", int: "an integer", bool: "true or false"}
    return names.get(kind, "a list") if isinstance(kind, type) else "a number"


def _read_file(path: Path) -> dict[str, Any]:
    from procedures.files import read_text

    text = read_text(path, what="the notification settings")  # a regular file, at most 1 MiB
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{path}: not valid TOML: {e}") from None


def load_notify_settings(home: Path, env: Mapping[str, str] | None = None) -> NotifySettings:
    """The notification settings for ``home`` (``DECIDE_HOME``); ``env`` defaults to os.environ.

    Raises :class:`InputError` naming the file or variable and the key (Chinese, English beside).
    """
    try:
        return _load(home, os.environ if env is None else env)
    except InputError as e:
        raise InputError(f"通知配置有误 invalid notification settings: {e}") from None


def _load(home: Path, env: Mapping[str, str]) -> NotifySettings:
    console: bool = True
    jsonl: Path | None = home / "alerts.jsonl"
    webhooks: list[WebhookConfig] = []
    smtp_table: dict[str, Any] | None = None

    explicit = env.get("DECIDE_NOTIFY_FILE")
    path = Path(explicit) if explicit else home / "notify.toml"
    if explicit and not path.exists():
        raise InputError(f"DECIDE_NOTIFY_FILE: {path} does not exist")
    where = str(path)
    if path.exists():  # not a regular file (a FIFO, a directory): refused by _read_file
        doc = _read_file(path)
        _only(doc, {"console", "jsonl", "webhook", "smtp"}, where)
        if "console" in doc:
            console = _want(doc["console"], bool, f"{where}: console", "true or false")
        if "jsonl" in doc:
            value = _want(doc["jsonl"], (str, bool), f"{where}: jsonl", "a path or false")
            if value is True:
                raise InputError(f"{where}: jsonl: expected a path or false, got true")
            jsonl = home / Path(value).expanduser() if value else None
        raw_hooks = _want(doc.get("webhook", []), list, f"{where}: webhook", "[[webhook]] tables")
        for i, raw in enumerate(raw_hooks):
            webhooks.append(_webhook(raw, f"{where}: webhook[{i}]", env))
        if "smtp" in doc:
            smtp_table = _want(doc["smtp"], dict, f"{where}: smtp", "a table ([smtp])")

    if text := env.get("DECIDE_NOTIFY_CONSOLE"):
        console = _bool(text, "DECIDE_NOTIFY_CONSOLE")
    if text := env.get("DECIDE_NOTIFY_JSONL"):
        jsonl = None if text.strip().lower() in _OFF else home / Path(text).expanduser()
    if url := env.get("DECIDE_WEBHOOK_URL"):
        hook: dict[str, object] = {"url": url}
        for var, key in (("DECIDE_WEBHOOK_STYLE", "style"), ("DECIDE_WEBHOOK_SECRET", "secret")):
            if env.get(var):
                hook[key] = env[var]
        webhooks.append(_webhook(hook, "DECIDE_WEBHOOK_* (environment)", env))
    else:
        for var in ("DECIDE_WEBHOOK_STYLE", "DECIDE_WEBHOOK_SECRET"):
            if env.get(var):
                raise InputError(f"{var}: set, but DECIDE_WEBHOOK_URL is not")
    smtp = _smtp(smtp_table, f"{where}: smtp", env)
    if jsonl is not None:
        _not_a_store_file(home, jsonl)
    return NotifySettings(console=console, jsonl=jsonl, webhooks=tuple(webhooks), smtp=smtp)


_STORE_SUFFIXES = (".db", ".db-wal", ".db-shm", ".db-journal", ".pem")


def _not_a_store_file(home: Path, path: Path) -> None:
    """The JSON Lines channel appends to its file: never to the store's own (the database and
    its journals, the keys and checkpoint log, the documents) — review finding."""
    target = path.resolve()
    inside = [home / "keys", home / "documents"]
    if target.name.endswith(_STORE_SUFFIXES) or any(
        target.is_relative_to(d.resolve()) for d in inside
    ):
        raise InputError(
            f"jsonl: 不能写入数据存储自身的文件 refusing to append notifications to the store's "
            f"own file {path} (the database, keys, checkpoint log and documents); choose another"
        )
