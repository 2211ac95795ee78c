"""Signed checkpoints of the audit chain: the Ed25519 key file and the statements it signs.

A chain alone cannot show that its newest events were cut off, or that someone with the database
rewrote it and every hash after the change.  A checkpoint is the head ``(seq, hash)`` signed with
a key kept outside the database (a PEM file readable by its owner only), stored in
``audit_checkpoints``; verification checks each signature and that the signed event is still in
the chain with the same hash.  The signed message is ``f"{seq}|{hash}|{signed_at}"``.
"""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Collection
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from sqlmodel import Session, col, select

from procedures.errors import DecideError
from store.audit import utc_iso
from store.tables import AuditEventRow, AuditHeadRow, CheckpointRow

__all__ = [
    "SigningError",
    "checkpoint",
    "checkpoint_error",
    "load_or_create_key",
    "public_key_bytes",
    "public_key_pem",
    "sign_head",
    "signed_message",
]


class SigningError(DecideError):
    """The signing key file is unsafe or unreadable, or the chain is not fit to be signed."""

    code = "signing_key"
    exit_code = 2


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """Load the PEM key at ``path``, or create one (file 0600, a new parent directory 0700)."""
    if not path.exists():
        parent = path.parent
        if not parent.exists():
            parent.mkdir(parents=True, mode=0o700)
            os.chmod(parent, 0o700)  # mkdir's mode is filtered by the umask
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it meanwhile: use theirs
            return load_or_create_key(path)
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), 0o600)
            out.write(pem)
            out.flush()
            os.fsync(out.fileno())
        return key
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SigningError(
            f"signing key {path} is open to group or others (mode {mode:04o}); "
            f"restrict it with: chmod 600 {path}"
        )
    try:
        key_obj = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise SigningError(
            f"signing key {path} is not an unencrypted PEM private key: {exc}"
        ) from None
    except OSError as exc:
        raise SigningError(f"cannot read signing key {path}: {exc.strerror}") from None
    if not isinstance(key_obj, Ed25519PrivateKey):
        raise SigningError(f"signing key {path} is not an Ed25519 key")
    return key_obj


def public_key_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The raw 32-byte public key."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_pem(key: Ed25519PrivateKey) -> str:
    """The public half as a PEM ``PUBLIC KEY`` (what an auditor keeps for --trusted-key)."""
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def signed_message(seq: int, hash_: str, signed_at: str) -> bytes:
    return f"{seq}|{hash_}|{signed_at}".encode()


def checkpoint(session: Session, key: Ed25519PrivateKey, *, signed_at: datetime) -> CheckpointRow:
    """Sign the current chain head and add the checkpoint row (the caller commits).

    Refuses when the head row does not match the newest event: signing then would vouch for a
    damaged chain (run ``decide audit verify``).
    """
    head = session.exec(
        select(AuditHeadRow)
        .where(AuditHeadRow.id == 1)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    last = session.exec(
        select(AuditEventRow.seq, AuditEventRow.hash)
        .order_by(col(AuditEventRow.seq).desc())
        .limit(1)
    ).first()
    last_seq, last_hash = last if last is not None else (0, "0" * 64)
    if (last_seq, last_hash) != (head.seq, head.hash):
        raise SigningError(
            f"the chain head (seq {head.seq}) does not match the newest event (seq {last_seq}); "
            "verify the audit log before signing a checkpoint"
        )
    when = utc_iso(signed_at)
    signature = key.sign(signed_message(head.seq, head.hash, when))
    row = CheckpointRow(
        seq=head.seq,
        hash=head.hash,
        signed_at=when,
        public_key=base64.b64encode(public_key_bytes(key)).decode("ascii"),
        signature=base64.b64encode(signature).decode("ascii"),
    )
    session.add(row)
    session.flush()
    return row


def sign_head(engine: Any, key: Ed25519PrivateKey, *, signed_at: datetime) -> CheckpointRow:
    """Sign the chain head in a transaction of its own (IMMEDIATE takes SQLite's write lock at
    once, so no append slips in between reading the head and signing it)."""
    with Session(engine.execution_options(sqlite_begin="IMMEDIATE")) as session:
        row = checkpoint(session, key, signed_at=signed_at)
        session.commit()
        session.refresh(row)
    return row


def checkpoint_error(
    seq: int,
    hash_: str,
    signed_at: str,
    public_key: str,
    signature: str,
    trusted: Collection[bytes] | None,
) -> str | None:
    """Why a checkpoint's signature is not acceptable, or ``None`` when it is.

    With ``trusted`` the key must be one of those raw public keys; without it the key stored in
    the row is used (which shows integrity, not who signed).
    """
    try:
        raw_key = base64.b64decode(public_key, validate=True)
        raw_signature = base64.b64decode(signature, validate=True)
        verifier = Ed25519PublicKey.from_public_bytes(raw_key)
    except ValueError:
        return "its public key or signature is not valid base64 Ed25519 data"
    if trusted is not None and raw_key not in trusted:
        return f"it is signed by an untrusted key ({public_key})"
    try:
        verifier.verify(raw_signature, signed_message(seq, hash_, signed_at))
    except InvalidSignature:
        return "its signature does not match its seq, hash and time"
    return None
