"""Signed checkpoints of the audit log, and what verification trusts: keys and heads from outside.

A checkpoint is made with the signing key (``DECIDE_AUDIT_KEY``, default
``HOME/keys/audit-signing.pem``; it belongs outside the data home) and recorded twice: in the
database and, one JSON line each, in ``checkpoints.jsonl`` beside the key.  Verification reads
that log line by line (a line that is not a checkpoint is named, never fatal; a missing or
unreadable log is named when checkpoints were made), takes the keys and heads the verifier
brings (``--trusted-key``: a PEM public key or a verifier key; ``--checkpoint``: a checkpoint a
witness kept) and, without a trusted key, the home's own key, saying so.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from app.commands import Commands
from procedures import InputError
from store.audit import Problem
from store.audit_chain import Checkpoint
from store.checkpoints import default_origin, sign_tree
from store.note import MAX_NOTE, NoteError, parse_checkpoint, public_key_of, split_note
from store.signing import load_or_create_key, public_key_bytes, public_key_pem
from store.tables import CheckpointRow

__all__ = [
    "checkpoint_log",
    "key_path",
    "log_heads",
    "make_checkpoint",
    "origin_of",
    "public_key",
    "signed_export",
    "truncation_problems",
    "trusted_keys",
    "witness_heads",
]

_LOG_FIELDS = ("seq", "hash", "signed_at", "public_key", "signature")


def key_path(cmds: Commands) -> Path:
    return cmds.audit_key or cmds.home / "keys" / "audit-signing.pem"


def checkpoint_log(cmds: Commands) -> Path:
    return key_path(cmds).with_name("checkpoints.jsonl")


def origin_of(cmds: Commands, key: object) -> str:
    return cmds.audit_origin or default_origin(key)  # type: ignore[arg-type]


def make_checkpoint(cmds: Commands) -> CheckpointRow:
    """Sign the whole log's tree head now; stored in the database and the log beside the key."""
    key = load_or_create_key(key_path(cmds))
    row = sign_tree(cmds.engine, key, origin=origin_of(cmds, key), signed_at=cmds.clock())
    record(cmds, row)
    return row


def signed_export(
    cmds: Commands, out: Path, decision_id: str | None, *, replace: bool = True
) -> int:
    """Export the log (or one decision) with a checkpoint taken now and the proofs against it
    (``store.audit_proofs``); the checkpoint is recorded like any other.  Events written."""
    from store.audit_proofs import ExportSigner, export_signed

    key = load_or_create_key(key_path(cmds))
    signer = ExportSigner(key, origin_of(cmds, key), cmds.clock())
    written, row = export_signed(
        cmds.engine, out, decision_id=decision_id, signer=signer, replace=replace
    )
    record(cmds, row)
    return written


