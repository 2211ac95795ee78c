"""``decide demo`` (and ``make demo``): a district decision through the whole national procedure.

On a fresh embedded home (``./.decide-demo``): a district government's 2025 old-residential-area
renovation plan (老旧小区改造计划), with people in their roles, dated events, a comment period
over the National Day holidays (and an attempt to close it early, refused under Art. 15), an
overdue draft caught by the deadline scan, a legality review that finds the draft unlawful and
sends it back, an approved collective discussion with one dissent recorded, publication and
archiving — then the status table, the alerts, the audit timeline and the verified chain.  The
automated work (notifications, the Art. 29 package, the archive ZIP) runs as Prefect flows,
drained soon after the acts that cause it, so the notifications print in date order among the
story's lines (a message whose step has moved on by then is superseded and counted, not sent).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from contextlib import ExitStack
from datetime import date
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from app.bootstrap import bootstrap
from app.commands import Attachment, Commands
from app.queries import alerts_of, audit_events
from cli import render, tables
from procedures import DecideError, MeetingRecord
from procedures.planner import ALERT_LABELS

D = date.fromisoformat
OFFICE, SPONSOR, JUSTICE = "区政府办公室 张主任", "区住建委 刘科长", "区司法局 王科长"
EXPERTS, RISK, PARTY, ARCHIVE = (
    "专家组 陈教授",
    "区委政法委 赵处长",
    "区委办公室 孙主任",
    "区档案馆 李馆员",
)
AUDITOR = "区审计局 钱审计"
# the accounts of the story (login, name, unit, roles); the experts never log in: the sponsor
# records their opinions on their behalf (代录)
PEOPLE = [
    ("zhang", OFFICE, "区人民政府办公室", ("decision_body",)),
    ("liu", SPONSOR, "区住房和城乡建设委员会", ("sponsor",)),
    ("wang", JUSTICE, "区司法局", ("legal_office",)),
    ("zhao", RISK, "区委政法委", ("risk_assessor",)),
    ("li", ARCHIVE, "区档案馆", ("archivist",)),
    ("qian", AUDITOR, "区审计局", ("auditor",)),
]
DEMO_PASSWORD = "demo-password-2025"  # a demo home only: never a real one


def main(home: Path | None = None, console: Console | None = None) -> int:
    started = time.perf_counter()
    console = console or render.console()
    home = (home or Path(os.environ.get("DECIDE_DEMO_HOME", ".decide-demo"))).resolve()
    shutil.rmtree(home, ignore_errors=True)
    (home / "inputs").mkdir(parents=True)
    (home / "notify.toml").write_text('console = true\njsonl = "alerts.jsonl"\n', encoding="utf-8")
    url = f"sqlite:///{home / 'decide.db'}"
    cmds = bootstrap(database_url=url, home=home)
    console.rule("[bold]decide demo — 某区2025年老旧小区改造计划[/]")
    console.print(f"embedded home: {home} (SQLite, WAL, synchronous=FULL)\n")
    from flows.prefect_env import configure, local_server

    configure(home, quiet=True)
    with ExitStack() as prefect:
        with console.status("[cyan]启动 Prefect (local mode) … starting Prefect[/]"):
            from flows.orchestration import drain, scan_flow, use

            prefect.enter_context(local_server())
        use(cmds)
        story = Story(cmds, console, home)
        try:
            story.run(
                lambda: _drain(console, drain),
                lambda day: _scan(console, scan_flow, day),
            )
        except DecideError as exc:  # the story is scripted: a refusal here is a bug in the demo
            console.print(f"[red]demo stopped: {escape(str(exc))}[/]")
            return 1
    story.report()
    _console_hint(console, home)
    console.print(f"\n[dim]demo finished in {time.perf_counter() - started:.1f} s[/]")
    cmds.db.close()
    return 0


def _console_hint(console: Console, home: Path) -> None:
    """How to open the web console on the demo's home, with its accounts."""
    logins = ", ".join(f"{login} ({escape(name)})" for login, name, _, _ in PEOPLE)
    console.print(
        "\n[bold]网页控制台 the web console[/]: "
        f"DECIDE_HOME={escape(str(home))} decide web --port 8000\n"
        "  then open http://127.0.0.1:8000/ and sign in as "
        f"admin or {logins}\n  password (demo only): {DEMO_PASSWORD}"
    )


