"""Realistic decision histories for ``bench/scale.py``, generated with the real planner.

Each decision is walked through its procedure with ``procedures.apply`` and ``procedures.plan``
in date order (valid actions only: a step starts once it is ready, completes on or after its
earliest close with the documents its rules and the Art. 29 package need, a paused review is
resubmitted, a deferred discussion meets again on the date set), with returns at realistic
rates.  What the walk writes is what the commands, the daily scan and ``decide serve`` would
have written, built with the project's own functions wherever one exists:

* the ``decisions`` row as ``DecisionRepository.add``/``save`` write it (``_dates``), with
  ``next_alert_on`` as the daily scans up to 2026-11-25 leave it (``_next_alert``);
* ``step_attempts`` through ``store.repository._attempt_columns``, dated as ``_write_attempts``
  leaves them (only the rows an action changed are rewritten, dated only while current);
* ``documents`` (one per file attached to a completion, ``stored_at`` its command's time) and
  the files themselves under ``documents/`` (small text files: their SHA-256 is real);
* the to-do index through ``store.todo.rows_for`` (the decision and its last plan);
* ``alerts`` rows and ``alert`` events: what a daily ``app.alerts.scan`` at 08:30 would have
  raised, with ``app.alerts.due_items``/``level_dates`` and ``Alert.payload``;
* the events: ``register``/``start``/``complete``/``skip``/``extend`` with the payload
  ``Commands._change`` builds (``_flagged``, ``Identity.stamp``), and the ``package``/``archive``
  events of the outbox rows ``Commands._notify`` adds (called here), the package manifest as
  ``app.work.build_package`` writes it (the file too, under ``packages/``).

``replay_with_commands`` runs the same histories through the real ``Commands``, ``scan`` and
``app.work`` on a fresh home, for ``compare`` to check the fast path against (``bench/scale.py``
does it on a sample of every build; ``tests/integration/test_scale_gen.py`` on a small one).
Hashing and checkpoints happen later, in global order (``bench/scale.py``).
"""

from __future__ import annotations

import hashlib
import json
import pickle
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from app.accounts import Identity
from app.alerts import SCAN_ACTOR, Alert, due_items, level_dates, reached
from app.commands import Commands, _flagged
from app.queries import HORIZON
from app.work import SYSTEM, package_manifest
from procedures import (
    Complete,
    DecideError,
    Extend,
    MeetingRecord,
    Skip,
    Start,
    WorkCalendar,
    apply,
    load_procedure,
    plan,
    register,
)
from procedures.definition import pin
from procedures.planner import ALERT_LEVELS, current_attempt, situation
from procedures.state import Decision
from procedures.transitions import majority_position
from store.audit import canonical_json
from store.repository import NOTHING_DUE, StoredDocument, _attempt_columns, _dates, _dump
from store.todo import COLUMNS as TODO_COLUMNS
from store.todo import rows_for

VERSION = 6  # bump when the histories change (cached databases are rebuilt)
AS_OF = date(2026, 11, 26)  # the benchmark's "today"
CUTOFF = date(2026, 11, 25)  # the last day of recorded history (and of the daily scans)
REG_FIRST = date(2019, 6, 1)
REG_LAST = date(2026, 10, 31)
TIANJIN_FROM = date(2020, 12, 1)  # 津政令第19号 in force

PROCEDURE_IDS = ("national-2019", "tianjin-2020", "tianjin-district-2020")
PROCS = {p: load_procedure(p) for p in PROCEDURE_IDS}
PINNED = {p: pin(proc) for p, proc in PROCS.items()}  # what registration stores (revision 0005)
CAL = WorkCalendar.official()
STEP_INDEX = {p: {s.id: i for i, s in enumerate(PROCS[p].steps)} for p in PROCEDURE_IDS}
WHO = Identity(name="")  # a home without accounts: every act is recorded unauthenticated
STAMP = WHO.stamp()

_DATE_FMT = "%Y-%m-%d %H:%M:%S.%f"  # how store.fastsql writes UTC datetimes to SQLite