def record(cmds: Commands, row: CheckpointRow) -> None:
    """Append the checkpoint to the log beside the key (created 0600), synced to disk."""
    entry = {name: getattr(row, name) for name in _LOG_FIELDS}
    path = checkpoint_log(cmds)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as log:
        log.write(json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n")
        log.flush()
        os.fsync(log.fileno())


def _entry(line: str) -> dict[str, object] | None:
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    if not isinstance(entry, dict):
        return None
    if type(entry.get("seq")) is not int or entry["seq"] < 0:
        return None
    if not all(isinstance(entry.get(k), str) for k in _LOG_FIELDS[1:]):
        return None
    return entry


def log_heads(cmds: Commands, stored: int) -> tuple[list[Checkpoint], list[Problem]]:
    """The checkpoints of the log beside the key, and what is wrong with the log itself;
    ``stored``: how many checkpoints the database holds (a missing log is then named)."""
    path = checkpoint_log(cmds)
    if not path.exists():
        if stored or key_path(cmds).exists():
            return [], [
                Problem(
                    None,
                    "checkpoint_log",
                    f"the checkpoint log {path} is missing, though checkpoints were signed "
                    f"({stored} in the database): it was deleted or moved — the copy of every "
                    "checkpoint outside the database is gone",
                )
            ]
        return [], []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        return [], [Problem(None, "checkpoint_log", f"{path.name} cannot be read: {exc}")]
    heads, problems = [], []
    for number, line in enumerate(lines, 1):
        entry = _entry(line)
        if entry is None:
            problems.append(
                Problem(
                    None,
                    "checkpoint_log",
                    f"{path.name} line {number} is not a checkpoint entry (seq, hash, "
                    "signed_at, public_key, signature): the log beside the key was edited or "
                    "damaged",
                )
            )
            continue
        label = (
            f"the checkpoint signed {entry['signed_at']} for event {entry['seq']} (kept in "
            f"{path.name} line {number}, beside the key)"
        )
        heads.append(
            Checkpoint(
                0,
                int(entry["seq"]),  # type: ignore[call-overload]
                str(entry["hash"]),
                str(entry["signed_at"]),
                str(entry["public_key"]),
                str(entry["signature"]),
                source="log",
                label=label,
            )
        )
    if not heads and stored:
        problems.append(
            Problem(
                None,
                "checkpoint_log",
                f"{path.name} holds no checkpoint though the database holds {stored}: the log "
                "was emptied",
            )
        )
    return heads, problems


def trusted_keys(paths: Sequence[Path]) -> list[bytes]:
    """The raw public keys in the files the verifier brings (InputError for a bad file)."""
    keys = []
    for path in paths:
        try:
            data = _read_small(path)
            keys.append(public_key_of(data))
        except NoteError as exc:
            raise InputError(f"--trusted-key {path}: 不是公钥 not a public key: {exc}") from None
    return keys


def public_key(cmds: Commands, out: Path | None = None) -> tuple[str, str]:
    """The signing key's public half as (PEM, verifier key); written to ``out`` when given."""
    from store.note import verifier_key

    path = key_path(cmds)
    if not path.exists():
        raise InputError(
            f"尚无签名密钥 no signing key yet at {path}: make a checkpoint first "
            "(decide audit checkpoint)"
        )
    key = load_or_create_key(path)
    pem = public_key_pem(key)
    if out is not None:
        try:
            out.write_text(pem, encoding="ascii")
        except OSError as exc:
            raise InputError(f"无法写入 cannot write {out}: {exc.strerror or exc}") from None
    return pem, verifier_key(origin_of(cmds, key), public_key_bytes(key))


def home_keys(cmds: Commands) -> list[bytes] | None:
    """The home's own signing key (public half), when it has one."""
    path = key_path(cmds)
    return [public_key_bytes(load_or_create_key(path))] if path.exists() else None


def _read_small(path: Path) -> bytes:
    """A key or checkpoint file the verifier brings: a regular file of at most ``MAX_NOTE``
    bytes (``procedures.files``: a FIFO or a device is refused, never read)."""
    from procedures.files import chunks

    return b"".join(chunks(path, limit=MAX_NOTE, what="--trusted-key and --checkpoint"))


def witness_heads(paths: Sequence[Path], keys: Sequence[bytes] | None) -> list[Checkpoint]:
    """The checkpoints a witness kept (signed notes), to be checked against the log."""
    import base64

    heads = []
    for path in paths:
        data = _read_small(path)
        try:
            note = data.decode("utf-8")
            parsed = parse_checkpoint(split_note(note)[0])
        except (UnicodeDecodeError, NoteError) as exc:
            raise InputError(
                f"--checkpoint {path}: 不是检查点 not a signed checkpoint note: {exc}"
            ) from None
        key = base64.b64encode(keys[0]).decode() if keys else ""
        label = f"the witness's checkpoint {path.name} ({parsed.size} events)"
        heads.append(Checkpoint(0, parsed.size, "", "", key, note, source="witness", label=label))
    return heads


def truncation_problems(cmds: Commands) -> list[Problem]:
    """Decisions whose state records more changes than the log holds events for: the newest
    events were cut off (the state tables are ahead of the log), named as such."""
    from app.history import CHANGES

    with cmds.unit(write=False) as uow:
        ahead = uow.audit.decisions_ahead(CHANGES)
    return [
        Problem(
            last,
            "truncated",
            f"decision {decision}: its state records {version} changes but the log holds "
            f"{held} change events for it"
            + (f" (the last is event {last})" if last else "")
            + ": its newest events were cut off (tail truncation) — the state tables are "
            "ahead of the log",
        )
        for decision, version, held, last in ahead
    ]
