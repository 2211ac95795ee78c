"""The notifiers against real parts: an HTTP server and an SMTP responder on 127.0.0.1 in this
process, real files, a real Rich console.  A notifier makes one attempt per send (the outbox
retries: tests/integration/test_outbox_delivery.py)."""

from __future__ import annotations

import base64
import contextlib
import email
import hashlib
import hmac
import json
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote_plus, urlsplit

import pytest
from rich.console import Console

from notify.channels import (
    ConsoleNotifier,
    DeliveryError,
    JsonlNotifier,
    Message,
    MultiNotifier,
    NotifySettings,
    PermanentDeliveryError,
    SmtpConfig,
    SmtpNotifier,
    WebhookConfig,
    WebhookNotifier,
    build_notifier,
    load_notify_settings,
)
from procedures.errors import InputError

TEXT = (
    "【已逾期 overdue】2025-0001 某区2025年老旧小区改造计划 · 专家论证 expert_review · "
    "到期 due 2025-09-28 · 逾期 3 个工作日"
)
MESSAGE = Message(
    kind="alert",
    decision="2025-0001",
    title="某区2025年老旧小区改造计划",
    text=TEXT,
    data={"level": "overdue", "step": "expert_review", "due_on": "2025-09-28", "attempt": 1},
    key="alert:2025-0001:expert_review:1:overdue",
)
FIXED_NOW = datetime(2025, 10, 9, 1, 2, 3, tzinfo=UTC)


# ---------------------------------------------------------------- a scriptable webhook server


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body.decode("utf-8"))

    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.path).query)


@dataclass
class Hook:
    """Answers POSTs from ``script`` (status, headers, body) in order, then with ``default``."""

    url: str = ""
    requests: list[Request] = field(default_factory=list)
    script: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    default: tuple[int, dict[str, str], bytes] = (200, {}, b'{"errcode": 0, "errmsg": "ok"}')
    delay: float = 0.0

    def answer(self, *replies: tuple[int, dict[str, str], bytes] | int) -> None:
        for r in replies:
            self.script.append((r, {}, b"{}") if isinstance(r, int) else r)


def robot(errcode: int, errmsg: str = "") -> tuple[int, dict[str, str], bytes]:
    return 200, {}, json.dumps({"errcode": errcode, "errmsg": errmsg}).encode()


