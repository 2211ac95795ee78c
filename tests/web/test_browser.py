"""The console in real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright):
five accounts of different units take one decision from registration to archiving through the
pages alone — an early close refused with its article, a return and a reuse, uploads, a
meeting record with a dissent — and the auditor verifies the chain.  Screenshots for the
README are written to docs/screenshots/."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.commands import Commands
from app.requests import RegisterRequest
from tests.web.conftest import PASSWORD, SPONSOR_UNIT

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # pragma: no cover
    sync_playwright = None  # type: ignore[assignment]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(sync_playwright is None, reason="playwright is not installed"),
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (apt-get install chromium)"
    ),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(cmds: Commands) -> Iterator[str]:
    import uvicorn

    from api import create_app

    port = _free_port()
    config = uvicorn.Config(create_app(lambda: cmds), host="127.0.0.1", port=port,
                            log_level="warning")  # fmt: skip
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(100):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(5)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert sync_playwright is not None
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                              args=["--no-sandbox"])  # fmt: skip
        yield b
        b.close()


class Desk:
    """One user's browser session."""

    def __init__(self, browser: Browser, base: str, login: str, **kw: Any) -> None:
        self.base = base
        kw.setdefault("viewport", {"width": 1366, "height": 768})
        self.context = browser.new_context(**kw)
        self.page: Page = self.context.new_page()
        self.page.goto(f"{base}/login")
        self.page.fill("#login", login)
        self.page.fill("#password", PASSWORD)
        self.page.click("form[action='/login'] button")
        self.page.wait_for_url(re.compile(r"/inbox"))

    def act(self, d: str, step: str, verb: str, on: str, fields: dict[str, str] | None = None,
            upload: tuple[str, Path] | None = None, checks: tuple[str, ...] = ()) -> str:  # fmt: skip
        page = self.page
        page.goto(f"{self.base}/decisions/{d}")
        form = page.locator(f"form[action$='/steps/{step}/{verb}']")
        form.locator("xpath=..").locator("summary").click()
        page.fill(f"#{step}-{verb}-on", on)
        for name, value in (fields or {}).items():
            target = f"#{step}-{verb}-{name}"
            if page.locator(target).evaluate("e => e.tagName") == "SELECT":
                page.select_option(target, value)
            else:
                page.fill(target, value)
        for box in checks:
            page.check(f"#{step}-{verb}-m-{box}")
        if upload:
            page.select_option(f"#{step}-{verb}-kind", upload[0])
            page.set_input_files(f"#{step}-{verb}-file", str(upload[1]))
        form.locator("button[type=submit]").click()
        page.wait_for_load_state()
        return page.content()

    def done(self, html: str) -> None:
        assert 'role="alert"' not in html, re.sub(r"<[^>]+>", " ", html)[:3000]


