"""The work behind outbox rows, one function per side effect (no Prefect here: the flows in
``flows.orchestration`` call these as tasks, and tests call them directly).

* ``notify`` / ``alert`` rows become messages for the notifiers;
* ``build_package``: the submission package for the collective discussion (Decree 713 Art. 29):
  a manifest of the required documents with their SHA-256, or a refusal naming what is missing;
* ``build_archive``: the archive bundle (Art. 33): a ZIP holding a manifest, the documents, and
  the decision's audit export, verifiable on its own (``decide audit verify --file``).

A build is recorded (audit action ``package`` / ``archive``) with its file's SHA-256 and the
decision's version it was made from, and is not made again while its file stands unchanged and
the state it was made from holds (``Outcome.built`` False): for a manifest, the same content;
for an archive, the same version of the decision.  So a build a user asked for
(``app.builds``) and the outbox row the flows run later for the same state make one file and
one event, whichever comes first.  Made by the flows, a build is recorded under ``SYSTEM``;
asked for by an account, under the account.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.commands import Commands
from procedures import RuleViolation
from procedures.package import PackageEntry, package_state
from store.repository import StoredDocument

if TYPE_CHECKING:
    from app.accounts import Identity
    from procedures import Procedure
    from procedures.state import Decision

__all__ = ["BusinessRefusal", "Outcome", "build_archive", "build_package", "package_manifest"]

SYSTEM = "decide-serve"


class BusinessRefusal(Exception):
    """A rule-level outcome (for example a package with documents missing): never retried."""


@dataclass(frozen=True)
class Outcome:
    kind: str
    path: Path | None
    detail: dict[str, Any]
    built: bool = True  # False: the file built earlier for this version still stands


def _documents(cmds: Commands, decision_id: str) -> list[StoredDocument]:
    with cmds.unit(write=False) as uow:
        return uow.documents.of(decision_id)


def _entry(entry: PackageEntry[StoredDocument]) -> dict[str, Any]:
    """A package entry as the manifest lists it (with the file, when attached)."""
    item: dict[str, Any] = {
        "step": entry.step,
        "attempt": entry.attempt,
        "kind": entry.kind,
        "zh": entry.zh,
    }
    if entry.article:
        item["article"] = entry.article
    if entry.reused_from is not None:  # the earlier attempt whose document stands (沿用)
        item["reused_from"] = entry.reused_from
    if entry.document is not None:
        doc = entry.document
        item.update(filename=doc.filename, sha256=doc.sha256, size=doc.size)
    return item


def package_manifest(proc: Procedure, decision: Decision, documents: Any) -> dict[str, Any]:
    """The Art. 29 package manifest of the decision's current legality review, from its
    documents (``(step, attempt, kind, filename, sha256, size)`` rows): what ``build_package``
    writes (and ``bench/scale_gen`` writes as it would)."""
    state = package_state(proc, decision.flags, decision.attempts, documents)
    items = [_entry(e) for e in state.present]
    missing = [_entry(e) for e in state.missing]
    review = state.review
    shortened = [
        {"step": a.step, "attempt": a.number, "reason": a.shorten_reason}
        for a in decision.attempts
        if not a.superseded and a.shorten_reason
    ]
    return {
        "format": "decide-package",
        "article": "Decree 713 Art. 29",
        "decision": decision.id,
        "title": decision.title,
        "procedure": decision.procedure_id,
        "review": {
            "step": review.step if review else None,
            "attempt": review.number if review else None,
            "outcome": review.outcome if review else None,
        },
        "items": items,
        "missing": missing,
        "complete": not missing,
        "shortened_periods": shortened,
    }


def build_package(cmds: Commands, decision_id: str, *, by: Identity | None = None) -> Outcome:
    """Assemble the Art. 29 package manifest for the decision's current legality review."""
    decision, _ = cmds.status(decision_id)
    proc = cmds.procedure_of(decision)
    manifest = package_manifest(proc, decision, _documents(cmds, decision_id))
    missing, review = manifest["missing"], manifest["review"]
    out = cmds.home / "packages" / f"{decision.id}-lr{review['attempt'] or 0}.json"
    text = json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True)
    sha = hashlib.sha256(text.encode()).hexdigest()
    if _standing(cmds, decision, "package", out, sha) is not None:
        return Outcome("package", out, manifest, built=False)
    part = _part(out)
    payload = {
        "file": out.name,
        "sha256": sha,
        "complete": not missing,
        "missing": [f"{m['step']}:{m['kind']}" for m in missing],
    }
    try:
        part.write_text(text, encoding="utf-8")
        built = _record(cmds, decision, "package", payload, part, out, by)
    finally:
        part.unlink(missing_ok=True)  # in place by now, or a failed build's
    return Outcome("package", out, manifest, built=built)


