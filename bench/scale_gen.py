"""Realistic decision histories for ``bench/scale.py``, generated with the real planner.

Each decision is walked through its procedure with ``procedures.apply`` and ``procedures.plan``
in date order (valid actions only: a step starts once it is ready, completes on or after its
earliest close, a paused review is resubmitted, a deferred discussion meets again on the date
set), with returns at realistic rates.  The walk yields, per decision:

* the ``decisions`` row (status and ``next_due_on`` from the plan after its last action, and
  ``next_alert_on`` as the daily scans up to 2026-11-25 leave it, see ``_next_alert``);
* the ``step_attempts`` rows with the columns exactly as ``store.repository`` writes them — the
  JSON columns through ``_attempt_columns``, and ``due_on``/``earliest_close_on``/``provisional``
  as they stand after the last write of each row (``add`` with its plan at registration, then
  ``_write_attempts`` rewriting only the rows an action changed, dated only while current);
* ``documents`` rows (one per file attached to a completion, as ``Commands.complete`` adds them);
* ``alerts`` rows and ``alert`` events: what a daily deadline scan (``app.alerts.scan`` at
  08:30, one ``now`` per scan) would have raised, derived with ``app.alerts.level_dates`` from
  the plan in force between consecutive actions, up to 2026-11-25;
* the audit events (register/start/complete/skip/extend with the payloads ``Commands`` writes,
  ``package``/``archive`` as ``app.work`` records them, and optional padding ``note`` events),
  with their effective date and a UTC recording time.  Hashing happens later, in global order.

Pure apart from writing the event buckets (one pickle per chunk and month) in ``gen_chunk``.
"""

from __future__ import annotations

import hashlib
import pickle
import random
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from app.alerts import SCAN_ACTOR, Alert, due_items, level_dates, reached
from app.queries import HORIZON
from app.work import SYSTEM
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
from procedures.planner import ALERT_LEVELS, current_attempt
from procedures.transitions import majority_position
from store.audit import canonical_json
from store.repository import NOTHING_DUE, _attempt_columns, _dump, next_due

VERSION = 4  # bump when the histories change (cached databases are rebuilt)
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


def registrations(n: int, seed: int) -> list[tuple[int, str, date, str, int]]:
    """(index, id, registered_on, procedure, seed) for n decisions, ids in registration order."""
    rng = random.Random(seed)
    span = (REG_LAST - REG_FIRST).days
    days = []
    for _ in range(n):
        d = REG_FIRST + timedelta(days=int(span * rng.random()))
        days.append(min(CAL.next_working_day(d), REG_LAST))
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


