"""Signed notes (C2SP ``signed-note``) and checkpoints (C2SP ``tlog-checkpoint``), Ed25519.

A checkpoint is the text ``origin\\nsize\\nbase64(root)\\n`` (any extension lines follow, one
per line), a blank line, and one signature line per key: an em dash, a space, the key name, a
space and ``base64(key ID || Ed25519 signature of the text)``, where the key ID is the first
four bytes of ``SHA-256(name || 0x0A || 0x01 || public key)``.  A verifier key is written as in
Go's ``golang.org/x/mod/sumdb/note``: ``name+hex(key ID)+base64(0x01 || public key)``.
Verification follows the note rules: signatures by unknown keys are ignored, a known key whose
signature fails rejects the note, and a note with no verified signature is rejected.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

__all__ = [
    "NoteError",
    "Parsed",
    "checkpoint_text",
    "key_id",
    "open_checkpoint",
    "open_note",
    "parse_checkpoint",
    "parse_verifier_key",
    "public_key_of",
    "sign_checkpoint",
    "sign_note",
    "split_note",
    "verifier_key",
]

ED25519 = b"\x01"
_DASH = "\u2014 "
_NAME = re.compile(r"[^\s+]+")
_SIZE = re.compile(r"0|[1-9][0-9]{0,18}")
MAX_NOTE = 64 * 1024  # bytes: far above a checkpoint with a few signatures
MAX_SIGNATURES = 16


class NoteError(ValueError):
    """A note or key that is malformed or not signed by a trusted key (the message says why)."""


def key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + public).digest()[:4]


def verifier_key(name: str, public: bytes) -> str:
    """The verifier key text: ``name+keyid+base64(0x01 || key)``."""
    encoded = base64.b64encode(ED25519 + public).decode()
    return f"{name}+{key_id(name, public).hex()}+{encoded}"


def parse_verifier_key(text: str) -> tuple[str, bytes]:
    """(name, raw public key) of a verifier key text; NoteError when it is not one."""
    name, sep, rest = text.strip().partition("+")
    hex_id, sep2, encoded = rest.partition("+")
    if not (sep and sep2 and _NAME.fullmatch(name) and re.fullmatch(r"[0-9a-f]{8}", hex_id)):
        raise NoteError("not a verifier key (name+keyid+base64 key)")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise NoteError("the verifier key's key is not base64") from None
    if len(raw) != 33 or raw[:1] != ED25519:
        raise NoteError("the verifier key is not an Ed25519 key (type 0x01, 32 bytes)")
    public = raw[1:]
    if key_id(name, public).hex() != hex_id:
        raise NoteError("the verifier key's key ID does not match its name and key")
    return name, public


def public_key_of(data: bytes) -> bytes:
    """The raw Ed25519 public key in a trusted-key file: a PEM public key or a verifier key."""
    if b"-----BEGIN" in data:
        if b"PRIVATE KEY" in data:
            raise NoteError(
                "this is a private key: give the public key (never copy the private one)"
            )
        try:
            key = serialization.load_pem_public_key(data)
        except ValueError as exc:
            raise NoteError(f"not a PEM public key: {exc}") from None
        if not isinstance(key, Ed25519PublicKey):
            raise NoteError("the PEM public key is not an Ed25519 key")
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise NoteError("neither a PEM public key nor a verifier key") from None
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) != 1:
        raise NoteError("neither a PEM public key nor a verifier key (one line)")
    return parse_verifier_key(lines[0])[1]


@dataclass(frozen=True)
class Signature:
    name: str
    key_id: bytes
    signature: bytes


def split_note(note: str) -> tuple[str, list[Signature]]:
    """The text (ending in a newline) and the signature lines of a signed note."""
    if len(note.encode("utf-8", "surrogatepass")) > MAX_NOTE:
        raise NoteError(f"the note is longer than {MAX_NOTE} bytes")
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise NoteError("the note holds control characters")
    if not note.endswith("\n"):
        raise NoteError("the note does not end in a newline")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise NoteError("the note has no blank line before its signatures")
    text, block = note[: cut + 1], note[cut + 2 :]
    signatures = []
    for line in block.splitlines():
        if not line.startswith(_DASH):
            raise NoteError(f"not a signature line: {line[:40]!r}")
        name, _, encoded = line[len(_DASH) :].partition(" ")
        if not _NAME.fullmatch(name):
            raise NoteError(f"bad key name in signature line {line[:40]!r}")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise NoteError(f"signature by {name} is not base64") from None
        if len(raw) < 5:
            raise NoteError(f"signature by {name} is too short")
        signatures.append(Signature(name, raw[:4], raw[4:]))
    if not signatures:
        raise NoteError("the note has no signature")
    if len(signatures) > MAX_SIGNATURES:
        raise NoteError(f"the note has more than {MAX_SIGNATURES} signatures")
    return text, signatures


def _verify(text: str, signatures: Sequence[Signature], keys: Collection[bytes]) -> bytes:
    """The key (raw) that signed ``text``; NoteError when none of ``keys`` did, or one failed."""
    verified = None
    for sig in signatures:
        for public in keys:
            if key_id(sig.name, public) != sig.key_id:
                continue  # another key: ignored, as the note rules say
            try:
                Ed25519PublicKey.from_public_bytes(public).verify(sig.signature, text.encode())
            except (InvalidSignature, ValueError):
                raise NoteError(
                    f"the signature by {sig.name} (key {sig.key_id.hex()}) does not match the "
                    "note's text: the note was altered"
                ) from None
            verified = public
    if verified is None:
        named = ", ".join(f"{s.name} (key {s.key_id.hex()})" for s in signatures)
        raise NoteError(f"it is not signed by a trusted key (signed by {named})")
    return verified


@dataclass(frozen=True)
class Parsed:
    """A checkpoint's text: origin, tree size, root hash and extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()