def build_archive(cmds: Commands, decision_id: str, *, by: Identity | None = None) -> Outcome:
    """The archive bundle: manifest, documents and the decision's verifiable audit export.
    Refused (``archive.undecided``) before the decision is made: Art. 33 archives the record
    of a decision taken."""
    decision, view = cmds.status(decision_id)
    if view.status == "in_progress":
        raise RuleViolation(
            "archive.undecided",
            f"决策 {decision.id} 尚未作出，不能生成归档包 the decision is not made yet: the "
            "archive bundle holds the record of a decision taken",
            article="Decree 713 Art. 33",
            remedy="build it once the collective discussion has decided (the flows build it "
            "when the decision closes)",
        )
    out_dir = cmds.home / "archives"
    zpath = out_dir / f"{decision.id}.zip"
    if _standing(cmds, decision, "archive", zpath) is not None:
        return Outcome("archive", zpath, _archive_manifest(zpath), built=False)
    export, tmp = _part(out_dir / f"{decision.id}.audit.jsonl"), _part(zpath)
    try:
        manifest = _write_archive(cmds, decision, view, export, tmp)
        payload = {
            "file": zpath.name,
            "sha256": _sha256(tmp),
            "documents": len(manifest["documents"]),
            "events": manifest["audit"]["events"],
        }
        built = _record(cmds, decision, "archive", payload, tmp, zpath, by)
    finally:
        export.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)  # in place by now, or a failed build's
    return Outcome("archive", zpath, manifest if built else _archive_manifest(zpath), built=built)


def _write_archive(
    cmds: Commands, decision: Decision, view: Any, export: Path, tmp: Path
) -> dict[str, Any]:
    """Write the ZIP to ``tmp`` (the audit export through ``export``); its manifest."""
    from app.checkpoints import home_keys, signed_export
    from store.audit import verify_export

    signed_export(cmds, export, decision.id)  # with its inclusion proofs and checkpoint
    report = verify_export(export, public_keys=home_keys(cmds))
    docs = _documents(cmds, decision.id)
    store = cmds.documents()
    files = []
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for step, number, kind, filename, sha, size in docs:
            name = f"documents/{step}-{number}-{kind}-{sha[:12]}-{filename}"
            zf.write(store.path_for(sha), name)
            files.append(
                {
                    "path": name,
                    "step": step,
                    "attempt": number,
                    "kind": kind,
                    "sha256": sha,
                    "size": size,
                }
            )
        audit_bytes = export.read_bytes()
        zf.writestr("audit.jsonl", audit_bytes)
        manifest = {
            "format": "decide-archive",
            "article": "Decree 713 Art. 33",
            "decision": decision.id,
            "title": decision.title,
            "procedure": decision.procedure_id,
            "status": view.status,
            "steps": [
                {
                    "step": s.step,
                    "zh": s.zh,
                    "status": s.status,
                    "attempt": s.attempt,
                    "opened_on": str(s.opened_on or ""),
                    "closed_on": str(s.closed_on or ""),
                    "outcome": s.outcome,
                }
                for s in view.steps
            ],
            "documents": files,
            "audit": {
                "file": "audit.jsonl",
                "events": report.events,
                "sha256": hashlib.sha256(audit_bytes).hexdigest(),
                "verified": report.ok,
            },
            "verify": "unzip, then: decide audit verify --file audit.jsonl --trusted-key "
            "PUBLIC_KEY (the office's audit public key, obtained from it directly); and "
            "sha256sum each document against this manifest",
        }
        zf.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2))
    return manifest


def _archive_manifest(zpath: Path) -> dict[str, Any]:
    with zipfile.ZipFile(zpath) as zf:
        found: dict[str, Any] = json.loads(zf.read("manifest.json"))
    return found


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _part(path: Path) -> Path:
    """A fresh file beside ``path`` to build into (two builds at once never share one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    return Path(name)


def _standing(
    cmds: Commands, decision: Decision, action: str, path: Path, sha: str | None = None
) -> int | None:
    """The seq of the build event whose file still stands (None: build it): the latest
    ``action`` event names ``path``, the file there has the SHA-256 it records, and that is
    ``sha`` (a manifest, whose content the state decides) or, without ``sha`` (an archive, whose
    export carries a fresh checkpoint), the event records the decision's current version."""
    with cmds.unit(write=False) as uow:
        events = uow.audit.events_of([decision.id], [action])[decision.id]
    return _current(events, decision, path, sha)


def _current(events: list[Any], decision: Decision, path: Path, sha: str | None) -> int | None:
    if not events:
        return None
    last = events[-1]
    payload = json.loads(last.payload)
    if payload.get("file") != path.name:
        return None
    if sha is not None and payload.get("sha256") != sha:
        return None
    if sha is None and payload.get("decision_version") != decision.version:
        return None
    if not path.is_file() or _sha256(path) != payload.get("sha256"):
        return None
    return int(last.seq)


def _record(
    cmds: Commands,
    decision: Decision,
    action: str,
    payload: dict[str, Any],
    part: Path,
    out: Path,
    by: Identity | None,
) -> bool:
    """Put the built file in place and record it, unless a build for the same version was
    recorded meanwhile (then the part is discarded: False).  The check and the append share one
    write transaction (SQLite's write lock; on PostgreSQL two builds at the same instant may
    both record, each event naming its own file's hash, the last one standing)."""
    stamp = by.stamp() if by is not None else {}
    with cmds.unit() as uow:
        events = uow.audit.events_of([decision.id], [action])[decision.id]
        same = payload["sha256"] if action == "package" else None
        if _current(events, decision, out, same) is not None:
            return False  # the caller discards the part
        uow.audit.append(
            decision_id=decision.id,
            action=action,
            actor=by.name if by is not None else SYSTEM,
            effective_on=cmds.today(),
            recorded_at=cmds.clock(),
            payload={**payload, "decision_version": decision.version, **stamp},
        )
        uow.commit()
    # in place only once its event is durable: a failed append or COMMIT leaves the file the
    # last recorded event names (a rename that failed now is built again: its hash differs)
    part.replace(out)
    return True
