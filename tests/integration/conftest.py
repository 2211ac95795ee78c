"""Real databases for the store's tests: SQLite always, PostgreSQL when its URL is given.

``DECIDE_TEST_POSTGRES_URL`` (set by ``.ci/run``) names a server database such as
``postgresql+psycopg://postgres@127.0.0.1:5432/test``; each test gets a fresh database copied from
a migrated template, dropped afterwards.  Without the variable the PostgreSQL half is skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, make_url, text

from store.db import make_engine, migrate
from store.dbapi import Database

PG_ENV = "DECIDE_TEST_POSTGRES_URL"
PG_SKIP = f"PostgreSQL not configured: set {PG_ENV} (for example postgresql+psycopg://postgres@127.0.0.1:5432/test)"


def _admin() -> Engine:
    url = make_url(os.environ[PG_ENV]).set(database="postgres")
    return create_engine(url, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    if not os.environ.get(PG_ENV):
        pytest.skip(PG_SKIP)
    name = f"decide_tpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = _admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(make_url(os.environ[PG_ENV]).set(database=name).render_as_string(False))
    migrate(engine)
    engine.dispose()
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def new_pg_database(template: str | None) -> str:
    """A new database copied from ``template``, or empty (never migrated) when None."""
    name = f"decide_t_{uuid.uuid4().hex[:12]}"
    admin = _admin()
    with admin.connect() as conn:
        copy = f' TEMPLATE "{template}"' if template else ""
        conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    admin.dispose()
    return make_url(os.environ[PG_ENV]).set(database=name).render_as_string(False)


def drop_pg_database(url: str) -> None:
    admin = _admin()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


def migrated_database(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of a kind (``sqlite`` or ``postgresql``), dropped after."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'decide.db'}"
        engine = make_engine(url)
        migrate(engine)
        engine.dispose()
        yield url
        return
    template = request.getfixturevalue("pg_template")
    url = new_pg_database(template)
    yield url
    drop_pg_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A migrated, empty database of each kind."""
    yield from migrated_database(request.param, request, tmp_path)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """The commands' own connection to the same database (driver-level, no SQLAlchemy)."""
    database = Database(database_url)
    yield database
    database.close()


def run_script(path: Path, source: str) -> subprocess.CompletedProcess[str]:
    """Writes ``source`` to ``path`` and runs it with this Python (a real process: ``spawn``
    re-runs such a script in every process it starts)."""
    path.write_text(source, encoding="utf-8")
    return subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=120)