def _drain(console: Console, drain: Any) -> None:
    with console.status("[cyan]Prefect: 处理待办 outbox …[/]", spinner="dots"):
        results = asyncio.run(drain(worker="demo"))
    done = sum(r["ok"] for r in results)
    superseded = sum(r.get("outcome") == "superseded" for r in results)
    extra = [r for r in results if r.get("file")]
    console.print(
        f"  [dim]Prefect flow: {done}/{len(results)} outbox item(s) done"
        + (f", {superseded} superseded (步骤已结束 the step has moved on)" if superseded else "")
        + "".join(f"; {Path(r['file']).name}" for r in extra)
        + "[/]"
    )


def _scan(console: Console, scan_flow: Any, day: date) -> None:
    with console.status("[cyan]Prefect: 期限扫描 deadline scan …[/]", spinner="dots"):
        raised = asyncio.run(scan_flow(day))
    console.print(f"  [bold]期限扫描 deadline scan as of {day}[/]: {len(raised)} alert(s) raised")


class Story:
    def __init__(self, cmds: Commands, console: Console, home: Path) -> None:
        self.cmds, self.console, self.home = cmds, console, home
        self.id = ""
        self.accounts: dict[str, Any] = {}

    def doc(self, name: str, text: str) -> Path:
        path = self.home / "inputs" / name
        path.write_text(text, encoding="utf-8")
        return path

    def say(self, day: str, who: str, what: str) -> None:
        self.console.print(f"[bold]{day}[/] [cyan]{escape(who)}[/]: {escape(what)}")

    def act(self, verb: str, step: str, day: str, who: str, what: str, **kw: Any) -> None:
        self.say(day, who, what)
        getattr(self.cmds, verb)(self.id, step, actor=self.as_(who, kw), on=D(day), **kw)

    def as_(self, who: str, kw: dict[str, Any]) -> Any:
        """The account acting (with the party it records for, 代录)."""
        import dataclasses

        party = kw.pop("on_behalf_of", None)
        return dataclasses.replace(self.accounts[who], on_behalf_of=party)

    def refused(self, verb: str, step: str, day: str, who: str, what: str, **kw: Any) -> None:
        self.say(day, who, what)
        try:
            getattr(self.cmds, verb)(self.id, step, actor=self.as_(who, kw), on=D(day), **kw)
        except DecideError as exc:
            self.console.print(
                f"   [red]拒绝 refused[/] (exit {exc.exit_code}): {escape(str(exc))}"
            )
        else:  # pragma: no cover
            raise AssertionError("the procedure should have refused this")

    def run(self, drain: Any, scan: Any) -> None:
        c = self.cmds
        from app.accounts import add_account, create_token

        add_account(c, None, login="admin", name="系统管理员", unit="区人民政府办公室",
                    admin=True, password=DEMO_PASSWORD)  # fmt: skip
        admin = c.identify(token=create_token(c, "admin", DEMO_PASSWORD)[0])
        for login, name, unit, roles in PEOPLE:
            add_account(c, admin, login=login, name=name, unit=unit, roles=roles,
                        password=DEMO_PASSWORD)  # fmt: skip
            self.accounts[name] = c.identify(token=create_token(c, login, DEMO_PASSWORD)[0])
        self.console.print(
            f"  [dim]{len(PEOPLE) + 1} accounts (Argon2id), each act under its own token[/]"
        )
        self.say(
            "2025-03-03", OFFICE, "登记决策事项（2025年度目录，专业性强、涉及社会稳定） register"
        )
        d = c.register(
            title="某区2025年老旧小区改造计划",
            procedure_id="national-2019",
            sponsor="区住房和城乡建设委员会",
            actor=self.accounts[OFFICE],
            assign=("risk_assessor=区委政法委",),
            flags=("technical", "stability_risk"),
            target_on=D("2025-12-31"),
            catalogue_year=2025,
            on=D("2025-03-03"),
        )
        self.id = d.id
        self.act("start", "drafting", "2025-03-03", SPONSOR, "开始拟订决策草案 (due in 60 days)")
        drain()
        scan(D("2025-05-14"))  # the draft is late: due 2025-05-06
        drain()
        draft = self.doc("草案.txt", "某区2025年老旧小区改造计划（草案）及起草说明")
        consulted = self.doc("部门意见.txt", "区财政局、区城管委意见及协商情况（Art. 13）")
        self.act(
            "complete",
            "drafting",
            "2025-08-29",
            SPONSOR,
            "草案拟订完成（附草案，及与区财政局、区城管委协商的情况）",
            attachments=[Attachment("draft", draft), Attachment("consultation_record", consulted)],
        )
        # Art. 14-15: a public comment notice published with its deadline (30 days from the day
        # after publication: 10-01, in the National Day holiday, so the window runs to 10-09),
        # and a symposium with residents
        self.act(
            "start",
            "public_participation",
            "2025-09-01",
            SPONSOR,
            "区政府网站发布征求意见公告，截止 2025-10-01（顺延至 10-09），另召开居民座谈会",
            methods=("public_comment", "symposium"),
            comment_until=D("2025-10-01"),
        )
        self.say("2025-09-01", SPONSOR, self._window("public_participation"))
        self.act("start", "expert_review", "2025-09-01", SPONSOR, "组织专家论证会（Art. 19）")
        self.act("start", "risk_assessment", "2025-09-01", RISK, "社会稳定风险评估")
        drain()  # notifications as they fall due, in date order (a stale one is superseded)
        self.act(
            "complete",
            "expert_review",
            "2025-09-19",
            SPONSOR,
            "代录专家组论证意见（专家签名盖章）及采纳情况 (recorded on the panel's behalf)",
            on_behalf_of=EXPERTS,
            attachments=[
                Attachment("expert_opinions", self.doc("专家论证意见.txt", "陈教授等5位专家")),
                Attachment(
                    "expert_adoption_report",
                    self.doc("专家意见采纳情况.txt", "专家意见采纳情况说明"),
                ),
            ],
        )
        self.act(
            "complete",
            "risk_assessment",
            "2025-09-26",
            RISK,
            "风险评估：风险可控",
            outcome="controllable",
            attachments=[Attachment("risk_report", self.doc("风险评估报告.txt", "风险可控"))],
        )
        self.refused(
            "complete",
            "public_participation",
            "2025-10-09",
            SPONSOR,
            "试图在期间最后一日结束征求意见 (closing on the window's last day)",
        )
        self.act(
            "complete",
            "public_participation",
            "2025-10-10",
            SPONSOR,
            "征求意见期满（截止日 10-01 为国庆假期，顺延至 10-09 二十四时），意见采纳情况已整理",
            attachments=[
                Attachment(
                    "opinion_adoption_report",
                    self.doc("公众意见采纳情况.txt", "共收到意见132条，采纳41条"),
                )
            ],
        )
        self.act("start", "legality_review", "2025-10-13", SPONSOR, "送区司法局合法性审查")
        drain()
        self.act(
            "complete",
            "legality_review",
            "2025-10-22",
            JUSTICE,
            "审查意见：征收补偿条款缺乏上位法依据 — 不合法 unlawful",
            outcome="unlawful",
            attachments=[
                Attachment("legality_opinion", self.doc("审查意见1.txt", "征收补偿条款不合法"))
            ],
        )
        drain()
        self.act("start", "drafting", "2025-10-23", SPONSOR, "退回重新拟订草案 (attempt 2)")
        self.act(
            "complete",
            "drafting",
            "2025-10-31",
            SPONSOR,
            "修改后的草案（删除征收补偿条款）",
            attachments=[
                Attachment("draft", self.doc("草案（修改稿）.txt", "修改稿：删除征收补偿条款"))
            ],
        )
        # Arts. 24, 28: only the necessary adjustments — the earlier results that still stand
        # are kept with a reason; the legality review of the changed draft runs again (Art. 25)
        self.act(
            "reuse",
            "expert_review",
            "2025-11-03",
            SPONSOR,
            "沿用第1次专家论证：删除的条款不涉及技术方案",
            reason="修改仅删除征收补偿条款，不涉及改造技术方案，专家论证意见仍然适用",
        )
        self.act(
            "reuse",
            "public_participation",
            "2025-11-03",
            SPONSOR,
            "沿用第1次公众参与：删除条款回应了公众意见，未增加新的内容",
            reason="删除征收补偿条款系采纳公众意见的结果，草案未增加涉及公众利益的新内容",
        )
        self.refused(
            "reuse",
            "legality_review",
            "2025-11-03",
            SPONSOR,
            "试图沿用合法性审查 (keeping the legality review of the old draft)",
            reason="只删了条款",
        )
        self.act(
            "start", "risk_assessment", "2025-11-03", RISK, "修改稿重新评估风险（补偿方式改变）"
        )
        self.act(
            "complete",
            "risk_assessment",
            "2025-11-21",
            RISK,
            "风险可控",
            outcome="controllable",
            attachments=[
                Attachment("risk_report", self.doc("风险评估报告2.txt", "第二轮：风险可控"))
            ],
        )
        # Art. 26 binds the submitter: 7 working days after receipt (11-24) end on 12-03
        self.refused(
            "start",
            "legality_review",
            "2025-11-24",
            SPONSOR,
            "再次送审，要求 11-28 前答复 (asking for the opinion within 4 working days)",
            respond_by=D("2025-11-28"),
        )
        self.act(
            "start", "legality_review", "2025-11-24", SPONSOR, "再次送审（保证审查时间至 12-03）"
        )
        self.act(
            "complete",
            "legality_review",
            "2025-11-28",
            JUSTICE,
            "审查意见：合法 lawful — 第4个工作日出具，早于保证审查时间届满 (the reviewer may "
            "answer before the guaranteed time ends)",
            outcome="lawful",
            attachments=[
                Attachment("legality_opinion", self.doc("合法性审查意见书.txt", "经审查，合法"))
            ],
        )
        drain()  # the Art. 29 package is assembled
        # Art. 31: the request to the district Party committee, before the decision is issued
        self.act("start", "party_committee_report", "2025-12-01", OFFICE, "向区委请示报告")
        self.act("complete", "party_committee_report", "2025-12-05", OFFICE, "区委同意提交审议")
        self.refused(
            "start",
            "collective_discussion",
            "2025-12-15",
            OFFICE,
            "提请区政府常务会议 (the package lacks the legal advisers' opinion, Art. 28)",
        )
        self.act(
            "attach",
            "legality_review",
            "2025-12-15",
            JUSTICE,
            "补交法律顾问、公职律师法律意见（Art. 28）",
            attachments=[
                Attachment(
                    "legal_advisers_opinion", self.doc("法律顾问意见.txt", "法律顾问：无异议")
                )
            ],
        )
        self.act("start", "collective_discussion", "2025-12-15", OFFICE, "提请区政府常务会议")
        members = {
            "王副区长": "approved",
            "李副区长": "approved",
            "赵副区长": "approved",
            "钱秘书长": "rejected",
        }
        meeting = MeetingRecord(
            meeting_type="executive",
            chair="周区长",
            attendees=("周区长", *members),
            positions=members,
            dissent={"钱秘书长": "资金缺口测算不足，建议分年度实施"},
        )
        self.act(
            "complete",
            "collective_discussion",
            "2025-12-19",
            OFFICE,
            "区政府第32次常务会议审议通过（一人不同意，如实记录）",
            outcome="approved",
            meeting=meeting,
        )
        drain()
        # 政府信息公开条例 Art. 26: 20 working days from the decision; Art. 32: a technical
        # matter's publication explains how opinions were adopted, with its interpretation
        self.act("start", "publication", "2025-12-22", OFFICE, "区政府网站、区政府公报")
        self.act(
            "complete",
            "publication",
            "2025-12-31",
            OFFICE,
            "已公布，附意见采纳情况说明和政策解读",
            attachments=[
                Attachment("publication_notice", self.doc("公布.txt", "区政府公报2025年第12期")),
                Attachment(
                    "adoption_explanation", self.doc("采纳说明.txt", "公众意见、专家意见采纳情况")
                ),
                Attachment("policy_interpretation", self.doc("政策解读.txt", "一图读懂改造计划")),
            ],
        )
        self.act("start", "archiving", "2026-01-05", ARCHIVE, "整理决策过程材料")
        self.refused(
            "complete",
            "archiving",
            "2026-01-06",
            AUDITOR,
            "审计人员试图代为归档 (an auditor reads and verifies, and changes nothing)",
        )
        self.act("complete", "archiving", "2026-01-09", ARCHIVE, "归档完成")
        drain()  # the archive ZIP is built

    def _window(self, step: str) -> str:
        _, view = self.cmds.status(self.id, D("2025-09-01"))
        s = view.step(step)
        return (
            f"征求意见截止 {s.comment_until}，期间至 {s.window_until}，{s.earliest_close_on} 起方可结束"
            f" (comments until {s.comment_until}, the window runs to {s.window_until}; "
            "Civil Code Arts. 201, 203 by analogy)"
        )

    def report(self) -> None:
        c, con = self.cmds, self.console
        decision, view = c.status(self.id, D("2026-01-09"))
        con.print()
        con.print(tables.status_table(decision, view, c.procedure_of(decision)))
        alerts = Table(title="已发出的提醒 alerts raised", title_justify="left")
        for col in ("步骤 step", "提醒 level", "到期 due", "首次达到 first reached", "次 #"):
            alerts.add_column(col)
        rows = alerts_of(c, self.id)
        events = audit_events(c, self.id)
        for step, level, due, first, attempt in rows:
            alerts.add_row(
                step or "target",
                f"{ALERT_LABELS[level]} {level}",
                str(due),
                str(first),
                str(attempt),
            )
        con.print(alerts)
        timeline = Table(
            title=f"审计记录 audit timeline ({len(events)} events)", title_justify="left"
        )
        for col in (
            "#",
            "生效 effective",
            "操作 action",
            "人员 actor",
            "步骤/结果 step/outcome",
            "hash",
        ):
            timeline.add_column(col)
        import json

        for e in events:
            data = json.loads(e.payload)
            what = " ".join(str(data[k]) for k in ("step", "outcome", "level") if data.get(k))
            who = escape(e.actor) + (f" ({data['login']})" if data.get("login") else "")
            if data.get("on_behalf_of"):
                who += f"\n代录 for {escape(data['on_behalf_of'])}"
            timeline.add_row(str(e.seq), str(e.effective_on), e.action, who, what, e.hash[:12])
        con.print(timeline)
        from app.admin import audit_checkpoint, audit_verify

        cp = audit_checkpoint(c)
        report = audit_verify(c)
        colour = "green" if report.ok else "red"
        con.print(
            f"[{colour}]审计链验证 audit chain verified: ok={report.ok}[/], {report.events} "
            f"events, {report.documents} documents, signed checkpoint at #{cp.seq}"
        )
        for name in sorted((self.home / "packages").glob("*.json")) + sorted(
            (self.home / "archives").glob("*.zip")
        ):
            con.print(f"  {name.relative_to(self.home)}")
