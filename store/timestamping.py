"""RFC 3161 time stamps: a time-stamping authority (TSA) signs that some data existed at a time.

A checkpoint signed with our own key says what the chain was, not when: whoever holds the key
can sign a rewritten history and date it back.  A TSA's stamp over the checkpoint's text is
signed by someone else, with the time it saw, and checks offline against that TSA's
certificates (``rfc3161-client`` parses and verifies; ``httpx`` carries the request).

* :func:`stamp` asks the TSA at ``url`` (RFC 3161 §3.4, HTTP POST of an
  ``application/timestamp-query``) for a stamp over the SHA-256 of ``data`` with a fresh nonce,
  and checks the reply: status granted, the same nonce, the same message imprint — and, given
  trust roots, its signature.  It returns the reply as received (a DER ``TimeStampResp``: the
  status and the token, what ``openssl ts -reply`` writes to a ``.tsr`` file and what
  ``openssl ts -verify -in F.tsr -data …`` reads).
* :func:`verify_stamp` checks such a reply offline against the trust roots (PEM certificates
  of the TSA's CA) and the data, and returns the time the TSA signed.
* :func:`read_stamp` reads one without judging it (the time, the TSA's name, the imprint), and
  :func:`stamp_covers` checks only that it is a granted stamp over the data (no roots at hand).

Every failure is a :class:`TimestampError` whose message names what failed and whose
``reason`` is one of ``unreachable`` (network, timeout, HTTP status), ``refused`` (the TSA
answered a status other than granted), ``malformed`` (not a time-stamp reply), ``nonce``,
``imprint`` (a stamp over other data), ``untrusted`` (the signature or its certificates do not
chain to the roots, or a certificate is not a time-stamping one), ``roots`` (no usable roots).
Error texts name the TSA's host, never its URL (which may carry a password).
"""

from __future__ import annotations

import hashlib
import re
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning
from rfc3161_client import (
    HashAlgorithm,
    PKIStatus,
    TimestampRequestBuilder,
    TimeStampResponse,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

from procedures.errors import DecideError, InputError

__all__ = [
    "MAX_REPLY_BYTES",
    "StampInfo",
    "TimestampError",
    "load_roots",
    "read_stamp",
    "stamp",
    "stamp_covers",
    "verify_stamp",
]

# a reply is a token with a certificate or two: a few KiB; more than this is not one
MAX_REPLY_BYTES = 1 << 20
_HEADERS = {"Content-Type": "application/timestamp-query", "Accept": "application/timestamp-reply"}
_DIGESTS = {
    "2.16.840.1.101.3.4.2.1": hashlib.sha256,
    "2.16.840.1.101.3.4.2.2": hashlib.sha384,
    "2.16.840.1.101.3.4.2.3": hashlib.sha512,
}


class TimestampError(DecideError):
    """A time stamp could not be had, or does not hold (``reason`` says which check failed)."""

    code = "timestamp"
    exit_code = 1

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "reason": self.reason}


@dataclass(frozen=True)
class StampInfo:
    """What a stamp says, unchecked: when, by whom, over which digest."""

    time: datetime  # genTime, UTC
    tsa: str  # the TSA's name in the token, or its certificate's subject, or ""
    serial: int
    imprint: bytes  # the digest the TSA signed
    imprint_oid: str


def stamp(
    url: str,
    data: bytes,
    *,
    timeout: float = 10.0,
    roots: Sequence[x509.Certificate] = (),
) -> bytes:
    """A TSA's stamp over SHA-256(``data``): the DER ``TimeStampResp`` it answered, checked
    (status granted, our nonce, our imprint, and with ``roots`` its signature)."""
    request = (
        TimestampRequestBuilder()
        .data(data)
        .hash_algorithm(HashAlgorithm.SHA256)
        .nonce(nonce=True)
        .cert_request(cert_request=True)
        .build()
    )
    host = urlsplit(url).hostname or "?"
    reply = _post(url, host, request.as_bytes(), timeout)
    response = _parse(reply, f"the answer of {host}")
    if response.status != PKIStatus.GRANTED:
        said = "; ".join(response.status_string) or "no reason given"
        raise TimestampError(
            f"time-stamping authority {host} refused the request: status "
            f"{_status_name(response.status)} ({said})",
            reason="refused",
        )
    info = response.tst_info
    if info.nonce != request.nonce:
        raise TimestampError(
            f"time-stamping authority {host} answered with another nonce (a replayed or "
            "misrouted reply)",
            reason="nonce",
        )
    _check_imprint(response, data, f"the stamp {host} returned")
    if roots:
        verify_stamp(reply, data, roots)
    return reply


def verify_stamp(token: bytes, data: bytes, roots: Sequence[x509.Certificate]) -> datetime:
    """The time the TSA signed ``token`` (a DER ``TimeStampResp``), once it is shown to be a
    granted stamp over ``data`` signed under one of ``roots`` — offline."""
    if not roots:
        raise TimestampError(
            "no trust roots to check the time stamp against (DECIDE_TSA_ROOTS or --tsa-roots)",
            reason="roots",
        )
    info = stamp_covers(token, data)
    response = decode_timestamp_response(token)
    try:
        VerifierBuilder(roots=list(roots)).build().verify_message(response, data)
    except (VerificationError, ValueError) as exc:
        raise TimestampError(
            "the time stamp is not signed by a time-stamping authority the trust roots "
            f"certify ({_said(exc)})",
            reason="untrusted",
        ) from None
    return info.time


