"""Checkpoints leave the machine: each is signed, time-stamped by an RFC 3161 authority when one
is configured, and handed to the notifiers as a message — a group chat or a mailbox at another
unit is a witness that keeps it, out of reach of whoever holds this machine.

* :func:`witness_checkpoint` makes one (when the log has grown by ``min_events`` since the last),
  stamps it, keeps the stamp beside the checkpoint log, and writes the message to the outbox
  (``kind = "checkpoint"``, no decision).  A time-stamping authority that is down, refuses or
  answers nonsense does not stop it: the checkpoint is made and handed out unstamped, and the
  message says why (so the witnesses see it too).
* :func:`stamp_problems` checks the stamps kept, offline, for ``decide audit verify``: each
  must be a granted stamp over the text of a checkpoint still held, signed under the trust
  roots; it reports the time the newest was stamped.
* :func:`checkpoint_text` is the one place that knows what a checkpoint looks like as text
  (what is stamped and sent); the rest treats it as opaque.
"""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from app.admin import audit_checkpoint
from app.checkpoints import checkpoint_log
from app.commands import Commands
from procedures.errors import InputError
from store.audit import Problem, utc_iso
from store.checkpoints import checkpoint_note_bytes
from store.tables import CheckpointRow
from store.timestamping import (
    TimestampError,
    load_roots,
    read_stamp,
    stamp,
    stamp_covers,
    verify_stamp,
)
from store.witness import checkpoints, save_stamp, stamp_files, tail, text_digest

__all__ = [
    "CHECKPOINT_TITLE",
    "Witnessed",
    "check_settings",
    "checkpoint_text",
    "stamp_problems",
    "stamps_dir",
    "witness_checkpoint",
]

CHECKPOINT_TITLE = "审计检查点 audit checkpoint"


def checkpoint_text(row: CheckpointRow) -> str:
    """The checkpoint as a witness keeps it, and as the time-stamping authority stamps it: its
    C2SP signed note (``store.checkpoints.checkpoint_note_bytes``; for an old-style row the
    message it signed)."""
    return checkpoint_note_bytes(row).decode("utf-8")


def stamps_dir(cmds: Commands) -> Path:
    """Where the checkpoints' time stamps are kept: beside the checkpoint log."""
    return checkpoint_log(cmds).parent / "timestamps"


@dataclass(frozen=True)
class Witnessed:
    """A checkpoint made and handed out; ``stamped_at`` or ``stamp_error`` when a TSA is set."""

    seq: int
    hash: str
    signed_at: str
    text: str
    tsa: str | None  # the time-stamping authority's host
    stamped_at: datetime | None = None
    stamp_file: Path | None = None
    stamp_error: str | None = None

    def to_json(self) -> dict[str, object]:
        """The shape ``decide audit checkpoint --json`` answers with (English ids)."""
        return {
            "seq": self.seq,
            "hash": self.hash,
            "signed_at": self.signed_at,
            "checkpoint": self.text,
            "timestamp": None
            if self.stamped_at is None
            else {
                "tsa": self.tsa,
                "time": utc_iso(self.stamped_at),
                "file": str(self.stamp_file) if self.stamp_file else None,
            },
            "timestamp_error": self.stamp_error,
        }


def check_settings(cmds: Commands) -> str:
    """Check the time-stamp settings now (a roots file that cannot be used stops ``serve`` at
    start); what ``serve`` will do, in a few words."""
    every = cmds.checkpoints
    if every.tsa_roots is not None:
        load_roots(every.tsa_roots)
    when = [f"every {every.every_minutes:g} min"] if every.every_minutes > 0 else []
    when += [f"after {every.every_events} events"] if every.every_events > 0 else []
    if not when:
        return "checkpoints off (DECIDE_CHECKPOINT_MINUTES=0, DECIDE_CHECKPOINT_EVENTS=0)"
    host = urlsplit(every.tsa_url).hostname if every.tsa_url else None
    stamped = f"time-stamped by {host}" if host else "not time-stamped (no DECIDE_TSA_URL)"
    if host and every.tsa_roots is None:
        stamped += ", stamps not checked against trust roots (no DECIDE_TSA_ROOTS)"
    return f"checkpoint {' or '.join(when)} with new events, {stamped}"


def witness_checkpoint(cmds: Commands, *, min_events: int = 1) -> Witnessed | None:
    """Sign a checkpoint when at least ``min_events`` were appended since the newest one (0:
    sign in any case), time-stamp it, and queue it for the notifiers; None when not due."""
    if min_events > 0 and tail(cmds.engine).unsigned < min_events:
        return None
    row = audit_checkpoint(cmds)
    made = _stamped(cmds, row)
    text = made.text
    payload: dict[str, object] = {
        "event": "checkpoint",
        "title": CHECKPOINT_TITLE,
        "seq": row.seq,
        "hash": row.hash,
        "signed_at": row.signed_at,
        "checkpoint": text,
        "sha256": text_digest(text),
    }
    if made.stamped_at is not None and made.stamp_file is not None:
        payload["timestamp"] = {
            "tsa": made.tsa,
            "time": utc_iso(made.stamped_at),
            "file": made.stamp_file.name,
            "token": base64.b64encode(made.stamp_file.read_bytes()).decode("ascii"),
        }
    elif made.stamp_error is not None:
        payload["timestamp_error"] = made.stamp_error
    with cmds.unit() as uow:
        uow.outbox.add(kind="checkpoint", decision_id=None, payload=payload, now=cmds.clock())
        uow.commit()
    return made


