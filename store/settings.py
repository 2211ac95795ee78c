"""The one settings class: where the data lives (``DECIDE_HOME``, ``DECIDE_DATABASE_URL``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["HEAD_REVISION", "Settings"]

# The newest schema revision (store/migrations/versions); checked on every start, cheaply.
HEAD_REVISION = "0010"


DEFAULT_MAX_ATTACHMENT_MB = 200


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    # the largest file ``--attach`` takes (DECIDE_MAX_ATTACHMENT_MB, in MiB)
    max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_MB << 20

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        home = Path(env.get("DECIDE_HOME") or ".decide").resolve()
        url = env.get("DECIDE_DATABASE_URL") or f"sqlite:///{home / 'decide.db'}"
        return cls(home=home, database_url=url, max_attachment_bytes=_megabytes(env))

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
