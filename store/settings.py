"""The one settings class: where the data lives (``DECIDE_HOME``, ``DECIDE_DATABASE_URL``), the
largest attachment, how long PostgreSQL may take to answer, and how checkpoints leave the machine
(:class:`CheckpointSettings`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_STATEMENT_TIMEOUT",
    "HEAD_REVISION",
    "CheckpointSettings",
    "Settings",
    "connect_timeout",
    "statement_timeout",
]

# The newest schema revision (store/migrations/versions); checked on every start, cheaply.
HEAD_REVISION = "0010"


DEFAULT_MAX_ATTACHMENT_MB = 200
# PostgreSQL: seconds to establish a connection (a host that accepts and never answers must not
# hang every command: libpq's own default waits for ever, psycopg's 130 s), and seconds one
# statement of a command may run or wait for a lock (0: no limit).
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_STATEMENT_TIMEOUT = 60.0
DEFAULT_CHECKPOINT_MINUTES = 60.0
DEFAULT_CHECKPOINT_EVENTS = 1000
DEFAULT_TSA_TIMEOUT = 10.0


@dataclass(frozen=True)
class CheckpointSettings:
    """When ``decide serve`` signs a checkpoint, and who time-stamps it.

    ``every_minutes`` (DECIDE_CHECKPOINT_MINUTES) and ``every_events``
    (DECIDE_CHECKPOINT_EVENTS): a checkpoint when that much time has passed, or that many events
    were appended since the last one — never without a new event; 0 turns either off.
    ``tsa_url`` (DECIDE_TSA_URL): an RFC 3161 time-stamping authority, asked to stamp each
    checkpoint (none by default); ``tsa_roots`` (DECIDE_TSA_ROOTS): a PEM file of the
    certificates its stamps must chain to; ``tsa_timeout`` (DECIDE_TSA_TIMEOUT): seconds.
    """

    every_minutes: float = DEFAULT_CHECKPOINT_MINUTES
    every_events: int = DEFAULT_CHECKPOINT_EVENTS
    tsa_url: str | None = None
    tsa_roots: Path | None = None
    tsa_timeout: float = DEFAULT_TSA_TIMEOUT

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CheckpointSettings:
        url = (env.get("DECIDE_TSA_URL") or "").strip() or None
        if url is not None:
            _check_url(url)
        roots = (env.get("DECIDE_TSA_ROOTS") or "").strip()
        return cls(
            every_minutes=_number(env, "DECIDE_CHECKPOINT_MINUTES", DEFAULT_CHECKPOINT_MINUTES),
            every_events=int(_number(env, "DECIDE_CHECKPOINT_EVENTS", DEFAULT_CHECKPOINT_EVENTS)),
            tsa_url=url,
            tsa_roots=Path(roots).expanduser().resolve() if roots else None,
            tsa_timeout=_number(env, "DECIDE_TSA_TIMEOUT", DEFAULT_TSA_TIMEOUT, zero=False),
        )


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    # the largest file ``--attach`` takes (DECIDE_MAX_ATTACHMENT_MB, in MiB)
    max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_MB << 20
    # DECIDE_DB_CONNECT_TIMEOUT, DECIDE_DB_STATEMENT_TIMEOUT (seconds; PostgreSQL)
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    statement_timeout: float = DEFAULT_STATEMENT_TIMEOUT
    # the audit signing key (DECIDE_AUDIT_KEY; default HOME/keys/audit-signing.pem): keep it
    # outside the data home, so that whoever copies the home cannot sign; the checkpoint log
    # is kept beside it
    audit_key: Path | None = None
    # the log's name in its checkpoints (DECIDE_AUDIT_ORIGIN; default derived from the key)
    audit_origin: str | None = None
    checkpoints: CheckpointSettings = field(default_factory=CheckpointSettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        home = Path(env.get("DECIDE_HOME") or ".decide").resolve()
        url = env.get("DECIDE_DATABASE_URL") or f"sqlite:///{home / 'decide.db'}"
        key = env.get("DECIDE_AUDIT_KEY")
        return cls(
            home=home,
            database_url=url,
            max_attachment_bytes=_megabytes(env),
            connect_timeout=connect_timeout(env),
            statement_timeout=statement_timeout(env),
            audit_key=Path(key).expanduser().resolve() if key else None,
            audit_origin=env.get("DECIDE_AUDIT_ORIGIN") or None,
            checkpoints=CheckpointSettings.from_env(env),
        )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _megabytes(env: Mapping[str, str]) -> int:
    """DECIDE_MAX_ATTACHMENT_MB in bytes (a clear error for a value that is not a size)."""
    from procedures.errors import InputError

    text = env.get("DECIDE_MAX_ATTACHMENT_MB") or str(DEFAULT_MAX_ATTACHMENT_MB)
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1 << 20:
        raise InputError(
            f"DECIDE_MAX_ATTACHMENT_MB={text!r} 不是有效大小 is not a size in MiB "
            "(a positive number, e.g. 200)"
        )
    return int(value * (1 << 20))


def connect_timeout(env: Mapping[str, str] | None = None) -> float:
    """DECIDE_DB_CONNECT_TIMEOUT in seconds (PostgreSQL counts whole seconds, at least 2)."""
    env = os.environ if env is None else env
    return _number(env, "DECIDE_DB_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT, zero=False)


def statement_timeout(env: Mapping[str, str] | None = None) -> float:
    """DECIDE_DB_STATEMENT_TIMEOUT in seconds (0: no limit)."""
    env = os.environ if env is None else env
    return _number(env, "DECIDE_DB_STATEMENT_TIMEOUT", DEFAULT_STATEMENT_TIMEOUT)


def _number(env: Mapping[str, str], name: str, default: float, *, zero: bool = True) -> float:
    """A non-negative number (positive unless ``zero``) from ``name``, or ``default``."""
    from procedures.errors import InputError

    text = (env.get(name) or "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    integral = name == "DECIDE_CHECKPOINT_EVENTS"
    if not (0 <= value < 1e9) or (value == 0 and not zero) or (integral and value != int(value)):
        what = "a whole number" if integral else "a number"
        limit = "0 or more, 0 turns it off" if zero else "more than 0"
        raise InputError(
            f"{name}={text!r} 不是有效数值 is not {what} ({limit}; default {default:g})"
        )
    return value


def _check_url(url: str) -> None:
    from procedures.errors import InputError

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # the value may carry a password (https://user:pass@tsa…): name its scheme only
        raise InputError(
            "DECIDE_TSA_URL 不是有效网址 is not an http:// or https:// URL of a time-stamping "
            f"authority (scheme {parts.scheme or 'missing'!r})"
        )