class _Walk:
    """One decision's history."""

    def __init__(self, spec: tuple[int, str, date, str, int], pad_rate: float) -> None:
        self.idx, self.id, self.reg, proc_id, seed = spec
        self.rng = rng = random.Random(seed)
        self.proc = PROCS[proc_id]
        self.sidx = STEP_INDEX[proc_id]
        self.pad_rate = pad_rate
        flags = set()
        if rng.random() < 0.6:
            flags.add("technical")
        if rng.random() < 0.5:
            flags.add("stability_risk")
        if rng.random() < 0.04:
            flags.add("undisclosable")
        self.flags = frozenset(flags)
        if proc_id == "national-2019":
            self.place = rng.choice(NATIONAL_PLACES)
        elif proc_id == "tianjin-2020":
            self.place = TIANJIN_CITY[0]
        else:
            self.place = rng.choice(TIANJIN_DISTRICTS)
        self.sponsor = f"{self.place}{rng.choice(SPONSORS)}"
        self.title = f"{self.place}{self.reg.year}年{rng.choice(TOPICS)}"
        self.target = (
            self.reg + timedelta(days=rng.randint(150, 420)) if rng.random() < 0.6 else None
        )
        self.catalogue_year = self.reg.year if rng.random() < 0.8 else None
        self.actors = {r: _person(rng, r, self.place, self.sponsor) for r in ROLE_UNITS}
        self.events: list[list[Any]] = []  # [date, action, actor, payload(dict), follow, sub]
        self.alert_rows: list[tuple[Any, ...]] = []
        self.doc_rows: list[tuple[Any, ...]] = []
        self.raised: set[tuple[str, int, str]] = set()
        self.returns = 0
        self.failures = 0
        self.lr_incomplete = 0

    # -- the walk -------------------------------------------------------------------------------
    def run(self) -> None:
        proc = self.proc
        self.attempts = register(proc, self.reg)
        view = plan(proc, self.flags, self.attempts, self.reg, CAL, target_on=self.target)
        self.version = 1
        # add(decision, plan): the current attempts dated from the plan
        self.rowdates: list[tuple[Any, Any, bool]] = [(None, None, False)] * len(self.attempts)
        views = {v.step: v for v in view.steps}
        for pos, a in enumerate(self.attempts):
            if not a.superseded:
                v = views[a.step]
                self.rowdates[pos] = (v.due_on, v.earliest_close_on, v.provisional)
        self.events.append(
            [
                self.reg,
                "register",
                self.actors["decision_body"],
                {
                    "title": self.title,
                    "procedure": proc.id,
                    "procedure_version": proc.version,
                    "procedure_sha256": PINNED[proc.id].sha256,
                    "flags": sorted(self.flags),
                    "sponsor": self.sponsor,
                    "target_on": self.target,
                    "catalogue_year": self.catalogue_year,
                    "status": view.status,
                },
                False,
                0,
            ]
        )
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
            action = action(when) if callable(action) else action
            try:
                new = apply(proc, self.flags, self.attempts, action, CAL)
            except DecideError:
                self.failures += 1
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
        self._notes()

    def _propose(self, sv: Any, att: Any, t: date) -> tuple[date, Any]:
        rng, step = self.rng, sv.step
        if sv.status == "paused":  # materials returned: resubmitted a few days later
            on = _workday(att.pauses[-1].returned_on + timedelta(days=rng.randint(3, 20)), rng)
            on = max(on, t)
            return on, Start(step=step, on=on)
        if sv.status == "ready":
            lo, hi = START_GAP.get(step, (1, 10))
            on = _workday(t + timedelta(days=rng.randint(lo, hi)), rng)
            if step == "risk_assessment" and rng.random() < 0.15 and not self._risk_returned():
                return on, Skip(step=step, on=on, reason=rng.choice(SKIP_REASONS))
            shorten = None
            if step in ("public_participation", "legality_review") and rng.random() < 0.03:
                shorten = rng.choice(SHORTEN_REASONS)
            return on, Start(step=step, on=on, shorten_reason=shorten)
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
        chosen = proc_step.outcome(outcome) if outcome else proc_step.outcomes[0]
        assert chosen is not None
        docs: list[str] = []
        if chosen.effect != "pause":
            docs = [d for d in proc_step.documents if rng.random() < 0.92]
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
    def _record(self, action: Any, new: tuple[Any, ...], view: Any) -> None:
        old = self.attempts
        views = {v.step: v for v in view.steps}
        current = {a.step: i for i, a in enumerate(new) if not a.superseded}
        for pos, a in enumerate(new):
            if pos < len(old) and (old[pos] is a or old[pos] == a):
                continue
            v = views.get(a.step) if current.get(a.step) == pos else None
            dated = (
                (v.due_on, v.earliest_close_on, bool(v.provisional)) if v else (None, None, False)
            )
            if pos < len(self.rowdates):
                self.rowdates[pos] = dated
            else:
                self.rowdates.append(dated)
        self.attempts = new
        self.version += 1
        cur = next(a for a in reversed(new) if a.step == action.step)
        payload: dict[str, Any] = action.model_dump(
            mode="json", exclude_none=True, exclude={"kind", "documents", "on"}
        )
        payload.update(attempt=cur.number, version=self.version, status=view.status)
        kind = action.kind
        if kind == "complete":
            rng = self.rng
            if rng.random() < 0.2:
                payload["note"] = rng.choice(COMPLETE_NOTES)
            if action.documents:
                files = []
                for k in action.documents:
                    label = self.proc.document(k)
                    sha = hashlib.sha256(
                        f"{self.id}|{action.step}|{cur.number}|{k}".encode()
                    ).hexdigest()
                    filename = f"{label.zh if label else k}.{rng.choice(('pdf', 'docx', 'pdf'))}"
                    size = rng.randint(20_000, 4_000_000)
                    files.append({"kind": k, "filename": filename, "sha256": sha, "size": size})
                    self.doc_rows.append(
                        (self.id, action.step, cur.number, k, filename, sha, size, action.on)
                    )
                payload["documents"] = files
            outcome = (
                self.proc.step(action.step).outcome(cur.outcome or "") if cur.outcome else None
            )
            if outcome is not None and outcome.effect == "return" and cur.status == "done":
                self.returns += 1
            if action.step == "legality_review" and action.outcome == "incomplete":
                self.lr_incomplete += 1
        role = self.proc.step(action.step).role
        self.events.append(
            [action.on, kind, self.actors.get(role, self.actors["sponsor"]), payload, False, 0]
        )
        if kind == "complete" and cur.status == "done":
            step = self.proc.step(action.step)
            outcome = step.outcome(cur.outcome or "")
            if action.step == "legality_review" and outcome is not None and outcome.passing:
                self.events.append([action.on, "package", SYSTEM, self._package(cur), True, 0])
            if action.step == "archiving":
                self.events.append([action.on, "archive", SYSTEM, {"_archive": True}, True, 0])

    def _package(self, review: Any) -> dict[str, Any]:
        missing = []
        for kind in self.proc.package:
            producer = next(s for s in self.proc.steps if kind in s.documents)
            att = current_attempt(self.attempts, producer.id)
            if att is None or att.status != "done":
                continue
            if kind not in att.documents:
                missing.append(f"{producer.id}:{kind}")
        name = f"{self.id}-lr{review.number}.json"
        return {
            "file": name,
            "sha256": hashlib.sha256(f"{name}|{self.version}".encode()).hexdigest(),
            "complete": not missing,
            "missing": missing,
        }

    def _alerts(self, view: Any, lo: date, hi: date) -> None:
        """What the daily scans on the days in (lo, hi] raised, with the plan ``view`` in force."""
        if hi <= lo:
            return
        first_scan = lo + timedelta(days=1)
        for item in due_items(view, self.reg):  # the scan's own items
            step, zh, role, attempt, due, start = (
                item.step, item.zh, item.role, item.attempt, item.due_on, item.start
            )  # fmt: skip
            for level, first in _levels(due, start):
                if first < start or first > hi:
                    continue
                # once per level per step attempt, whatever later happens to the due date
                # (app.alerts._RAISE since 2026-11-26 15:49; before, once per due date)
                key = (step, attempt, level)
                if key in self.raised:
                    continue
                self.raised.add(key)
                day = max(first, first_scan)
                alert = Alert(
                    self.id, self.title, step, zh, role, attempt, level, due, first, _late(due, day)
                )
                sub = (self.sidx[step] if step else 99) * 10 + ALERT_LEVELS.index(level)
                self.events.append([day, "alert", SCAN_ACTOR, alert.payload(), None, sub])
                raised = datetime(day.year, day.month, day.day, 0, 30).strftime(_DATE_FMT)
                self.alert_rows.append((self.id, step, attempt, level, due, first, raised))

    def _notes(self) -> None:
        """Padding: short working notes on each attempt that ran (``note`` events)."""
        rate = self.pad_rate
        if rate <= 0:
            return
        rng = self.rng
        whole, frac = int(rate), rate - int(rate)
        for a in self.attempts:
            if a.opened_on is None or a.status == "skipped" or a.step == "initiation":
                continue
            k = whole + (1 if rng.random() < frac else 0)
            end = a.closed_on or CUTOFF
            span = max(0, (end - a.opened_on).days)
            texts = NOTES.get(a.step, ("工作推进中。",))
            actor = self.actors.get(self.proc.step(a.step).role, self.actors["sponsor"])
            for _ in range(k):
                on = _workday(a.opened_on + timedelta(days=rng.randint(0, span)), rng)
                if on > end:
                    on = end
                payload = {"step": a.step, "attempt": a.number, "note": rng.choice(texts)}
                self.events.append([on, "note", actor, payload, False, 0])

    # -- rows ----------------------------------------------------------------------------------
    def timed_events(self) -> list[tuple[Any, ...]]:
        """(recorded_at, decision_id, sub, action, actor, effective_on, payload_json), in order."""
        rng = self.rng
        by_day: dict[date, list[list[Any]]] = defaultdict(list)
        for e in self.events:
            by_day[e[0]].append(e)
        out: list[tuple[Any, ...]] = []
        for day in sorted(by_day):
            group = by_day[day]
            alerts = sorted((e for e in group if e[4] is None), key=lambda e: e[5])
            base = f"{day.isoformat()}T"
            for e in alerts:  # one scan at 08:30 Asia/Shanghai, one `now` for all it raises
                out.append([base + "00:30:00.000000Z", e])
            # office hours 09:00-17:30 Shanghai = 01:00-09:30 UTC; follow-ups seconds later
            us = (3600 + rng.randint(0, 7200)) * 1_000_000 + rng.randint(0, 999_999)
            for e in (e for e in group if e[4] is not None):
                us += rng.randint(2, 30) * 1_000_000 if e[4] else rng.randint(60, 1200) * 1_000_000
                us += rng.randint(0, 999_999)
                secs, micro = divmod(us, 1_000_000)
                hh, rest = divmod(secs, 3600)
                mm, ss = divmod(rest, 60)
                out.append([f"{base}{hh:02d}:{mm:02d}:{ss:02d}.{micro:06d}Z", e])
        rows = []
        for n, (rec, e) in enumerate(out):
            payload = e[3]
            if e[1] == "archive":
                name = f"{self.id}.zip"
                payload = {
                    "file": name,
                    "sha256": hashlib.sha256(f"{name}|{n}".encode()).hexdigest(),
                    "documents": len(self.doc_rows),
                    "events": n,  # the decision's events before it (the export in the ZIP)
                }
            rows.append((rec, self.id, e[5], e[1], e[2], e[0].isoformat(), canonical_json(payload)))
        return rows

    def decision_row(self) -> tuple[Any, ...]:
        return (
            self.id,
            self.title,
            self.proc.id,
            self.proc.version,
            PINNED[self.proc.id].sha256,
            _dump(sorted(self.flags)),
            self.sponsor,
            self.target,
            self.catalogue_year,
            self.reg,
            self.view.status,
            self.version,
            next_due(self.view),
            self._next_alert(),
        )

    def _next_alert(self) -> date | None:
        """``decisions.next_alert_on`` after the scan of 2026-11-25 (``store.repository`` and
        ``app.alerts.scan``): a command leaves it unknown (``None``) unless nothing can fall due
        any more; a scan plans the decision once its next due date is within the horizon, then
        again on each date it records, so after the last scan it holds the first level reached
        after that day.  Actions here happen after the day's scan."""
        due = next_due(self.view)
        if due == NOTHING_DUE:
            return NOTHING_DUE
        if self.last_t >= CUTOFF or due > CUTOFF + HORIZON:
            return None  # changed on the last day, or not planned by any scan since its change
        return reached(CAL, self.view, self.reg, CUTOFF)[1]

    def attempt_rows(self) -> list[tuple[Any, ...]]:
        rows = []
        for pos, a in enumerate(self.attempts):
            c = _attempt_columns(a)
            due, earliest, prov = self.rowdates[pos]
            rows.append(
                (
                    self.id,
                    pos,
                    c["step"],
                    c["number"],
                    c["status"],
                    c["opened_on"],
                    c["shorten_reason"],
                    c["closed_on"],
                    c["outcome"],
                    c["skip_reason"],
                    c["pauses"],
                    c["extensions"],
                    c["deferrals"],
                    c["documents"],
                    bool(c["superseded"]),
                    due,
                    earliest,
                    bool(prov),
                )
            )
        return rows


