"""The tamper catalogue, continued: attacks on the checkpoints, the keys and the exports.

Whoever holds the database and the data home cuts the tail (state reverted), rewrites the
whole history and signs it again (with the home's key, or with a fresh one after deleting it),
damages or deletes the checkpoint log, or edits an export; each is caught and named — by the
log beside the key, by a witness's checkpoint (``--checkpoint``) or by the auditor's public key
(``--trusted-key``), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from app.admin import audit_checkpoint, audit_export, audit_verify
from app.checkpoints import checkpoint_log, key_path, public_key
from app.commands import Commands
from procedures import InputError
from store.audit import AuditLog, event_hash
from store.signing import load_or_create_key, public_key_pem
from tests.integration.test_audit import writing
from tests.integration.test_tamper import as_owner

CLOCK = datetime(2026, 1, 10, 8, tzinfo=UTC)


def notes(engine, count: int) -> None:
    """``count`` events of no decision (they change no state table)."""
    with writing(engine) as session:
        log = AuditLog(session)
        for i in range(count):
            log.append(
                decision_id=None,
                action="note",
                actor="办公室",
                effective_on=date(2026, 1, 9),
                recorded_at=CLOCK,
                payload={"n": i, "text": "备注"},
            )


@pytest.fixture
def cmds(db, tmp_path) -> Commands:
    """A decision with four events, a checkpoint (kept by a witness), 12 more events, another
    checkpoint (kept by the witness too), 3 more: 19 events."""
    c = Commands(db, tmp_path / "home", clock=lambda: CLOCK)
    d = c.register(
        title="默克尔", procedure_id="national-2019", sponsor="区", actor="甲", on=date(2026, 1, 5)
    ).id
    c.start(d, "drafting", actor="甲", on=date(2026, 1, 5))
    c.complete(d, "drafting", actor="甲", on=date(2026, 1, 6))
    c.start(d, "public_participation", actor="甲", on=date(2026, 1, 7))
    (tmp_path / "witness-a.txt").write_text(audit_checkpoint(c).signature, encoding="utf-8")
    notes(c.engine, 12)
    (tmp_path / "witness-b.txt").write_text(audit_checkpoint(c).signature, encoding="utf-8")
    notes(c.engine, 3)
    (tmp_path / "auditor.pem").write_text(
        public_key_pem(load_or_create_key(key_path(c))), encoding="ascii"
    )
    report = audit_verify(c, trusted=[tmp_path / "auditor.pem"])
    assert report.ok, report.problems
    assert (report.events, report.signed_upto, report.unsigned_tail) == (19, 16, 3)
    assert any("unsigned tail: 3 events after event 16" in n for n in report.notes)
    return c


def kinds(report) -> list[tuple[int | None, str]]:
    return [(p.seq, p.kind) for p in report.problems]


def cut_tail(cmds: Commands, keep: int) -> None:
    """Delete the events after ``keep``, rewind the head, drop the checkpoints past it from the
    database and from the log beside the key: nothing in the home shows the cut."""
    with as_owner(cmds.engine) as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq > :k"), {"k": keep})
        last = conn.execute(text("SELECT hash FROM audit_events WHERE seq = :k"), {"k": keep})
        conn.execute(
            text("UPDATE audit_head SET seq = :k, hash = :h"), {"k": keep, "h": last.scalar()}
        )
        conn.execute(text("DELETE FROM audit_checkpoints WHERE seq > :k"), {"k": keep})
    log = checkpoint_log(cmds)
    kept = [line for line in log.read_text().splitlines() if json.loads(line)["seq"] <= keep]
    log.write_text("".join(f"{line}\n" for line in kept))


def rewrite_all(cmds: Commands) -> None:
    """Every event's actor 甲 → 乙, every hash and link recomputed, the checkpoints deleted."""
    with as_owner(cmds.engine) as conn:
        conn.execute(text("DELETE FROM audit_checkpoints"))
        rows = conn.execute(
            text(
                "SELECT seq, decision_id, action, actor, effective_on, recorded_at, payload "
                "FROM audit_events ORDER BY seq"
            )
        ).all()
        prev, last = "0" * 64, {}
        for seq, did, action, actor, eff, rec, payload in rows:
            actor = "乙" if actor == "甲" else actor
            dprev = last.get(did, "0" * 64) if did else None
            event = {
                "seq": seq,
                "decision_id": did,
                "decision_prev_hash": dprev,
                "action": action,
                "actor": actor,
                "effective_on": str(eff)[:10],
                "recorded_at": rec,
                "payload": json.loads(payload),
            }
            digest = event_hash(prev, event)
            conn.execute(
                text(
                    "UPDATE audit_events SET actor = :a, prev_hash = :p, hash = :h, "
                    "decision_prev_hash = :dp WHERE seq = :s"
                ),
                {"a": actor, "p": prev, "h": digest, "dp": dprev, "s": seq},
            )
            prev = digest
            if did:
                last[did] = prev
        conn.execute(text("UPDATE audit_head SET hash = :h"), {"h": prev})