def checkpoint_text(origin: str, size: int, root: bytes, extensions: Sequence[str] = ()) -> str:
    if not _NAME.fullmatch(origin):
        raise NoteError(f"origin {origin!r} must be non-empty, without spaces or '+'")
    for line in extensions:
        if not line or "\n" in line or any(ord(c) < 0x20 for c in line):
            raise NoteError(f"extension line {line!r} must be one non-empty line")
    body = [origin, str(size), base64.b64encode(root).decode(), *extensions]
    return "\n".join(body) + "\n"


def parse_checkpoint(text: str) -> Parsed:
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "" or any(not line for line in lines[:-1]):
        raise NoteError("a checkpoint is origin, size and root hash, each on a non-empty line")
    origin, size, encoded = lines[0], lines[1], lines[2]
    if not _SIZE.fullmatch(size):
        raise NoteError(f"the tree size {size[:24]!r} is not a decimal number")
    try:
        root = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise NoteError("the root hash is not base64") from None
    if len(root) != 32:
        raise NoteError("the root hash is not 32 bytes")
    return Parsed(origin, int(size), root, tuple(lines[3:-1]))


def sign_checkpoint(
    key: Ed25519PrivateKey, origin: str, size: int, root: bytes, extensions: Sequence[str] = ()
) -> str:
    """The signed note of the checkpoint, signed under the key name ``origin``."""
    return sign_note(key, origin, checkpoint_text(origin, size, root, extensions))


def sign_note(key: Ed25519PrivateKey, name: str, text: str) -> str:
    """``text`` (ending in a newline) signed under the key name ``name``."""
    if not _NAME.fullmatch(name) or not text.endswith("\n"):
        raise NoteError("a note needs a key name without spaces or '+' and a text ending in \\n")
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    blob = base64.b64encode(key_id(name, public) + key.sign(text.encode())).decode()
    return f"{text}\n{_DASH}{name} {blob}\n"


def open_note(note: str, keys: Collection[bytes]) -> tuple[str, bytes]:
    """The text of a note and the key (raw) that signed it; NoteError otherwise."""
    text, signatures = split_note(note)
    return text, _verify(text, signatures, keys)


def open_checkpoint(note: str, keys: Collection[bytes]) -> tuple[Parsed, bytes]:
    """The checkpoint a note states and the key that signed it; NoteError otherwise."""
    text, signer = open_note(note, keys)
    return parse_checkpoint(text), signer
