"""The console as a new clerk meets it: mistakes (an empty form, a bad date or year, a page that
does not exist, a query value that is not one, the back button) answered by a page in Chinese
with the English beside it — the navigation kept, the typed values kept, nothing written, no
JSON and no traceback — and account administration with its refusals on the page."""

from __future__ import annotations

import re

from app.commands import Commands
from tests.web.conftest import PASSWORD, SPONSOR_UNIT, TestClient, create_app, csrf_of, signed_in


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _count(cmds: Commands) -> int:
    with cmds.unit(write=False) as uow:
        return len(uow.audit.events_with(["register"]))


def test_a_bad_register_form_keeps_what_was_typed_and_writes_nothing(cmds: Commands) -> None:
    client = signed_in(cmds, "zhang")
    token = csrf_of(client.get("/decisions/new").text)
    before = _count(cmds)
    typed = {"csrf": token, "title": "某区停车设施规划", "sponsor": SPONSOR_UNIT,
             "flag": "technical", "catalogue_year": "2025"}  # fmt: skip
    for field, value, said in (
        ("target", "2025-13-01", "日期无效 目标日期 target"),
        ("catalogue_year", "二〇二五", "目录年度须为四位数字"),
        ("title", "", "不能为空"),
    ):
        answer = client.post("/decisions/new", data={**typed, field: value})
        assert answer.status_code == 400 and said in _text(answer.text), field
        assert 'role="alert"' in answer.text and "month must be" not in answer.text
        if field != "title":
            assert 'value="某区停车设施规划"' in answer.text  # nothing to type again
        assert 'value="technical" id="flag-technical" checked' in answer.text
    assert _count(cmds) == before


def test_console_errors_are_pages_with_the_navigation_not_json(cmds: Commands) -> None:
    client = signed_in(cmds, "liu")
    for path, status, said in (
        ("/no-such-page", 404, "页面不存在"),
        ("/calendar?year=abc", 400, "输入无效"),
        ("/decisions/2025-0001/builds/package", 405, "不支持此操作"),  # a POST's address, typed
        ("/accounts", 403, "permission.accounts"),
    ):
        answer = client.get(path)
        assert answer.status_code == status, path
        assert answer.headers["content-type"].startswith("text/html"), path
        assert said in answer.text and 'aria-label="主导航 main"' in answer.text, path
    # the API keeps its JSON
    assert client.get("/api/v1/no-such-route").headers["content-type"] == "application/json"


def test_pages_are_not_kept_by_the_browser(cmds: Commands) -> None:
    """The back button after an action or after logging out asks the server again."""
    client = signed_in(cmds, "liu")
    assert client.get("/inbox").headers["cache-control"] == "no-store"
    token = csrf_of(client.get("/inbox").text)
    client.post("/logout", data={"csrf": token})
    assert client.get("/inbox", follow_redirects=False).status_code == 303


def test_an_admin_adds_an_account_and_a_mistake_is_shown_on_the_page(cmds: Commands) -> None:
    admin = signed_in(cmds, "admin")
    page = admin.get("/accounts").text
    token = csrf_of(page)
    bad = admin.post("/accounts", data={"csrf": token, "login": "sun", "name": "孙科员",
                                        "unit": "区财政局", "role": "sponsor",
                                        "password": "short"})  # fmt: skip
    assert bad.status_code == 400 and "密码过短" in bad.text
    assert (
        'value="孙科员"' in bad.text and 'value="sponsor" id="n-role-sponsor" checked' in bad.text
    )
    assert "short" not in bad.text  # the password is never echoed
    with cmds.unit(write=False) as uow:
        assert uow.accounts.get("sun") is None
    good = admin.post("/accounts", data={"csrf": token, "login": "sun", "name": "孙科员",
                                         "unit": "区财政局", "role": "sponsor",
                                         "password": PASSWORD})  # fmt: skip
    assert good.status_code == 200 and "已新增账户" in good.text and 'id="account-sun"' in good.text
    # granting oneself is refused with the rule, on the accounts page
    own = admin.post("/accounts/admin", data={"csrf": token, "grant": "auditor", "reason": "x"})
    assert own.status_code == 403 and "permission.self_grant" in own.text
    assert "账户管理" in own.text


def test_an_auditor_reads_the_accounts_and_a_clerk_is_refused(cmds: Commands) -> None:
    auditor = signed_in(cmds, "qian")
    page = auditor.get("/accounts")
    assert page.status_code == 200 and "只读 read only" in page.text
    assert 'action="/accounts"' not in page.text
    token = csrf_of(page.text)
    refused = auditor.post("/accounts/liu/unlock", data={"csrf": token})
    assert refused.status_code == 403 and "permission.admin" in refused.text
    clerk = signed_in(cmds, "liu")
    answer = clerk.post("/accounts", data={"csrf": csrf_of(clerk.get("/inbox").text),
                                           "login": "x1", "name": "x", "unit": "y",
                                           "password": PASSWORD})  # fmt: skip
    assert answer.status_code == 403 and "permission.admin" in answer.text


def test_every_control_of_the_accounts_and_register_pages_is_labelled(cmds: Commands) -> None:
    client = signed_in(cmds, "admin")
    for path in ("/accounts",):
        html = client.get(path).text
        ids = set(re.findall(r'<label[^>]*for="([^"]+)"', html))
        for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", html):
            if 'type="hidden"' in tag or 'type="checkbox"' in tag:
                continue
            found = re.search(r'id="([^"]+)"', tag)
            assert found and found.group(1) in ids, f"{path}: unlabelled {tag}"
    office = signed_in(cmds, "zhang")
    html = office.get("/decisions/new").text
    ids = set(re.findall(r'<label[^>]*for="([^"]+)"', html))
    for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", html):
        if 'type="hidden"' in tag or 'type="checkbox"' in tag:
            continue
        found = re.search(r'id="([^"]+)"', tag)
        assert found and found.group(1) in ids, f"/decisions/new: unlabelled {tag}"


def test_a_client_without_a_session_never_sees_json(cmds: Commands) -> None:
    client = TestClient(create_app(lambda: cmds))
    answer = client.get("/no-such-page")
    assert answer.status_code == 404 and answer.headers["content-type"].startswith("text/html")
    assert "页面不存在" in answer.text
