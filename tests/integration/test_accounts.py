"""Accounts, tokens and permissions through the application layer, on SQLite and PostgreSQL:
the first account, self-granted roles refused, another unit's decision refused, revoked and
expired tokens, a locked login, recording on behalf of a party, and an account edited in the
database caught by ``audit verify`` (issue 13)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from app.accounts import (
    MAX_FAILURES,
    Identity,
    add_account,
    change_account,
    create_token,
    revoke_tokens,
    unlock,
)
from app.admin import audit_verify
from app.commands import Attachment, Commands
from app.queries import audit_events, decisions_with_plans
from app.requests import AttachmentIn, CompleteRequest, StartRequest
from procedures import AccessDenied, InputError, NotFound
from store.fastsql import SQL
from store.uow import UnitOfWork

PASSWORD = "correct horse battery"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 10, 1, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cmds(db, tmp_path, clock) -> Commands:
    return Commands(db, tmp_path / "home", clock=clock)


def login(cmds: Commands, who: str) -> Identity:
    token, _ = create_token(cmds, who, PASSWORD)
    return cmds.identify(token=token)


@pytest.fixture
def people(cmds) -> dict[str, Identity]:
    """An admin, the office, two sponsors of different units, the justice bureau, an auditor."""
    add_account(cmds, None, login="admin", name="管理员", unit="区政府办公室", admin=True,
                password=PASSWORD)  # fmt: skip
    admin = login(cmds, "admin")
    for who, name, unit, roles in (
        ("zhang", "张主任", "区政府办公室", ["decision_body"]),
        ("liu", "刘科长", "区住建委", ["sponsor"]),
        ("chen", "陈科长", "区教育局", ["sponsor"]),
        ("wang", "王科长", "区司法局", ["legal_office"]),
        ("zhao", "赵审计", "区审计局", ["auditor"]),
    ):
        add_account(cmds, admin, login=who, name=name, unit=unit, roles=roles, password=PASSWORD)
    return {who: login(cmds, who) for who in ("admin", "zhang", "liu", "chen", "wang", "zhao")}


def registered(cmds: Commands, office: Identity, sponsor: str = "区住建委") -> str:
    return cmds.register(
        title="老旧小区改造", procedure_id="national-2019", sponsor=sponsor, actor=office,
        on=date(2025, 3, 3),
    ).id  # fmt: skip


def test_the_first_account_needs_no_token_and_must_be_an_admin_later_ones_an_admins(cmds):
    with pytest.raises(InputError, match="first account must be an admin"):
        add_account(cmds, None, login="clerk", name="职员", unit="办", password=PASSWORD)
    add_account(cmds, None, login="admin", name="管理员", unit="办", admin=True, password=PASSWORD)
    with pytest.raises(AccessDenied) as info:  # a second one without a token
        add_account(cmds, None, login="clerk", name="职员", unit="办", password=PASSWORD)
    assert info.value.code == "not_authenticated" and info.value.exit_code == 6
    with pytest.raises(InputError, match="at least 12"):
        add_account(cmds, login(cmds, "admin"), login="x1", name="x", unit="办", password="short")


def test_a_typed_name_proves_nothing_once_accounts_exist(cmds, people):
    with pytest.raises(AccessDenied) as info:
        cmds.register(title="t", procedure_id="national-2019", sponsor="区", actor="张主任")
    assert info.value.code == "not_authenticated"
    with pytest.raises(AccessDenied, match="typed name"):
        cmds.identify(actor="张主任")


def test_self_granted_roles_are_refused_and_a_non_admin_grants_nothing(cmds, people):
    with pytest.raises(AccessDenied) as info:
        change_account(cmds, people["liu"], "liu", grant=["legal_office"], reason="我要审查")
    assert info.value.rule == "permission.admin"
    with pytest.raises(AccessDenied) as own:  # not even an admin changes their own grants
        change_account(cmds, people["admin"], "admin", grant=["decision_body"], reason="x")
    assert own.value.rule == "permission.self_grant"


def test_an_admin_acts_on_no_step_as_admin_and_an_auditor_changes_nothing(cmds, people):
    with pytest.raises(AccessDenied) as info:
        registered(cmds, people["admin"])
    assert info.value.rule == "permission.role"
    with pytest.raises(AccessDenied):
        registered(cmds, people["zhao"])


def test_a_sponsor_acts_only_on_its_units_decisions_and_reads_only_those(cmds, people):
    ours = registered(cmds, people["zhang"])
    theirs = registered(cmds, people["zhang"], sponsor="区城管委")
    cmds.start(ours, "drafting", actor=people["liu"], on=date(2025, 3, 3))
    with pytest.raises(AccessDenied) as info:  # 区教育局 on 区住建委's decision
        cmds.start(ours, "drafting", actor=people["chen"], on=date(2025, 3, 3))
    assert info.value.rule == "permission.unit"
    with pytest.raises(AccessDenied):
        cmds.start(theirs, "drafting", actor=people["liu"], on=date(2025, 3, 3))
    with pytest.raises(AccessDenied) as read:
        cmds.status(theirs, who=people["liu"])
    assert read.value.rule == "permission.read"
    _, rows = decisions_with_plans(cmds, date(2025, 3, 4), who=people["liu"])
    assert [d.id for d, _ in rows] == [ours]
    for everyone in ("zhang", "wang", "zhao", "admin"):  # the office, the bureau, auditor, admin
        _, rows = decisions_with_plans(cmds, date(2025, 3, 4), who=people[everyone])
        assert {d.id for d, _ in rows} == {ours, theirs}, everyone
    with pytest.raises(AccessDenied) as role:  # the legality review is the bureau's
        cmds.start(ours, "public_participation", actor=people["wang"], on=date(2025, 3, 4))
    assert role.value.rule in ("permission.role", "permission.unit")


def test_an_undisclosable_decision_is_read_only_by_the_units_taking_part(cmds, people):
    secret = cmds.register(
        title="涉密事项", procedure_id="national-2019", sponsor="区住建委", actor=people["zhang"],
        flags=("undisclosable",), on=date(2025, 3, 3),
    ).id  # fmt: skip
    cmds.status(secret, who=people["liu"])
    cmds.status(secret, who=people["zhao"])  # the auditor
    for insider in ("liu", "zhao"):  # listed for the unit taking part too, not only readable
        _, rows = decisions_with_plans(cmds, date(2025, 3, 4), who=people[insider])
        assert secret in {d.id for d, _ in rows}, insider
    _, rows = decisions_with_plans(cmds, date(2025, 3, 4), who=people["admin"])
    assert secret not in {d.id for d, _ in rows}
    # the others are answered as for an unknown id: not even its existence is disclosed
    unknown = "2025-999"
    with pytest.raises(NotFound) as absent:
        cmds.status(unknown, who=people["chen"])
    for outsider in ("chen", "admin"):  # an admin manages accounts, not decisions
        with pytest.raises(NotFound) as hidden:
            cmds.status(secret, who=people[outsider])
        assert str(hidden.value).replace(secret, unknown) == str(absent.value)
        with pytest.raises(NotFound):
            audit_events(cmds, secret, who=people[outsider])
    with pytest.raises(NotFound):  # nor does acting on it tell
        cmds.start(secret, "drafting", actor=people["chen"], on=date(2025, 3, 4))


def test_a_revoked_or_expired_token_or_a_disabled_account_is_refused(cmds, people, clock):
    token, expires = create_token(cmds, "liu", PASSWORD, days=1)
    assert cmds.identify(token=token).login == "liu"
    clock.now = expires + timedelta(seconds=1)
    with pytest.raises(AccessDenied) as info:
        cmds.identify(token=token)
    assert info.value.code == "not_authenticated"
    clock.now = datetime(2026, 1, 10, 2, 0, tzinfo=UTC)
    token, _ = create_token(cmds, "liu", PASSWORD)
    revoke_tokens(cmds, people["liu"], "liu")
    with pytest.raises(AccessDenied):
        cmds.identify(token=token)
    token, _ = create_token(cmds, "chen", PASSWORD)
    change_account(cmds, people["admin"], "chen", active=False, reason="调离")
    with pytest.raises(AccessDenied):
        cmds.identify(token=token)
    with pytest.raises(AccessDenied):
        create_token(cmds, "chen", PASSWORD)
    for forged in ("", "x" * 300, "Bearer abc", token + "x"):
        with pytest.raises(AccessDenied):
            cmds.identify(token=forged)


def test_repeated_failures_lock_the_login_audited_until_time_or_an_admin(cmds, people, clock):
    for _ in range(MAX_FAILURES):
        with pytest.raises(AccessDenied) as info:
            create_token(cmds, "liu", "wrong password!!")
        assert info.value.rule == "auth.login"
    with pytest.raises(AccessDenied) as locked:  # the right password, but locked
        create_token(cmds, "liu", PASSWORD)
    assert locked.value.rule == "auth.locked"
    with UnitOfWork(cmds.db, write=False) as uow:
        failed = uow.audit.events_with(["login_failed", "login_locked"])
    assert [e.action for e in failed].count("login_failed") == MAX_FAILURES
    assert "wrong password" not in "".join(e.payload for e in failed)  # never the password
    clock.now += timedelta(minutes=16)  # unlocked by time
    create_token(cmds, "liu", PASSWORD)
    for _ in range(MAX_FAILURES):
        with pytest.raises(AccessDenied):
            create_token(cmds, "liu", "wrong password!!")
    unlock(cmds, people["admin"], "liu")  # or by an admin
    create_token(cmds, "liu", PASSWORD)


def test_recording_on_behalf_of_a_party_keeps_both_and_needs_the_document(
    cmds, people, tmp_path: Path
):
    """代录: the sponsor records the expert panel's review; the audit keeps the account and the
    party (Decree 713 Art. 19: the sponsor organises the review)."""
    d = cmds.register(
        title="技术方案", procedure_id="national-2019", sponsor="区住建委", actor=people["zhang"],
        flags=("technical",), on=date(2025, 3, 3),
    ).id  # fmt: skip
    liu = people["liu"]
    cmds.start(d, "drafting", actor=liu, on=date(2025, 3, 3))
    draft = tmp_path / "draft.txt"
    draft.write_text("草案", encoding="utf-8")
    cmds.complete(
        d, "drafting", actor=liu, on=date(2025, 3, 4), attachments=[Attachment("draft", draft)]
    )
    cmds.execute(StartRequest(decision=d, step="expert_review", on=date(2025, 3, 5)), actor=liu)
    bare = CompleteRequest(
        decision=d, step="expert_review", on=date(2025, 3, 10), on_behalf_of="专家组（陈教授等5人）"
    )
    with pytest.raises(InputError, match="needs its document"):
        cmds.execute(bare, actor=liu)
    signed = bare.model_copy(update={"attach": (AttachmentIn(kind="expert_opinions", path=draft),)})
    cmds.execute(signed, actor=liu)
    with UnitOfWork(cmds.db, write=False) as uow:
        event = uow.audit.events(d)[-1]
    import json

    payload = json.loads(event.payload)
    assert event.actor == "刘科长" and payload["login"] == "liu" and payload["unit"] == "区住建委"
    assert payload["on_behalf_of"] == "专家组（陈教授等5人）"


def test_an_account_edited_in_the_database_is_caught_by_verification(cmds, people):
    assert audit_verify(cmds).ok
    with UnitOfWork(cmds.db) as uow:  # someone with the database grants himself a role
        SQL("UPDATE accounts SET roles = :r WHERE login = 'liu'").run(
            uow.link, {"r": '["legal_office","sponsor"]'}
        )
        uow.commit()
    report = audit_verify(cmds)
    assert not report.ok
    assert any(p.kind == "accounts" and "'liu'" in p.message for p in report.problems)
    with UnitOfWork(cmds.db) as uow:  # … or adds an account with a token of his own
        SQL("UPDATE accounts SET roles = :r WHERE login = 'liu'").run(
            uow.link, {"r": '["sponsor"]'}
        )
        SQL(
            "INSERT INTO tokens (sha256, login, created_at, expires_at) "
            "VALUES ('ab', 'wang', :created, :expires)"
        ).run(
            uow.link,
            {"created": "2026-01-10T00:00:00.000000Z", "expires": "2099-01-01T00:00:00.000000Z"},
        )
        uow.commit()
    report = audit_verify(cmds)
    assert not report.ok and any(p.kind == "tokens" for p in report.problems)


def test_unauthenticated_acts_of_a_single_user_home_are_marked_and_reported(cmds):
    d = cmds.register(title="t", procedure_id="national-2019", sponsor="区", actor="张三",
                      on=date(2025, 3, 3)).id  # fmt: skip
    cmds.start(d, "drafting", actor="张三", on=date(2025, 3, 3))
    report = audit_verify(cmds)
    assert report.ok
    assert any(
        "acts recorded without authentication" in n and n.startswith("2") for n in report.notes
    )


def test_an_unknown_login_locks_like_a_known_one_so_a_lock_tells_nothing(cmds, people):
    """Review finding (account enumeration): only existing logins locked, so six wrong
    passwords told an outsider whether a login exists.  Both now lock after MAX_FAILURES."""
    answers = {}
    for login_name in ("liu", "nosuchuser"):
        rules = []
        for _ in range(MAX_FAILURES + 1):
            with pytest.raises(AccessDenied) as info:
                create_token(cmds, login_name, "wrong password!!")
            rules.append(info.value.rule)
        answers[login_name] = rules
    assert answers["liu"] == answers["nosuchuser"]
    assert answers["liu"][-1] == "auth.locked"


# review findings ------------------------------------------------------------------------------


def test_no_self_change_of_unit_or_name_and_separated_duties(cmds, people):
    """An admin who moved himself into a sponsor's unit could act on its decisions; an admin
    account holds no procedure role, an auditor no acting role (review findings)."""
    with pytest.raises(AccessDenied) as own:
        change_account(cmds, people["admin"], "admin", unit="区住建委", reason="调动")
    assert own.value.rule == "permission.self_grant"
    with pytest.raises(InputError, match="admin account holds no procedure role"):
        add_account(cmds, people["admin"], login="puppet", name="傀儡", unit="办", admin=True,
                    roles=["sponsor"], password=PASSWORD)  # fmt: skip
    with pytest.raises(InputError, match="auditor role goes with no acting role"):
        change_account(cmds, people["admin"], "liu", grant=["auditor"], reason="兼审计")


def test_a_token_alone_does_not_change_the_password(cmds, people):
    from app.accounts import set_password

    with pytest.raises(AccessDenied) as info:
        set_password(cmds, people["liu"], "liu", "attacker chosen password")
    assert info.value.rule == "auth.current_password"
    set_password(cmds, people["liu"], "liu", "a new password 2026", current=PASSWORD)
    create_token(cmds, "liu", "a new password 2026")
    set_password(cmds, people["admin"], "chen", "reset by the admin!")  # an admin's reset
    create_token(cmds, "chen", "reset by the admin!")


def test_a_malformed_login_is_recorded_as_a_digest_and_a_huge_one_is_refused_cleanly(cmds, people):
    for typed in ("My$ecretPassw0rd!", "x" * 60_000):
        with pytest.raises(AccessDenied):
            create_token(cmds, typed, "whatever password")
    with UnitOfWork(cmds.db, write=False) as uow:
        failed = uow.audit.events_with(["login_failed"])
    text = "".join(e.payload for e in failed)
    assert "ecretpassw0rd" not in text and "sha256:" in text


def test_on_behalf_of_is_for_an_external_partys_step_only(cmds, people, tmp_path: Path):
    d = registered(cmds, people["zhang"])
    cmds.start(d, "drafting", actor=people["liu"], on=date(2025, 3, 3))
    paper = tmp_path / "draft.txt"
    paper.write_text("草案", encoding="utf-8")
    request = CompleteRequest(
        decision=d, step="drafting", on=date(2025, 3, 4), on_behalf_of="王科长（区司法局）",
        attach=(AttachmentIn(kind="draft", path=paper),),
    )  # fmt: skip
    with pytest.raises(InputError, match="external party"):
        cmds.execute(request, actor=people["liu"])


def test_a_typed_actor_is_refused_even_beside_a_valid_token(cmds, people):
    token, _ = create_token(cmds, "liu", PASSWORD)
    with pytest.raises(AccessDenied, match="typed name"):
        cmds.identify(token=token, actor="王科长")