DECISION_COLUMNS = (
    "id", "title", "procedure_id", "procedure_version", "procedure_sha256", "flags", "sponsor",
    "target_on",
    "catalogue_year", "registered_on", "status", "version", "next_due_on", "next_alert_on",
)  # fmt: skip
ATTEMPT_COLUMNS = (
    "decision_id", "position", "step", "number", "status", "opened_on", "shorten_reason",
    "closed_on", "outcome", "skip_reason", "pauses", "extensions", "deferrals", "documents",
    "superseded", "due_on", "earliest_close_on", "provisional",
)  # fmt: skip
DOCUMENT_COLUMNS = (
    "decision_id", "step", "attempt", "kind", "filename", "sha256", "size", "stored_at",
)  # fmt: skip
ALERT_COLUMNS = (
    "decision_id", "step", "attempt", "level", "due_on", "first_reached_on", "raised_at",
)  # fmt: skip


def _iso(v: Any) -> Any:
    return v.isoformat() if isinstance(v, date) else v


def walk_one(spec: tuple[int, str, date, str, int], pad_rate: float) -> _Walk:
    w = _Walk(spec, pad_rate)
    w.run()
    return w


def gen_chunk(
    chunk: int, specs: list[tuple[int, str, date, str, int]], outdir: str, pad_rate: float
) -> dict[str, Any]:
    """Walk a chunk of decisions; write its events into per-month buckets; return the rows."""
    decisions, attempts, documents, alerts = [], [], [], []
    buckets: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    counts: Counter[str] = Counter()
    status: Counter[str] = Counter()
    per_decision_attempts = []
    failures = 0
    for spec in specs:
        w = walk_one(spec, pad_rate)
        failures += w.failures
        d = w.decision_row()
        decisions.append(tuple(_iso(v) for v in d))
        status[d[9]] += 1
        rows = w.attempt_rows()
        per_decision_attempts.append(len(rows))
        attempts.extend(tuple(_iso(v) for v in r) for r in rows)
        for r in w.doc_rows:
            on = r[7]
            stored = datetime(on.year, on.month, on.day, 3, 0, tzinfo=UTC).strftime(_DATE_FMT)
            documents.append((*r[:7], stored))
        alerts.extend(tuple(_iso(v) for v in r) for r in w.alert_rows)
        for ev in w.timed_events():
            buckets[ev[0][:7]].append(ev)
            counts[ev[3]] += 1
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
        "counts": counts,
        "status": status,
        "attempt_counts": per_decision_attempts,
        "failures": failures,
    }


def pilot(specs: list[tuple[int, str, date, str, int]]) -> tuple[float, float]:
    """Natural events and opened attempts per decision, on a sample walked without padding."""
    events = opened = 0
    for spec in specs:
        w = walk_one(spec, 0.0)
        events += len(w.events)
        opened += sum(
            1
            for a in w.attempts
            if a.opened_on is not None and a.status != "skipped" and a.step != "initiation"
        )
    return events / len(specs), opened / len(specs)
