"""What handing checkpoints to witnesses needs from the store: how far the log has grown past
its newest checkpoint, the checkpoints themselves, and the time-stamp files.

A checkpoint's RFC 3161 time stamp (:mod:`store.timestamping`) is kept as a file
``SEQ-DIGEST.tsr`` in a folder beside the checkpoint log: ``SEQ`` the checkpoint's tree size,
``DIGEST`` the first 16 hex digits of the SHA-256 of the checkpoint's text (what the TSA
stamped), so that several checkpoints of one size each keep theirs, and verification finds the
checkpoint a stamp belongs to.  Files are written whole (a temporary file renamed), 0600 in a
0700 folder; the stamps are public evidence, but the folder sits with the keys.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from store.tables import AuditHeadRow, CheckpointRow

__all__ = [
    "StampFile",
    "Tail",
    "checkpoints",
    "save_stamp",
    "stamp_files",
    "stamp_name",
    "tail",
    "text_digest",
]

_NAME = re.compile(r"(\d+)-([0-9a-f]{16})\.tsr")


@dataclass(frozen=True)
class Tail:
    """The chain head and the newest checkpoint's size (None: never signed)."""

    head_seq: int
    checkpoint_seq: int | None

    @property
    def unsigned(self) -> int:
        """Events appended since the newest checkpoint."""
        return self.head_seq - (self.checkpoint_seq or 0)


@dataclass(frozen=True)
class StampFile:
    path: Path
    seq: int | None  # None: the name is not SEQ-DIGEST.tsr
    digest: str | None


def tail(engine: Any) -> Tail:
    """Two indexed reads (the head row, the newest checkpoint by id): cheap enough to poll."""
    with Session(engine) as session:
        head = session.exec(select(AuditHeadRow.seq).where(AuditHeadRow.id == 1)).first()
        newest = session.exec(
            select(CheckpointRow.seq).order_by(col(CheckpointRow.id).desc()).limit(1)
        ).first()
    return Tail(head or 0, newest)


def checkpoints(engine: Any) -> list[CheckpointRow]:
    """Every checkpoint in the database, oldest first."""
    with Session(engine) as session:
        return list(session.exec(select(CheckpointRow).order_by(col(CheckpointRow.id))))


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def stamp_name(seq: int, text: str) -> str:
    return f"{seq}-{text_digest(text)[:16]}.tsr"


def save_stamp(folder: Path, seq: int, text: str, token: bytes) -> Path:
    """Keep ``token`` (the stamp over ``text``, the checkpoint of size ``seq``) in ``folder``."""
    if not folder.exists():
        folder.mkdir(parents=True, mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)  # mkdir's mode is filtered by the umask
    path = folder / stamp_name(seq, text)
    part = path.with_name(f".{path.name}.{os.getpid()}.part")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(token)
        out.flush()
        os.fsync(out.fileno())
    part.replace(path)
    return path


def stamp_files(folder: Path) -> list[StampFile]:
    """The ``.tsr`` files in ``folder`` (none when it does not exist), by size then name."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        if path.suffix != ".tsr" or path.name.startswith("."):
            continue
        match = _NAME.fullmatch(path.name)
        found.append(
            StampFile(path, int(match[1]), match[2]) if match else StampFile(path, None, None)
        )
    return sorted(found, key=lambda f: (f.seq is None, f.seq or 0, f.path.name))
