"""The one settings class: where the data lives (``DECIDE_HOME``, ``DECIDE_DATABASE_URL``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["HEAD_REVISION", "Settings"]

# The newest schema revision (store/migrations/versions); checked on every start, cheaply.
HEAD_REVISION = "0005"


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        home = Path(env.get("DECIDE_HOME") or ".decide").resolve()
        url = env.get("DECIDE_DATABASE_URL") or f"sqlite:///{home / 'decide.db'}"
        return cls(home=home, database_url=url)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
