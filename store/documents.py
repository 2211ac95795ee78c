"""Documents attached to step attempts, stored by content (SHA-256) under ``DECIDE_HOME``.

A file is copied to ``documents/<first two hex digits>/<sha256>`` (written to a temporary name,
fsynced, then renamed, so a crash never leaves a half file under a hash name); the row and the
audit event record the hash, so verification can tell when a stored file no longer matches.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from procedures.errors import InputError
from store.settings import DEFAULT_MAX_ATTACHMENT_MB

__all__ = ["DEFAULT_MAX_BYTES", "DocumentStore", "StoredFile"]

DEFAULT_MAX_BYTES = DEFAULT_MAX_ATTACHMENT_MB << 20  # DECIDE_MAX_ATTACHMENT_MB (store.settings)
_CHUNK = 1 << 20


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    size: int
    filename: str


def _limit_text(limit: int) -> str:
    return f"{limit / (1 << 20):g} MiB (DECIDE_MAX_ATTACHMENT_MB)"


def _kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _open_regular(path: Path, limit: int) -> int:
    """A descriptor on ``path`` once it is known to be a regular file within ``limit``.

    Opened without blocking (a FIFO would otherwise wait for a writer for ever), then checked
    on the open descriptor itself, so the file cannot be swapped between check and read."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise InputError(f"文件不存在 file not found: {path}") from None
    except OSError as exc:
        raise InputError(f"无法读取 cannot read {path}: {exc.strerror}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise InputError(
            f"不是普通文件 not a regular file: {path} is {_kind_of(info.st_mode)}; "
            "--attach takes regular files only"
        )
    if info.st_size > limit:
        os.close(fd)
        raise InputError(_too_large(path, info.st_size, limit))
    os.set_blocking(fd, True)
    return fd


def _too_large(path: Path, size: int, limit: int) -> str:
    return (
        f"文件过大 file too large: {path} has {size:,} bytes or more; an attachment may have "
        f"at most {_limit_text(limit)}"
    )


def _chunks(path: Path, limit: int) -> Iterator[bytes]:
    """The file's content in chunks; refused once it grows past ``limit`` while being read."""
    fd = _open_regular(path, limit)
    size = 0
    try:
        with os.fdopen(fd, "rb") as f:
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                size += len(chunk)
                if size > limit:
                    raise InputError(_too_large(path, size, limit))
                yield chunk
    except OSError as exc:
        raise InputError(f"无法读取 cannot read {path}: {exc.strerror}") from None


class DocumentStore:
    def __init__(self, root: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    @staticmethod
    def digest(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> StoredFile:
        """The SHA-256 and size of a regular file of at most ``max_bytes`` (else ``InputError``:
        a FIFO, a device or a directory is refused at once, never read)."""
        h = hashlib.sha256()
        size = 0
        for chunk in _chunks(path, max_bytes):
            h.update(chunk)
            size += len(chunk)
        return StoredFile(h.hexdigest(), size, path.name)

    def put(self, path: Path, expected: StoredFile | None = None) -> StoredFile:
        """Copy ``path`` into the store (idempotent for identical content); the copy is hashed
        as it is written, and refused if it is not what ``expected`` says."""
        stored = expected or self.digest(path, max_bytes=self.max_bytes)
        target = self.path_for(stored.sha256)
        if target.exists():
            return stored
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            h = hashlib.sha256()
            with os.fdopen(fd, "wb") as out:
                for chunk in _chunks(path, self.max_bytes):
                    h.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if h.hexdigest() != stored.sha256:
                raise InputError(
                    f"文件在读取时被修改 the file changed while it was read: {path}; "
                    "nothing was stored — attach it again"
                )
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return stored