@pytest.fixture
def hook() -> Iterator[Hook]:
    state = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.requests.append(Request(self.path, dict(self.headers.items()), body))
            status, headers, payload = state.script.pop(0) if state.script else state.default
            if state.delay:
                time.sleep(state.delay)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.handle_error = lambda request, address: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook?access_token=tok"
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def dead_port() -> Iterator[int]:
    """A loopback port that is bound but never listens: connecting is refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def make_webhook(hook: Hook) -> Iterator[Callable[..., WebhookNotifier]]:
    made: list[WebhookNotifier] = []

    def make(**kw: object) -> WebhookNotifier:
        n = WebhookNotifier(str(kw.pop("url", hook.url)), **kw)  # type: ignore[arg-type]
        made.append(n)
        return n

    yield make
    for n in made:
        n.close()


# ---------------------------------------------------------------- webhook


def test_webhook_delivers_utf8_json_once(hook, make_webhook):
    make_webhook().send(MESSAGE)
    assert len(hook.requests) == 1
    last = hook.requests[-1]
    assert last.json() == MESSAGE.to_dict()
    assert "已逾期".encode() in last.body  # UTF-8, not \\u escapes
    assert last.headers["Content-Type"].startswith("application/json")


def test_webhook_makes_one_attempt_and_leaves_the_retry_to_the_outbox(hook, make_webhook):
    hook.answer(500)
    with pytest.raises(DeliveryError) as e:
        make_webhook().send(MESSAGE)
    assert not e.value.permanent
    assert len(hook.requests) == 1  # no sleeping and retrying inside the notifier


def test_webhook_passes_retry_after_on(hook, make_webhook):
    hook.answer((429, {"Retry-After": "120"}, b""))
    with pytest.raises(DeliveryError) as e:
        make_webhook().send(MESSAGE)
    assert e.value.retry_after == 120.0 and not e.value.permanent


def test_webhook_client_error_is_permanent_after_one_request(hook, make_webhook):
    hook.answer((400, {}, b'{"error": "bad"}'))
    with pytest.raises(PermanentDeliveryError) as e:
        make_webhook().send(MESSAGE)
    assert e.value.permanent
    assert len(hook.requests) == 1
    assert "tok" not in str(e.value)  # the URL's token never appears in errors


@pytest.mark.parametrize("status", [408, 429, 500, 502])
def test_webhook_server_trouble_is_transient(hook, make_webhook, status):
    hook.default = (status, {}, b"")
    with pytest.raises(DeliveryError) as e:
        make_webhook().send(MESSAGE)
    assert not e.value.permanent
    assert not isinstance(e.value, PermanentDeliveryError)
    assert f"HTTP {status}" in str(e.value)


def test_webhook_connection_refused_is_transient(make_webhook, dead_port):
    with pytest.raises(DeliveryError) as e:
        make_webhook(url=f"http://127.0.0.1:{dead_port}/hook").send(MESSAGE)
    assert not e.value.permanent
    assert "ConnectError" in str(e.value)


def test_webhook_timeout_is_transient(hook, make_webhook):
    hook.delay = 0.5
    with pytest.raises(DeliveryError) as e:
        make_webhook(timeout=0.1).send(MESSAGE)
    assert not e.value.permanent
    assert "0.1 s" in str(e.value)


def test_wecom_body(hook, make_webhook):
    make_webhook(style="wecom").send(MESSAGE)
    assert hook.requests[0].json() == {"msgtype": "text", "text": {"content": TEXT}}


def test_dingtalk_body_and_errcodes(hook, make_webhook):
    ding = make_webhook(style="dingtalk")
    ding.send(MESSAGE)  # errcode 0
    assert hook.requests[0].json() == {"msgtype": "text", "text": {"content": TEXT}}

    hook.answer(robot(310000, "sign not match"))
    with pytest.raises(PermanentDeliveryError, match="310000"):
        ding.send(MESSAGE)
    assert len(hook.requests) == 2

    hook.answer(robot(-1, "系统繁忙"))
    with pytest.raises(DeliveryError, match="errcode -1") as e:
        ding.send(MESSAGE)
    assert not e.value.permanent
    assert len(hook.requests) == 3

    hook.answer(robot(130101, "send too fast"))
    with pytest.raises(DeliveryError, match="errcode 130101") as e:
        ding.send(MESSAGE)
    assert not e.value.permanent


def test_robot_answer_that_is_not_json_is_transient(hook, make_webhook):
    hook.default = (200, {}, b"<html>proxy</html>")
    with pytest.raises(DeliveryError) as e:
        make_webhook(style="wecom").send(MESSAGE)
    assert not e.value.permanent


def test_dingtalk_signature(hook, make_webhook):
    secret = "SEC0123456789abcdef"
    make_webhook(style="dingtalk", secret=secret, now=lambda: FIXED_NOW).send(MESSAGE)
    query = hook.requests[0].query()
    assert query["access_token"] == ["tok"]
    (timestamp,) = query["timestamp"]
    assert timestamp == str(int(FIXED_NOW.timestamp() * 1000))
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    sign = base64.b64encode(digest).decode()
    assert query["sign"] == [sign]
    assert hook.requests[0].path.endswith("&sign=" + quote_plus(sign))  # sent urlencoded


def test_webhook_rejects_bad_configuration():
    with pytest.raises(InputError, match="http"):
        WebhookNotifier("ftp://example.gov.cn/hook")
    with pytest.raises(InputError, match="secret"):
        WebhookNotifier("https://example.gov.cn/hook", style="wecom", secret="x")


# ---------------------------------------------------------------- SMTP


@dataclass
class Mailbox:
    port: int = 0
    mail_reply: str = "250 OK"
    rcpt_reply: str = "250 OK"
    commands: list[str] = field(default_factory=list)
    messages: list[bytes] = field(default_factory=list)


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A minimal SMTP responder: enough of RFC 5321 for smtplib."""
    box = Mailbox()

    class Handler(socketserver.StreamRequestHandler):
        def reply(self, line: str) -> None:
            self.wfile.write(line.encode("ascii") + b"\r\n")

        def handle(self) -> None:
            self.reply("220 test.local ESMTP")
            while line := self.rfile.readline():
                command = line.decode("ascii", "replace").rstrip("\r\n")
                box.commands.append(command)
                verb = command[:4].upper()
                if verb == "EHLO":
                    self.wfile.write(b"250-test.local\r\n250 8BITMIME\r\n")
                elif verb == "MAIL":
                    self.reply(box.mail_reply)
                elif verb == "RCPT":
                    self.reply(box.rcpt_reply)
                elif verb == "DATA":
                    self.reply("354 end with <CRLF>.<CRLF>")
                    lines = []
                    while (data := self.rfile.readline()) not in (b".\r\n", b""):
                        lines.append(data[1:] if data.startswith(b"..") else data)
                    box.messages.append(b"".join(lines))
                    self.reply("250 queued")
                elif verb == "QUIT":
                    self.reply("221 bye")
                    return
                else:  # HELO, RSET, NOOP
                    self.reply("250 OK")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    box.port = server.server_address[1]
    yield box
    server.shutdown()
    server.server_close()
    thread.join()


