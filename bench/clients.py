"""Concurrent HTTP clients for ``bench/api.py`` and ``bench/web.py``: one process per client,
each on one keep-alive connection with the standard library's ``http.client`` — so the
clients neither share a GIL nor cost the server's two cores more than a client must (threads of
httpx in one process added their own queueing to every figure).

Each request is timed on the client (what a caller waits) and on the server (its
``Server-Timing: app;dur=`` header: from receiving the request to sending the headers).
"""

from __future__ import annotations

import http.client
import json
import multiprocessing as mp
import re
import time
from typing import Any

__all__ = ["Request", "run"]

# (operation name, method, path, JSON body or None)
Request = tuple[str, str, str, Any]
_DUR = re.compile(r"app;dur=([0-9.]+)")


def _client(port: int, headers: dict[str, str], script: list[Request], go: Any, out: Any) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    found: list[tuple[str, float, float]] = []
    go.wait()
    for op, method, path, body in script:
        data = None if body is None else json.dumps(body).encode()
        sent = {**headers, **({"Content-Type": "application/json"} if data is not None else {})}
        start = time.perf_counter()
        conn.request(method, path, body=data, headers=sent)
        answer = conn.getresponse()
        content = answer.read()
        took = time.perf_counter() - start
        if answer.status >= 300 and not (answer.status == 303 and method == "POST"):
            out.put(("error", f"{method} {path}: {answer.status} {content[:300]!r}"))
            return
        server = _DUR.search(answer.getheader("server-timing") or "")
        found.append((op, took, float(server.group(1)) / 1000 if server else float("nan")))
    conn.close()
    out.put(("ok", found))


def run(
    port: int, scripts: list[list[Request]], headers: list[dict[str, str]]
) -> tuple[dict[str, list[float]], dict[str, list[float]], float]:
    """Run one client process per script at once; the client and the server times by
    operation, and the wall time from the common start to the last answer."""
    ctx = mp.get_context("fork")
    go = ctx.Barrier(len(scripts) + 1)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_client, args=(port, h, s, go, out))
        for s, h in zip(scripts, headers, strict=True)
    ]
    for p in procs:
        p.start()
    go.wait()
    start = time.perf_counter()
    client: dict[str, list[float]] = {}
    server: dict[str, list[float]] = {}
    for _ in procs:
        kind, found = out.get()
        if kind == "error":
            for p in procs:
                p.kill()
            raise SystemExit(found)
        for op, took, srv in found:
            client.setdefault(op, []).append(took)
            server.setdefault(op, []).append(srv)
    wall = time.perf_counter() - start
    for p in procs:
        p.join()
    return client, server, wall
