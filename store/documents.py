"""Documents attached to step attempts, stored by content (SHA-256) under ``DECIDE_HOME``.

A file is copied to ``documents/<first two hex digits>/<sha256>`` (written to a temporary name,
fsynced, then renamed, so a crash never leaves a half file under a hash name); the row and the
audit event record the hash, so verification can tell when a stored file no longer matches.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from procedures.errors import InputError
from procedures.files import chunks
from store.settings import DEFAULT_MAX_ATTACHMENT_MB

__all__ = ["DEFAULT_MAX_BYTES", "DocumentStore", "StoredFile"]

DEFAULT_MAX_BYTES = DEFAULT_MAX_ATTACHMENT_MB << 20  # DECIDE_MAX_ATTACHMENT_MB (store.settings)


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    size: int
    filename: str


ATTACH = "--attach"  # how the refusals name the input (the API and console uploads pass here too)
LIMIT = "DECIDE_MAX_ATTACHMENT_MB"


def _chunks(path: Path, limit: int) -> Iterator[bytes]:
    """The file's content in chunks: a regular file only, refused past ``limit`` bytes."""
    return chunks(path, limit=limit, what=ATTACH, setting=LIMIT)


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