# -- text --------------------------------------------------------------------------------------
NATIONAL_PLACES = ("江北区", "临川市", "青山区", "东湖市", "云溪县", "南城区", "望江市", "西峡县")
TIANJIN_CITY = ("天津市",)
TIANJIN_DISTRICTS = ("和平区", "河西区", "南开区", "北辰区", "津南区", "西青区", "东丽区", "武清区")
TOPICS = (
    "老旧小区改造计划",
    "城市公共交通票价调整方案",
    "生活垃圾分类管理实施办法",
    "中小学学区划分方案",
    "机动车停车收费标准调整",
    "国土空间总体规划",
    "养老服务设施布局专项规划",
    "居民供热价格调整方案",
    "河道综合治理实施方案",
    "历史文化街区保护规划",
    "城中村改造实施方案",
    "农村人居环境整治三年行动方案",
    "公立医院医疗服务价格调整",
    "住房保障和租赁补贴办法",
    "重点产业发展扶持政策",
    "城市道路交通组织优化方案",
    "污水处理费征收标准调整",
    "学前教育普惠发展实施意见",
)
SPONSORS = (
    "住房和城乡建设委员会",
    "发展和改革委员会",
    "交通运输委员会",
    "教育局",
    "规划和自然资源局",
    "民政局",
    "卫生健康委员会",
    "城市管理委员会",
    "水务局",
    "生态环境局",
    "财政局",
)
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
ROLE_UNITS = {
    "decision_body": ("人民政府办公室", ("主任", "副主任", "秘书长")),
    "head": ("人民政府", ("区长", "市长")),
    "sponsor": (None, ("科长", "副局长", "处长")),
    "legal_office": ("司法局", ("科长", "副局长", "审查员")),
    "sponsor_legal_unit": ("法制科", ("科长", "干部")),
    "risk_assessor": ("社会稳定风险评估中心", ("主任", "评估员")),
    "expert": ("专家咨询委员会", ("教授", "研究员", "高级工程师")),
    "party_committee": ("党委办公室", ("主任",)),
    "archivist": ("档案馆", ("馆员", "科长")),
}
NOTES = {
    "drafting": (
        "召开草案起草专题会，明确责任分工。",
        "赴兄弟区县调研，收集同类决策经验。",
        "草案初稿已形成，征求相关部门意见。",
        "根据部门反馈意见修改草案第三稿。",
    ),
    "public_participation": (
        "征求意见公告已在政府网站发布。",
        "召开听证会一场，到会代表二十一人。",
        "汇总公众意见，逐条研究采纳情况。",
        "通过政务新媒体收集网民留言。",
    ),
    "expert_review": (
        "组织专家论证会，七名专家出席。",
        "专家书面意见已收回，正在整理。",
        "委托第三方专业机构开展技术论证。",
    ),
    "risk_assessment": (
        "开展入户走访，了解群众诉求。",
        "形成风险点清单及化解措施。",
        "召开风险评估座谈会。",
    ),
    "internal_legality_review": ("法制科已出具书面审查意见初稿。", "补充相关法律依据说明。"),
    "legality_review": (
        "审查人员已对照上位法逐条审查。",
        "要求承办单位补充制定依据说明。",
        "召开合法性审查论证会。",
    ),
    "collective_discussion": ("议题已列入常务会议议程。", "会议材料已印发参会人员。"),
    "party_committee_report": ("请示报告已按程序报送。",),
    "publication": ("决策文件已在政府网站公开。", "政策解读材料同步发布。"),
    "archiving": ("决策过程材料已整理成卷。", "归档材料清单已核对。"),
}
COMPLETE_NOTES = (
    "按期完成。",
    "已按要求报送相关材料。",
    "材料齐全，程序完备。",
    "经办人已核对附件。",
)
SHORTEN_REASONS = ("因情况紧急，征求意见期限缩短为十五日", "上级部署时限紧迫，缩短审查期限")
SKIP_REASONS = (
    "已按有关规定对相关风险进行评估，不作重复评估",
    "该事项已纳入上级社会稳定风险评估范围",
)
EXTEND_REASONS = ("事项复杂，需补充论证", "涉及多部门职责，需进一步征求意见")
DISSENTS = ("建议进一步论证实施成本。", "建议分步实施。", "对资金来源有保留意见。")

# -- per-step behaviour (days) -----------------------------------------------------------------
START_GAP = {
    "drafting": (1, 20),
    "public_participation": (1, 10),
    "expert_review": (2, 15),
    "risk_assessment": (2, 15),
    "internal_legality_review": (1, 8),
    "legality_review": (1, 8),
    "collective_discussion": (5, 25),
    "party_committee_report": (1, 8),
    "publication": (2, 12),
    "archiving": (3, 15),
}


FLAG_RATES = {
    "technical": 0.6,
    "stability_risk": 0.5,
    "undisclosable": 0.04,
    "market_activity": 0.3,
    "public_concern": 0.4,
}
EXTRA_METHODS = ("symposium", "field_visit", "written_consultation", "survey")


def _workday(d: date, rng: random.Random) -> date:
    """Offices act on working days (nearly always)."""
    return d if rng.random() < 0.03 else CAL.next_working_day(d)


@lru_cache(maxsize=200_000)
def _levels(due: date, start: date) -> tuple[tuple[str, date], ...]:
    return tuple(level_dates(CAL, due, start).items())


@lru_cache(maxsize=200_000)
def _late(due: date, on: date) -> int:
    return max(0, CAL.working_days_between(due, on))


def _person(rng: random.Random, role: str, place: str, sponsor: str) -> str:
    unit, titles = ROLE_UNITS.get(role, ("", ("干部",)))
    unit_name = sponsor if unit is None else f"{place}{unit}"
    return f"{unit_name} {rng.choice(SURNAMES)}{rng.choice(titles)}"


Spec = tuple[int, str, date, str, int]


def registrations(n: int, seed: int, first: date = REG_FIRST, last: date = REG_LAST) -> list[Spec]:
    """(index, id, registered_on, procedure, seed) for n decisions, ids in registration order."""
    rng = random.Random(seed)
    span = (last - first).days
    days = []
    for _ in range(n):
        d = first + timedelta(days=int(span * rng.random()))
        days.append(min(CAL.next_working_day(d), last))
    days.sort()
    counters: Counter[int] = Counter()
    out = []
    for i, d in enumerate(days):
        r = rng.random()
        if d < TIANJIN_FROM or r < 0.55:
            proc = "national-2019"
        elif r < 0.80:
            proc = "tianjin-2020"
        else:
            proc = "tianjin-district-2020"
        counters[d.year] += 1
        out.append((i, f"{d.year}-{counters[d.year]:04d}", d, proc, rng.getrandbits(48)))
    return out


