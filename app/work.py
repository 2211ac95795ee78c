"""The work behind outbox rows, one function per side effect (no Prefect here: the flows in
``flows.orchestration`` call these as tasks, and tests call them directly).

* ``notify`` / ``alert`` rows become messages for the notifiers;
* ``build_package``: the submission package for the collective discussion (Decree 713 Art. 29):
  a manifest of the required documents with their SHA-256, or a refusal naming what is missing;
* ``build_archive``: the archive bundle (Art. 33): a ZIP holding a manifest, the documents, and
  the decision's audit export, verifiable on its own (``decide audit verify --file``).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.commands import Commands
from procedures.package import PackageEntry, package_state
from store.repository import StoredDocument

__all__ = ["BusinessRefusal", "Outcome", "build_archive", "build_package"]

SYSTEM = "decide-serve"


class BusinessRefusal(Exception):
    """A rule-level outcome (for example a package with documents missing): never retried."""


@dataclass(frozen=True)
class Outcome:
    kind: str
    path: Path | None
    detail: dict[str, Any]


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


def build_package(cmds: Commands, decision_id: str) -> Outcome:
    """Assemble the Art. 29 package manifest for the decision's current legality review."""
    decision, _ = cmds.status(decision_id)
    proc = cmds.procedure_of(decision)
    state = package_state(proc, decision.flags, decision.attempts, _documents(cmds, decision_id))
    items = [_entry(e) for e in state.present]
    missing = [_entry(e) for e in state.missing]
    review = state.review
    shortened = [
        {"step": a.step, "attempt": a.number, "reason": a.shorten_reason}
        for a in decision.attempts
        if not a.superseded and a.shorten_reason
    ]
    manifest = {
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
    out = cmds.home / "packages" / f"{decision.id}-lr{review.number if review else 0}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True)
    out.write_text(text, encoding="utf-8")
    _record(
        cmds,
        decision.id,
        "package",
        {
            "file": out.name,
            "sha256": hashlib.sha256(text.encode()).hexdigest(),
            "complete": not missing,
            "missing": [f"{m['step']}:{m['kind']}" for m in missing],
        },
    )
    return Outcome("package", out, manifest)


def build_archive(cmds: Commands, decision_id: str) -> Outcome:
    """The archive bundle: manifest, documents and the decision's verifiable audit export."""
    from app.checkpoints import home_keys, signed_export
    from store.audit import verify_export

    decision, view = cmds.status(decision_id)
    out_dir = cmds.home / "archives"
    out_dir.mkdir(parents=True, exist_ok=True)
    export = out_dir / f"{decision.id}.audit.jsonl"
    signed_export(cmds, export, decision.id)  # with its inclusion proofs and checkpoint
    report = verify_export(export, public_keys=home_keys(cmds))
    docs = _documents(cmds, decision_id)
    store = cmds.documents()
    files = []
    zpath = out_dir / f"{decision.id}.zip"
    tmp = zpath.with_suffix(".zip.part")
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
    tmp.replace(zpath)
    export.unlink()
    digest = hashlib.sha256(zpath.read_bytes()).hexdigest()
    _record(
        cmds,
        decision.id,
        "archive",
        {"file": zpath.name, "sha256": digest, "documents": len(files), "events": report.events},
    )
    return Outcome("archive", zpath, manifest)


def _record(cmds: Commands, decision_id: str, action: str, payload: dict[str, Any]) -> None:
    with cmds.unit() as uow:
        uow.audit.append(
            decision_id=decision_id,
            action=action,
            actor=SYSTEM,
            effective_on=cmds.today(),
            recorded_at=cmds.clock(),
            payload=payload,
        )
        uow.commit()
