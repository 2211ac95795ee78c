"""The CLI end to end on SQLite and PostgreSQL: ``cli(...)`` runs ``decide``'s own entry
(``cli.main.main``) in this process, with its environment, standard input and output as a
subprocess would have them; ``cli.process(...)`` runs the installed ``decide`` as a real
subprocess, for the tests where the process boundary is the point (argv bytes, a closed
stdout, signals, what a fresh interpreter imports, the console script itself).  A subprocess
costs about 0.45 s of interpreter start and imports per command; in process a command costs
what its own work does, which keeps the suite within its minutes."""

from __future__ import annotations

import contextlib
import io
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


@contextlib.contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """This process's environment replaced by ``env`` (as a subprocess's would be), then put
    back."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_in_process(args: list[str], env: dict[str, str], stdin: str | None = None) -> Result:
    """``decide ARGS`` through ``cli.main.main``: what the console script calls, with this
    environment, ``stdin`` as standard input (empty if None) and output captured.  An exception
    escaping it fails the test, as a traceback on a subprocess's stderr does."""
    from cli.main import main

    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = io.StringIO(stdin or ""), out, err
    try:
        with environment(env):
            try:
                code = main(list(args))
            except SystemExit as exc:  # what ``entry`` would turn into the exit code
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved
    return Result(code, out.getvalue(), err.getvalue())


class CLI:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def _env(self, actor: str | None) -> dict[str, str]:
        env = dict(self.env)
        if actor is not None:
            env["DECIDE_ACTOR"] = actor
        return env

    def __call__(
        self, *args: str, actor: str | None = "区政府办公室", stdin: str | None = None
    ) -> Result:
        """``decide ARGS`` in this process (see the module's docstring)."""
        return run_in_process(list(args), self._env(actor), stdin)

    def process(
        self, *args: str, actor: str | None = "区政府办公室", stdin: str | None = None
    ) -> Result:
        """``decide ARGS`` as a real subprocess of the installed console script."""
        proc = subprocess.run(
            [DECIDE, *args],
            env=self._env(actor),
            capture_output=True,
            text=True,
            timeout=120,
            input=stdin,
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def json(self, *args: str, **kw) -> Result:
        return self(*args, "--json", **kw)

    def process_json(self, *args: str, **kw) -> Result:
        return self.process(*args, "--json", **kw)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test here runs on SQLite; one marked ``both_engines`` on PostgreSQL too.  What
    differs between the engines is tested in process on both (tests/integration, tests/flows);
    only the tests whose commands touch engine-specific paths (a whole decision, concurrency,
    stored text) pay for a second run."""
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