def _meeting(rng: random.Random, outcome: str, place: str) -> MeetingRecord:
    head = "区长" if "区" in place else "市长"
    chair = f"{rng.choice(SURNAMES)}{head}"
    members: list[str] = []
    while len(members) < rng.randint(5, 9):
        name = f"{rng.choice(SURNAMES)}{rng.choice(('副' + head, '秘书长', '局长', '主任'))}"
        if name != chair and name not in members:
            members.append(name)
    positions = {m: outcome for m in members}
    dissent: dict[str, str] = {}
    if rng.random() < 0.3:
        for m in rng.sample(members, rng.randint(1, 2)):
            positions[m] = rng.choice(("abstain", "revise" if outcome != "revise" else "approved"))
            dissent[m] = rng.choice(DISSENTS)
    record = MeetingRecord(
        meeting_type="executive" if rng.random() < 0.85 else "plenary",
        chair=chair,
        attendees=(chair, *members),
        positions=positions,
        dissent=dissent,
    )
    majority = majority_position(record)
    if majority not in (None, outcome):
        record = record.model_copy(update={"head_reason": "综合考虑各方意见，作出上述决定。"})
    return record


@dataclass
class Event:
    """One event of a decision before it is timed and hashed; ``follow``: None for the scan's
    (08:30), True for ``decide serve``'s follow-ups (seconds after), False for a command;
    ``act``, ``note`` and ``files``: what the command was given (for ``replay_with_commands``)."""

    day: date
    action: str
    actor: str
    payload: dict[str, Any]
    follow: bool | None = False
    sub: int = 0
    act: Any = None
    note: str | None = None
    files: tuple[tuple[str, str, bytes], ...] = ()  # (kind, filename, content)


class _Clock:
    """What ``Commands._notify`` needs of its ``self`` (the outbox rows' time is not kept)."""

    @staticmethod
    def clock() -> datetime:
        return datetime(2000, 1, 1, tzinfo=UTC)


class _Outbox:
    def __init__(self) -> None:
        self.kinds: list[str] = []

    def add(self, *, kind: str, **_: Any) -> None:
        self.kinds.append(kind)


class _Capture:
    """A stand-in unit of work for ``Commands._notify``: collects the outbox rows' kinds."""

    def __init__(self) -> None:
        self.outbox = _Outbox()


def _outbox_kinds(proc: Any, old: Any, view: Any) -> list[str]:
    """The outbox rows the command's ``_notify`` adds (the project's own function)."""
    capture = _Capture()
    Commands._notify(_Clock(), capture, "", proc, old, view)  # type: ignore[arg-type]
    return capture.outbox.kinds


def needed_documents(proc: Any, flags: frozenset[str], proc_step: Any, att: Any) -> set[str]:
    """The kinds a passing completion must hold: the step's own rules, its methods', and the
    package's (the collective discussion waits for a complete package, Decree 713 Art. 29)."""
    needed = {r.kind for r in proc_step.requires_documents if r.holds(flags)}
    for m in (att.methods if att is not None else ()) or proc_step.methods[:1]:
        method = proc.method(m)
        needed |= set(method.requires_documents) if method else set()
    needed |= {r.kind for r in proc.package if r.holds(flags) and r.kind in proc_step.documents}
    return needed


def document_content(
    decision_id: str, step: str, number: int, kind: str, zh: str, on: date
) -> bytes:
    """A small file standing for the document (each its own: a meeting met again files new
    minutes)."""
    return f"决策 {decision_id}\n{step} 第{number}次 {on}\n{kind} {zh}\n".encode()


