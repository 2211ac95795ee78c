"""Build now: the Art. 29 package manifest or the archive ZIP for a decision, when a user asks
for it (the console's button, ``POST /api/v1/decisions/{id}/builds/{kind}``, ``decide build``)
instead of waiting for ``decide serve`` to run the outbox row.  The permission is decided here
(``app.permissions.check_build``), the build is ``app.work``'s — the same function the flows
call, so the two never make the same file twice — and the event names the account.  No Prefect:
the build runs in the caller's request."""

from __future__ import annotations

from pathlib import Path

from app import permissions
from app.accounts import Identity
from app.commands import Commands
from app.work import Outcome, build_archive, build_package
from procedures import InputError

__all__ = ["KINDS", "build_now", "built_files"]

KINDS = ("package", "archive")


def build_now(cmds: Commands, who: Identity | None, decision_id: str, kind: str) -> Outcome:
    """Build ``kind`` for the decision as ``who`` (None: a home without accounts); refused
    unless ``who`` may (exit 6), or an archive of an undecided decision (exit 3).  An
    ``Outcome`` with ``built`` False: the file for this state of the decision already stands."""
    if kind not in KINDS:
        raise InputError(
            f"未知的生成类型 unknown build {kind!r}: package (提请审议材料清单) or archive (归档包)"
        )
    decision, _ = cmds.status(decision_id, who=who)  # an unreadable decision: not found/refused
    if who is not None:
        permissions.check_build(who, decision, kind)
    build = build_package if kind == "package" else build_archive
    return build(cmds, decision_id, by=who)


def built_files(cmds: Commands, decision_id: str) -> list[Path]:
    """The package manifests (``ID-lrN.json``) and the archive ZIP (``ID.zip``) built for the
    decision — its own only, never those of a decision whose id starts with its id (2025-0001
    beside 2025-00012)."""
    found: list[Path] = []
    packages, archive = cmds.home / "packages", cmds.home / "archives" / f"{decision_id}.zip"
    if packages.is_dir():
        review = len(decision_id) + 3  # after "ID-lr"
        found += sorted(
            p for p in packages.glob(f"{decision_id}-lr*.json") if p.stem[review:].isdigit()
        )
    if archive.is_file():
        found.append(archive)
    return found
