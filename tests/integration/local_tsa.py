"""A local RFC 3161 time-stamping authority: a CA and a TSA certificate (extendedKeyUsage
critical timeStamping) made with the ``openssl`` CLI, and an HTTP server on 127.0.0.1, in this
process, that answers each query with ``openssl ts -reply``.

Two authorities are made once per session: ``trusted`` (its CA is the tests' trust root) and
``rogue`` (the same set-up under another CA).  A server can be told to misbehave (``mode``):
``reject`` answers a granted-less status, ``http500`` an HTTP error, ``garbage`` bytes that are
no reply, ``replay`` the reply to an earlier query (another nonce, another imprint).  Tests that
use them skip, with the reason, where ``openssl`` is absent.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

OPENSSL = shutil.which("openssl")
NO_OPENSSL = "the openssl CLI is not installed: the local time-stamping authority runs `openssl ts`"
# a TimeStampResp with status 2 (rejection) and no token: SEQUENCE { SEQUENCE { INTEGER 2 } }
REJECTION = bytes.fromhex("30053003020102")

_CONFIG = """\
[ tsa ]
default_tsa = tsa_config1

[ tsa_config1 ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.crt
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
other_policies = 1.2.3.4.5
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""
_TSA_EXTENSIONS = """\
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, nonRepudiation
extendedKeyUsage = critical, timeStamping
"""


@dataclass(frozen=True)
class Authority:
    """One CA and the TSA it certifies, with the ``openssl ts`` configuration."""

    name: str
    dir: Path
    ca: Path  # the CA certificate (PEM): the trust root
    config: Path


def _openssl(*args: str | Path, cwd: Path) -> None:
    assert OPENSSL is not None
    subprocess.run([OPENSSL, *map(str, args)], cwd=cwd, check=True, capture_output=True)


def make_authority(folder: Path, name: str) -> Authority:
    """A P-256 CA (``CN={name} Root CA``) and TSA (``CN={name} TSA``), as ``openssl`` makes them."""
    folder.mkdir(parents=True)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    _openssl(
        "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "3650",
        "-subj", f"/CN={name} Root CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=folder,
    )  # fmt: skip
    _openssl(
        "req", *ec, "-keyout", "tsa.key", "-out", "tsa.csr", "-subj", f"/CN={name} TSA", cwd=folder
    )
    (folder / "tsa.ext").write_text(_TSA_EXTENSIONS, encoding="ascii")
    _openssl(
        "x509", "-req", "-in", "tsa.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "tsa.crt", "-days", "3650", "-extfile", "tsa.ext",
        cwd=folder,
    )  # fmt: skip
    (folder / "serial").write_text("01\n", encoding="ascii")
    config = folder / "tsa.cnf"
    config.write_text(_CONFIG.format(dir=folder), encoding="ascii")
    return Authority(name, folder, folder / "ca.crt", config)


@dataclass
class LocalTsa:
    """A running local TSA: its URL, its CA (the trust root), what it was asked."""

    authority: Authority
    url: str = ""
    mode: str = "ok"  # ok | reject | http500 | garbage | replay
    queries: list[bytes] = field(default_factory=list)
    replies: list[bytes] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def roots(self) -> Path:
        return self.authority.ca

    def reply(self, query: bytes) -> bytes:
        """``openssl ts -reply`` for ``query`` (one at a time: the serial file is shared)."""
        with self.lock, tempfile.TemporaryDirectory() as tmp:
            q, r = Path(tmp) / "q.tsq", Path(tmp) / "r.tsr"
            q.write_bytes(query)
            _openssl(
                "ts",
                "-reply",
                "-config",
                self.authority.config,
                "-queryfile",
                q,
                "-out",
                r,
                cwd=Path(tmp),
            )
            return r.read_bytes()


@pytest.fixture(scope="session")
def authorities(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Authority]:
    if OPENSSL is None:
        pytest.skip(NO_OPENSSL)
    base = tmp_path_factory.mktemp("tsa")
    return {name: make_authority(base / name, name) for name in ("trusted", "rogue")}


def serve_tsa(authority: Authority) -> Iterator[LocalTsa]:
    state = LocalTsa(authority)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            query = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.queries.append(query)
            status, body = 200, b""
            if state.mode == "http500":
                status = 500
            elif state.mode == "reject":
                body = REJECTION
            elif state.mode == "garbage":
                body = b"<html>not a time-stamp reply</html>"
            elif state.mode == "replay" and state.replies:
                body = state.replies[0]
            else:
                body = state.reply(query)
                state.replies.append(body)
            self.send_response(status)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/tsa"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def local_tsa(authorities: dict[str, Authority]) -> Iterator[LocalTsa]:
    """The trusted authority, serving."""
    yield from serve_tsa(authorities["trusted"])


@pytest.fixture
def rogue_tsa(authorities: dict[str, Authority]) -> Iterator[LocalTsa]:
    """An authority the trust roots do not know, serving."""
    yield from serve_tsa(authorities["rogue"])
