"""Audit exports an auditor can trust without the database (format version 2).

An export made with the signing key (``export_signed``) takes a checkpoint of the whole log at
export time (the tree of ``n`` events, ``store.merkle``) and carries, besides every column of
each event: a one-decision export, each event's inclusion proof in that tree (leaf index
``seq - 1``) and a checkpoint note whose extension line ``decision ID events K last S`` states
the decision's last event as of the checkpoint; both scopes, the home's earlier checkpoints
with a consistency proof from each to the export's.  What verification then shows:

* each event of a one-decision export is in the log the checkpoint commits to (an event
  edited, re-linked or added has no valid proof), its decision links run from the genesis hash
  to the last event the signed note names, so no event of the decision up to then is missing;
  events recorded after the checkpoint are not in the export (it says so: ``tree_size``);
* a full export holds the whole tree: its root at every checkpoint's size is recomputed;
* a checkpoint kept by a witness is consistent with the export's (same size: same root; an
  earlier size: the consistency proof the export carries from that checkpoint).

The guarantee rests on the key: a note signed by a key the auditor trusts (``--trusted-key``).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, text

from store.audit import EVENT_COLUMNS, Problem, canonical_json, utc_iso
from store.audit_chain import Checkpoint
from store.audit_verify import open_events, snapshot
from store.checkpoints import _head, store_note, tree_at
from store.merkle import Tree, leaf_hash, verify_consistency, verify_inclusion
from store.note import NoteError, open_checkpoint, sign_checkpoint
from store.signing import public_key_bytes
from store.tables import CheckpointRow

__all__ = ["VERSION", "ExportSigner", "decision_proof_problems", "export_signed"]

VERSION = 2


@dataclass(frozen=True)
class ExportSigner:
    key: Ed25519PrivateKey
    origin: str
    signed_at: datetime


def _b64(items: Sequence[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in items]


def _earlier(conn: Any, size: int, tree: Tree) -> list[dict[str, object]]:
    rows = conn.execute(
        text(
            "SELECT id, seq, hash, signed_at, public_key, signature FROM audit_checkpoints "
            "WHERE seq <= :n ORDER BY seq, id"
        ),
        {"n": size},
    ).all()
    lines = []
    for row in rows:
        line: dict[str, object] = {
            "type": "checkpoint",
            "role": "earlier",
            **Checkpoint(*row)._asdict(),
        }
        line.pop("source"), line.pop("label")
        if "\n" in str(row[5]) and isinstance(row[1], int) and 0 < row[1] <= size:
            line["consistency"] = _b64(tree.consistency(row[1]))
        lines.append(line)
    return lines


def _write(
    engine: Engine, fd: int, decision_id: str | None, signer: ExportSigner
) -> tuple[int, str, int, str]:
    public = base64.b64encode(public_key_bytes(signer.key)).decode()
    with snapshot(engine) as conn, os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
        size, chain_hash = _head(conn)
        tree = tree_at(conn, size)
        root = tree.root()
        plain = sign_checkpoint(signer.key, signer.origin, size, root)
        header: dict[str, object] = {"format": "decide-audit-export", "version": VERSION}
        extensions: list[str] = []
        if decision_id is None:
            header["scope"] = "all"
            count = size
        else:
            header.update(scope="decision", decision_id=decision_id)
            count, last = conn.execute(
                text(
                    "SELECT COUNT(*), MAX(seq) FROM audit_events WHERE decision_id = :d "
                    "AND seq <= :n"
                ),
                {"d": decision_id, "n": size},
            ).one()
            extensions = [f"decision {decision_id} events {count} last {last or 0}"]
        note = sign_checkpoint(signer.key, signer.origin, size, root, extensions)
        header.update(events=count, head={"seq": size, "hash": chain_hash}, tree_size=size)
        f.write(json.dumps(header, ensure_ascii=False, separators=(",", ":")) + "\n")
        own = {
            "type": "checkpoint",
            "role": "export",
            "id": 0,
            "seq": size,
            "hash": chain_hash,
            "signed_at": utc_iso(signer.signed_at),
            "public_key": public,
            "signature": note,
        }
        f.write(canonical_json(own) + "\n")
        for line in _earlier(conn, size, tree):
            f.write(canonical_json(line) + "\n")
        proofs: dict[int, list[str]] = {}
        if decision_id is not None:  # before the events stream: no other query runs then
            seqs = conn.execute(
                text("SELECT seq FROM audit_events WHERE decision_id = :d AND seq <= :n"),
                {"d": decision_id, "n": size},
            ).scalars()
            proofs = {seq: _b64(tree.inclusion(seq - 1)) for seq in list(seqs)}
        cursor = open_events(conn, decision_id, upto=size)
        written = 0
        try:
            for row in cursor:
                event = dict(zip(EVENT_COLUMNS, row, strict=True))
                event["effective_on"] = str(event["effective_on"])
                try:
                    event["payload"] = json.loads(row[7])
                except (ValueError, TypeError):
                    event["payload"] = str(row[7])
                if decision_id is not None:
                    event["inclusion"] = proofs.get(row[0], [])
                f.write(canonical_json({"type": "event", **event}) + "\n")
                written += 1
        finally:
            cursor.close()
        f.flush()
        os.fsync(f.fileno())
    return written, plain, size, chain_hash


def export_signed(
    engine: Engine,
    out: Path,
    *,
    decision_id: str | None,
    signer: ExportSigner,
    replace: bool = True,
) -> tuple[int, CheckpointRow]:
    """Write a version-2 export to ``out`` (atomically, as ``export_jsonl``) with a checkpoint
    taken now; that checkpoint is stored too.  (events written, the checkpoint row)."""
    import tempfile

    from store.audit_export import _place_new

    fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial")
    partial = Path(name)
    try:
        written, plain, size, chain_hash = _write(engine, fd, decision_id, signer)
        if replace:
            os.replace(partial, out)
        else:
            _place_new(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    row = store_note(engine, signer.key, plain, size, chain_hash, signer.signed_at)
    return written, row


def _statement(extensions: Sequence[str]) -> tuple[str, int, int] | None:
    for line in extensions:
        parts = line.split(" ")
        if (
            (
                len(parts) == 6
                and parts[0] == "decision"
                and parts[2] == "events"
                and parts[4] == "last"
            )
            and parts[3].isdigit()
            and parts[5].isdigit()
        ):
            return parts[1], int(parts[3]), int(parts[5])
    return None


def _opened(line: dict[str, Any], keys: Collection[bytes] | None) -> Any:
    """The checkpoint of a line (Parsed), or the reason it is not acceptable (str)."""
    note = line.get("signature")
    if not isinstance(note, str) or "\n" not in note:
        return "it is not a signed checkpoint note"
    if keys is None:
        try:
            keys = [base64.b64decode(str(line.get("public_key")), validate=True)]
        except ValueError:
            return "its public key is not base64"
    try:
        return open_checkpoint(note, keys)[0]
    except NoteError as exc:
        return str(exc)


def decision_proof_problems(
    header: dict[str, Any],
    lines: list[dict[str, Any]],
    events: list[tuple[Any, Any]],
    keys: Collection[bytes] | None,
    heads: Sequence[Checkpoint],
) -> list[Problem]:
    """A version-2 one-decision export: its own checkpoint signed (by a trusted key when
    given) and naming the decision's last event; every event's inclusion proof; the earlier
    checkpoints and the witnesses' consistent with it.  ``events``: (row, proof) pairs."""
    problems: list[Problem] = []
    own = [x for x in lines if x.get("role") == "export"]
    if len(own) != 1:
        return [
            Problem(
                None,
                "checkpoint",
                f"the export carries {len(own)} checkpoints of its own, not one: its checkpoint "
                "lines were removed or added — nothing in it can be shown to be in the log",
            )
        ]
    cp = _opened(own[0], keys)
    if isinstance(cp, str):
        return [Problem(None, "checkpoint", f"the export's checkpoint is not acceptable: {cp}")]
    size, root, decision = cp.size, cp.root, header.get("decision_id")
    if header.get("tree_size") != size:
        problems.append(
            Problem(None, "checkpoint", f"the header's tree size is not the checkpoint's ({size})")
        )
    stated = _statement(cp.extensions)
    if stated is None or stated[0] != decision:
        problems.append(
            Problem(
                None,
                "checkpoint",
                f"the export's signed checkpoint does not name decision {decision}'s last event",
            )
        )
    else:
        _, count, last = stated
        seqs = [row[0] for row, _ in events]
        if (seqs[-1] if seqs else 0) != last or len(seqs) != count:
            problems.append(
                Problem(
                    min(last, (seqs[-1] if seqs else 0) + 1),
                    "removed",
                    f"the signed checkpoint says decision {decision} had {count} events up to "
                    f"event {last} (of {size}); the export holds {len(seqs)}, the last "
                    f"{seqs[-1] if seqs else 'none'}: events were removed from (or added to) "
                    "the export",
                )
            )
    for row, proof in events:
        seq, digest = row[0], row[9]
        try:
            path = [base64.b64decode(h, validate=True) for h in proof]
            leaf = leaf_hash(bytes.fromhex(digest))
            ok = isinstance(seq, int) and verify_inclusion(seq - 1, size, leaf, path, root)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            problems.append(
                Problem(
                    seq,
                    "inclusion",
                    f"event {seq} is not in the log the export's checkpoint commits to (its "
                    "inclusion proof fails): it was edited, re-linked or added",
                )
            )
    earlier = {}
    for line in lines:
        if line.get("role") != "earlier" or "consistency" not in line:
            continue
        got = _opened(line, keys)
        seq = line.get("seq")
        if isinstance(got, str):
            problems.append(
                Problem(
                    seq, "checkpoint", f"earlier checkpoint (event {seq}) not acceptable: {got}"
                )
            )
            continue
        earlier[got.size] = got.root
        if not _consistent(got.size, got.root, size, root, line.get("consistency")):
            problems.append(
                Problem(
                    got.size,
                    "inconsistent",
                    f"the earlier checkpoint of {got.size} events is not consistent with the "
                    f"export's ({size} events): the log was rewritten between them",
                )
            )
    for head in heads:
        problems += _witness(head, keys, size, root, earlier, lines)
    return problems


