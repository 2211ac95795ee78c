"""Audit exports (JSON Lines) and their offline verification, for auditors without the database.

Line 1 is a header ``{"format":"decide-audit-export","version":1,"scope":"all"|"decision",…}``
(a full export also records the head; both record the number of events).  A full export then has
one ``"type":"checkpoint"`` line per signed checkpoint and one ``"type":"event"`` line per event
with every column, hashes included and the payload as a JSON object.  ``verify_export`` checks
a full export like the database (chain, head, checkpoints) and a one-decision export by each
event's own hash and the decision's chain from the genesis hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, text
from sqlmodel import col

from procedures.errors import InputError
from store.audit import EVENT_COLUMNS, GENESIS, Problem, VerifyReport, canonical_json, event_text
from store.audit_chain import (
    ChainCheck,
    Checkpoint,
    Row,
    any_signed,
    checkpoint_problems,
    explain_hash,
    head_problems,
)
from store.audit_verify import open_events, snapshot
from store.tables import AuditEventRow

__all__ = ["FORMAT", "VERSION", "export_jsonl", "verify_export"]

FORMAT = "decide-audit-export"
VERSION = 1
_EVENT_KEYS = EVENT_COLUMNS


def _payload(stored: object) -> object:
    try:
        return json.loads(stored)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return str(stored)  # a damaged payload is exported as it is: its hash will not match


def _write(engine: Engine, fd: int, decision_id: str | None) -> int:
    written = 0
    with snapshot(engine) as conn, os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
        count = select(func.count()).select_from(AuditEventRow)
        header: dict[str, object] = {"format": FORMAT, "version": VERSION}
        checkpoints: list[Any] = []
        if decision_id is None:
            head = conn.execute(text("SELECT seq, hash FROM audit_head WHERE id = 1")).one()
            header.update(scope="all", head={"seq": head[0], "hash": head[1]})
            checkpoints = list(
                conn.execute(
                    text(
                        "SELECT id, seq, hash, signed_at, public_key, signature FROM audit_checkpoints "
                        "ORDER BY seq, id"
                    )
                )
            )
        else:
            header.update(scope="decision", decision_id=decision_id)
            count = count.where(col(AuditEventRow.decision_id) == decision_id)
        header["events"] = conn.execute(count).scalar_one()
        f.write(json.dumps(header, ensure_ascii=False, separators=(",", ":")) + "\n")
        for c in checkpoints:
            line = dict(zip(_CHECKPOINT_FIELDS, c, strict=True))
            f.write(canonical_json({"type": "checkpoint", **line}) + "\n")
        cursor = open_events(conn, decision_id)
        try:
            for row in cursor:
                event = dict(zip(_EVENT_KEYS, row, strict=True))
                event["effective_on"] = str(event["effective_on"])
                event["payload"] = _payload(row[7])
                f.write(canonical_json({"type": "event", **event}) + "\n")
                written += 1
        finally:
            cursor.close()
        f.flush()
        os.fsync(f.fileno())
    return written


def export_jsonl(
    engine: Engine, out: Path, *, decision_id: str | None = None, replace: bool = True
) -> int:
    """Write the export to ``out`` (atomically: a partial file never takes its name);
    ``replace=False``: ``FileExistsError`` if ``out`` exists by then (nothing is replaced).

    The partial file is a new one of an unpredictable name (``O_EXCL``): a file or symlink a
    user left beside ``out`` is never written through or removed."""
    fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial")
    partial = Path(name)
    try:
        written = _write(engine, fd, decision_id)
        if replace:
            os.replace(partial, out)
        else:
            _place_new(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return written


def _place_new(partial: Path, out: Path) -> None:
    """Give ``partial`` the name ``out`` only if nothing has it (a hard link never replaces, so
    a file created meanwhile is left alone; without hard links, check and rename)."""
    try:
        os.link(partial, out, follow_symlinks=False)
    except FileExistsError:
        raise
    except OSError:
        if os.path.lexists(out):
            raise FileExistsError(out) from None
        os.replace(partial, out)


_TYPES: dict[str, tuple[type, ...]] = {
    "decision_id": (str, type(None)),
    "decision_prev_hash": (str, type(None)),
    "action": (str,),
    "actor": (str,),
    "effective_on": (str,),
    "recorded_at": (str,),
    "prev_hash": (str,),
    "hash": (str,),
}


def _as_row(obj: dict[str, Any]) -> Row | str:
    """An event line as a chain row, or why it cannot be one."""
    missing = [k for k in _EVENT_KEYS if k not in obj]
    if missing:
        return f"missing {', '.join(missing)}"
    seq = obj["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool):
        return "seq is not an integer"
    wrong = [k for k, types in _TYPES.items() if not isinstance(obj[k], types)]
    if wrong:
        return f"wrong type for {', '.join(wrong)}"
    try:
        payload = canonical_json(obj["payload"])
        "".join([payload, *(obj[k] or "" for k in _TYPES)]).encode("utf-8")
    except ValueError:  # UnicodeEncodeError is a ValueError too
        return "it holds a value JSON cannot carry or text that is not valid Unicode"
    return tuple(payload if k == "payload" else obj[k] for k in _EVENT_KEYS)


def _lines(path: Path, problems: list[Problem]) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                problems.append(Problem(None, "format", f"line {number} is not JSON"))
                continue
            if not isinstance(obj, dict):
                problems.append(Problem(None, "format", f"line {number} is not a JSON object"))
                continue
            yield number, obj


def _events(path: Path, problems: list[Problem], proofs: list[Any] | None = None) -> Iterator[Row]:
    """The event rows of an export (``proofs``: each one's inclusion proof is appended)."""
    for number, obj in _lines(path, problems):
        if number == 1 or obj.get("type") == "checkpoint":
            continue
        row = _as_row(obj) if obj.get("type") == "event" else "unknown line type"
        if isinstance(row, str):
            seq = obj.get("seq") if isinstance(obj.get("seq"), int) else None
            problems.append(Problem(seq, "format", f"line {number} (event {seq}): {row}"))
            continue
        if proofs is not None:
            proofs.append(obj.get("inclusion"))
        yield row


def _decision_problems(
    rows: Iterable[Row], decision_id: str, problems: list[Problem]
) -> tuple[int, int, str]:
    count, last_seq, last_hash = 0, 0, GENESIS
    for row in rows:
        seq, did, dph, action, actor, eff, rec, payload, prev_hash, digest = row
        count += 1
        if did != decision_id:
            problems.append(
                Problem(seq, "scope", f"event {seq} belongs to decision {did}, not {decision_id}")
            )
        if seq <= last_seq:
            problems.append(
                Problem(
                    seq,
                    "extra",
                    f"event {seq} follows event {last_seq}: out of order or duplicated",
                )
            )
        body = event_text(prev_hash, seq, did, dph, action, actor, eff, rec, payload)
        if hashlib.sha256(body.encode("utf-8")).hexdigest() != digest:
            problems.append(Problem(seq, *explain_hash(row)))
        if dph != last_hash:
            problems.append(
                Problem(
                    seq,
                    "decision_link",
                    (
                        f"event {seq}: its decision link {str(dph)[:16]}… is not the hash of the "
                        f"decision's previous event in the export ({last_hash[:16]}…): an event is "
                        "missing, inserted or reordered"
                    ),
                )
            )
        last_seq, last_hash = seq, digest
    return count, last_seq, last_hash


_CHECKPOINT_FIELDS = Checkpoint._fields[:6]


def verify_export(
    path: Path, *, public_keys: Iterable[bytes] | None = None, heads: Sequence[Checkpoint] = ()
) -> VerifyReport:
    """Check an export offline; problems name the first bad event first.  ``public_keys``:
    the keys its checkpoints must be signed with (None: those in the file); ``heads``:
    checkpoints a witness kept, which the export must be consistent with."""
    if not path.is_file():
        raise InputError(f"导出文件不存在 export file not found: {path}")
    trusted = None if public_keys is None else {bytes(k) for k in public_keys}
    problems: list[Problem] = []
    header: dict[str, Any] = {}
    checkpoints: list[Checkpoint] = []
    lines: list[dict[str, Any]] = []
    for number, obj in _lines(path, problems):
        if number == 1:
            header = obj
        elif obj.get("type") == "checkpoint":
            lines.append(obj)
            try:
                values = {k: obj[k] for k in _CHECKPOINT_FIELDS}
            except KeyError as exc:
                problems.append(Problem(None, "format", f"line {number}: checkpoint lacks {exc}"))
                continue
            role = obj.get("role", "")
            label = f"the export's {role + ' ' if role else ''}checkpoint (event {values['seq']})"
            checkpoints.append(Checkpoint(**values, source="export", label=label))
    version = header.get("version")
    if header.get("format") != FORMAT or version not in (VERSION, 2):
        problems.append(Problem(None, "format", f"{path} is not a {FORMAT} version 1 or 2 file"))
        return VerifyReport(False, 0, 0, GENESIS, 0, 0, tuple(problems))
    notes = ["checked offline from an export file"]
    if header.get("scope") == "decision":
        proofs: list[Any] = []
        rows = list(_events(path, problems, proofs))
        count, head_seq, head_hash = _decision_problems(
            rows, str(header.get("decision_id")), problems
        )
        if version == 2:
            from store.audit_proofs import decision_proof_problems

            problems += decision_proof_problems(
                header, lines, list(zip(rows, proofs, strict=True)), trusted, heads
            )
            notes.append(
                "each event was shown to be in the log the export's signed checkpoint commits "
                "to, and the decision's events to run unbroken up to the last one it names"
            )
        else:
            notes.append(
                "a version 1 one-decision export shows its events unaltered and its chain "
                "whole, not that they are in the log, nor that none was removed at the end"
            )
            if trusted is not None or heads:
                problems.append(
                    Problem(
                        None,
                        "checkpoint",
                        "this version 1 one-decision export carries no checkpoint: it cannot be "
                        "checked against a trusted key or a witness (export it again)",
                    )
                )
    else:
        judged = [*checkpoints, *heads]
        chain = ChainCheck(
            (c.seq for c in judged if not c.is_note),
            tree_sizes=[c.seq for c in judged if c.is_note],
        )
        chain.feed(_events(path, problems))
        head = header.get("head") or {}
        head_seq, head_hash = int(head.get("seq", 0)), str(head.get("hash", GENESIS))
        problems += chain.all_problems() + head_problems(
            (head_seq, head_hash), chain.last_seq, chain.last_hash
        )
        problems += checkpoint_problems(judged, chain, trusted)
        count = chain.count
        own = [c for c in checkpoints if c.is_note and c.seq == head_seq]
        if version == 2 and not own:
            problems.append(
                Problem(
                    None,
                    "checkpoint",
                    f"no checkpoint in the export covers its {head_seq} events: its checkpoint "
                    "lines were removed",
                )
            )
        if trusted is not None and not any_signed(checkpoints, chain, trusted):
            problems.append(
                Problem(
                    None, "untrusted", "no checkpoint in the export is signed by the trusted key"
                )
            )
        if trusted is None and checkpoints:
            notes.append(
                "checkpoint signatures were checked with the public keys in the file, "
                "not with a trusted key"
            )
    if header.get("events") != count:
        problems.append(
            Problem(
                None,
                "count",
                f"the header announces {header.get('events')} events but the file holds {count}",
            )
        )
    problems.sort(key=lambda p: (p.seq is None, p.seq or 0))
    return VerifyReport(
        not problems, count, head_seq, head_hash, len(checkpoints), 0, tuple(problems), tuple(notes)
    )
