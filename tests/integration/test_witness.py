"""Checkpoints leave the machine (app.witness), on SQLite and PostgreSQL, against a real local
TSA and a real local webhook: a checkpoint is time-stamped, kept, handed to the notifiers and
verified offline; a stamp over other data, of a vanished checkpoint or from a TSA the roots do not
certify is a problem ``audit verify`` names; a TSA that is down costs the stamp, not the
checkpoint."""

from __future__ import annotations

import base64
import dataclasses
import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app import outbox
from app.admin import add_person, audit_verify
from app.commands import Commands
from app.witness import checkpoint_text, stamps_dir, witness_checkpoint
from flows.orchestration import _channels
from notify.channels import MultiNotifier, WebhookNotifier
from store.fastsql import SQL
from store.settings import CheckpointSettings
from store.timestamping import stamp
from store.uow import UnitOfWork
from store.witness import checkpoints, tail
from tests.integration.local_tsa import LocalTsa, authorities, local_tsa, rogue_tsa
from tests.integration.test_notify import Hook, hook

__all__ = ["authorities", "hook", "local_tsa", "rogue_tsa"]  # fixtures

CLOCK = datetime(2026, 1, 10, tzinfo=UTC)
# what does not depend on the database runs on SQLite only (the suite's time is counted)
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def home_with_events(db, tmp_path: Path, settings: CheckpointSettings, events: int = 2) -> Commands:
    cmds = Commands(db, tmp_path / "home", clock=lambda: CLOCK, checkpoints=settings)
    for n in range(events):
        add_person(cmds, f"见证人{n}", "sponsor", "区住建委", actor="管理员")
    return cmds


def stamped_by(tsa: LocalTsa, roots: Path | None = None) -> CheckpointSettings:
    return CheckpointSettings(tsa_url=tsa.url, tsa_roots=roots or tsa.roots)


def checkpoint_rows(cmds: Commands) -> list[dict]:
    with UnitOfWork(cmds.db, write=False) as uow:
        rows = SQL("SELECT kind, decision_id, payload FROM outbox ORDER BY id").rows(uow.link)
    return [json.loads(r[2]) | {"_kind": r[0], "_decision": r[1]} for r in rows]


@pytest.fixture
def dead_tsa() -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # bound, never listening: every connection refused
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/tsa"
    sock.close()


def test_a_checkpoint_is_time_stamped_kept_and_verified_offline(db, tmp_path, local_tsa):
    cmds = home_with_events(db, tmp_path, stamped_by(local_tsa))
    made = witness_checkpoint(cmds)
    assert made is not None and made.stamp_error is None, made
    assert made.seq == 2 and made.stamped_at is not None and made.stamp_file is not None
    assert (
        made.stamp_file.parent == stamps_dir(cmds) and made.stamp_file.stat().st_mode & 0o077 == 0
    )
    (row,) = checkpoint_rows(cmds)  # the message for the witnesses, in the outbox
    assert row["_kind"] == "checkpoint" and row["_decision"] is None
    assert row["checkpoint"] == made.text == checkpoint_text(checkpoints(cmds.engine)[0])
    assert base64.b64decode(row["timestamp"]["token"]) == made.stamp_file.read_bytes()
    report = audit_verify(cmds, replay=False)
    assert report.ok, report.problems
    (note,) = [n for n in report.notes if "RFC 3161" in n]
    assert "1 verified offline against the trust roots" in note
    assert f"checkpoint #2 stamped {row['timestamp']['time']} by CN=trusted TSA" in note
    # a verifier without the settings brings the roots itself
    bare = Commands(db, cmds.home, clock=lambda: CLOCK)
    assert any("verified offline" in n for n in audit_verify(bare, tsa_roots=local_tsa.roots).notes)
    unchecked = [n for n in audit_verify(bare, replay=False).notes if "RFC 3161" in n]
    assert "signatures were not checked: no trust roots" in unchecked[0]