def smtp(port: int) -> SmtpNotifier:
    return SmtpNotifier(
        "127.0.0.1",
        port,
        sender="decide@example.gov.cn",
        recipients=["fzb@example.gov.cn", "sfj@example.gov.cn"],
        timeout=5,
        local_hostname="decide.test",
    )


def test_smtp_delivers_utf8_subject_and_body(mailbox):
    smtp(mailbox.port).send(MESSAGE)
    assert "mail FROM:<decide@example.gov.cn>" in mailbox.commands  # smtplib sends verbs lower-case
    assert "rcpt TO:<sfj@example.gov.cn>" in mailbox.commands
    (raw,) = mailbox.messages
    raw.decode("ascii")  # 7-bit clean: encoded-word subject, base64 body
    mail = email.message_from_bytes(raw, policy=policy.default)
    assert mail["Subject"] == "[decide] " + TEXT
    assert mail["X-Decide-Key"] == MESSAGE.key
    assert mail["To"] == "fzb@example.gov.cn, sfj@example.gov.cn"
    body = mail.get_content()
    assert body.startswith(TEXT + "\n")
    assert json.loads(body[len(TEXT) :]) == MESSAGE.data


def test_smtp_subject_is_truncated(mailbox):
    long = Message("alert", "2025-0001", "t", "很长的标题" * 40, {}, "k")
    smtp(mailbox.port).send(long)
    mail = email.message_from_bytes(mailbox.messages[0], policy=policy.default)
    subject = mail["Subject"]
    assert subject.startswith("[decide] 很长的标题") and subject.endswith("…")
    assert len(subject) == len("[decide] ") + 120


@pytest.mark.parametrize(
    ("field_name", "reply", "permanent"),
    [
        ("mail_reply", "451 4.3.0 try again later", False),
        ("mail_reply", "550 5.7.1 sender rejected", True),
        ("rcpt_reply", "450 4.2.1 mailbox busy", False),
        ("rcpt_reply", "550 5.1.1 no such user", True),
    ],
)
def test_smtp_reply_codes_decide_transient_or_permanent(mailbox, field_name, reply, permanent):
    setattr(mailbox, field_name, reply)
    with pytest.raises(DeliveryError) as e:
        smtp(mailbox.port).send(MESSAGE)
    assert e.value.permanent is permanent
    assert isinstance(e.value, PermanentDeliveryError) is permanent
    assert mailbox.messages == []


def test_smtp_connection_refused_is_transient(dead_port):
    with pytest.raises(DeliveryError) as e:
        smtp(dead_port).send(MESSAGE)
    assert not e.value.permanent


# ---------------------------------------------------------------- JSONL and console


def test_jsonl_appends_one_object_per_message(tmp_path):
    path = tmp_path / "deep" / "er" / "alerts.jsonl"
    notifier = JsonlNotifier(path)
    notifier.send(MESSAGE)
    notifier.send(Message("step_ready", "2025-0002", "标题", "可以开始 ready", {"step": "x"}, "k2"))
    raw = path.read_text(encoding="utf-8")
    assert "已逾期" in raw and "\\u" not in raw
    first, second = (json.loads(line) for line in raw.splitlines())
    assert {k: first[k] for k in MESSAGE.to_dict()} == MESSAGE.to_dict()
    assert second["decision"] == "2025-0002"
    sent_at = datetime.fromisoformat(first["sent_at"])
    assert sent_at.utcoffset() is not None and sent_at.utcoffset().total_seconds() == 0


