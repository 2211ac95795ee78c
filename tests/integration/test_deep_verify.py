"""Verification beyond the chain: state tables against the events, and checkpoints kept outside
the database (so deleting checkpoint rows and rewriting the whole chain is still caught)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import text

from app.admin import audit_checkpoint, audit_verify
from app.commands import Commands
from app.replay import replay_problems
from store.audit import canonical_json, event_hash
from store.fastsql import SQL
from store.uow import UnitOfWork
from tests.integration.conftest import run_script

CLOCK = datetime(2026, 1, 10, tzinfo=UTC)


@pytest.fixture
def cmds(db, tmp_path) -> Commands:
    c = Commands(db, tmp_path / "home", clock=lambda: CLOCK)
    d = c.register(
        title="深度验证",
        procedure_id="national-2019",
        sponsor="区",
        actor="甲",
        on=date(2025, 3, 3),
    ).id
    c.start(d, "drafting", actor="甲", on=date(2025, 3, 3))
    c.complete(d, "drafting", actor="甲", on=date(2025, 3, 10))
    c.start(d, "public_participation", actor="甲", on=date(2025, 3, 11))
    return c


def test_a_clean_store_verifies_with_replay(cmds):
    report = audit_verify(cmds)
    assert report.ok, report.problems
    assert any("replayed" in n for n in report.notes)


def test_editing_the_state_tables_is_caught_by_replay(cmds):
    with UnitOfWork(cmds.db) as uow:  # someone with the database marks the comment period done
        SQL(
            "UPDATE step_attempts SET status = 'done', closed_on = :d, outcome = 'done' "
            "WHERE step = 'public_participation'"
        ).run(uow.link, {"d": date(2025, 3, 12)})
        uow.commit()
    report = audit_verify(cmds)
    assert not report.ok
    assert any(p.kind == "state" and "public_participation" in p.message for p in report.problems)


def test_a_whole_chain_rewrite_with_checkpoints_deleted_is_caught_by_the_log(cmds, engine):
    audit_checkpoint(cmds)
    with engine.begin() as conn:  # the owner drops the guards, the checkpoints, and rewrites
        if engine.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
            conn.execute(text("DROP TRIGGER audit_events_no_delete"))
        else:
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
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
                "payload": __import__("json").loads(payload),
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
                last[did] = digest
        conn.execute(text("UPDATE audit_head SET hash = :h"), {"h": prev})
    assert canonical_json({"b": 1, "a": "甲"}) == '{"a":"甲","b":1}'
    report = audit_verify(cmds, replay=False)
    assert not report.ok
    assert [p.kind for p in report.problems] == ["checkpoint_log"]


def test_replay_in_several_processes_finds_what_one_finds(cmds):
    """Each process replays a contiguous share of the decisions (from its own connection); the
    problems come back as one process finds them, in decision order."""
    for i in range(5):
        d = cmds.register(
            title=f"分批回放{i}",
            procedure_id="national-2019",
            sponsor="区",
            actor="甲",
            on=date(2025, 4, 1),
        ).id
        cmds.start(d, "drafting", actor="甲", on=date(2025, 4, 1))
    with UnitOfWork(cmds.db) as uow:  # state edited in the first and in the last share
        ids = uow.decisions.ids()
        SQL("UPDATE step_attempts SET status = 'done' WHERE decision_id = :d").run(
            uow.link, {"d": ids[0]}
        )
        SQL("UPDATE decisions SET version = 99 WHERE id = :d").run(uow.link, {"d": ids[-1]})
        uow.commit()
    one = list(replay_problems(cmds, jobs=1))
    assert [p.kind for p in one] == ["state", "state"]
    assert ids[0] in one[0].message and ids[-1] in one[1].message
    for jobs in (2, 3):
        assert list(replay_problems(cmds, jobs=jobs)) == one


def test_replay_from_a_script_without_a_main_guard(cmds, tmp_path):
    """``spawn`` re-runs the calling script in each pool process; the shares that fail with it
    are replayed in the caller, and the script sees the right answer."""
    if cmds.db.dialect != "sqlite":
        pytest.skip("one engine is enough for the process handling")
    cmds.register(
        title="第二件", procedure_id="national-2019", sponsor="区", actor="甲", on=date(2025, 4, 1)
    )
    with UnitOfWork(cmds.db) as uow:  # both decisions' versions edited: one in each share
        SQL("UPDATE decisions SET version = 99").run(uow.link)
        uow.commit()
    done = run_script(
        tmp_path / "noguard_replay.py",
        "from app.commands import Commands\n"
        "from app.replay import replay_problems\n"
        "from store.dbapi import Database\n"
        f"cmds = Commands(Database({cmds.db.url!r}), {str(cmds.home)!r})\n"
        "print('FOUND', [p.kind for p in replay_problems(cmds, jobs=2)])\n",
    )
    assert done.returncode == 0, done.stderr
    assert "FOUND ['state', 'state']" in done.stdout.splitlines()


def test_an_amended_decision_replays_and_an_edited_flag_is_caught(cmds):
    """The replay follows each amendment's flags (expert review ran under ``technical``); a flag
    changed in the decisions table is named."""
    d = cmds.status("2025-0001")[0].id
    cmds.amend(d, actor="甲", reason="技术性强", add_flags=["technical"], on=date(2025, 3, 11))
    cmds.start(d, "expert_review", actor="甲", on=date(2025, 3, 12))
    assert audit_verify(cmds).ok, audit_verify(cmds).problems
    with UnitOfWork(cmds.db) as uow:
        SQL("UPDATE decisions SET flags = '[]' WHERE id = :id").run(uow.link, {"id": d})
        uow.commit()
    report = audit_verify(cmds)
    assert not report.ok
    assert any(p.kind == "state" and "flags" in p.message for p in report.problems)


@pytest.mark.parametrize(
    ("column", "value", "named"),
    [
        ("registered_on", date(2025, 1, 1), "registered_on"),
        ("sponsor", "区教育局", "sponsor"),
        ("catalogue_year", 2031, "catalogue_year"),
        ("procedure_id", "tianjin-2020", "procedure"),
    ],
)
def test_an_edited_registration_column_is_caught(cmds, column, value, named):
    """What the register event records (procedure, sponsor, catalogue year, the registration
    date) is compared with the decisions table, like the title and flags (review finding)."""
    with UnitOfWork(cmds.db) as uow:
        SQL(f"UPDATE decisions SET {column} = :v").run(uow.link, {"v": value})
        uow.commit()
    report = audit_verify(cmds)
    assert not report.ok
    assert any(p.kind == "state" and named in p.message for p in report.problems), report.problems


@pytest.mark.parametrize("garbage", ["{}", "garbage", "[]", '{"seq": "x", "hash": 1}'])
def test_a_damaged_checkpoint_log_line_is_reported_not_a_crash(cmds, garbage):
    audit_checkpoint(cmds)
    log = cmds.home / "keys" / "checkpoints.jsonl"
    with log.open("a", encoding="utf-8") as f:
        f.write(garbage + "\n")
    report = audit_verify(cmds)
    assert not report.ok
    assert [p.kind for p in report.problems] == ["checkpoint_log"]
    assert "line 2" in report.problems[0].message