def test_a_tail_cut_with_the_home_covering_its_tracks_is_caught_by_a_witness(cmds, tmp_path):
    cut_tail(cmds, 10)
    alone = audit_verify(cmds)
    assert alone.ok and alone.events == 10  # nothing in the home shows it ...
    report = audit_verify(cmds, witnesses=[tmp_path / "witness-b.txt"])  # ... the witness does
    assert kinds(report) == [(11, "truncated")]
    assert "tail truncation" in report.problems[0].message
    assert "events 11..16" in report.problems[0].message


def test_a_tail_cut_is_caught_by_the_log_beside_the_key(cmds):
    with as_owner(cmds.engine) as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq > 12"))
        last = conn.execute(text("SELECT hash FROM audit_events WHERE seq = 12")).scalar()
        conn.execute(text("UPDATE audit_head SET seq = 12, hash = :h"), {"h": last})
        conn.execute(text("DELETE FROM audit_checkpoints WHERE seq > 12"))
    report = audit_verify(cmds)
    assert kinds(report) == [(13, "truncated")]
    assert (
        "tail truncation" in report.problems[0].message and "line 2" in report.problems[0].message
    )


def test_a_cut_that_leaves_the_state_ahead_of_the_log_is_named_truncation(cmds):
    with as_owner(cmds.engine) as conn:  # the last state change (event 4) and all after it
        conn.execute(text("DELETE FROM audit_events WHERE seq > 3"))
        last = conn.execute(text("SELECT hash FROM audit_events WHERE seq = 3")).scalar()
        conn.execute(text("UPDATE audit_head SET seq = 3, hash = :h"), {"h": last})
        conn.execute(text("DELETE FROM audit_checkpoints"))
    checkpoint_log(cmds).unlink()
    report = audit_verify(cmds)
    truncated = [p for p in report.problems if p.kind == "truncated"]
    assert truncated and "tail truncation" in truncated[0].message
    assert "state tables are ahead of the log" in truncated[0].message


def test_a_full_rewrite_signed_again_with_the_home_key_is_caught_by_the_log(cmds, tmp_path):
    rewrite_all(cmds)
    audit_checkpoint(cmds)  # re-signed with the home's own key
    report = audit_verify(cmds, replay=False, trusted=[tmp_path / "auditor.pem"])
    assert {k for _, k in kinds(report)} == {"checkpoint_log"}
    assert any("not consistent with each other" in p.message for p in report.problems)


def test_a_full_rewrite_with_the_log_rewritten_too_is_caught_by_a_witness(cmds, tmp_path):
    rewrite_all(cmds)
    checkpoint_log(cmds).unlink()
    audit_checkpoint(cmds)
    assert audit_verify(cmds, replay=False).ok  # the home agrees with itself ...
    report = audit_verify(cmds, replay=False, witnesses=[tmp_path / "witness-a.txt"])
    assert kinds(report) == [(4, "witness")]  # ... the witness's checkpoint of 4 events does not
    assert "rewritten" in report.problems[0].message


def test_a_full_rewrite_signed_with_a_fresh_key_fails_with_the_trusted_key(cmds, tmp_path):
    rewrite_all(cmds)
    key_path(cmds).unlink()
    checkpoint_log(cmds).unlink()
    audit_checkpoint(cmds)  # a new key, a new log
    home = audit_verify(cmds, replay=False)
    assert home.ok and any("own signing key" in n for n in home.notes)
    report = audit_verify(cmds, replay=False, trusted=[tmp_path / "auditor.pem"])
    assert not report.ok
    assert {"untrusted", "checkpoint", "checkpoint_log"} >= {k for _, k in kinds(report)}
    assert any(p.kind == "untrusted" for p in report.problems)
    assert any("not signed by a trusted key" in p.message for p in report.problems)


def test_a_log_entry_with_a_bad_signature(cmds):
    log = checkpoint_log(cmds)
    lines = log.read_text().splitlines()
    entry = json.loads(lines[0])
    entry["signature"] = entry["signature"].replace("\n4\n", "\n5\n")  # the size, not re-signed
    log.write_text(json.dumps(entry) + "\n" + "\n".join(lines[1:]) + "\n")
    report = audit_verify(cmds, replay=False)
    assert kinds(report) == [(4, "checkpoint_log")]
    assert "altered" in report.problems[0].message


def test_a_deleted_log_is_named(cmds):
    checkpoint_log(cmds).unlink()
    report = audit_verify(cmds, replay=False)
    assert kinds(report) == [(None, "checkpoint_log")] and "missing" in report.problems[0].message


@pytest.mark.parametrize(
    "garbage",
    [
        "garbage",
        '{"seq": 99999999999999999999999, "hash": "x"}',
        '{"seq": 10000000000000000000000000, "hash": "x", "signed_at": "", "public_key": "", "signature": "x\\n\\n"}',
    ],
)
def test_a_garbage_line_in_the_log_is_named_not_a_crash(cmds, garbage):
    with checkpoint_log(cmds).open("a") as f:
        f.write(garbage + "\n")
    report = audit_verify(cmds, replay=False)
    assert not report.ok and {k for _, k in kinds(report)} == {"checkpoint_log"}
    assert "line 3" in report.problems[0].message


