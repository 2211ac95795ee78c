"""Merkle checkpoints of the audit log: the tree head of RFC 9162, signed as a C2SP note.

``sign_tree`` reads the event hashes in one snapshot (no lock is held while they are hashed:
appends go on), computes the root of the tree of every event up to the head (``store.merkle``,
leaf = an event's 32-byte hash), signs the checkpoint note with the Ed25519 key and stores it in
``audit_checkpoints``: ``seq`` the tree size, ``hash`` the chain hash of event ``seq`` (as read,
unsigned: for diagnosis), ``public_key`` the raw key in base64 and ``signature`` the whole signed
note.  Rows whose ``signature`` is a bare base64 signature are the older ``(seq, hash)``
checkpoints of ``store.signing``, still verified as they were.  ``checkpoint_note_bytes`` is the
one function that gives the bytes a checkpoint stands for (what a time-stamping authority
stamps, what a witness keeps).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, Engine, text
from sqlmodel import Session

from store.audit import GENESIS, utc_iso
from store.audit_verify import snapshot
from store.merkle import Range, Tree
from store.note import sign_checkpoint
from store.signing import SigningError, public_key_bytes, signed_message
from store.tables import CheckpointRow

__all__ = [
    "checkpoint_note_bytes",
    "default_origin",
    "event_hashes",
    "sign_tree",
    "tree_at",
]

_CHUNK = 4096


def default_origin(key: Ed25519PrivateKey) -> str:
    """The log's name when none is configured: derived from its signing key."""
    return "decide.local/" + hashlib.sha256(public_key_bytes(key)).hexdigest()[:16]


def event_hashes(conn: Connection, upto: int, after: int = 0) -> Iterator[str]:
    """The stored hashes of events ``after`` < seq <= ``upto``, in seq order."""
    result = conn.execute(
        text("SELECT hash FROM audit_events WHERE seq > :a AND seq <= :u ORDER BY seq"),
        {"a": after, "u": upto},
    )
    while chunk := result.fetchmany(_CHUNK):
        yield from (row[0] for row in chunk)


def _head(conn: Connection) -> tuple[int, str]:
    head = conn.execute(text("SELECT seq, hash FROM audit_head WHERE id = 1")).first()
    last = conn.execute(
        text("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
    ).first()
    last_seq, last_hash = (last[0], last[1]) if last is not None else (0, GENESIS)
    if head is None or (head[0], head[1]) != (last_seq, last_hash):
        raise SigningError(
            f"the chain head (seq {None if head is None else head[0]}) does not match the "
            f"newest event (seq {last_seq}); verify the audit log before signing a checkpoint"
        )
    return last_seq, last_hash


def tree_at(conn: Connection, size: int) -> Tree:
    """The tree of the first ``size`` events, for proofs (one pass over their hashes)."""

    def load(begin: int, end: int) -> list[str]:
        return list(event_hashes(conn, end, begin))

    return Tree(event_hashes(conn, size), size, load)


def _root(conn: Connection, size: int) -> bytes:
    tree, batch = Range(), []
    for digest in event_hashes(conn, size):
        batch.append(digest)
        if len(batch) == _CHUNK:
            tree.extend_hex(batch)
            batch = []
    tree.extend_hex(batch)
    if tree.end != size:
        raise SigningError(f"the log holds {tree.end} events up to seq {size}: events are missing")
    return tree.root()


def sign_tree(
    engine: Engine, key: Ed25519PrivateKey, *, origin: str, signed_at: datetime
) -> CheckpointRow:
    """Sign the tree head of the whole log and store it (committed here); the row."""
    with snapshot(engine) as conn:
        size, chain_hash = _head(conn)
        root = _root(conn, size)
    return store_note(
        engine, key, sign_checkpoint(key, origin, size, root), size, chain_hash, signed_at
    )


def store_note(
    engine: Engine,
    key: Ed25519PrivateKey,
    note: str,
    size: int,
    chain_hash: str,
    signed_at: datetime,
) -> CheckpointRow:
    row = CheckpointRow(
        seq=size,
        hash=chain_hash,
        signed_at=utc_iso(signed_at),
        public_key=base64.b64encode(public_key_bytes(key)).decode("ascii"),
        signature=note,
    )
    with Session(engine) as session:
        session.add(row)
        session.commit()
        session.refresh(row)
    return row


def checkpoint_note_bytes(row: Any) -> bytes:
    """The bytes a checkpoint stands for: its signed note (UTF-8); for an old-style row the
    message it signed.  What an RFC 3161 time stamp is asked for, what a witness keeps."""
    if "\n" in row.signature:
        return str(row.signature).encode("utf-8")
    return signed_message(row.seq, row.hash, row.signed_at)
