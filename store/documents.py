"""Documents attached to step attempts, stored by content (SHA-256) under ``DECIDE_HOME``.

A file is copied to ``documents/<first two hex digits>/<sha256>`` (written to a temporary name,
fsynced, then renamed, so a crash never leaves a half file under a hash name); the row and the
audit event record the hash, so verification can tell when a stored file no longer matches.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from procedures.errors import InputError

__all__ = ["DocumentStore", "StoredFile"]


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    size: int
    filename: str


class DocumentStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    @staticmethod
    def digest(path: Path) -> StoredFile:
        try:
            h = hashlib.sha256()
            size = 0
            with path.open("rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
                    size += len(chunk)
        except FileNotFoundError:
            raise InputError(f"file not found: {path}") from None
        except IsADirectoryError:
            raise InputError(f"not a file: {path}") from None
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror}") from None
        return StoredFile(h.hexdigest(), size, path.name)

    def put(self, path: Path, expected: StoredFile | None = None) -> StoredFile:
        """Copy ``path`` into the store (idempotent for identical content)."""
        stored = expected or self.digest(path)
        target = self.path_for(stored.sha256)
        if target.exists():
            return stored
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out, path.open("rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return stored
