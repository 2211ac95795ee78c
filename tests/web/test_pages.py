"""The console in-process: sessions are cookies holding a token, every POST needs its CSRF
value, and the pages show only what the caller may read."""

from __future__ import annotations

from io import BytesIO

import pytest
from openpyxl import load_workbook

from app.commands import Commands
from app.requests import RegisterRequest
from tests.web.conftest import PASSWORD, SPONSOR_UNIT, TestClient, create_app, csrf_of, signed_in


def _register(cmds: Commands, title: str, **kw: object) -> str:
    office = cmds.identify(token=_token(cmds, "zhang"))
    request = RegisterRequest(title=title, procedure="national-2019", sponsor=SPONSOR_UNIT, **kw)
    return cmds.execute(request, actor=office).decision.id


def _token(cmds: Commands, login: str) -> str:
    from app.accounts import create_token

    return create_token(cmds, login, PASSWORD)[0]


def test_a_page_without_a_session_goes_to_the_login_form(cmds: Commands) -> None:
    client = TestClient(create_app(lambda: cmds))
    answer = client.get("/inbox", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_the_session_cookie_is_httponly_strict_and_expires(cmds: Commands) -> None:
    client = TestClient(create_app(lambda: cmds))
    token = csrf_of(client.get("/login").text)
    answer = client.post(
        "/login", data={"login": "liu", "password": PASSWORD, "csrf": token},
        follow_redirects=False,
    )  # fmt: skip
    cookie = next(v for k, v in answer.headers.multi_items() if v.startswith("decide_session="))
    assert answer.status_code == 303
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=28800" in cookie
    assert "Secure" not in cookie  # plain http here; https sets it


def test_a_login_without_its_csrf_value_is_refused(cmds: Commands) -> None:
    client = TestClient(create_app(lambda: cmds))
    client.get("/login")
    answer = client.post("/login", data={"login": "liu", "password": PASSWORD})
    assert answer.status_code == 403


def test_a_wrong_password_is_shown_and_counted(cmds: Commands) -> None:
    client = TestClient(create_app(lambda: cmds))
    token = csrf_of(client.get("/login").text)
    answer = client.post("/login", data={"login": "li", "password": "nope", "csrf": token})
    assert answer.status_code == 401 and "登录名或密码错误" in answer.text


def test_a_post_with_another_sessions_csrf_is_refused(cmds: Commands) -> None:
    liu, zhang = signed_in(cmds, "liu"), signed_in(cmds, "zhang")
    theirs = csrf_of(liu.get("/inbox").text)
    answer = zhang.post("/decisions/new", data={"title": "x", "sponsor": SPONSOR_UNIT,
                                                "csrf": theirs})  # fmt: skip
    assert answer.status_code == 403
    assert zhang.post("/logout", data={}).status_code == 403


def test_logout_deletes_the_cookie(cmds: Commands) -> None:
    client = signed_in(cmds, "wang")
    token = csrf_of(client.get("/inbox").text)
    answer = client.post("/logout", data={"csrf": token})
    assert answer.url.path == "/login"
    assert client.get("/inbox", follow_redirects=False).status_code == 303


def test_another_unit_does_not_see_an_undisclosable_decision(cmds: Commands) -> None:
    hidden = _register(cmds, "涉密的决策事项", flag=("undisclosable",))
    teacher = signed_in(cmds, "teacher")
    assert "涉密的决策事项" not in teacher.get("/decisions").text
    assert teacher.get(f"/decisions/{hidden}").status_code == 404  # as for an unknown id
    assert "涉密的决策事项" in signed_in(cmds, "zhang").get("/decisions").text


def test_the_decision_list_filters_and_downloads_excel(cmds: Commands) -> None:
    _register(cmds, "老旧小区改造计划", catalogue_year=2025)
    client = signed_in(cmds, "zhang")
    page = client.get("/decisions", params={"q": "老旧", "catalogue_year": "2025"}).text
    assert "老旧小区改造计划" in page
    book = client.get("/decisions.xlsx", params={"q": "老旧"})
    sheet = load_workbook(BytesIO(book.content)).active
    assert sheet is not None
    titles = [row[1] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert titles and all("老旧" in str(t) for t in titles)


def test_every_form_control_has_a_label(cmds: Commands) -> None:
    import re

    d = _register(cmds, "标签检查")
    client = signed_in(cmds, "liu")
    for path in ("/inbox", "/decisions", f"/decisions/{d}", "/calendar", "/overdue"):
        html = client.get(path).text
        ids = set(re.findall(r'<label[^>]*for="([^"]+)"', html))
        for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", html):
            if 'type="hidden"' in tag or 'type="checkbox"' in tag:
                continue  # checkboxes sit inside their label
            found = re.search(r'id="([^"]+)"', tag)
            assert found and found.group(1) in ids, f"{path}: unlabelled {tag}"


def test_the_refusal_of_a_step_shows_rule_article_and_remedy(cmds: Commands) -> None:
    d = _register(cmds, "拒绝显示")
    client = signed_in(cmds, "liu")
    token = csrf_of(client.get(f"/decisions/{d}").text)
    answer = client.post(f"/decisions/{d}/steps/drafting/complete", data={"csrf": token})
    assert answer.status_code == 409
    assert "step.not_open" in answer.text and "Decree 713" in answer.text


def test_the_meeting_form_takes_one_row_per_member() -> None:
    from starlette.datastructures import FormData

    from procedures import InputError
    from web.forms import _members

    def rows(*members: tuple[str, str, str]) -> FormData:
        pairs = [(k, v) for m in members for k, v in zip(("member", "member_position",
                 "member_dissent"), m, strict=True)]  # fmt: skip
        return FormData(pairs)

    position, dissent = _members(
        rows(
            ("王副区长", "approved", ""), ("", "", ""), ("钱秘书长", "rejected", "资金缺口测算不足")
        )
    )
    assert position == {"王副区长": "approved", "钱秘书长": "rejected"}
    assert dissent == {"钱秘书长": "资金缺口测算不足"}
    for bad, said in (
        (rows(("", "approved", "")), "缺姓名"),
        (rows(("王副区长", "", "")), "未填表态"),
        (rows(("王副区长", "approved", ""), ("王副区长", "rejected", "")), "重复"),
    ):
        with pytest.raises(InputError, match=said):
            _members(bad)


def test_statuses_are_shown_in_chinese_and_the_step_filter_takes_the_chinese_name(
    cmds: Commands,
) -> None:
    d = _register(cmds, "背街小巷整治方案")
    client = signed_in(cmds, "zhang")
    listing = client.get("/decisions").text
    assert "办理中 <code>in_progress</code>" in listing and "已完成 closed" not in listing
    assert '<option value="closed" >已办结 closed</option>' in listing.replace("  ", " ")
    by_name = client.get("/decisions", params={"step": "拟订决策草案"})
    by_id = client.get("/decisions", params={"step": "drafting"})
    assert by_name.status_code == 200 and d in by_name.text and d in by_id.text
    page = client.get(f"/decisions/{d}").text
    assert "状态 <strong>办理中</strong> <code>in_progress</code>" in page
    assert "可以开始 ready" in page or "办理中 open" in page
