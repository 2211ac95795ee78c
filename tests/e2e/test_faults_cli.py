"""Faults where the process boundary is the point (issue 15, item 6): bytes of argv that are not
UTF-8, inputs that never end (a FIFO, /dev/zero, as a file or as standard input), and a database
server that accepts and never answers.  Each is a real ``decide`` process that must end, with
one clear line and the exit code of the README's table, within a generous guard (120 s, never a
measure); its address space is capped, so input read without a limit fails instead of filling
the machine's memory.
"""

from __future__ import annotations

import os
import resource
import subprocess
from pathlib import Path

from tests.e2e.conftest import DECIDE
from tests.integration.test_faults import silent_server  # noqa: F401  (fixture)

GUARD = 120  # seconds: a hang fails the test instead of the suite
MEMORY = 2 << 30  # bytes of address space for the child


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def decide(
    home: Path, *args: str | bytes, stdin: int | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DECIDE_")}
    environ.update(DECIDE_HOME=str(home), DECIDE_ACTOR="区政府办公室", COLUMNS="200", **env)
    done = subprocess.run(
        [DECIDE, *args],
        env=environ,
        stdin=stdin if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=GUARD,
        preexec_fn=_capped,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def test_an_argument_that_is_not_utf8_is_refused_naming_it(tmp_path):
    done = decide(tmp_path / "home", b"status", b"2025-\xff\xfe01")
    assert done.returncode == 2, done.stderr
    assert "argument 2" in done.stderr and "not valid UTF-8" in done.stderr
    assert "[input.utf8]" in done.stderr and "\\xff\\xfe" in done.stderr


def test_endless_inputs_are_refused_not_read(tmp_path):
    home = tmp_path / "home"
    fifo = tmp_path / "schedule.toml"
    os.mkfifo(fifo)  # no writer ever comes: opening it to read would wait for ever
    for path, kind in ((fifo, "a FIFO"), (Path("/dev/zero"), "a device")):
        done = decide(home, "calendar", "import", str(path))
        assert done.returncode == 2, done.stderr
        assert f"is {kind}" in done.stderr and "calendar import takes regular files" in done.stderr
    with open("/dev/zero", "rb") as zero:  # a standard input that never ends a line
        done = decide(home, "accounts", "add", "admin", "--name", "管理员", "--unit", "区政府办公室",
                      "--admin", "--password-stdin", stdin=zero.fileno())  # fmt: skip
    assert done.returncode == 2 and "too long" in done.stderr, done.stderr


def test_a_server_that_accepts_and_never_answers_does_not_hang_a_command(
    silent_server,  # noqa: F811
    tmp_path,
):
    url = f"postgresql+psycopg://decide:s3cret-pw@127.0.0.1:{silent_server}/decide"
    done = decide(tmp_path / "home", "list", DECIDE_DATABASE_URL=url, DECIDE_DB_CONNECT_TIMEOUT="2")
    assert done.returncode == 1, done.stderr
    assert "did not answer within 2 s" in done.stderr and "DECIDE_DB_CONNECT_TIMEOUT" in done.stderr
    assert "s3cret-pw" not in done.stderr + done.stdout