def _stamped(cmds: Commands, row: CheckpointRow) -> Witnessed:
    """The checkpoint with its time stamp, or with the reason it has none."""
    every = cmds.checkpoints
    text = checkpoint_text(row)
    made = Witnessed(row.seq, row.hash, row.signed_at, text, None)
    if every.tsa_url is None:
        return made
    host = urlsplit(every.tsa_url).hostname or "?"
    try:
        roots = load_roots(every.tsa_roots) if every.tsa_roots is not None else []
        token = stamp(every.tsa_url, text.encode("utf-8"), timeout=every.tsa_timeout, roots=roots)
    except (TimestampError, InputError) as exc:
        return dataclasses.replace(made, tsa=host, stamp_error=str(exc))
    path = save_stamp(stamps_dir(cmds), row.seq, text, token)
    return dataclasses.replace(made, tsa=host, stamped_at=read_stamp(token).time, stamp_file=path)


def stamp_problems(
    cmds: Commands, roots_file: Path | None = None
) -> tuple[list[Problem], list[str]]:
    """The time stamps kept beside the checkpoint log, checked offline: problems (a stamp over
    other data, one whose checkpoint is gone, an untrusted one) and notes (how many held, when
    the newest was stamped, checkpoints left unstamped).  Roots: ``roots_file`` (``--tsa-roots``)
    or DECIDE_TSA_ROOTS; with neither only the imprints are checked, and a note says so."""
    path = roots_file or cmds.checkpoints.tsa_roots
    roots = load_roots(path, "--tsa-roots" if roots_file else "DECIDE_TSA_ROOTS") if path else []
    folder = stamps_dir(cmds)
    files = stamp_files(folder)
    if not files and cmds.checkpoints.tsa_url is None:
        return [], []
    held = checkpoints(cmds.engine)
    texts = {(row.seq, text_digest(t)[:16]): t for row in held for t in (checkpoint_text(row),)}
    problems: list[Problem] = []
    good: list[tuple[int, datetime, str, str]] = []  # seq, stamped at, TSA, digest
    for f in files:
        name = f"{folder.name}/{f.path.name}"
        if f.seq is None:
            problems.append(
                Problem(
                    None, "timestamp", f"{name} is not named SEQ-DIGEST.tsr: not a stamp kept here"
                )
            )
            continue
        text = texts.get((f.seq, f.digest or ""))
        if text is None:
            problems.append(
                Problem(
                    f.seq,
                    "timestamp",
                    f"the time stamp {name} is of a checkpoint at event {f.seq} that is no "
                    "longer among the signed checkpoints: that checkpoint was removed or rewritten",
                )
            )
            continue
        try:
            token = f.path.read_bytes()
            info = stamp_covers(token, text.encode("utf-8"))
            when = verify_stamp(token, text.encode("utf-8"), roots) if roots else info.time
        except OSError as exc:
            problems.append(Problem(f.seq, "timestamp", f"{name} cannot be read: {exc.strerror}"))
            continue
        except TimestampError as exc:
            problems.append(
                Problem(
                    f.seq, "timestamp", f"the time stamp of checkpoint #{f.seq} ({name}): {exc}"
                )
            )
            continue
        good.append((f.seq, when, info.tsa, f.digest or ""))
    return problems, _notes(good, held, checked=bool(roots))


def _notes(
    good: list[tuple[int, datetime, str, str]], held: list[CheckpointRow], *, checked: bool
) -> list[str]:
    notes = []
    if good:
        seq, when, tsa, _ = max(good, key=lambda g: (g[0], g[1]))
        how = (
            "verified offline against the trust roots"
            if checked
            else "match their checkpoints, but their signatures were not checked: no trust "
            "roots (set DECIDE_TSA_ROOTS or give --tsa-roots FILE)"
        )
        notes.append(
            f"RFC 3161 时间戳 time stamps: {len(good)} {how}; the newest: checkpoint #{seq} "
            f"stamped {utc_iso(when)}" + (f" by {tsa}" if tsa else "")
        )
    stamped = {(g[0], g[3]) for g in good}
    unstamped = sum(
        1 for row in held if (row.seq, text_digest(checkpoint_text(row))[:16]) not in stamped
    )
    if unstamped:
        notes.append(
            f"{unstamped} of {len(held)} checkpoints have no valid time stamp (made without a "
            "time-stamping authority, or while it could not be reached)"
        )
    return notes