class Walk:
    """One decision's history."""

    def __init__(self, spec: Spec) -> None:
        self.idx, self.id, self.reg, proc_id, seed = spec
        self.rng = rng = random.Random(seed)
        self.proc = proc = PROCS[proc_id]
        self.sidx = STEP_INDEX[proc_id]
        known = {f.id for f in proc.flags}
        self.flags = frozenset(
            f for f, rate in FLAG_RATES.items() if rng.random() < rate and f in known
        )
        if proc_id == "national-2019":
            self.place = rng.choice(NATIONAL_PLACES)
        elif proc_id == "tianjin-2020":
            self.place = TIANJIN_CITY[0]
        else:
            self.place = rng.choice(TIANJIN_DISTRICTS)
        self.sponsor = f"{self.place}{rng.choice(SPONSORS)}"
        self.co_sponsors: tuple[str, ...] = ()
        if rng.random() < 0.15:
            others = [f"{self.place}{s}" for s in SPONSORS if f"{self.place}{s}" != self.sponsor]
            self.co_sponsors = tuple(rng.sample(others, rng.randint(1, 2)))
        self.assignments: dict[str, tuple[str, ...]] = {}
        roles = {r.id for r in proc.roles}
        if "stability_risk" in self.flags and "risk_assessor" in roles and rng.random() < 0.4:
            self.assignments["risk_assessor"] = (f"{self.place}社会稳定风险评估中心",)
        if "technical" in self.flags and "expert" in roles and rng.random() < 0.5:
            self.assignments["expert"] = (f"{self.place}专家咨询委员会",)
        self.title = f"{self.place}{self.reg.year}年{rng.choice(TOPICS)}"
        self.target = (
            self.reg + timedelta(days=rng.randint(150, 420)) if rng.random() < 0.6 else None
        )
        self.catalogue_year = self.reg.year if rng.random() < 0.8 else None
        self.actors = {r: _person(rng, r, self.place, self.sponsor) for r in ROLE_UNITS}
        self.events: list[Event] = []
        self.alert_rows: list[tuple[str, int, tuple[Any, ...]]] = []  # (raised_at, order, row)
        self.docs: list[StoredDocument] = []  # in the order attached
        self.packages: dict[str, str] = {}  # file name -> manifest text
        self.raised: set[tuple[str, int, str]] = set()
        self.returns = 0
        self.failures = 0
        self.refused: list[str] = []
        self.lr_incomplete = 0

    # -- the walk -------------------------------------------------------------------------------
    def run(self) -> None:
        proc = self.proc
        self.attempts = register(proc, self.reg)
        view = plan(proc, self.flags, self.attempts, self.reg, CAL, target_on=self.target)
        self.version = 1
        # add(decision, plan): the current attempts dated from the plan
        self.rowdates: list[tuple[Any, Any, bool]] = []
        self._dated((), self.attempts, view)
        payload: dict[str, Any] = STAMP | {
            "title": self.title,
            "procedure": proc.id,
            "procedure_version": proc.version,
            "procedure_sha256": PINNED[proc.id].sha256,
            "flags": sorted(self.flags),
            "sponsor": self.sponsor,
            **({"co_sponsors": list(self.co_sponsors)} if self.co_sponsors else {}),
            **(
                {"assignments": {k: list(v) for k, v in sorted(self.assignments.items())}}
                if self.assignments
                else {}
            ),
            "target_on": self.target,
            "catalogue_year": self.catalogue_year,
            "status": view.status,
        }
        self.events.append(Event(self.reg, "register", self.actors["decision_body"], payload))
        self.view = view
        last_t = self.last_t = self.reg
        sched: dict[str, tuple[tuple[Any, ...], date, Any]] = {}
        while True:
            for sv in view.steps:
                if sv.status not in ("ready", "open", "paused"):
                    sched.pop(sv.step, None)
                    continue
                att = current_attempt(self.attempts, sv.step) if sv.status != "ready" else None
                key = (
                    sv.status,
                    sv.attempt,
                    len(att.pauses) if att else 0,
                    len(att.deferrals) if att else 0,
                    len(att.extensions) if att else 0,
                )
                if sv.step in sched and sched[sv.step][0] == key:
                    continue
                when, action = self._propose(sv, att, last_t)
                sched[sv.step] = (key, when, action)
            for step in [
                s for s in sched if view.step(s).status not in ("ready", "open", "paused")
            ]:
                del sched[step]
            if not sched:
                break
            step, (_, when, action) = min(
                sched.items(), key=lambda kv: (kv[1][1], self.sidx[kv[0]])
            )
            if when > CUTOFF:
                break  # the rest lies in the future: the decision is still open
            try:
                new = apply(proc, self.flags, self.attempts, action, CAL)
            except DecideError as exc:
                self.failures += 1
                self.refused.append(f"{action.kind} {step}: {exc}")
                del sched[step]
                if self.failures > 20:
                    break
                continue
            new_view = plan(proc, self.flags, new, when, CAL, target_on=self.target)
            self._alerts(view, last_t, when)
            self._record(action, new, new_view)
            last_t, view = when, new_view
            self.view = view
            self.last_t = last_t
            sched.pop(step, None)
        if view.status != "closed":
            self._alerts(view, last_t, CUTOFF)

    def _propose(self, sv: Any, att: Any, t: date) -> tuple[date, Any]:
        rng, step = self.rng, sv.step
        proc_step = self.proc.step(step)
        assert proc_step is not None
        if sv.status == "paused":  # materials returned: resubmitted a few days later
            on = _workday(att.pauses[-1].returned_on + timedelta(days=rng.randint(3, 20)), rng)
            on = max(on, t)
            return on, Start(step=step, on=on)
        if sv.status == "ready":
            lo, hi = START_GAP.get(step, (1, 10))
            on = _workday(t + timedelta(days=rng.randint(lo, hi)), rng)
            if step == "risk_assessment" and rng.random() < 0.15 and not self._risk_returned():
                return on, Skip(step=step, on=on, reason=rng.choice(SKIP_REASONS))
            shorten = respond_by = comment_until = None
            if step in ("public_participation", "legality_review") and rng.random() < 0.03:
                # a shortened window is a deadline before the lawful one (Arts. 15, 26)
                shorten = rng.choice(SHORTEN_REASONS)
                if step == "public_participation":
                    comment_until = on + timedelta(days=15)
                else:
                    respond_by = CAL.add_working_days(on, 4).on
            methods: tuple[str, ...] = ()
            offered = [m for m in proc_step.methods if m in EXTRA_METHODS]
            if proc_step.methods and offered and rng.random() < 0.3:
                methods = (proc_step.methods[0], rng.choice(offered))
            return on, Start(
                step=step,
                on=on,
                shorten_reason=shorten,
                methods=methods,
                respond_by=respond_by,
                comment_until=comment_until,
            )
        # open: complete (or, now and then, extend the legality review first)
        start = att.clock_start
        if att.deferrals:
            on = _workday(att.deferrals[-1].next_meeting_on, rng)
        elif sv.due_on is not None:
            nominal = max(3, (sv.due_on - start).days)
            on = start + timedelta(days=max(1, int(nominal * rng.triangular(0.25, 1.6, 0.75))))
        else:
            on = start + timedelta(days=rng.randint(5, 20))
        if sv.earliest_close_on is not None and on < sv.earliest_close_on:
            on = sv.earliest_close_on + timedelta(days=rng.randint(0, 6))
        on = max(_workday(on, rng), t)
        if (
            step == "legality_review"
            and not att.extensions
            and sv.due_on is not None
            and rng.random() < 0.04
        ):
            ext_on = max(start, t, sv.due_on - timedelta(days=rng.randint(1, 5)))
            return ext_on, Extend(step=step, on=ext_on, reason=rng.choice(EXTEND_REASONS))
        return on, self._completion(step, att, on)

    def _risk_returned(self) -> bool:
        found = [a.outcome for a in self.attempts if a.step == "risk_assessment" and a.outcome]
        return bool(found) and found[-1] == "uncontrollable"

    def _completion(self, step: str, att: Any, on: date) -> Complete:
        rng = self.rng
        proc_step = self.proc.step(step)
        assert proc_step is not None
        many = self.returns < 3  # a decision sent back three times goes through afterwards
        outcome: str | None = None
        next_meeting = None
        meeting = None
        r = rng.random()
        if step == "legality_review":
            if many and r < 0.08:
                outcome = "unlawful"
            elif r < 0.18 and self.lr_incomplete < 2:
                outcome = "incomplete"
            elif r < 0.32:
                outcome = "lawful_with_changes"
            elif r < 0.34:
                outcome = "exploratory_with_risk_notice"
            else:
                outcome = "lawful"
        elif step == "risk_assessment":
            outcome = "uncontrollable" if many and r < 0.05 else "controllable"
        elif step == "internal_legality_review":
            outcome = "failed" if many and r < 0.05 else "passed"
        elif step == "collective_discussion":
            if many and r < 0.05:
                outcome = "revise"
            elif r < 0.10 and len(att.deferrals) < 2:
                outcome = "deferred"
                next_meeting = on + timedelta(days=rng.randint(14, 35))
            elif r < 0.13:
                outcome = "rejected"
            else:
                outcome = "approved"
            meeting = _meeting(rng, outcome, self.place)
        if outcome is not None and proc_step.outcome(outcome) is None:
            outcome = None  # not an outcome of this procedure's step: its first one
        chosen = proc_step.outcome(outcome) if outcome else proc_step.outcomes[0]
        assert chosen is not None
        docs: list[str] = []
        if chosen.effect != "pause":
            needed = needed_documents(self.proc, self.flags, proc_step, att)
            docs = [d for d in proc_step.documents if d in needed or rng.random() < 0.92]
            docs += [d for d in sorted(needed) if d not in docs]
        for d in chosen.requires_documents:
            if d not in docs:
                docs.append(d)
        return Complete(
            step=step,
            on=on,
            outcome=outcome,
            documents=tuple(docs),
            meeting=meeting,
            next_meeting_on=next_meeting,
        )

    # -- what one accepted action writes ---------------------------------------------------------
    def _dated(self, old: tuple[Any, ...], new: tuple[Any, ...], view: Any) -> None:
        """The rows ``_write_attempts`` rewrites, dated from the plan while current."""
        views = {v.step: v for v in view.steps}
        current = {a.step: i for i, a in enumerate(new) if not a.superseded}
        for pos, a in enumerate(new):
            if pos < len(old) and old[pos] == a:
                continue
            v = views.get(a.step) if current.get(a.step) == pos else None
            dated = (
                (v.due_on, v.earliest_close_on, bool(v.provisional)) if v else (None, None, False)
            )
            if pos < len(self.rowdates):
                self.rowdates[pos] = dated
            else:
                self.rowdates.append(dated)

    def _record(self, action: Any, new: tuple[Any, ...], view: Any) -> None:
        old = self.attempts
        before = situation(self.proc, self.flags, old)
        self._dated(old, new, view)
        self.attempts = new
        self.version += 1
        cur = next(a for a in reversed(new) if a.step == action.step)
        payload: dict[str, Any] = action.model_dump(
            mode="json",
            exclude_none=True,
            exclude_defaults=True,
            exclude={"kind", "documents", "on", "provisional"},
        )
        payload.update(attempt=cur.number, version=self.version, status=view.status)
        payload.update(_flagged(action, cur, view))
        payload.update(STAMP)
        kind = action.kind
        note = None
        files: list[tuple[str, str, bytes]] = []
        rng = self.rng
        if kind == "complete":
            if rng.random() < 0.2:
                note = payload["note"] = rng.choice(COMPLETE_NOTES)
            for k in action.documents:
                label = self.proc.document(k)
                zh = label.zh if label else k
                content = document_content(self.id, action.step, cur.number, k, zh, action.on)
                filename = f"{zh}.{rng.choice(('pdf', 'docx', 'pdf'))}"
                files.append((k, filename, content))
                sha = hashlib.sha256(content).hexdigest()
                self.docs.append(
                    StoredDocument(action.step, cur.number, k, filename, sha, len(content))
                )
            if files:
                payload["documents"] = [
                    {
                        "kind": k,
                        "filename": f,
                        "sha256": hashlib.sha256(c).hexdigest(),
                        "size": len(c),
                    }
                    for k, f, c in files
                ]
            outcome = (
                self.proc.step(action.step).outcome(cur.outcome or "") if cur.outcome else None
            )
            if outcome is not None and outcome.effect == "return" and cur.status == "done":
                self.returns += 1
            if action.step == "legality_review" and action.outcome == "incomplete":
                self.lr_incomplete += 1
        role = self.proc.step(action.step).role
        actor = self.actors.get(role, self.actors["sponsor"])
        self.events.append(
            Event(action.on, kind, actor, payload, act=action, note=note, files=tuple(files))
        )
        # what decide serve does with the outbox rows the command added, in their order
        for job in _outbox_kinds(self.proc, before, view):
            if job == "build_package":
                self.events.append(
                    Event(action.on, "package", SYSTEM, self._package(), follow=True)
                )
            elif job == "build_archive":
                self.events.append(Event(action.on, "archive", SYSTEM, {}, follow=True))

    def _package(self) -> dict[str, Any]:
        """What ``app.work.build_package`` records (and the manifest file it writes)."""
        decision = self.decision()
        manifest = package_manifest(self.proc, decision, self.docs)
        missing, review = manifest["missing"], manifest["review"]
        name = f"{decision.id}-lr{review['attempt'] or 0}.json"
        text = json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True)
        self.packages[name] = text
        return {
            "file": name,
            "sha256": hashlib.sha256(text.encode()).hexdigest(),
            "complete": not missing,
            "missing": [f"{m['step']}:{m['kind']}" for m in missing],
            "decision_version": decision.version,
        }

    def _alerts(self, view: Any, lo: date, hi: date) -> None:
        """What the daily scans on the days in (lo, hi] raised, with the plan ``view`` in force."""
        if hi <= lo:
            return
        first_scan = lo + timedelta(days=1)
        for item in due_items(view, self.reg):  # the scan's own items
            for level, first in _levels(item.due_on, item.start):
                if first < item.start or first > hi:
                    continue
                # once per level per step attempt, whatever later happens to the due date
                key = (item.step, item.attempt, level)
                if key in self.raised:
                    continue
                self.raised.add(key)
                day = max(first, first_scan)
                alert = Alert(
                    self.id,
                    self.title,
                    item.step,
                    item.zh,
                    item.role,
                    item.attempt,
                    level,
                    item.due_on,
                    first,
                    _late(item.due_on, day),
                    item.basis,
                    item.provisional,
                )
                sub = (self.sidx[item.step] if item.step else 99) * 10
                sub += ALERT_LEVELS.index(level)
                self.events.append(
                    Event(day, "alert", SCAN_ACTOR, alert.payload(), follow=None, sub=sub)
                )
                raised = datetime(day.year, day.month, day.day, 0, 30).strftime(_DATE_FMT)
                self.alert_rows.append(
                    (
                        raised,
                        sub,
                        (self.id, item.step, item.attempt, level, item.due_on, first, raised),
                    )
                )

    # -- rows ----------------------------------------------------------------------------------
    def decision(self) -> Decision:
        """The decision as the store holds it now."""
        return Decision(
            id=self.id,
            title=self.title,
            procedure_id=self.proc.id,
            procedure_version=self.proc.version,
            procedure_sha256=PINNED[self.proc.id].sha256,
            flags=self.flags,
            sponsor=self.sponsor,
            target_on=self.target,
            catalogue_year=self.catalogue_year,
            registered_on=self.reg,
            co_sponsors=self.co_sponsors,
            assignments=dict(self.assignments),
            status=self.view.status if hasattr(self, "view") else "in_progress",
            version=self.version,
            attempts=self.attempts,
        )

    def timed(self) -> list[tuple[str, Event]]:
        """Each event with its recording time (UTC, as ``store.audit`` writes it), in order
        (drawn once: the times come from the walk's random stream)."""
        if getattr(self, "_timed", None) is None:
            self._timed = self._times()
        return self._timed

    def _times(self) -> list[tuple[str, Event]]:
        rng = self.rng
        by_day: dict[date, list[Event]] = defaultdict(list)
        for e in self.events:
            by_day[e.day].append(e)
        out: list[tuple[str, Event]] = []
        for day in sorted(by_day):
            group = by_day[day]
            alerts = sorted((e for e in group if e.follow is None), key=lambda e: e.sub)
            base = f"{day.isoformat()}T"
            for e in alerts:  # one scan at 08:30 Asia/Shanghai, one `now` for all it raises
                out.append((base + "00:30:00.000000Z", e))
            # office hours 09:00-17:30 Shanghai = 01:00-09:30 UTC; follow-ups seconds later
            us = (3600 + rng.randint(0, 7200)) * 1_000_000 + rng.randint(0, 999_999)
            for e in (e for e in group if e.follow is not None):
                us += (
                    rng.randint(2, 30) * 1_000_000
                    if e.follow
                    else rng.randint(60, 1200) * 1_000_000
                )
                us += rng.randint(0, 999_999)
                secs, micro = divmod(us, 1_000_000)
                hh, rest = divmod(secs, 3600)
                mm, ss = divmod(rest, 60)
                out.append((f"{base}{hh:02d}:{mm:02d}:{ss:02d}.{micro:06d}Z", e))
        for n, (_, e) in enumerate(out):
            if e.action == "archive":  # what app.work.build_archive records
                name = f"{self.id}.zip"
                e.payload = {
                    "file": name,
                    # a stand-in: the ZIP (documents and a signed export) is not written
                    "sha256": hashlib.sha256(f"{name}|{n}".encode()).hexdigest(),
                    "documents": len(self.docs),
                    "events": n,  # the decision's events before it (the export in the ZIP)
                    "decision_version": self.version,
                }
        return out

    def timed_events(self) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """The events as (recorded_at, decision_id, sub, action, actor, effective_on,
        payload_json), in order, and the documents rows (stored when their command ran)."""
        rows, documents = [], []
        for rec, e in self.timed():
            rows.append(
                (
                    rec,
                    self.id,
                    e.sub,
                    e.action,
                    e.actor,
                    e.day.isoformat(),
                    canonical_json(e.payload),
                )
            )
            for doc in e.payload.get("documents", ()) if e.action == "complete" else ():
                stored = rec.replace("T", " ").rstrip("Z")
                documents.append(
                    (self.id, e.act.step, e.payload["attempt"], doc["kind"], doc["filename"],
                     doc["sha256"], doc["size"], stored)
                )  # fmt: skip
        return rows, documents

    def decision_row(self) -> tuple[Any, ...]:
        d = self.decision()
        dates = _dates(d, self.view)
        return (
            d.id,
            d.title,
            d.procedure_id,
            d.procedure_version,
            d.procedure_sha256,
            _dump(sorted(d.flags)),
            d.sponsor,
            d.target_on,
            d.catalogue_year,
            d.registered_on,
            d.status,
            d.version,
            _dump(list(d.co_sponsors)),
            _dump({k: list(v) for k, v in d.assignments.items()}),
            dates["next_due_on"],
            self._next_alert(dates["next_due_on"]),
        )

    def _next_alert(self, due: date | None) -> date | None:
        """``decisions.next_alert_on`` after the scan of 2026-11-25 (``store.repository`` and
        ``app.alerts.scan``): a command leaves it unknown (``None``) unless nothing can fall due
        any more; a scan plans the decision once its next due date is within the horizon, then
        again on each date it records, so after the last scan it holds the first level reached
        after that day.  Actions here happen after the day's scan."""
        if due == NOTHING_DUE:
            return NOTHING_DUE
        assert due is not None
        if self.last_t >= CUTOFF or due > CUTOFF + HORIZON:
            return None  # changed on the last day, or not planned by any scan since its change
        return reached(CAL, self.view, self.reg, CUTOFF)[1]

    def attempt_rows(self) -> list[tuple[Any, ...]]:
        rows = []
        for pos, a in enumerate(self.attempts):
            c = _attempt_columns(a)
            due, earliest, prov = self.rowdates[pos]
            c.update(decision_id=self.id, position=pos, due_on=due, earliest_close_on=earliest,
                     provisional=bool(prov))  # fmt: skip
            rows.append(tuple(c[k] for k in ATTEMPT_COLUMNS))
        return rows

    def todo_rows(self) -> list[tuple[Any, ...]]:
        return [tuple(r[c] for c in TODO_COLUMNS) for r in rows_for(self.decision(), self.view)]


