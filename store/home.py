"""The data home is private: the database, the keys and the logs are created 0600 in a 0700 home.

Everything the store writes there is made private when it is created (``private_dir``,
``private_file``, ``append_private``), whatever the umask; SQLite gives a database's ``-wal`` and
``-shm`` files the database's own mode.  A home made by an older version (0755, a database
0644: readable by every local user, undisclosable decisions included) is tightened by ``decide
db-upgrade`` (``tighten_home``), which says what it changed.  Only the home itself and the
names the store creates in it are changed, only when the running user owns them, and never a
shared directory (one with the sticky bit, such as /tmp): a ``DECIDE_HOME`` pointed at a shared
place is reported, not broken.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

__all__ = [
    "PRIVATE_DIR",
    "PRIVATE_FILE",
    "append_private",
    "private_dir",
    "private_file",
    "tighten_home",
]

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
# what the store and the service create at the top of a home (the rest lies inside these)
HOME_FILES = ("decide.db", "decide.db-wal", "decide.db-shm", "decide.db-journal", "alerts.jsonl")
HOME_DIRS = ("keys", "documents", "packages", "archives", "prefect")


def private_dir(path: Path) -> Path:
    """``path`` as a directory: created 0700 when missing (missing parents as ``mkdir -p``
    makes them); an existing one is left as it is (``tighten_home`` changes it)."""
    if path.is_dir():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(path, PRIVATE_DIR)
    except FileExistsError:  # made meanwhile by another process
        return path
    os.chmod(path, PRIVATE_DIR)  # mkdir's mode passes through the umask
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty and 0600 unless it exists, so that what writes it next (SQLite,
    a log) never leaves it readable by others; its directory is made private if missing."""
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE)
    except FileExistsError:
        return path
    os.close(fd)
    return path


def append_private(path: Path) -> TextIO:
    """``path`` opened for appending text (UTF-8), created 0600 when it does not exist yet."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE)
    return os.fdopen(fd, "a", encoding="utf-8")


def tighten_home(home: Path, files: Iterable[Path] = ()) -> list[str]:
    """Make an existing home private: the home and its top-level directories 0700, the
    database and logs 0600, the files under ``keys/`` 0600; ``files``: more to make 0600 (a
    database kept outside the home, with its journals).  Returns what changed, and what was
    left alone and why, one line each."""
    done: list[str] = []
    if not home.is_dir():
        return done
    info = home.stat()
    if info.st_mode & stat.S_ISVTX:
        return [f"{home}: shared directory (sticky bit), left as it is — use a home of its own"]
    if info.st_uid != os.geteuid():
        return [f"{home}: owned by another user (uid {info.st_uid}), left as it is"]
    targets: list[tuple[Path, int]] = [(home, PRIVATE_DIR)]
    targets += [(home / name, PRIVATE_DIR) for name in HOME_DIRS]
    targets += [(home / name, PRIVATE_FILE) for name in HOME_FILES]
    keys = home / "keys"
    if keys.is_dir() and not keys.is_symlink():
        targets += [(p, PRIVATE_FILE) for p in sorted(keys.iterdir())]
    targets += [(Path(p), PRIVATE_FILE) for p in files]
    for path, mode in targets:
        line = _tighten(path, mode)
        if line:
            done.append(line)
    return done


def _tighten(path: Path, mode: int) -> str | None:
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(info.st_mode) or info.st_uid != os.geteuid():
        return None  # not ours to change: a link's target is somebody else's file
    if mode == PRIVATE_FILE and not stat.S_ISREG(info.st_mode):
        return None
    if mode == PRIVATE_DIR and not stat.S_ISDIR(info.st_mode):
        return None
    before = stat.S_IMODE(info.st_mode)
    after = before & ~0o077  # nothing for group and others; the owner's bits stay
    if before == after:
        return None
    os.chmod(path, after)
    return f"{path}: {before:04o} → {after:04o}"