def test_console_line(tmp_path):
    con = Console(record=True, width=200)
    ConsoleNotifier(con).send(MESSAGE)
    out = con.export_text()
    assert "已逾期" in out and "2025-0001" in out
    assert len(out.strip().splitlines()) == 1

    colour = Console(record=True, width=200, force_terminal=True, color_system="standard")
    ConsoleNotifier(colour).send(MESSAGE)
    assert "\x1b[31m" in colour.export_text(styles=True)  # overdue is red
    bracket = Message("alert", "2025-0003", "t", "[注] 标题 [bold]", {"level": "due_soon"}, "k")
    ConsoleNotifier(con).send(bracket)
    assert "[注] 标题 [bold]" in con.export_text()  # text, not markup


# ---------------------------------------------------------------- MultiNotifier and build


def test_multi_tries_all_and_reports_only_what_failed(tmp_path, hook, dead_port):
    jsonl = JsonlNotifier(tmp_path / "alerts.jsonl")
    bad_hook = WebhookNotifier(hook.url)
    hook.default = (404, {}, b"")
    multi = MultiNotifier([bad_hook, smtp(dead_port), jsonl])
    with pytest.raises(DeliveryError) as e:
        multi.send(MESSAGE)
    assert not e.value.permanent  # SMTP refused is transient
    assert [name for name, _ in e.value.failures] == [bad_hook.name, f"smtp:127.0.0.1:{dead_port}"]
    assert e.value.delivered == [jsonl.name]
    assert len((tmp_path / "alerts.jsonl").read_text().splitlines()) == 1

    with pytest.raises(PermanentDeliveryError):  # every failure permanent
        MultiNotifier([bad_hook, jsonl]).send(MESSAGE)
    bad_hook.close()


def test_build_notifier_from_settings(tmp_path, hook):
    settings = NotifySettings(
        console=True,
        jsonl=tmp_path / "alerts.jsonl",
        webhooks=(WebhookConfig(hook.url, style="wecom"),),
    )
    con = Console(record=True, width=200)
    multi = build_notifier(settings, console=con)
    multi.send(MESSAGE)
    multi.close()
    assert "已逾期" in con.export_text()
    assert json.loads((tmp_path / "alerts.jsonl").read_text())["key"] == MESSAGE.key
    assert hook.requests[0].json()["text"]["content"] == TEXT


# ---------------------------------------------------------------- settings

NOTIFY_TOML = """
console = true
jsonl = "logs/alerts.jsonl"
[[webhook]]
url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc"
style = "wecom"
[[webhook]]
url = "https://oapi.dingtalk.com/robot/send?access_token=def"
style = "dingtalk"
secret = "SECxyz"
[smtp]
host = "smtp.example.gov.cn"
port = 465
ssl = true
sender = "decide@example.gov.cn"
recipients = ["fzb@example.gov.cn"]
username = "decide"
password_env = "MY_SMTP_PASSWORD"
"""


def test_settings_defaults(tmp_path):
    assert load_notify_settings(tmp_path, {}) == NotifySettings(
        console=True, jsonl=tmp_path / "alerts.jsonl"
    )


def test_settings_file_then_environment(tmp_path):
    (tmp_path / "notify.toml").write_text(NOTIFY_TOML, encoding="utf-8")
    env = {
        "MY_SMTP_PASSWORD": "s3cret",
        "DECIDE_NOTIFY_CONSOLE": "0",
        "DECIDE_WEBHOOK_URL": "https://hooks.example.gov.cn/alerts",
        "DECIDE_SMTP_PORT": "2465",
        "DECIDE_SMTP_TO": "a@example.gov.cn, b@example.gov.cn",
        "DECIDE_SMTP_HOST": "",  # empty counts as unset
    }
    settings = load_notify_settings(tmp_path, env)
    assert settings == NotifySettings(
        console=False,
        jsonl=tmp_path / "logs" / "alerts.jsonl",
        webhooks=(
            WebhookConfig("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc", "wecom"),
            WebhookConfig(
                "https://oapi.dingtalk.com/robot/send?access_token=def", "dingtalk", "SECxyz"
            ),
            WebhookConfig("https://hooks.example.gov.cn/alerts", "generic"),
        ),
        smtp=SmtpConfig(
            host="smtp.example.gov.cn",
            sender="decide@example.gov.cn",
            recipients=("a@example.gov.cn", "b@example.gov.cn"),
            port=2465,
            username="decide",
            password="s3cret",
            ssl=True,
        ),
    )
    assert "s3cret" not in repr(settings) and "SECxyz" not in repr(settings)


