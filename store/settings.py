"""The one settings class: where the data lives (``DECIDE_HOME``, ``DECIDE_DATABASE_URL``), the
largest attachment, and how long PostgreSQL may take to answer."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_STATEMENT_TIMEOUT",
    "HEAD_REVISION",
    "Settings",
    "connect_timeout",
    "statement_timeout",
]

# The newest schema revision (store/migrations/versions); checked on every start, cheaply.
HEAD_REVISION = "0009"


DEFAULT_MAX_ATTACHMENT_MB = 200
# PostgreSQL: seconds to establish a connection (a host that accepts and never answers must not
# hang every command: libpq's own default waits for ever, psycopg's 130 s), and seconds one
# statement of a command may run or wait for a lock (0: no limit).
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_STATEMENT_TIMEOUT = 60.0


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
    return _seconds(env, "DECIDE_DB_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT, zero=False)


def statement_timeout(env: Mapping[str, str] | None = None) -> float:
    """DECIDE_DB_STATEMENT_TIMEOUT in seconds (0: no limit)."""
    return _seconds(env, "DECIDE_DB_STATEMENT_TIMEOUT", DEFAULT_STATEMENT_TIMEOUT, zero=True)


def _seconds(env: Mapping[str, str] | None, name: str, default: float, *, zero: bool) -> float:
    from procedures.errors import InputError

    env = os.environ if env is None else env
    text = env.get(name) or str(default)
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (value >= 0 if zero else value > 0) or value > 86_400:
        allowed = "0 (no limit) or more" if zero else "more than 0"
        raise InputError(
            f"{name}={text!r} 不是有效秒数 is not a number of seconds ({allowed}, at most 86400)"
        )
    return value