def _consistent(m: int, r1: bytes, n: int, r2: bytes, proof: object) -> bool:
    if not isinstance(proof, list):
        return False
    try:
        path = [base64.b64decode(h, validate=True) for h in proof]
    except (TypeError, ValueError):
        return False
    return verify_consistency(m, n, r1, r2, path)


def _witness(
    head: Checkpoint,
    keys: Collection[bytes] | None,
    size: int,
    root: bytes,
    earlier: dict[int, bytes],
    lines: list[dict[str, Any]],
) -> list[Problem]:
    got = _opened({"signature": head.signature, "public_key": head.public_key}, keys)
    what = head.what()
    if isinstance(got, str):
        return [Problem(None, "witness", f"{what} is not acceptable: {got}")]
    if got.size > size:
        return [
            Problem(
                size + 1,
                "witness",
                f"{what} covers {got.size} events, the export only {size}: it cannot be "
                "checked with this export (ask for a newer one) — or the log was cut",
            )
        ]
    if got.size == size:
        same = got.root == root
    elif got.size in earlier:
        same = earlier[got.size] == got.root
    else:
        return [
            Problem(
                got.size,
                "witness",
                f"{what}: the export carries no consistency proof from {got.size} events, so "
                "it cannot be checked against this export",
            )
        ]
    if same:
        return []
    return [
        Problem(
            got.size,
            "witness",
            f"{what} is not consistent with the export's checkpoint: the log the export comes "
            f"from was rewritten at or before event {got.size}",
        )
    ]