def _fits(page: Page) -> bool:
    return bool(page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth"))


def test_five_units_take_one_decision_from_registration_to_archiving(
    browser: Browser, server: str, cmds: Commands, tmp_path: Path
) -> None:
    doc = tmp_path / "材料.txt"
    doc.write_text("决策材料", encoding="utf-8")
    zhang, liu, wang = (Desk(browser, server, n) for n in ("zhang", "liu", "wang"))
    # the office registers
    p = zhang.page
    p.goto(f"{server}/decisions/new")
    p.fill("#title", "某区2025年老旧小区改造计划")
    p.fill("#sponsor", SPONSOR_UNIT)
    p.fill("#catalogue_year", "2025")
    p.fill("#on", "2025-03-03")
    p.click("form[action='/decisions/new'] button[type=submit]")
    p.wait_for_url(re.compile(r"/decisions/\d{4}-\d+"))
    d = p.url.split("/decisions/")[1].split("?")[0]
    # the sponsor's to-do list shows the drafting step
    liu.page.goto(f"{server}/inbox")
    assert "某区2025年老旧小区改造计划" in liu.page.content()
    SHOTS.mkdir(parents=True, exist_ok=True)
    liu.done(liu.act(d, "drafting", "start", "2025-03-03"))
    liu.page.goto(f"{server}/inbox")
    liu.page.screenshot(path=str(SHOTS / "inbox.png"), full_page=True)
    liu.done(liu.act(d, "drafting", "complete", "2025-03-20", upload=("draft", doc)))
    liu.done(liu.act(d, "public_participation", "start", "2025-09-01",
                     {"comment_until": "2025-10-01"}, checks=("public_comment",)))  # fmt: skip
    refused = liu.act(d, "public_participation", "complete", "2025-10-09")
    assert "Decree 713 Art. 15" in refused and "minimum.public_participation" in refused
    liu.done(liu.act(d, "public_participation", "complete", "2025-10-10",
                     upload=("opinion_adoption_report", doc)))  # fmt: skip
    liu.done(liu.act(d, "legality_review", "start", "2025-10-13"))
    wang.done(wang.act(d, "legality_review", "complete", "2025-10-22", {"outcome": "unlawful"},
                       upload=("legality_opinion", doc)))  # fmt: skip
    liu.done(liu.act(d, "drafting", "start", "2025-10-23"))  # the return: attempt 2
    liu.done(liu.act(d, "drafting", "complete", "2025-10-31", upload=("draft", doc)))
    liu.done(liu.act(d, "public_participation", "reuse", "2025-11-03",
                     {"reason": "修改未增加涉及公众利益的新内容"}))  # fmt: skip
    liu.done(liu.act(d, "legality_review", "start", "2025-11-24"))
    wang.done(wang.act(d, "legality_review", "attach", "2025-11-28",
                       upload=("legal_advisers_opinion", doc)))  # fmt: skip
    wang.done(wang.act(d, "legality_review", "complete", "2025-11-28", {"outcome": "lawful"},
                       upload=("legality_opinion", doc)))  # fmt: skip
    zhang.done(zhang.act(d, "collective_discussion", "start", "2025-12-15"))
    meeting = {
        "outcome": "approved",
        "mt": "executive",
        "chair": "周区长",
        "member1": "王副区长", "position1": "approved",
        "member2": "李副区长", "position2": "approved",
        "member3": "钱秘书长", "position3": "rejected", "dissent3": "资金缺口测算不足",
    }  # fmt: skip
    zhang.done(zhang.act(d, "collective_discussion", "complete", "2025-12-19", meeting))
    zhang.done(zhang.act(d, "party_committee_report", "start", "2025-12-20"))
    zhang.done(zhang.act(d, "party_committee_report", "complete", "2025-12-20"))
    zhang.done(zhang.act(d, "publication", "start", "2025-12-22"))
    zhang.done(zhang.act(d, "publication", "complete", "2025-12-31",
                         upload=("publication_notice", doc)))  # fmt: skip
    li = Desk(browser, server, "li")
    li.done(li.act(d, "archiving", "start", "2026-01-05"))
    li.done(li.act(d, "archiving", "complete", "2026-01-09"))
    # the archivist builds the archive ZIP now (no decide serve here) and downloads it
    li.page.goto(f"{server}/decisions/{d}")
    assert "尚未生成" in li.page.inner_text("#built + p")
    li.page.click("#build-archive")
    li.page.wait_for_selector(f"a[href$='/files/{d}.zip']")
    with li.page.expect_download() as fetched:
        li.page.click(f"a[href$='/files/{d}.zip']")
    bundle = tmp_path / "archive.zip"
    fetched.value.save_as(bundle)
    with zipfile.ZipFile(bundle) as zf:
        assert {"manifest.json", "audit.jsonl"} <= set(zf.namelist())
        assert json.loads(zf.read("manifest.json"))["audit"]["verified"] is True
    # the decision page: every step done, the timeline drawn, at both widths
    page = li.page
    page.goto(f"{server}/decisions/{d}")
    assert page.locator("svg.timeline").count() == 1
    assert page.locator("#step-drafting h3").inner_text().find("#2") >= 0
    page.screenshot(path=str(SHOTS / "decision.png"), full_page=True)
    status, _ = cmds.status(d)
    assert status.status in ("approved", "closed") and "archiving" in {
        a.step for a in status.attempts if a.status == "done"
    }
    # the auditor: the timeline with the dissent, then the chain verified
    qian = Desk(browser, server, "qian")
    qian.page.goto(f"{server}/decisions/{d}/audit")
    audit = qian.page.content()
    assert "资金缺口测算不足" in audit and "legality_opinion" in audit and "unlawful" in audit
    qian.page.screenshot(path=str(SHOTS / "audit.png"), full_page=False)
    qian.page.goto(f"{server}/audit")
    qian.page.click("form[action='/audit'] button[type=submit]")
    qian.page.wait_for_selector("#verdict")
    assert "审计链完整" in qian.page.inner_text("#verdict")
    for desk in (zhang, liu, wang, li, qian):
        desk.context.close()


def test_a_post_without_csrf_is_refused(browser: Browser, server: str) -> None:
    liu = Desk(browser, server, "liu")
    answer = liu.context.request.post(f"{server}/decisions/new", form={"title": "x"})
    assert answer.status == 403
    liu.context.close()


def test_another_unit_does_not_see_an_undisclosable_decision(
    browser: Browser, server: str, cmds: Commands
) -> None:
    office = cmds.identify(token=__import__("app.accounts").accounts.create_token(
        cmds, "zhang", PASSWORD)[0])  # fmt: skip
    hidden = cmds.execute(
        RegisterRequest(title="不予公开的事项", procedure="national-2019", sponsor=SPONSOR_UNIT,
                        flag=("undisclosable",)),
        actor=office,
    ).decision.id  # fmt: skip
    teacher = Desk(browser, server, "teacher")
    teacher.page.goto(f"{server}/decisions")
    assert "不予公开的事项" not in teacher.page.content()
    answer = teacher.page.goto(f"{server}/decisions/{hidden}")  # answered as an unknown id
    assert answer is not None and answer.status == 404
    assert "不予公开的事项" not in teacher.page.content()
    teacher.context.close()


@pytest.mark.parametrize("size", [(1366, 768), (390, 844)], ids=["desktop", "phone"])
def test_the_pages_fit_the_screen(browser: Browser, server: str, size: tuple[int, int]) -> None:
    width, height = size
    desk = Desk(browser, server, "zhang", viewport={"width": width, "height": height})
    desk.context.close()
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.goto(f"{server}/login")
    page.fill("#login", "zhang")
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")  # the keyboard alone signs in
    page.wait_for_url(re.compile(r"/inbox"))
    first = page.evaluate(
        "(() => { const a = document.querySelector('.decisions a, a'); return a && a.href })()"
    )
    assert first
    for path in ("/inbox", "/decisions", "/overdue", "/calendar", "/audit"):
        page.goto(f"{server}{path}")
        assert _fits(page), f"{path} scrolls sideways at {width}px"
    link = page.locator("table.list a").first if page.goto(f"{server}/decisions") else None
    if link is not None and link.count():
        link.click()
        page.wait_for_load_state()
        assert _fits(page), f"{page.url} scrolls sideways at {width}px"
    context.close()
    _ = shutil


def test_an_admin_administers_accounts_through_the_pages(
    browser: Browser, server: str, cmds: Commands
) -> None:
    from app.accounts import create_token
    from procedures import AccessDenied

    admin = Desk(browser, server, "admin")
    p = admin.page
    p.goto(f"{server}/accounts")
    # a new account, typed and sent with the keyboard alone
    p.focus("#n-login")
    p.keyboard.type("sun")
    for field, value in (("#n-name", "孙科员"), ("#n-unit", "区财政局"), ("#n-pw", PASSWORD)):
        p.focus(field)
        p.keyboard.type(value)
    p.focus("#n-role-sponsor")
    p.keyboard.press("Space")
    p.focus("#n-pw")
    p.keyboard.press("Enter")
    p.wait_for_selector("#account-sun")
    assert "已新增账户" in p.inner_text("[role=status]")
    # a role granted, then the first one revoked, each with its reason
    for action, role in (("g", "expert"), ("r", "sponsor")):
        p.select_option(f"#{action}-sun", role)
        p.fill("#why-sun", "调整分工")
        p.click("form[action='/accounts/sun'] button[type=submit]")
        p.wait_for_selector("[role=status]")
    assert p.inner_text("#account-sun td:nth-child(4)").split() == ["专家、专业机构", "expert"]
    # a mistake is shown with its rule: an admin granting themselves
    p.select_option("#g-admin", "auditor")
    p.fill("#why-admin", "试一试")
    p.click("form[action='/accounts/admin'] button[type=submit]")
    p.wait_for_selector("#refusal")
    assert "permission.self_grant" in p.inner_text("#refusal")
    # five wrong passwords lock the login; the admin unlocks it and sun signs in
    for _ in range(5):
        with contextlib.suppress(AccessDenied):
            create_token(cmds, "sun", "wrong password!")
    p.goto(f"{server}/accounts")
    assert "已锁定" in p.inner_text("#account-sun")
    p.click("#unlock-sun")
    p.wait_for_selector("[role=status]")
    assert "已解锁" in p.inner_text("[role=status]") and "已锁定" not in p.inner_text(
        "#account-sun"
    )
    Desk(browser, server, "sun").context.close()
    # a form posted without its CSRF value is refused
    assert admin.context.request.post(f"{server}/accounts/sun/unlock").status == 403
    admin.context.close()
    # a clerk has no link to the accounts and is refused with the rule
    liu = Desk(browser, server, "liu")
    assert liu.page.locator("nav a[href='/accounts']").count() == 0
    answer = liu.page.goto(f"{server}/accounts")
    assert answer is not None and answer.status == 403
    assert "permission.accounts" in liu.page.inner_text("#refusal")
    liu.context.close()


def test_a_clerk_on_a_phone_registers_once_and_the_back_button_shows_the_state_now(
    browser: Browser, server: str, cmds: Commands
) -> None:
    zhang = Desk(browser, server, "zhang", viewport={"width": 390, "height": 844})
    p = zhang.page
    p.goto(f"{server}/decisions/new")
    assert _fits(p)
    p.fill("#title", "某区公共停车设施建设规划")
    p.fill("#sponsor", SPONSOR_UNIT)
    # an impatient clerk: the button clicked again before the answer came
    p.evaluate("""() => { const b = document.querySelector("form[action='/decisions/new'] button");
                          b.click(); setTimeout(() => b.click(), 30); }""")
    p.wait_for_url(re.compile(r"/decisions/\d{4}-\d+"))
    with cmds.unit(write=False) as uow:
        titles = [e.payload for e in uow.audit.events_with(["register"])]
    assert sum("某区公共停车设施建设规划" in t for t in titles) == 1
    # back to the form: its button usable again (the browser keeps what was typed), and
    # nothing was sent twice
    p.go_back()
    p.wait_for_selector("#title")
    assert p.is_enabled("form[action='/decisions/new'] button[type=submit]")
    # signed out, the back button shows the login page, not the inbox kept in the cache
    p.goto(f"{server}/inbox")
    p.click("form.logout button")
    p.wait_for_url(re.compile(r"/login"))
    p.go_back()
    p.wait_for_load_state()
    assert "/login" in p.url and "某区" not in p.content()
    zhang.context.close()
