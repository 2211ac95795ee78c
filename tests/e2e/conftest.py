"""The CLI end to end: real subprocesses of the installed ``decide`` on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import migrated_database, pg_template  # noqa: F401  (fixtures)

DECIDE = shutil.which("decide", path=str(Path(sys.executable).parent)) or "decide"


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> dict:
        return json.loads(self.out)


class CLI:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def __call__(
        self, *args: str, actor: str | None = "区政府办公室", stdin: str | None = None
    ) -> Result:
        env = dict(self.env)
        if actor is not None:
            env["DECIDE_ACTOR"] = actor
        proc = subprocess.run(
            [DECIDE, *args], env=env, capture_output=True, text=True, timeout=120, input=stdin
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def json(self, *args: str, **kw) -> Result:
        return self(*args, "--json", **kw)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A subprocess test runs on SQLite; one marked ``both_engines`` on PostgreSQL too.  What
    differs between the engines is tested in process on both (tests/integration); here the
    process boundary is the point, and it is the same for both, so only the tests whose
    commands touch engine-specific paths (a whole decision, serve, concurrency, stored text)
    pay for a second run."""
    if "cli_engine" in metafunc.fixturenames:
        both = metafunc.definition.get_closest_marker("both_engines") is not None
        metafunc.parametrize("cli_engine", ["sqlite", "postgresql"] if both else ["sqlite"])


@pytest.fixture
def database_url(cli_engine: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from migrated_database(cli_engine, request, tmp_path)


@pytest.fixture
def cli(database_url: str, tmp_path: Path) -> Iterator[CLI]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DECIDE_")}
    env.update(DECIDE_HOME=str(tmp_path / "home"), DECIDE_DATABASE_URL=database_url, COLUMNS="200")
    yield CLI(env)


def papers(folder: Path, *kinds: str) -> list[str]:
    """``--attach KIND=FILE`` arguments for small files of these kinds (the documents an office
    files with a step: the Art. 29 package needs them before the collective discussion)."""
    folder.mkdir(parents=True, exist_ok=True)
    args: list[str] = []
    for kind in kinds:
        path = folder / f"{kind}.pdf"
        path.write_bytes(f"%PDF {kind}".encode())
        args += ["--attach", f"{kind}={path}"]
    return args
