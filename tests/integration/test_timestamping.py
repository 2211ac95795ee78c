"""RFC 3161 time stamps against a real local TSA (``openssl ts -reply`` behind an HTTP server on
127.0.0.1): a stamp checks offline against its CA and no other, over its data and no other; every
way a TSA can fail is one clear error naming what failed."""

from __future__ import annotations

import socket
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from procedures.errors import DecideError, InputError
from store.timestamping import TimestampError, load_roots, read_stamp, stamp, verify_stamp
from tests.integration.local_tsa import OPENSSL, LocalTsa, authorities, local_tsa, rogue_tsa

__all__ = ["authorities", "local_tsa", "rogue_tsa"]  # fixtures

DATA = b'{"hash": "ab12", "seq": 7, "signed_at": "2026-01-10T00:00:00.000000Z"}'


def test_a_stamp_verifies_offline_against_its_ca_and_gives_the_time_it_was_signed(
    local_tsa: LocalTsa, tmp_path: Path
):
    roots = load_roots(local_tsa.roots)
    before = datetime.now(UTC)
    token = stamp(local_tsa.url, DATA, timeout=10, roots=roots)
    when = verify_stamp(token, DATA, roots)
    assert before - timedelta(seconds=2) <= when <= datetime.now(UTC) + timedelta(seconds=2)
    assert when.tzinfo is not None
    assert read_stamp(token).tsa == "CN=trusted TSA"
    # it is the reply as `openssl ts` writes it: a witness can check it with openssl alone
    (tmp_path / "t.tsr").write_bytes(token)
    (tmp_path / "data").write_bytes(DATA)
    assert OPENSSL is not None
    checked = subprocess.run(
        [OPENSSL, "ts", "-verify", "-in", "t.tsr", "-data", "data", "-CAfile", local_tsa.roots],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0 and "Verification: OK" in checked.stdout, checked.stderr


def test_a_stamp_over_other_data_is_refused(local_tsa: LocalTsa):
    roots = load_roots(local_tsa.roots)
    token = stamp(local_tsa.url, DATA, timeout=10)
    with pytest.raises(TimestampError) as info:
        verify_stamp(token, DATA.replace(b"7", b"8"), roots)
    assert info.value.reason == "imprint"
    assert "over other data" in str(info.value)


def test_a_stamp_from_a_tsa_the_roots_do_not_certify_is_refused(
    local_tsa: LocalTsa, rogue_tsa: LocalTsa
):
    trusted = load_roots(local_tsa.roots)
    token = stamp(rogue_tsa.url, DATA, timeout=10)  # granted, right nonce, right imprint
    with pytest.raises(TimestampError) as info:
        verify_stamp(token, DATA, trusted)
    assert info.value.reason == "untrusted"
    assert "not signed by a time-stamping authority the trust roots certify" in str(info.value)
    with pytest.raises(TimestampError) as at_once:  # and when asked with the roots at hand
        stamp(rogue_tsa.url, DATA, timeout=10, roots=trusted)
    assert at_once.value.reason == "untrusted"
    assert verify_stamp(token, DATA, load_roots(rogue_tsa.roots))  # its own CA accepts it


@pytest.mark.parametrize(
    ("mode", "reason", "said"),
    [
        ("reject", "refused", "refused the request: status rejection"),
        ("http500", "unreachable", "answered HTTP 500"),
        ("garbage", "malformed", "is not an RFC 3161 time-stamp reply"),
        ("replay", "nonce", "answered with another nonce"),
    ],
)
def test_a_tsa_that_misbehaves_is_one_clear_error(
    local_tsa: LocalTsa, mode: str, reason: str, said: str
):
    stamp(local_tsa.url, b"an earlier query", timeout=10)  # what ``replay`` answers with
    local_tsa.mode = mode
    with pytest.raises(TimestampError) as info:
        stamp(local_tsa.url, DATA, timeout=10)
    assert info.value.reason == reason
    assert said in str(info.value) and "127.0.0.1" in str(info.value)
    assert isinstance(info.value, DecideError)  # the CLI prints one line, no traceback


def test_a_tsa_that_is_down_is_a_clear_error_naming_its_host_not_its_url():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # bound, never listening: refused
    port = sock.getsockname()[1]
    try:
        with pytest.raises(TimestampError) as info:
            stamp(f"http://user:s3cret@127.0.0.1:{port}/tsa", DATA, timeout=5)
    finally:
        sock.close()
    assert info.value.reason == "unreachable"
    assert "cannot be reached" in str(info.value)
    assert "s3cret" not in str(info.value)


def test_trust_roots_that_cannot_be_used_are_named(tmp_path: Path):
    with pytest.raises(
        InputError, match=r"DECIDE_TSA_ROOTS .*missing.pem: 文件不存在 file not found"
    ):
        load_roots(tmp_path / "missing.pem")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"--tsa-roots .*holds no PEM certificate"):
        load_roots(junk, "--tsa-roots")