def read_stamp(token: bytes) -> StampInfo:
    """What ``token`` says, without checking it (its time, TSA name, serial and imprint)."""
    return _info(_parse(token, "the time stamp"))


def stamp_covers(token: bytes, data: bytes) -> StampInfo:
    """What ``token`` says, once shown to be a granted stamp over ``data`` — its signature
    unchecked (for lack of trust roots: :func:`verify_stamp` checks it)."""
    response = _parse(token, "the time stamp")
    if response.status != PKIStatus.GRANTED:
        raise TimestampError(
            f"the time stamp is not a granted one (status {_status_name(response.status)})",
            reason="refused",
        )
    _check_imprint(response, data, "the time stamp")
    return _info(response)


def _info(response: TimeStampResponse) -> StampInfo:
    info = response.tst_info
    try:
        name = info.name
    except ValueError:  # the TSA's name is optional in a token
        name = None
    if isinstance(name, x509.DirectoryName):
        tsa = name.value.rfc4514_string()
    else:
        tsa = str(name.value) if name is not None else ""
    return StampInfo(
        time=info.gen_time,
        tsa=tsa,
        serial=info.serial_number,
        imprint=info.message_imprint.message,
        imprint_oid=info.message_imprint.hash_algorithm.dotted_string,
    )


def load_roots(path: Path, setting: str = "DECIDE_TSA_ROOTS") -> list[x509.Certificate]:
    """Every certificate in the PEM file ``path`` (roots, and intermediates if any), or an
    :class:`InputError` naming ``setting`` when the file is missing, unreadable or holds none."""
    where = f"{setting} {path}"
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{where}: 文件不存在 file not found") from None
    except OSError as exc:
        raise InputError(f"{where}: 无法读取 cannot read: {exc.strerror or exc}") from None
    try:
        with warnings.catch_warnings():  # old CA bundles hold certificates cryptography frowns on
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            certificates = x509.load_pem_x509_certificates(text)
    except ValueError:
        certificates = []
    if not certificates:
        raise InputError(
            f"{where}: 不是PEM证书 holds no PEM certificate (-----BEGIN CERTIFICATE-----): give "
            "the certificates of the time-stamping authority's CA"
        )
    return certificates


def _post(url: str, host: str, body: bytes, timeout: float) -> bytes:
    """POST the request; the reply's body, read within about ``timeout`` seconds (each read
    is bounded by it too) and up to :data:`MAX_REPLY_BYTES`."""
    deadline = time.monotonic() + timeout
    try:
        with (
            httpx.Client(timeout=timeout) as client,
            client.stream("POST", url, content=body, headers=_HEADERS) as response,
        ):
            if response.status_code != 200:
                raise TimestampError(
                    f"time-stamping authority {host} answered HTTP {response.status_code}",
                    reason="unreachable",
                )
            reply = bytearray()
            for chunk in response.iter_bytes():
                reply += chunk
                if len(reply) > MAX_REPLY_BYTES:
                    raise TimestampError(
                        f"time-stamping authority {host} answered more than "
                        f"{MAX_REPLY_BYTES >> 10} KiB: not a time-stamp reply",
                        reason="malformed",
                    )
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout("deadline")
            return bytes(reply)
    except httpx.TimeoutException:
        raise TimestampError(
            f"time-stamping authority {host}: no answer within {timeout:g} s",
            reason="unreachable",
        ) from None
    except httpx.HTTPError as exc:  # refused, reset, a name that does not resolve, …
        detail = str(exc).replace(url, host)
        raise TimestampError(
            f"time-stamping authority {host} cannot be reached: {type(exc).__name__}: {detail}",
            reason="unreachable",
        ) from None


def _parse(reply: bytes, what: str) -> TimeStampResponse:
    try:
        response = decode_timestamp_response(reply)
        if response.status == PKIStatus.GRANTED:
            response.tst_info  # noqa: B018  (a granted reply must carry a token)
    except ValueError as exc:
        raise TimestampError(
            f"{what} is not an RFC 3161 time-stamp reply (TimeStampResp): {exc}",
            reason="malformed",
        ) from None
    return response


def _check_imprint(response: TimeStampResponse, data: bytes, what: str) -> None:
    imprint = response.tst_info.message_imprint
    digest = _DIGESTS.get(imprint.hash_algorithm.dotted_string)
    if digest is None:
        raise TimestampError(
            f"{what} uses an unsupported digest ({imprint.hash_algorithm.dotted_string})",
            reason="imprint",
        )
    if imprint.message != digest(data).digest():
        raise TimestampError(
            f"{what} is over other data: its message imprint is not the digest of this checkpoint",
            reason="imprint",
        )


def _said(exc: Exception) -> str:
    """The library's reason, without OpenSSL's error stack around it."""
    text = str(exc)
    found = re.search(r'data: "([^"]+)"', text)
    return found[1] if found else text[:300]


def _status_name(status: int) -> str:
    try:
        return PKIStatus(status).name.lower()
    except ValueError:
        return str(status)
