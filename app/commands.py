"""Application commands: load → decide (the pure planner) → persist (one unit of work) → answer.

Each changing command reads the decision, asks ``procedures`` whether the action is allowed and
what it does, then writes the new state, its audit event and its outbox rows in one transaction
that succeeds only if nobody changed the decision meanwhile.  No Prefect here: these run on the
interactive path and must answer at once.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from app.accounts import Identity, authenticate
from app.clock import today_shanghai, utc_now
from app.requests import (
    AmendRequest,
    AttachRequest,
    Changed,
    CompleteRequest,
    HearingIn,
    MeetingIn,
    RegisterRequest,
    Request,
    ReuseRequest,
    SkipRequest,
    StartRequest,
)
from procedures import (
    AccessDenied,
    Complete,
    Extend,
    InputError,
    MeetingRecord,
    NotFound,
    Procedure,
    RuleViolation,
    Skip,
    Start,
    WorkCalendar,
    apply,
    check_flags,
    load_procedure,
    plan,
    register,
)
from procedures.amend import check_amend
from procedures.definition import pin, unpin
from procedures.names import resolve_action, resolve_document, resolve_flags, resolve_step
from procedures.planner import Plan, Situation, decision_status, situation
from procedures.state import Action, Attach, Attempt, Decision, Hearing, Reuse
from store.dbapi import Database
from store.documents import DEFAULT_MAX_BYTES, DocumentStore, StoredFile
from store.settings import CheckpointSettings
from store.uow import UnitOfWork

__all__ = ["Attachment", "Commands", "clean_text"]

MAX_TITLE = 500
ROLE_RULE = "本系统角色规则 role rule (office policy)"
MAX_TEXT = 4000


# Characters that change how text displays without showing themselves.  The bidi controls
# (embeddings, overrides, isolates, marks; "Trojan Source", CVE-2021-42574) reorder what follows
# them: refused in any text.  In a name or a title every other format character (Unicode
# category Cf: zero-width spaces and joiners, U+2060, U+FEFF, the soft hyphen, tags) is refused
# too, and so are line breaks and tabs: "张\u200b三" or "\u202e…" would display as a real
# colleague's name in every list, timeline and audit record.
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def clean_text(
    value: str | None,
    what: str,
    *,
    required: bool = False,
    limit: int = MAX_TEXT,
    name: bool = False,
) -> str | None:
    """Normalise user text (NFC, trimmed) and refuse empty, over-long or control characters,
    and bidi controls; ``name``: a name or title (of a person, account, unit or decision),
    which also refuses every other invisible format character and line breaks."""
    if value is None or not value.strip():
        if required:
            raise InputError(f"不能为空 {what} must not be empty")
        return None
    text = unicodedata.normalize("NFC", value.strip())
    if len(text) > limit:
        raise InputError(f"过长 {what} is {len(text)} characters long; at most {limit} are allowed")
    for c in text:
        category = unicodedata.category(c)
        if category in ("Cc", "Cs", "Co", "Cn", "Zl", "Zp") and (name or c not in "\n\t"):
            if name and c in "\n\t\u2028\u2029":
                raise InputError(
                    f"名称不能换行 {what} must be one line: it contains U+{ord(c):04X} "
                    "[text.name_one_line]"
                )
            if category in ("Cc", "Cs", "Co", "Cn"):
                raise InputError(
                    f"含有控制字符或未分配字符 {what} contains a control or unassigned character "
                    f"U+{ord(c):04X}"
                )
        if c in BIDI_CONTROLS:
            raise InputError(
                f"含有双向控制字符 {what} contains {_described(c)}, a bidi control character: "
                "text may not hold them, because they reorder how it displays "
                "[text.bidi_control]"
            )
        if name and category == "Cf":
            raise InputError(
                f"名称含有不可见字符 {what} contains {_described(c)}, an invisible format "
                "character (Unicode category Cf): names and titles may not hold zero-width, "
                "bidi control or other format characters, which make a name display like "
                "another [text.format_character]"
            )
    return text


def _described(c: str) -> str:
    label = unicodedata.name(c, "")
    return f"U+{ord(c):04X} {label}".strip()


def _amendments(
    before: Decision,
    proc: Procedure,
    title: str | None,
    add: Iterable[str],
    remove: Iterable[str],
    target_on: date | None,
    no_target: bool,
    assign: Iterable[str] = (),
    unassign: Iterable[str] = (),
) -> dict[str, Any]:
    """What an amendment changes, each field as ``{"from": old, "to": new}`` (input checked)."""
    added, removed = check_flags(proc, add), check_flags(proc, remove)
    both = sorted(added & removed)
    if both:
        raise InputError(f"--flag and --unflag both name {both[0]}")
    if target_on is not None and no_target:
        raise InputError("give --target DATE or --no-target, not both")
    if target_on is not None and target_on < before.registered_on:
        raise InputError(
            f"target date {target_on} is before the registration date {before.registered_on}"
        )
    changes: dict[str, Any] = {}
    new_title = (
        clean_text(title, "title", limit=MAX_TITLE, name=True) if title is not None else None
    )
    if new_title is not None and new_title != before.title:
        changes["title"] = {"from": before.title, "to": new_title}
    flags = (before.flags | added) - removed
    if flags != before.flags:
        changes["flags"] = {"from": sorted(before.flags), "to": sorted(flags)}
    target = None if no_target else (target_on or before.target_on)
    if target != before.target_on:
        changes["target_on"] = {"from": before.target_on, "to": target}
    now = {k: list(v) for k, v in before.assignments.items()}
    for role, unit in _assignments(proc, unassign):
        if unit in now.get(role, []):
            now[role].remove(unit)
    for role, unit in _assignments(proc, assign):
        if unit not in now.setdefault(role, []):
            now[role].append(unit)
    now = {k: v for k, v in sorted(now.items()) if v}
    if now != {k: list(v) for k, v in sorted(before.assignments.items())}:
        changes["assignments"] = {
            "from": {k: list(v) for k, v in sorted(before.assignments.items())},
            "to": now,
        }
    if not changes:
        raise InputError(
            "没有要修改的内容 nothing to amend: give --title, --flag, --unflag, --target, "
            "--no-target, --assign or --unassign with a value that differs from the decision's"
        )
    return changes


ASSIGNABLE = ("risk_assessor", "expert")  # roles a unit is assigned to on one decision
# steps whose act may be an external party's, recorded on its behalf (代录): the experts'
# opinions (Art. 19-20), a third party's risk report (Art. 23), the Party committee's reply
EXTERNAL_STEPS = frozenset({"expert_review", "risk_assessment", "party_committee_report"})
EXTERNAL_ROLES = frozenset({"expert", "party_committee", "risk_assessor"})


def _assignments(proc: Procedure, items: Iterable[str]) -> list[tuple[str, str]]:
    """``ROLE=UNIT`` items (the unit assigned to act as the risk assessor or the experts on the
    decision, Decree 713 Arts. 19, 22), checked."""
    from procedures.names import resolve_role

    out = []
    for item in items:
        role_text, sep, unit_text = item.partition("=")
        unit = clean_text(unit_text, "unit (--assign ROLE=UNIT)", limit=200, name=True)
        if not sep or unit is None:
            raise InputError(f"--assign 格式应为 expects ROLE=UNIT, got {item!r}")
        role = resolve_role(proc.roles, role_text.strip())
        if role not in ASSIGNABLE:
            raise InputError(
                f"只能指定 only {', '.join(ASSIGNABLE)} are assigned to a decision (got {role}); "
                "the sponsor is --sponsor/--co-sponsor, the other roles act on every decision"
            )
        out.append((role, unit))
    return out


def _meeting(record: MeetingIn | None) -> MeetingRecord | None:
    """The procedures' meeting record from the request's (the chair attends, and may vote)."""
    if record is None:
        return None
    if not record.chair.strip():
        raise InputError("会议记录须写明主持人 the meeting record needs --chair (the head)")
    chair = clean_text(record.chair, "chair (--chair)", limit=128, name=True) or ""
    member = "member (--position NAME=…, --dissent NAME=…)"
    positions = {
        clean_text(k, member, required=True, limit=128, name=True) or "": v.strip()
        for k, v in record.position.items()
    }
    return MeetingRecord(
        meeting_type=record.meeting_type,
        chair=chair,
        attendees=(chair, *(m for m in positions if m != chair)),
        positions=positions,
        dissent={
            clean_text(k, member, required=True, limit=128, name=True) or "": (
                clean_text(v, "dissent (--dissent)") or ""
            )
            for k, v in record.dissent.items()
        },
        head_reason=record.head_reason,
    )


def _hearing(record: HearingIn | None) -> Hearing | None:
    if record is None:
        return None
    return Hearing(notice_on=record.notice_on, materials_on=record.materials_on, held_on=record.on)


def _co_sponsors(units: Iterable[str], lead: str) -> tuple[str, ...]:
    """The co-sponsor units as given (cleaned, each once), never the lead sponsor itself."""
    out: list[str] = []
    for unit in units:
        text = (
            clean_text(unit, "co-sponsor (--co-sponsor)", required=True, limit=200, name=True) or ""
        )
        if text == lead:
            raise InputError(
                f"协办单位 {text} 即牵头承办单位 the co-sponsor {text!r} is the lead sponsor itself"
            )
        if text not in out:
            out.append(text)
    return tuple(out)


def _flagged(action: Action, attempt: Attempt, view: Plan) -> dict[str, Any]:
    """What the audit event flags beside the action: a submission's guaranteed review time and
    whether it was shortened (Decree 713 Art. 26); a close on a provisional minimum end (SPEC §3,
    read back by the replay)."""
    step = view.step(action.step)
    flags: dict[str, Any] = {}
    if isinstance(action, Start) and step.guaranteed_until is not None:
        flags["guaranteed_until"] = step.guaranteed_until.isoformat()
        if step.shortened:
            flags["shortened"] = True
    if isinstance(action, Start) and attempt.methods and not action.methods:
        flags["methods"] = list(attempt.methods)  # the default, as recorded
    if isinstance(action, Start) and attempt.comment_until is not None:
        # the deadline the notice publishes (the earliest lawful one when none was given), and
        # the day the window runs to (Decree 713 Art. 15; Civil Code Art. 203 by analogy)
        flags["comment_until"] = attempt.comment_until.isoformat()
        if step.window_until is not None:
            flags["window_until"] = step.window_until.isoformat()
        if step.shortened:
            flags["shortened"] = True
    if isinstance(action, Complete) and attempt.close_provisional:
        flags["provisional"] = True
    if isinstance(action, Reuse) and attempt.reused_from is not None:
        flags["reused_from"] = attempt.reused_from  # the attempt whose result stands
    return flags


@dataclass(frozen=True)
class Attachment:
    kind: str
    path: Path


UnitOfWorkFactory = Callable[..., UnitOfWork]
Actor = str | Identity  # a typed name (a home without accounts) or an authenticated account


@dataclass
class Commands:
    """The use cases every interface shares.  ``uow`` makes a unit of work (``write=False`` for
    a read); by default one on ``db``, in unit tests a fake."""

    db: Database
    home: Path
    clock: Callable[[], datetime] = utc_now
    uow: UnitOfWorkFactory | None = None
    _pinned: dict[str, Procedure] = field(default_factory=dict)
    max_attachment_bytes: int = DEFAULT_MAX_BYTES  # the largest file --attach takes
    audit_key: Path | None = None  # the signing key (None: HOME/keys/audit-signing.pem)
    audit_origin: str | None = None  # the log's name in its checkpoints (None: from the key)
    # when ``decide serve`` signs checkpoints, and the time-stamping authority (app.witness)
    checkpoints: CheckpointSettings = field(default_factory=CheckpointSettings)

    def __post_init__(self) -> None:
        if self.uow is None:
            db = self.db
            self.uow = lambda write=True, appends=True: UnitOfWork(db, write=write, appends=appends)

    def unit(self, *, write: bool = True, appends: bool = True) -> UnitOfWork:
        """A unit of work from the factory (rolled back unless committed); ``appends=False``:
        a writing unit that never appends to the audit chain (``store.writer``)."""
        assert self.uow is not None
        if appends:  # what every factory takes (the unit tests' fakes among them)
            return self.uow(write=write)
        return self.uow(write=write, appends=False)

    @property
    def engine(self) -> Any:
        """The SQLAlchemy engine, for the paths that use it (verification, export, flows)."""
        return self.db.engine

    # -- helpers ------------------------------------------------------------------------------
    def procedure(self, procedure_id: str) -> Procedure:
        """A preset by id or a procedure file by path, as it is now (to register a decision
        under, or to migrate decisions to); a registered decision's is ``procedure_of``.  Not
        cached here: a file edited since is read again (the loader caches the presets)."""
        return load_procedure(procedure_id)

    def procedure_of(self, decision: Decision, uow: UnitOfWork | None = None) -> Procedure:
        """The definition pinned to the decision (stored at registration or by a migration),
        whatever the preset or the office file says today."""
        if decision.procedure_sha256 not in self._pinned:
            if uow is None:
                with self.unit(write=False) as own:
                    return self.pinned(own, [decision])[decision.procedure_sha256 or ""]
            self.pinned(uow, [decision])
        return self._pinned[decision.procedure_sha256 or ""]

    def _as_of(
        self, uow: UnitOfWork, decision: Decision, day: date, cal: WorkCalendar
    ) -> tuple[Decision, Plan]:
        """The decision as its facts effective by ``day`` made it (``app.history``), under the
        definitions its events name."""
        from app.history import CHANGES, Broken, as_of, definitions_named

        events = uow.audit.events_of([decision.id], CHANGES)[decision.id]
        names = definitions_named(events) | {decision.procedure_sha256 or ""}
        stored = uow.definitions.many(sorted(n for n in names if n))

        def resolve(sha: str | None, seq: int | None) -> Procedure:
            if sha is None or sha not in stored:
                raise Broken(seq, f"definition {str(sha)[:12]}… is not stored")
            if sha not in self._pinned:
                self._pinned[sha] = unpin(stored[sha])
            return self._pinned[sha]

        return as_of(decision, events, day, cal, resolve)

    def pinned(
        self, uow: UnitOfWork, decisions: Iterable[Decision], *, plannable_only: bool = False
    ) -> dict[str, Procedure]:
        """The pinned definitions of ``decisions`` by SHA-256 (each checked against its hash
        once per process).  ``plannable_only``: leave out a decision with no definition (one
        registered from a file before revision 0005 and not found then) instead of refusing the
        whole batch — lists, the scan and imports go on with the others, the decision's own
        commands say to migrate it, and ``audit verify`` names it."""
        decisions = list(decisions)
        wanted = {d.procedure_sha256 for d in decisions if d.procedure_sha256}
        for sha, stored in uow.definitions.many(sorted(wanted - self._pinned.keys())).items():
            self._pinned[sha] = unpin(stored)
        usable = [d for d in decisions if (d.procedure_sha256 or "") in self._pinned]
        if not plannable_only and len(usable) < len(decisions):
            d = next(d for d in decisions if d not in usable)
            if d.procedure_sha256 is None:
                raise NotFound(
                    f"决策 {d.id} 没有固定的程序定义 no procedure definition is pinned to decision "
                    f"{d.id} (registered under {d.procedure_id!r} before revision 0005, and not "
                    "found then): pin one with decide procedures migrate "
                    f"{d.id} --to PRESET_OR_FILE --reason TEXT"
                )
            raise NotFound(
                f"未找到程序定义 no stored procedure definition {d.procedure_sha256[:12]}… "
                "(procedure_definitions)"
            )
        return {d.procedure_sha256 or "": self._pinned[d.procedure_sha256 or ""] for d in usable}

    def today(self) -> date:
        return today_shanghai(self.clock())

    def effective(self, on: date | None) -> date:
        """The effective date of a recorded fact: today by default, never in the future."""
        today = self.today()
        if on is None:
            return today
        if on > today:
            raise InputError(
                f"--on {on} 是将来的日期 is in the future (today in Asia/Shanghai is {today}); "
                "事实发生后再记录 record facts once they have happened"
            )
        return on

    def documents(self) -> DocumentStore:
        return DocumentStore(self.home / "documents", max_bytes=self.max_attachment_bytes)

    def identify(self, *, token: str | None = None, actor: str | None = None) -> Identity:
        """Who is calling: with accounts, the account ``token`` proves (free-text ``actor`` is
        refused); without, the name typed, recorded as unauthenticated."""
        with self.unit(write=False) as uow:
            if uow.accounts.any():
                if actor is not None and actor.strip():
                    raise AccessDenied(
                        "本系统已启用账户，不接受 --actor/DECIDE_ACTOR accounts exist: a typed name "
                        "proves nothing — act with your token",
                        rule="auth.required",
                        remedy="decide tokens create LOGIN --password-stdin, then set "
                        "DECIDE_TOKEN (and unset DECIDE_ACTOR)",
                        authenticated=False,
                    )
                if not token:
                    raise AccessDenied(
                        "须登录 not authenticated: this home has accounts",
                        rule="auth.required",
                        remedy="decide tokens create LOGIN --password-stdin, then set DECIDE_TOKEN",
                        authenticated=False,
                    )
                return authenticate(uow, token, self.clock())
        if token:
            raise AccessDenied(
                "本系统尚无账户 this home has no accounts: DECIDE_TOKEN proves nothing here",
                rule="auth.no_accounts",
                remedy="unset DECIDE_TOKEN and give --actor, or add the first account",
                authenticated=False,
            )
        return Identity(name=self._actor_text(actor))

    def who_of(self, actor: Actor) -> Identity:
        return actor if isinstance(actor, Identity) else Identity(name=self._actor_text(actor))

    def _authorize(
        self,
        uow: UnitOfWork,
        who: Identity,
        need: tuple[Procedure, set[str]],
        what: str,
        article: str,
        *,
        decision: Decision | None = None,
        step: Any = None,
        action: Action | None = None,
    ) -> None:
        """Refuse a caller who may not act: with accounts, an unauthenticated one (exit 6) and
        one the permissions refuse (``app.permissions``); without, a typed name without one of
        the roles once people are registered (the single-user home as before)."""
        from app import permissions

        if not who.authenticated:
            if uow.accounts.any():
                raise AccessDenied(
                    "须登录 not authenticated: this home has accounts",
                    rule="auth.required",
                    remedy="decide tokens create LOGIN --password-stdin, then set DECIDE_TOKEN",
                    authenticated=False,
                )
            self._check_role(uow, who.name, need, what, article)
            return
        if decision is not None and step is not None and action is not None:
            permissions.check_act(who, need[0], decision, step, action)
            return
        permissions.require(who, roles=frozenset(need[1]), what=what)
        office = bool(who.roles & {"decision_body"})
        outside = decision is not None and who.unit not in (decision.sponsor, *decision.co_sponsors)
        if decision is not None and "sponsor" in need[1] and not office and outside:
            raise AccessDenied(
                f"{who.name}（{who.unit}）不是决策 {decision.id} 的承办单位 its unit is not the "
                "decision's sponsor or a co-sponsor",
                rule="permission.unit",
                remedy="an account of the sponsor unit, or the office, does it",
            )

    def _check_role(
        self,
        uow: UnitOfWork,
        actor: str,
        need: tuple[Procedure, set[str]],
        what: str,
        article: str,
    ) -> None:
        """Refuse an actor without one of the roles (once people are registered; a home
        without accounts only)."""
        if not uow.people.any():
            return
        proc, allowed = need
        roles = uow.people.roles(actor)
        if not roles & allowed:
            ids = " or ".join(sorted(allowed))
            names = "或".join(r.zh for a in sorted(allowed) if (r := proc.role(a)) is not None)
            raise RuleViolation(
                "role.not_permitted",
                f"{actor} 无权办理 {what}，须由{names}办理 is not permitted (needs role {ids}; "
                f"has {', '.join(sorted(roles)) or 'no role'})",
                article=article,
                remedy=f"act as a person with role {ids} (decide people add NAME --role {ids})",
            )

    # -- commands -----------------------------------------------------------------------------
    def register(
        self,
        *,
        title: str,
        procedure_id: str,
        sponsor: str,
        actor: Actor,
        flags: Iterable[str] = (),
        target_on: date | None = None,
        catalogue_year: int | None = None,
        on: date | None = None,
        co_sponsors: Iterable[str] = (),
        assign: Iterable[str] = (),
    ) -> Decision:
        """Register a decision (决策启动 is done at registration); the registered decision."""
        return self.registered(
            title=title,
            procedure_id=procedure_id,
            sponsor=sponsor,
            actor=actor,
            flags=flags,
            target_on=target_on,
            catalogue_year=catalogue_year,
            on=on,
            co_sponsors=co_sponsors,
            assign=assign,
        )[0]

    def registered(
        self,
        *,
        title: str,
        procedure_id: str,
        sponsor: str,
        actor: Actor,
        flags: Iterable[str] = (),
        target_on: date | None = None,
        catalogue_year: int | None = None,
        on: date | None = None,
        co_sponsors: Iterable[str] = (),
        assign: Iterable[str] = (),
    ) -> tuple[Decision, Plan]:
        """Register a decision; the decision and its plan as of the registration date.
        ``sponsor`` is the lead sponsor, ``co_sponsors`` the units taking part with it
        (Decree 713 Art. 11)."""
        proc = self.procedure(procedure_id)
        on = self.effective(on)
        title_text = clean_text(title, "title", required=True, limit=MAX_TITLE, name=True)
        sponsor_text = clean_text(sponsor, "sponsor", required=True, limit=200, name=True)
        who = self.who_of(actor)
        partners = _co_sponsors(co_sponsors, sponsor_text or "")
        assigned: dict[str, list[str]] = {}
        for role, unit in _assignments(proc, assign):
            if unit not in assigned.setdefault(role, []):
                assigned[role].append(unit)
        flagset = check_flags(proc, resolve_flags(proc, flags))
        if catalogue_year is not None and not 2000 <= catalogue_year <= 2100:
            raise InputError(
                f"目录年度不合理 catalogue year {catalogue_year} is not a plausible year"
            )
        if target_on is not None and target_on < on:
            raise InputError(
                f"目标日期早于登记日期 target date {target_on} is before the registration date {on}"
            )
        attempts = register(proc, on)
        definition = pin(proc)
        with self.unit() as uow:
            first = next((st for st in proc.steps if st.at_registration), None)
            basis = first.article if first else ROLE_RULE
            self._authorize(uow, who, (proc, {"decision_body"}), "决策启动 (register)", basis)
            cal = uow.calendar()
            decision = Decision(
                id=uow.decisions.next_id(on.year),
                title=title_text or "",
                sponsor=sponsor_text or "",
                procedure_id=proc.id,
                procedure_version=proc.version,
                procedure_sha256=definition.sha256,
                flags=flagset,
                target_on=target_on,
                catalogue_year=catalogue_year,
                registered_on=on,
                attempts=attempts,
                co_sponsors=partners,
                assignments={k: tuple(v) for k, v in sorted(assigned.items())},
            )
            view = plan(proc, flagset, attempts, on, cal, target_on=target_on)
            decision = decision.model_copy(update={"status": view.status})
            if definition.sha256 not in self._pinned:  # known here: stored and committed
                uow.definitions.add(definition, stored_at=self.clock())
            uow.decisions.add(decision, view)
            uow.audit.append(
                decision_id=decision.id,
                action="register",
                actor=who.name,
                effective_on=on,
                recorded_at=self.clock(),
                payload=who.stamp()
                | {
                    "title": decision.title,
                    "procedure": proc.id,
                    "procedure_version": proc.version,
                    "procedure_sha256": definition.sha256,  # binds the definition into the chain
                    "flags": sorted(flagset),
                    "sponsor": decision.sponsor,
                    **({"co_sponsors": list(partners)} if partners else {}),
                    **({"assignments": dict(sorted(assigned.items()))} if assigned else {}),
                    "target_on": target_on,
                    "catalogue_year": catalogue_year,
                    "status": view.status,
                },
            )
            self._notify(uow, decision.id, proc, None, view)
            uow.commit()
        self._pinned[definition.sha256] = proc
        return decision, view

    def start(
        self,
        decision_id: str,
        step: str,
        *,
        actor: Actor,
        on: date | None = None,
        shorten_reason: str | None = None,
        respond_by: date | None = None,
        methods: Sequence[str] = (),
        comment_until: date | None = None,
    ) -> tuple[Decision, Plan]:
        """Open a step, or resubmit returned materials; ``respond_by``: the response date asked
        of the reviewer (checked against the review time Decree 713 Art. 26 guarantees);
        ``methods`` and ``comment_until``: how the public is heard and the deadline the comment
        notice publishes (Arts. 14-15; a future deadline is the point of a notice)."""
        reason = clean_text(shorten_reason, "shorten reason")
        action = Start(
            step=step,
            on=self.effective(on),
            shorten_reason=reason,
            respond_by=respond_by,
            methods=tuple(methods),
            comment_until=comment_until,
        )
        return self._change(decision_id, action, actor)

    def complete(
        self,
        decision_id: str,
        step: str,
        *,
        actor: Actor,
        on: date | None = None,
        outcome: str | None = None,
        note: str | None = None,
        attachments: Sequence[Attachment] = (),
        meeting: MeetingRecord | None = None,
        next_meeting_on: date | None = None,
        hearing: Hearing | None = None,
    ) -> tuple[Decision, Plan]:
        stored = self._digests(attachments)
        action = Complete(
            step=step,
            on=self.effective(on),
            outcome=outcome,
            meeting=meeting,
            next_meeting_on=next_meeting_on,
            hearing=hearing,
        )
        if hearing is not None:
            self.effective(max(hearing.notice_on, hearing.materials_on, hearing.held_on))
        return self._change(decision_id, action, actor, note=clean_text(note, "note"), files=stored)

    def reuse(
        self,
        decision_id: str,
        step: str,
        *,
        actor: Actor,
        reason: str | None,
        on: date | None = None,
    ) -> tuple[Decision, Plan]:
        """Keep a step's earlier result after a return (沿用前次结果), with the reason it still
        stands for the revised draft."""
        return self._change(
            decision_id,
            Reuse(step=step, on=self.effective(on), reason=clean_text(reason, "reason")),
            actor,
        )

    def attach(
        self,
        decision_id: str,
        step: str,
        *,
        actor: Actor,
        attachments: Sequence[Attachment],
        note: str | None = None,
        on: date | None = None,
    ) -> tuple[Decision, Plan]:
        """File documents on a step's current attempt after the fact (they count for the Art.
        29 package like those attached when the step closed)."""
        stored = self._digests(attachments)
        if not stored:
            raise InputError("没有要附加的文件 nothing to attach: give --attach KIND=FILE")
        action = Attach(step=step, on=self.effective(on))
        return self._change(decision_id, action, actor, note=clean_text(note, "note"), files=stored)

    def skip(
        self,
        decision_id: str,
        step: str,
        *,
        actor: Actor,
        reason: str | None,
        on: date | None = None,
    ) -> tuple[Decision, Plan]:
        return self._change(
            decision_id,
            Skip(step=step, on=self.effective(on), reason=clean_text(reason, "reason")),
            actor,
        )

    def extend(
        self,
        decision_id: str,
        step: str,
        *,
        actor: Actor,
        reason: str | None,
        on: date | None = None,
    ) -> tuple[Decision, Plan]:
        return self._change(
            decision_id,
            Extend(step=step, on=self.effective(on), reason=clean_text(reason, "reason")),
            actor,
        )

    def amend(
        self,
        decision_id: str,
        *,
        actor: Actor,
        reason: str | None,
        title: str | None = None,
        add_flags: Iterable[str] = (),
        remove_flags: Iterable[str] = (),
        target_on: date | None = None,
        no_target: bool = False,
        on: date | None = None,
        assign: Iterable[str] = (),
        unassign: Iterable[str] = (),
    ) -> tuple[Decision, Plan]:
        """Correct the title, flags, target date or assignments (audited from/to with the reason; planned
        again, so a flag that makes a step required makes it ready, and the index follows)."""
        why = clean_text(reason, "reason (--reason)", required=True)
        who = self.who_of(actor)
        day = self.effective(on)
        with self.unit(write=False) as uow:
            before = uow.decisions.get(decision_id)
            cal = uow.calendar()
            proc = self.procedure_of(before, uow)
            self._authorize(
                uow,
                who,
                (proc, {"decision_body", "sponsor"}),
                "修改决策 (amend)",
                ROLE_RULE,
                decision=before,
            )
        changes = _amendments(
            before, proc, title, add_flags, remove_flags, target_on, no_target, assign, unassign
        )
        if day < before.registered_on:
            raise InputError(
                f"--on {day} is before the decision was registered ({before.registered_on})"
            )
        flags = frozenset(changes["flags"]["to"]) if "flags" in changes else before.flags
        check_amend(proc, before.flags, flags, before.attempts)
        after = before.model_copy(
            update={
                "title": changes["title"]["to"] if "title" in changes else before.title,
                "flags": flags,
                "target_on": changes["target_on"]["to"]
                if "target_on" in changes
                else before.target_on,
                "assignments": {k: tuple(v) for k, v in changes["assignments"]["to"].items()}
                if "assignments" in changes
                else before.assignments,
            }
        )
        view = plan(proc, flags, before.attempts, day, cal, target_on=after.target_on)
        with self.unit() as uow:
            uow.decisions.amend(
                before,
                title=after.title,
                flags=flags,
                target_on=after.target_on,
                assignments=after.assignments,
            )
            # the dates are those of the amended decision (its new target date included), and
            # the to-do index names the units it now assigns
            amended = before.model_copy(
                update={"target_on": after.target_on, "assignments": after.assignments}
            )
            version = uow.decisions.save(amended, before.attempts, view)
            uow.audit.append(
                decision_id=before.id,
                action="amend",
                actor=who.name,
                effective_on=day,
                recorded_at=self.clock(),
                payload={
                    **who.stamp(),
                    **changes,
                    "reason": why,
                    "version": version,
                    "status": view.status,
                },
            )
            self._notify(uow, before.id, proc, situation(proc, before.flags, before.attempts), view)
            uow.commit()
        return after.model_copy(update={"version": version, "status": view.status}), view

    def _actor_text(self, actor: str | None) -> str:
        text = clean_text(
            actor, "actor (--actor or DECIDE_ACTOR)", required=True, limit=128, name=True
        )
        assert text is not None
        return text

    def _change(
        self,
        decision_id: str,
        action: Action,
        actor: Actor,
        *,
        note: str | None = None,
        files: Sequence[tuple[str, StoredFile, Path]] = (),
    ) -> tuple[Decision, Plan]:
        """Load, check (``procedures.apply``), plan once, persist with its audit event and
        outbox rows in one unit of work that fails if the decision changed meanwhile."""
        who = self.who_of(actor)
        with self.unit(write=False) as uow:
            before = uow.decisions.get(decision_id)
            cal = uow.calendar()
            proc = self.procedure_of(before, uow)
            action = resolve_action(proc, action)  # 合法性审查 → legality_review, and so on
            step = proc.step(action.step)
            from app import permissions

            if step is not None:
                # the roles that may take the action (app.permissions: the step's own role; the
                # sponsor also opens steps — handing the materials over is opening them — and
                # alone decides a reuse), the article naming who does it
                opening = isinstance(action, Start)
                basis = f"{step.article}; {ROLE_RULE}" if opening else step.article
                self._authorize(
                    uow,
                    who,
                    (proc, set(permissions.act_roles(step, action))),
                    step.label,
                    basis,
                    decision=before,
                    step=step,
                    action=action,
                )
            external = step is not None and (
                step.id in EXTERNAL_STEPS or step.role in EXTERNAL_ROLES
            )
            if who.on_behalf_of and not external:
                raise InputError(
                    f"代录仅适用于外部单位办理的步骤 --on-behalf-of records an external party's act "
                    f"(the experts, a third-party risk assessor, the Party committee's reply), not "
                    f"{step.label if step else action.step}"
                )
        if action.on < before.registered_on:
            raise InputError(
                f"--on {action.on} 早于决策登记日期 is before the decision was registered "
                f"({before.registered_on})"
            )
        files = [(self._kind(proc, action.step, kind), s, p) for kind, s, p in files]
        if isinstance(action, Complete | Attach) and files:  # the attempt lists them resolved
            action = action.model_copy(update={"documents": tuple(k for k, _, _ in files)})
        old = situation(proc, before.flags, before.attempts)  # for apply and the messages
        attempts = apply(proc, before.flags, before.attempts, action, cal, where=old)
        view = plan(proc, before.flags, attempts, action.on, cal, target_on=before.target_on)
        for _, stored, path in files:
            self.documents().put(path, stored)
        with self.unit() as uow:
            version = uow.decisions.save(before, attempts, view)
            current = next(a for a in reversed(attempts) if a.step == action.step)
            for kind, stored, _ in files:
                uow.documents.add(
                    decision_id=before.id,
                    step=action.step,
                    attempt=current.number,
                    kind=kind,
                    filename=stored.filename,
                    sha256=stored.sha256,
                    size=stored.size,
                    stored_at=self.clock(),
                )
            payload: dict[str, Any] = action.model_dump(
                mode="json",
                exclude_none=True,
                exclude_defaults=True,
                exclude={"kind", "documents", "on", "provisional"},
            )
            payload.update(attempt=current.number, version=version, status=view.status)
            payload.update(_flagged(action, current, view))
            payload.update(who.stamp())
            if note:
                payload["note"] = note
            if files:
                payload["documents"] = [
                    {"kind": k, "filename": s.filename, "sha256": s.sha256, "size": s.size}
                    for k, s, _ in files
                ]
            # the outbox rows first: on PostgreSQL the append locks the chain's head row until
            # the commit, so as little as possible happens between the two
            self._notify(uow, before.id, proc, old, view, refiled=isinstance(action, Attach))
            uow.audit.append(
                decision_id=before.id,
                action=action.kind,
                actor=who.name,
                effective_on=action.on,
                recorded_at=self.clock(),
                payload=payload,
            )
            uow.commit()
        after = before.model_copy(
            update={"attempts": attempts, "version": version, "status": view.status}
        )
        return after, view

    def _digests(self, attachments: Sequence[Attachment]) -> list[tuple[str, StoredFile, Path]]:
        """Each attachment's kind, digest and path (refusing what is not a regular file or is
        over the size limit) before anything is stored."""
        limit = self.max_attachment_bytes
        return [
            (a.kind, DocumentStore.digest(a.path, max_bytes=limit), a.path) for a in attachments
        ]

    @staticmethod
    def _kind(proc: Procedure, step_id: str, kind: str) -> str:
        """The document kind of an attachment: as given (a known kind, by id or Chinese name),
        or the step's only one."""
        step = proc.step(step_id)
        kinds = step.documents if step else ()
        if not kind:
            if len(kinds) == 1:
                return kinds[0]
            listed = ", ".join(kinds) or ", ".join(d.id for d in proc.documents)
            raise InputError(
                f"--attach 须写明文件类型 needs a kind here, as KIND=FILE ({step_id} takes {listed})"
            )
        return resolve_document(proc, kind)

    def _notify(
        self,
        uow: UnitOfWork,
        decision_id: str,
        proc: Procedure,
        old: dict[str, Situation] | None,
        new: Plan,
        *,
        refiled: bool = False,
    ) -> None:
        """Outbox rows for what changed: a step became ready or opened; a package; an archive.

        ``old``: where each step stood before the change (no dates needed: the planner's
        date arithmetic runs once per command, for ``new``); ``refiled``: documents were filed
        after the fact, so a package already assembled is assembled again with them."""
        now = self.clock()
        before = {k: (v.status, v.number) for k, v in old.items()} if old else {}
        deciding = next((st for st in proc.steps if st.decides), None)
        gate_steps = {p.step for p in deciding.after} if deciding else set()
        for s in new.steps:
            prior = before.get(s.step)
            changed = prior is None or prior != (s.status, s.attempt)
            if changed and s.status in ("ready", "open"):
                uow.outbox.add(
                    kind="notify",
                    decision_id=decision_id,
                    now=now,
                    payload={
                        "event": f"step_{s.status}",
                        "zh": s.zh,
                        "step": s.step,
                        "attempt": s.attempt,
                        "role": s.role,
                        "due_on": s.due_on,
                    },
                )
            # the Art. 29 package, once the steps the deciding step comes after have passed
            # (again when documents are filed later, while the discussion has not started)
            again = refiled and new.step(deciding.id).status == "ready" if deciding else False
            if (
                ((changed and prior is not None) or again)
                and s.status == "done"
                and s.step in gate_steps
            ):
                step = proc.step(s.step)
                outcome = step.outcome(s.outcome or "") if step else None
                if outcome is not None and outcome.passing:
                    uow.outbox.add(
                        kind="build_package",
                        decision_id=decision_id,
                        now=now,
                        payload={"step": s.step, "attempt": s.attempt},
                    )
        # the archive bundle (Art. 33), once every step is done or skipped
        if new.status == "closed" and (old is None or decision_status(proc, old) != "closed"):
            uow.outbox.add(kind="build_archive", decision_id=decision_id, now=now, payload={})

    def execute(self, request: Request, *, actor: Actor) -> Changed:
        """Run a typed request (what the CLI, and next the API and the console, send).  A
        request ``on_behalf_of`` an external party (代录: an expert panel, the Party committee)
        is recorded under the caller with the party beside it, and a completion needs its
        document."""
        party = clean_text(
            getattr(request, "on_behalf_of", None), "--on-behalf-of", limit=200, name=True
        )
        if party is not None:
            if isinstance(request, CompleteRequest | AttachRequest) and not request.attach:
                raise InputError(
                    f"代录须附材料 a record on behalf of {party} needs its document (--attach "
                    "KIND=FILE: the signed opinion, the reply)"
                )
            actor = dataclasses.replace(self.who_of(actor), on_behalf_of=party)
        if isinstance(request, RegisterRequest):
            d, view = self.registered(
                title=request.title,
                procedure_id=request.procedure,
                sponsor=request.sponsor,
                actor=actor,
                flags=request.flag,
                target_on=request.target,
                catalogue_year=request.catalogue_year,
                on=request.on,
                co_sponsors=request.co_sponsor,
                assign=request.assign,
            )
            return Changed(decision=d, plan=view)
        if isinstance(request, StartRequest):
            d, view = self.start(
                request.decision,
                request.step,
                actor=actor,
                on=request.on,
                shorten_reason=request.shorten_reason,
                respond_by=request.respond_by,
                methods=request.method,
                comment_until=request.comment_until,
            )
        elif isinstance(request, CompleteRequest):
            d, view = self.complete(
                request.decision,
                request.step,
                actor=actor,
                on=request.on,
                outcome=request.outcome,
                note=request.note,
                attachments=[Attachment(a.kind, a.path) for a in request.attach],
                meeting=_meeting(request.meeting),
                next_meeting_on=request.next_meeting,
                hearing=_hearing(request.hearing),
            )
        elif isinstance(request, ReuseRequest):
            d, view = self.reuse(
                request.decision, request.step, actor=actor, reason=request.reason, on=request.on
            )
        elif isinstance(request, AttachRequest):
            d, view = self.attach(
                request.decision,
                request.step,
                actor=actor,
                attachments=[Attachment(a.kind, a.path) for a in request.attach],
                note=request.note,
                on=request.on,
            )
        elif isinstance(request, SkipRequest):
            d, view = self.skip(
                request.decision, request.step, actor=actor, reason=request.reason, on=request.on
            )
        elif isinstance(request, AmendRequest):
            d, view = self.amend(
                request.decision,
                actor=actor,
                reason=request.reason,
                title=request.title,
                add_flags=request.flag,
                remove_flags=request.unflag,
                target_on=request.target,
                no_target=request.no_target,
                on=request.on,
                assign=request.assign,
                unassign=request.unassign,
            )
            return Changed(decision=d, plan=view)
        else:
            d, view = self.extend(
                request.decision, request.step, actor=actor, reason=request.reason, on=request.on
            )
        step = resolve_step(self.procedure_of(d), request.step)
        return Changed(decision=d, plan=view, step=step)

    # -- reading ------------------------------------------------------------------------------
    def calendar(self) -> WorkCalendar:
        with self.unit(write=False) as uow:
            return uow.calendar()

    def status(
        self, decision_id: str, as_of: date | None = None, *, who: Identity | None = None
    ) -> tuple[Decision, Plan]:
        """The decision planned as of a date (today by default); a date before today shows
        it as the facts effective by then made it (``app.history.as_of``); ``who``: refused
        unless the caller may read it (``app.permissions``)."""
        from app import permissions

        with self.unit(write=False) as uow:
            decision = uow.decisions.get(decision_id)
            if who is not None:
                permissions.check_read(who, decision)
            cal = uow.calendar()
            if as_of is not None and as_of < self.today():
                return self._as_of(uow, decision, as_of, cal)
            proc = self.procedure_of(decision, uow)
        return decision, plan(
            proc,
            decision.flags,
            decision.attempts,
            as_of or self.today(),
            cal,
            target_on=decision.target_on,
        )
