"""Signed notes and checkpoints: the reference note of Go's sumdb/note byte for byte, and the
note rules (unknown keys ignored, a failed known key rejects, no trusted signature rejects)."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from store.note import (
    NoteError,
    open_checkpoint,
    open_note,
    parse_verifier_key,
    public_key_of,
    sign_checkpoint,
    sign_note,
    verifier_key,
)

# golang.org/x/mod/sumdb/note, note_test.go: the PeterNeumann key and its signed note
VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
SIGNED = (
    TEXT + "\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXg"
    "KvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def peter() -> Ed25519PrivateKey:
    seed = base64.b64decode(SKEY.split("+", 4)[4])[1:]
    return Ed25519PrivateKey.from_private_bytes(seed)


def raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def test_the_reference_note_is_reproduced_and_verified():
    key = peter()
    assert verifier_key("PeterNeumann", raw(key)) == VKEY
    assert parse_verifier_key(VKEY) == ("PeterNeumann", raw(key))
    assert sign_note(key, "PeterNeumann", TEXT) == SIGNED
    assert open_note(SIGNED, [raw(key)]) == (TEXT, raw(key))
    with pytest.raises(NoteError, match="altered"):
        open_note(SIGNED.replace("cryptography", "cryptographY"), [raw(key)])


def test_verifier_keys_that_are_mangled_are_refused():
    for bad in (VKEY[:-1], VKEY.replace("c74f20a3", "c74f20a4"), "PeterNeumann+c74f20a3", ""):
        with pytest.raises(NoteError):
            parse_verifier_key(bad)


def test_a_trusted_key_file_is_a_pem_public_key_or_a_verifier_key():
    key = Ed25519PrivateKey.generate()
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert public_key_of(pem) == raw(key)
    assert public_key_of(verifier_key("x.example/log", raw(key)).encode() + b"\n") == raw(key)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    for bad, why in ((private, "private key"), (b"\xff\xfe", "neither"), (b"a\nb\n", "one line")):
        with pytest.raises(NoteError, match=why):
            public_key_of(bad)


def test_checkpoints_open_only_under_a_trusted_key():
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    note = sign_checkpoint(key, "decide.local/x", 7, b"\x07" * 32, ["decision 2025-0001 3 5"])
    lines = note.split("\n")
    assert lines[:4] == [
        "decide.local/x",
        "7",
        base64.b64encode(b"\x07" * 32).decode(),
        "decision 2025-0001 3 5",
    ]
    parsed, signer = open_checkpoint(note, [raw(other), raw(key)])
    assert (parsed.origin, parsed.size, parsed.root, signer) == (
        "decide.local/x",
        7,
        b"\x07" * 32,
        raw(key),
    )
    assert parsed.extensions == ("decision 2025-0001 3 5",)
    with pytest.raises(NoteError, match="not signed by a trusted key"):
        open_checkpoint(note, [raw(other)])
    cosigned = (
        note + sign_note(other, "witness.example", note.split("\n\n")[0] + "\n").split("\n\n")[1]
    )
    assert open_checkpoint(cosigned, [raw(key)])[1] == raw(key)  # the unknown signature ignored
    with pytest.raises(NoteError, match="altered"):
        open_checkpoint(note.replace("\n7\n", "\n8\n"), [raw(key)])
    for broken in (note.rstrip("\n"), note.replace("\n\n", "\n"), "x\n\n— a b\n", note + "\x01"):
        with pytest.raises(NoteError):
            open_checkpoint(broken, [raw(key)])