def test_settings_from_environment_only_and_other_file(tmp_path):
    other = tmp_path / "elsewhere.toml"
    other.write_text('jsonl = false\n[[webhook]]\nurl = "https://oapi.dingtalk.com/robot/send"\n')
    env = {
        "DECIDE_NOTIFY_FILE": str(other),
        "DECIDE_SMTP_HOST": "mail.example.gov.cn",
        "DECIDE_SMTP_FROM": "decide@example.gov.cn",
        "DECIDE_SMTP_TO": "fzb@example.gov.cn",
        "DECIDE_SMTP_STARTTLS": "yes",
        "DECIDE_SMTP_USER": "decide",
        "DECIDE_SMTP_PASSWORD": "pw",
    }
    settings = load_notify_settings(tmp_path / "home", env)
    assert settings.jsonl is None
    assert settings.webhooks[0].style == "dingtalk"  # implied by the host
    assert settings.smtp == SmtpConfig(
        host="mail.example.gov.cn",
        sender="decide@example.gov.cn",
        recipients=("fzb@example.gov.cn",),
        port=587,
        username="decide",
        password="pw",
        starttls=True,
    )


SMTP_OK = '[smtp]\nhost = "h"\nsender = "s@x.cn"\nrecipients = ["r@x.cn"]\n'


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('console = "yes"', "console"),
        ("consol = true", "consol"),
        ("console = ", "not valid TOML"),
        ("jsonl = 3", "jsonl"),
        ('[[webhook]]\nurl = "ftp://example.gov.cn/x"', "url"),
        ('[[webhook]]\nstyle = "wecom"', "url"),
        ('[[webhook]]\nurl = "https://x.cn/h"\nstyle = "slack"', "style"),
        ('[[webhook]]\nurl = "https://x.cn/h"\nsecret = "s"', "secret"),
        ('[[webhook]]\nurl = "https://x.cn/h"\ntimeout = "soon"', "timeout"),
        (SMTP_OK + 'port = "abc"', "port"),
        (SMTP_OK + "port = 70000", "port"),
        (SMTP_OK + 'password = "plain"', "password"),
        (SMTP_OK + 'password_env = "NOT_SET_ANYWHERE"', "password_env"),
        (SMTP_OK + "ssl = true\nstarttls = true", "starttls"),
        ('[smtp]\nhost = "h"\nsender = "s@x.cn"\nrecipients = []', "recipients"),
        ('[smtp]\nhost = "h"\nsender = "s@x.cn"\nrecipients = [1]', "recipients"),
        ('[smtp]\nhost = "h"\nrecipients = ["r@x.cn"]', "sender"),
        ("smtp = 1", "smtp"),
    ],
)
def test_malformed_file_names_the_file_and_key(tmp_path, text, named):
    path = tmp_path / "notify.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as e:
        load_notify_settings(tmp_path, {})
    assert str(path) in str(e.value)
    assert named in str(e.value)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DECIDE_NOTIFY_CONSOLE": "maybe"}, "DECIDE_NOTIFY_CONSOLE"),
        ({"DECIDE_NOTIFY_FILE": "/nonexistent/notify.toml"}, "DECIDE_NOTIFY_FILE"),
        ({"DECIDE_WEBHOOK_URL": "file:///etc/passwd"}, "DECIDE_WEBHOOK"),
        ({"DECIDE_WEBHOOK_STYLE": "wecom"}, "DECIDE_WEBHOOK_STYLE"),
        ({"DECIDE_SMTP_HOST": "h", "DECIDE_SMTP_PORT": "x"}, "DECIDE_SMTP_PORT"),
        ({"DECIDE_SMTP_HOST": "h", "DECIDE_SMTP_SSL": "2"}, "DECIDE_SMTP_SSL"),
        ({"DECIDE_SMTP_HOST": "h"}, "DECIDE_SMTP_FROM"),
    ],
)
def test_malformed_environment_names_the_variable(tmp_path, env, named):
    with pytest.raises(InputError, match=named):
        load_notify_settings(tmp_path, env)


def test_an_unknown_key_is_named_with_the_closest_known_one_in_chinese_and_english(tmp_path):
    (tmp_path / "notify.toml").write_text("consle = true\n", encoding="utf-8")
    with pytest.raises(InputError) as e:
        load_notify_settings(tmp_path, {})
    text = str(e.value)
    assert "未知配置项 unknown key 'consle'" in text
    assert "是否应为 did you mean 'console'?" in text