DECISION_COLUMNS = (
    "id", "title", "procedure_id", "procedure_version", "procedure_sha256", "flags", "sponsor",
    "target_on", "catalogue_year", "registered_on", "status", "version", "co_sponsors",
    "assignments", "next_due_on", "next_alert_on",
)  # fmt: skip
ATTEMPT_COLUMNS = (
    "decision_id", "position", "step", "number", "status", "opened_on", "shorten_reason",
    "closed_on", "outcome", "skip_reason", "pauses", "extensions", "deferrals", "documents",
    "superseded", "respond_by", "close_provisional", "details", "due_on", "earliest_close_on",
    "provisional",
)  # fmt: skip
DOCUMENT_COLUMNS = (
    "decision_id", "step", "attempt", "kind", "filename", "sha256", "size", "stored_at",
)  # fmt: skip
ALERT_COLUMNS = (
    "decision_id", "step", "attempt", "level", "due_on", "first_reached_on", "raised_at",
)  # fmt: skip


def _iso(v: Any) -> Any:
    return v.isoformat() if isinstance(v, date) else v


def walk_one(spec: Spec) -> Walk:
    w = Walk(spec)
    w.run()
    return w


def write_files(w: Walk, home: Path) -> None:
    """The walk's document files (by SHA-256, as ``DocumentStore.put`` lays them out) and its
    package manifests (as ``app.work.build_package`` writes them)."""
    for e in w.events:
        for _, _, content in e.files:
            sha = hashlib.sha256(content).hexdigest()
            path = home / "documents" / sha[:2] / sha
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
    if w.packages:
        out = home / "packages"
        out.mkdir(parents=True, exist_ok=True)
        for name, text in w.packages.items():
            (out / name).write_text(text, encoding="utf-8")