def test_a_stamp_over_other_data_or_of_a_vanished_checkpoint_is_a_problem(db, tmp_path, local_tsa):
    cmds = home_with_events(db, tmp_path, stamped_by(local_tsa))
    made = witness_checkpoint(cmds)
    assert made is not None and made.stamp_file is not None
    made.stamp_file.write_bytes(stamp(local_tsa.url, b"another history", timeout=10))
    report = audit_verify(cmds, replay=False)
    assert not report.ok
    (problem,) = [p for p in report.problems if p.kind == "timestamp"]
    assert problem.seq == 2 and "is over other data" in problem.message
    # the owner of the database deletes the checkpoint (to sign a rewritten history anew)
    with UnitOfWork(cmds.db) as uow:
        SQL("DELETE FROM audit_checkpoints").run(uow.link)
        uow.commit()
    problems = [p for p in audit_verify(cmds, replay=False).problems if p.kind == "timestamp"]
    assert "no longer among the signed checkpoints" in problems[0].message


@sqlite_only
def test_a_stamp_from_a_tsa_the_roots_do_not_certify_is_refused(db, tmp_path, local_tsa, rogue_tsa):
    # asked of the rogue TSA with the trusted roots: refused at once, the checkpoint still made
    cmds = home_with_events(db, tmp_path, stamped_by(rogue_tsa, roots=local_tsa.roots))
    made = witness_checkpoint(cmds)
    assert made is not None and made.stamped_at is None
    assert made.stamp_error is not None and "trust roots certify" in made.stamp_error
    assert tail(cmds.engine).unsigned == 0
    assert list(stamps_dir(cmds).glob("*.tsr")) == []  # nothing kept that does not hold
    # a rogue stamp slipped in beside the log is named by verification
    unchecked = dataclasses.replace(cmds, checkpoints=CheckpointSettings(tsa_url=rogue_tsa.url))
    rogue = witness_checkpoint(unchecked, min_events=0)
    assert rogue is not None and rogue.stamp_file is not None  # no roots: taken unchecked
    report = audit_verify(cmds, replay=False)  # with the trusted roots
    (problem,) = [p for p in report.problems if p.kind == "timestamp"]
    assert problem.seq == 2 and "not signed by a time-stamping authority" in problem.message


@sqlite_only
def test_a_tsa_that_is_down_costs_the_stamp_not_the_checkpoint(db, tmp_path, dead_tsa, hook: Hook):
    cmds = home_with_events(db, tmp_path, CheckpointSettings(tsa_url=dead_tsa, tsa_timeout=5))
    made = witness_checkpoint(cmds)
    assert made is not None and made.stamped_at is None and made.seq == 2
    assert made.stamp_error is not None and "cannot be reached" in made.stamp_error
    assert tail(cmds.engine).unsigned == 0  # signed all the same
    # the witnesses get it unstamped, with the reason: the failure is reported where people look
    (row,) = outbox.claim(cmds, worker="w", limit=5)
    assert row.kind == "checkpoint" and row.payload["timestamp_error"] == made.stamp_error
    notifier = MultiNotifier([WebhookNotifier(hook.url, style="wecom")])
    settled = outbox.deliver(cmds, row, _channels(notifier), worker="w")
    assert settled.outcome == "delivered", settled
    (request,) = hook.requests
    text = request.json()["text"]["content"]  # type: ignore[index]
    assert text.startswith("【审计检查点 audit checkpoint】#2 ")
    assert "未加时间戳 NOT time-stamped" in text and "cannot be reached" in text
    assert text.endswith("\n" + made.text)  # the checkpoint whole, for the witness to keep
    report = audit_verify(cmds, replay=False)
    assert report.ok, report.problems
    assert any("1 of 1 checkpoints have no valid time stamp" in n for n in report.notes)


def test_a_checkpoint_is_made_only_for_new_events(db, tmp_path):
    cmds = home_with_events(db, tmp_path, CheckpointSettings(), events=2)
    assert witness_checkpoint(cmds, min_events=3) is None  # 2 since the last: not yet due
    assert witness_checkpoint(cmds, min_events=2) is not None
    assert witness_checkpoint(cmds, min_events=1) is None  # nothing new since
    assert len(checkpoints(cmds.engine)) == 1 and len(checkpoint_rows(cmds)) == 1
    (row,) = checkpoint_rows(cmds)
    assert "timestamp" not in row and "timestamp_error" not in row  # no TSA configured
