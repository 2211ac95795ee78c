"""``decide serve``'s checkpoint schedule, in this process under Prefect's harness: after N new
events it signs one checkpoint, time-stamps it at a local TSA, and its outbox drain hands the
checkpoint to a real local webhook — once."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console

from app.admin import add_person
from app.commands import Commands
from store.dbapi import Database
from store.settings import CheckpointSettings
from store.uow import UnitOfWork
from store.witness import checkpoints, tail
from tests.integration.local_tsa import LocalTsa, authorities, local_tsa
from tests.integration.test_notify import Hook, hook

__all__ = ["authorities", "hook", "local_tsa"]  # fixtures


@pytest.fixture
def signals_restored() -> Iterator[None]:
    """``serve`` installs its own SIGINT/SIGTERM handlers: give pytest its own back."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_serve_checkpoints_after_n_events_and_hands_the_checkpoint_to_a_webhook(
    prefect_harness,
    signals_restored,
    database_url: str,
    tmp_path: Path,
    hook: Hook,
    local_tsa: LocalTsa,
):
    from flows.serve import serve

    db = Database(database_url)
    home = tmp_path / "home"
    home.mkdir()
    (home / "notify.toml").write_text(
        f'console = false\n[[webhook]]\nurl = "{hook.url}"\n', encoding="utf-8"
    )
    every = CheckpointSettings(
        every_minutes=0, every_events=3, tsa_url=local_tsa.url, tsa_roots=local_tsa.roots
    )
    cmds = Commands(db, home, clock=lambda: datetime.now(UTC), checkpoints=every)
    for n in range(3):  # three events, none of a decision (the scan at start adds none)
        add_person(cmds, f"见证人{n}", "sponsor", "区住建委", actor="管理员")
    stop = threading.Event()

    def watch() -> None:  # stops serve once the webhook has the checkpoint (or after 60 s)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not stop.is_set():
            if any(r.json().get("kind") == "checkpoint" for r in hook.requests):  # type: ignore[union-attr]
                time.sleep(1)  # a few more polls: none may make a second checkpoint
                break
            time.sleep(0.1)
        stop.set()

    watcher = threading.Thread(target=watch)
    watcher.start()
    out = Console(record=True, width=200)
    serve(cmds, drain_seconds=0.2, console=out, stop=stop)
    watcher.join()
    printed = out.export_text()
    (message,) = [r.json() for r in hook.requests if r.json().get("kind") == "checkpoint"]  # type: ignore[union-attr]
    assert "after 3 events" in printed and "time-stamped by 127.0.0.1" in printed
    assert (
        "审计检查点 audit checkpoint[/]" not in printed
        and "#3 signed, 时间戳 time-stamped" in printed
    )
    data = message["data"]
    assert data["seq"] == 3 and data["timestamp"]["tsa"] == "127.0.0.1"
    assert message["text"].endswith("\n" + data["checkpoint"])
    assert "时间戳 time-stamped" in message["text"]
    assert len(checkpoints(cmds.engine)) == 1 and tail(cmds.engine).unsigned == 0
    assert len(local_tsa.queries) == 1
    with UnitOfWork(db, write=False) as uow:
        assert uow.outbox.pending() == 0
    db.close()