def gen_chunk(chunk: int, specs: list[Spec], outdir: str, home: str) -> dict[str, Any]:
    """Walk a chunk of decisions; write its events into per-month buckets and its files into
    ``home``; return the rows."""
    decisions, attempts, documents, alerts, todo = [], [], [], [], []
    buckets: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    counts: Counter[str] = Counter()
    status: Counter[str] = Counter()
    per_decision_attempts = []
    failures = 0
    refused: list[str] = []
    for spec in specs:
        w = walk_one(spec)
        failures += w.failures
        refused += [f"{w.id} {r}" for r in w.refused[:3]]
        d = w.decision_row()
        decisions.append(tuple(_iso(v) for v in d))
        status[d[10]] += 1
        rows = w.attempt_rows()
        per_decision_attempts.append(len(rows))
        attempts.extend(tuple(_iso(v) for v in r) for r in rows)
        todo.extend(tuple(_iso(v) for v in r) for r in w.todo_rows())
        # in the order the scans raised them: day by day, each scan in the order of its items
        alerts.extend(tuple(_iso(v) for v in r) for _, _, r in sorted(w.alert_rows))
        events, docs = w.timed_events()
        documents.extend(docs)
        for ev in events:
            buckets[ev[0][:7]].append(ev)
            counts[ev[3]] += 1
        write_files(w, Path(home))
    out = Path(outdir)
    for month, evs in buckets.items():
        d = out / month
        d.mkdir(parents=True, exist_ok=True)
        with (d / f"c{chunk:05d}.pkl").open("wb") as f:
            pickle.dump(evs, f, protocol=pickle.HIGHEST_PROTOCOL)
    return {
        "chunk": chunk,
        "decisions": decisions,
        "attempts": attempts,
        "documents": documents,
        "alerts": alerts,
        "todo": todo,
        "counts": counts,
        "status": status,
        "attempt_counts": per_decision_attempts,
        "failures": failures,
        "refused": refused[:10],
    }