@pytest.mark.parametrize(
    "target", ["keys/checkpoints.jsonl", "keys/audit-signing.pem", "decide.db", "documents/x"]
)
def test_the_jsonl_channel_never_appends_to_the_stores_own_files(tmp_path, target):
    (tmp_path / "notify.toml").write_text(f'jsonl = "{target}"\n', encoding="utf-8")
    with pytest.raises(InputError, match="store's own file"):
        load_notify_settings(tmp_path, {})
    with pytest.raises(InputError, match="store's own file"):
        load_notify_settings(tmp_path, {"DECIDE_NOTIFY_JSONL": str(tmp_path / target)})


# ---------------------------------------------------------------- bounded HTTP


class _Server:
    """A real HTTP server on 127.0.0.1 in a thread, answering every POST with ``answer``."""

    def __init__(self, answer: Callable[[BaseHTTPRequestHandler], None]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with contextlib.suppress(OSError):  # the client hung up, as a bounded one does
                    answer(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook?key=SECRETKEY"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _timed_send(notifier: WebhookNotifier, limit: float) -> tuple[float, BaseException | None]:
    """Sends in a thread (so a test of a blocking client ends); seconds taken and the error."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            notifier.send(MESSAGE)
            outcome.append(None)
        except BaseException as e:
            outcome.append(e)

    started = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit)
    assert not thread.is_alive(), f"send still blocked after {limit} s"
    return time.monotonic() - started, outcome[0]


@pytest.mark.parametrize("where", ["headers", "body"])
def test_a_webhook_that_drips_is_cut_off_at_the_deadline_of_one_delivery(where):
    stop = threading.Event()

    def drip(h: BaseHTTPRequestHandler) -> None:
        h.wfile.write(b"HTTP/1.1 200 OK\r\n")
        if where == "body":
            h.wfile.write(b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
        for _ in range(60):  # a byte every 0.2 s: each read is quick, the whole never ends
            if stop.is_set():
                return
            h.wfile.write(b"x" if where == "body" else b"X-Drip: y\r\n"[:1])
            h.wfile.flush()
            time.sleep(0.2)

    server = _Server(drip)
    try:
        style = "wecom" if where == "body" else "generic"  # a robot's answer must be read
        took, error = _timed_send(WebhookNotifier(server.url, style=style, timeout=1.0), 8)
    finally:
        stop.set()
        server.close()
    assert isinstance(error, DeliveryError) and not error.permanent
    assert took < 3, took
    assert "SECRETKEY" not in str(error)


def test_a_huge_webhook_answer_is_not_read_into_memory():
    sent = [0]

    def flood(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(2 * 1024**3))  # 2 GiB announced
        h.end_headers()
        chunk = b" " * 65536
        while sent[0] < 256 * 1024**2:  # sends until the client hangs up (or 256 MiB)
            h.wfile.write(chunk)
            sent[0] += len(chunk)

    server = _Server(flood)
    try:
        _, error = _timed_send(WebhookNotifier(server.url, style="wecom", timeout=30), 60)
    finally:
        server.close()
    assert isinstance(error, DeliveryError)
    assert "larger than" in str(error)
    assert sent[0] < 32 * 1024**2  # the cap (64 KiB) and the socket buffers, not the flood


def test_a_generic_webhooks_2xx_is_delivered_without_reading_its_body():
    def slow_body(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", "1000")
        h.end_headers()
        h.wfile.flush()
        time.sleep(3)  # the body never comes in time: the status said delivered

    server = _Server(slow_body)
    try:
        took, error = _timed_send(WebhookNotifier(server.url, timeout=1.0), 8)
    finally:
        server.close()
    assert error is None and took < 1


# ---------------------------------------------------------------- secrets out of errors


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        ("POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc-123 failed", "abc-123"),
        ("https://oapi.dingtalk.com/robot/send?access_token=T0K3N&sign=S1GN", "T0K3N"),
        ("https://oapi.dingtalk.com/robot/send?access_token=T0K3N&sign=S1GN", "S1GN"),
        ("postgresql+psycopg://decide:hunter2@db.internal:5432/decide", "hunter2"),
    ],
)
def test_redact_masks_tokens_and_passwords_in_urls(text, gone):
    from notify.redact import redact

    out = redact(text)
    assert gone not in out and "***" in out
    assert "https://" in out or "postgresql" in out  # the rest stays readable


def test_redact_masks_known_secrets_by_value():
    from notify.redact import redact

    assert redact("signed with SECxyz123 at /hook/abcd", ["SECxyz123", "/hook/abcd"]) == (
        "signed with *** at ***"
    )