def test_a_bad_trusted_key_or_witness_file_is_an_input_error(cmds, tmp_path):
    (tmp_path / "bad.pem").write_text("not a key")
    with pytest.raises(InputError, match="trusted-key"):
        audit_verify(cmds, trusted=[tmp_path / "bad.pem"])
    with pytest.raises(InputError, match="not a signed checkpoint"):
        audit_verify(cmds, witnesses=[tmp_path / "bad.pem"])


def export(cmds: Commands, tmp_path: Path, decision: str | None) -> tuple[Path, list[dict]]:
    out = tmp_path / f"export-{decision or 'all'}.jsonl"
    audit_export(cmds, out, decision, force=True)
    return out, [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def write(path: Path, lines: list[dict]) -> None:
    path.write_text(
        "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8"
    )


def test_a_decision_export_verifies_with_the_trusted_key_and_the_witnesses(cmds, tmp_path):
    out, lines = export(cmds, tmp_path, "2026-0001")
    assert lines[0]["version"] == 2 and lines[0]["tree_size"] == 19
    assert all("inclusion" in x for x in lines if x.get("type") == "event")
    witnesses = [tmp_path / "witness-a.txt", tmp_path / "witness-b.txt"]
    report = audit_verify(cmds, out, trusted=[tmp_path / "auditor.pem"], witnesses=witnesses)
    assert report.ok and report.events == 4, report.problems
    other = tmp_path / "other.pem"
    other.write_text(public_key_pem(load_or_create_key(tmp_path / "k" / "other.pem")))
    wrong = audit_verify(cmds, out, trusted=[other])
    assert kinds(wrong) == [(None, "checkpoint")]
    assert "not signed by a trusted key" in wrong.problems[0].message


def test_a_decision_export_with_its_last_events_removed(cmds, tmp_path):
    out, lines = export(cmds, tmp_path, "2026-0001")
    lines = [x for x in lines if not (x.get("type") == "event" and x["seq"] == 4)]
    lines[0]["events"] = 3  # the header edited to match
    write(out, lines)
    report = audit_verify(cmds, out, trusted=[tmp_path / "auditor.pem"])
    assert kinds(report) == [(4, "removed")]
    assert "removed" in report.problems[0].message


def test_a_decision_export_re_linked(cmds, tmp_path):
    """Event 3 dropped and event 4 re-linked to event 2 and re-hashed: the links hold, the
    inclusion proof does not."""
    out, lines = export(cmds, tmp_path, "2026-0001")
    events = {x["seq"]: x for x in lines if x.get("type") == "event"}
    four = events[4]
    four["decision_prev_hash"] = events[2]["hash"]
    body = {
        k: four[k]
        for k in (
            "seq",
            "decision_id",
            "decision_prev_hash",
            "action",
            "actor",
            "effective_on",
            "recorded_at",
            "payload",
        )
    }
    four["hash"] = event_hash(four["prev_hash"], body)
    lines = [x for x in lines if x.get("seq") != 3 or x.get("type") != "event"]
    lines[0]["events"] = 3
    write(out, lines)
    report = audit_verify(cmds, out, trusted=[tmp_path / "auditor.pem"])
    assert (4, "inclusion") in kinds(report) and (4, "removed") in kinds(report)


def test_a_full_export_with_its_checkpoint_lines_removed(cmds, tmp_path):
    out, lines = export(cmds, tmp_path, None)
    assert audit_verify(cmds, out, trusted=[tmp_path / "auditor.pem"]).ok
    write(out, [x for x in lines if x.get("type") != "checkpoint"])
    report = audit_verify(cmds, out, trusted=[tmp_path / "auditor.pem"])
    assert {(None, "checkpoint"), (None, "untrusted")} == set(kinds(report))
    assert any("checkpoint lines were removed" in p.message for p in report.problems)


def test_a_full_export_with_its_tail_cut(cmds, tmp_path):
    out, lines = export(cmds, tmp_path, None)
    kept = [x for x in lines if not (x.get("type") == "event" and x["seq"] > 18)]
    kept[0]["events"], kept[0]["head"] = 18, {"seq": 18, "hash": kept[-1]["hash"]}
    write(out, kept)
    report = audit_verify(cmds, out, trusted=[tmp_path / "auditor.pem"])
    assert (19, "truncated") in kinds(report)


def test_the_public_key_command_gives_what_trusted_key_takes(cmds, tmp_path):
    pem, verifier = public_key(cmds, tmp_path / "pub.pem")
    (tmp_path / "vkey.txt").write_text(verifier + "\n")
    assert "PRIVATE" not in pem and verifier.startswith("decide.local/")
    for f in ("pub.pem", "vkey.txt"):
        assert audit_verify(cmds, replay=False, trusted=[tmp_path / f]).ok