# -- the same histories through the real commands ---------------------------------------------
def replay_with_commands(walks: list[Walk], home: Path) -> Path:
    """Run ``walks`` through the real ``Commands``, a daily ``app.alerts.scan`` at 08:30 and
    ``app.work``'s package and archive builders, each at the time the walk gave it, on a new
    SQLite home; the database file.  Slow (every command, and a scan per day): for samples."""
    import sqlite3

    from app.alerts import scan
    from app.commands import Attachment
    from app.work import build_archive, build_package
    from store.dbapi import Database

    home.mkdir(parents=True, exist_ok=True)
    path = home / "decide.db"
    db = Database(f"sqlite:///{path}")
    db.ensure_schema()
    now = [datetime(2019, 1, 1, tzinfo=UTC)]
    cmds = Commands(db, home, clock=lambda: now[0])
    by_day: dict[date, list[tuple[str, Walk, Event]]] = defaultdict(list)
    for w in walks:
        for rec, e in w.timed():
            if e.follow is not None:  # the scan's are raised by the scan itself
                by_day[e.day].append((rec, w, e))
    files = home / "attachments"
    day, n = min(w.reg for w in walks), 0
    try:
        while day <= CUTOFF:
            now[0] = datetime(day.year, day.month, day.day, 0, 30, tzinfo=UTC)
            scan(cmds, day)
            for rec, w, e in sorted(by_day.get(day, ()), key=lambda x: (x[0], x[1].id)):
                now[0] = datetime.fromisoformat(rec.replace("Z", "+00:00"))
                act, who = e.act, e.actor
                if e.action == "register":
                    year, number = w.id.split("-")
                    with sqlite3.connect(path) as con:  # the id the walk was given
                        con.execute(
                            "INSERT OR REPLACE INTO id_counters (year, last) VALUES (?, ?)",
                            (int(year), int(number) - 1),
                        )
                    con.close()
                    decision = cmds.register(
                        title=w.title,
                        procedure_id=w.proc.id,
                        sponsor=w.sponsor,
                        actor=who,
                        flags=sorted(w.flags),
                        target_on=w.target,
                        catalogue_year=w.catalogue_year,
                        on=e.day,
                        co_sponsors=w.co_sponsors,
                        assign=[f"{r}={u}" for r, units in w.assignments.items() for u in units],
                    )
                    assert decision.id == w.id, (decision.id, w.id)
                elif e.action == "start":
                    cmds.start(
                        w.id,
                        act.step,
                        actor=who,
                        on=act.on,
                        shorten_reason=act.shorten_reason,
                        respond_by=act.respond_by,
                        methods=act.methods,
                        comment_until=act.comment_until,
                    )
                elif e.action == "complete":
                    attachments = []
                    for kind, filename, content in e.files:
                        n += 1
                        target = files / str(n) / filename
                        target.parent.mkdir(parents=True)
                        target.write_bytes(content)
                        attachments.append(Attachment(kind, target))
                    cmds.complete(
                        w.id,
                        act.step,
                        actor=who,
                        on=act.on,
                        outcome=act.outcome,
                        note=e.note,
                        attachments=attachments,
                        meeting=act.meeting,
                        next_meeting_on=act.next_meeting_on,
                    )
                elif e.action == "skip":
                    cmds.skip(w.id, act.step, actor=who, reason=act.reason, on=act.on)
                elif e.action == "extend":
                    cmds.extend(w.id, act.step, actor=who, reason=act.reason, on=act.on)
                elif e.action == "package":
                    build_package(cmds, w.id)
                elif e.action == "archive":
                    build_archive(cmds, w.id)
            day += timedelta(days=1)
    finally:
        db.close()
    return path


_COMPARED = {
    "decisions": ("id", "SELECT * FROM decisions WHERE id IN ({ids}) ORDER BY id", ()),
    "step_attempts": (
        "decision_id",
        "SELECT * FROM step_attempts WHERE decision_id IN ({ids}) ORDER BY decision_id, position",
        ("id",),
    ),
    "documents": (
        "decision_id",
        "SELECT * FROM documents WHERE decision_id IN ({ids}) ORDER BY decision_id, id",
        ("id",),
    ),
    "alerts": (
        "decision_id",
        "SELECT * FROM alerts WHERE decision_id IN ({ids}) ORDER BY decision_id, id",
        ("id",),
    ),
    "todo": (
        "decision_id",
        "SELECT * FROM todo WHERE decision_id IN ({ids}) ORDER BY decision_id, step, unit",
        (),
    ),
    "audit_events": (
        "decision_id",
        "SELECT * FROM audit_events WHERE decision_id IN ({ids}) ORDER BY decision_id, seq",
        ("seq", "prev_hash", "hash", "decision_prev_hash"),
    ),
}


def _table(con: Any, sql: str, ids: list[str], skip: tuple[str, ...]) -> list[dict[str, Any]]:
    cur = con.execute(sql.format(ids=", ".join("?" * len(ids))), ids)
    names = [c[0] for c in cur.description]
    rows = []
    for row in cur.fetchall():
        item = {k: v for k, v in zip(names, row, strict=True) if k not in skip}
        if item.get("action") == "archive":  # the ZIP is not written: its digest is a stand-in
            payload = json.loads(item["payload"])
            payload.pop("sha256", None)
            item["payload"] = canonical_json(payload)
        rows.append(item)
    return rows


def compare(generated: Path, replayed: Path, ids: list[str]) -> list[str]:
    """Where the generated rows of ``ids`` differ from those the commands wrote (empty: none),
    table by table, each difference named with both values."""
    import sqlite3

    found: list[str] = []
    with sqlite3.connect(generated) as a, sqlite3.connect(replayed) as b:
        for table, (_, sql, skip) in _COMPARED.items():
            mine, theirs = _table(a, sql, ids, skip), _table(b, sql, ids, skip)
            if len(mine) != len(theirs):
                found.append(f"{table}: {len(mine)} rows generated, {len(theirs)} by the commands")
            for x, y in zip(mine, theirs, strict=False):
                differ = {k: (x.get(k), y.get(k)) for k in {*x, *y} if x.get(k) != y.get(k)}
                if differ:
                    where = x.get("decision_id") or x.get("id")
                    found.append(f"{table} ({where}): {differ}")
                    break  # the first difference of a table: the rest usually follow from it
    a.close()
    b.close()
    return found
