"""``decide serve``'s checkpoint schedule, in this process under Prefect's harness: after N new
events it signs a checkpoint, and on its interval it signs one over fewer; each is time-stamped
at a local TSA and handed by the outbox drain to a real local webhook — once each."""

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


def checkpoint_messages(hook: Hook) -> list[dict]:
    found = [r.json() for r in list(hook.requests)]
    return [m for m in found if isinstance(m, dict) and m.get("kind") == "checkpoint"]


def add_people(cmds: Commands, *names: str) -> None:
    for name in names:  # events of no decision: the deadline scan adds none of its own
        add_person(cmds, name, "sponsor", "区住建委", actor="管理员")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_serve_checkpoints_after_n_events_and_on_its_interval_and_hands_each_to_a_webhook(
    prefect_harness,
    signals_restored,
    database_url: str,
    tmp_path: Path,
    hook: Hook,
    local_tsa: LocalTsa,
):
    from flows.serve import serve

    home = tmp_path / "home"
    home.mkdir()
    (home / "notify.toml").write_text(
        f'console = false\n[[webhook]]\nurl = "{hook.url}"\n', encoding="utf-8"
    )
    every = CheckpointSettings(
        every_minutes=0.05, every_events=3, tsa_url=local_tsa.url, tsa_roots=local_tsa.roots
    )
    db = Database(database_url)
    cmds = Commands(db, home, clock=lambda: datetime.now(UTC), checkpoints=every)
    add_people(cmds, "甲", "乙", "丙")  # three: due at the first poll, before the interval
    stop = threading.Event()

    def watch() -> None:  # one more event once #3 is out; stop once #4 is out (or after 90 s)
        other = Database(database_url)  # this thread's own connection
        deadline = time.monotonic() + 90
        added = False
        while time.monotonic() < deadline and not stop.is_set():
            seqs = [m["data"]["seq"] for m in checkpoint_messages(hook)]
            if seqs and not added:
                add_people(Commands(other, home), "丁")  # one: only the interval signs it
                added = True
            if len(seqs) >= 2:
                time.sleep(3.5)  # more polls and one more interval: nothing new to sign
                break
            time.sleep(0.1)
        other.close()
        stop.set()

    watcher = threading.Thread(target=watch)
    watcher.start()
    out = Console(record=True, width=200)
    serve(cmds, drain_seconds=0.2, console=out, stop=stop)
    watcher.join()
    printed = out.export_text()
    assert "every 0.05 min or after 3 events" in printed and "time-stamped by 127.0.0.1" in printed
    # the first by the count of events, the second (one event) by the interval alone
    assert "#3 signed after 3 events, 时间戳 time-stamped" in printed, printed
    assert "#4 signed on schedule (every 0.05 min), 时间戳 time-stamped" in printed, printed
    messages = checkpoint_messages(hook)
    assert [m["data"]["seq"] for m in messages] == [3, 4]
    for m in messages:
        assert m["data"]["timestamp"]["tsa"] == "127.0.0.1"
        assert m["text"].endswith("\n" + m["data"]["checkpoint"])
        assert "时间戳 time-stamped" in m["text"]
    assert len(checkpoints(cmds.engine)) == 2 and tail(cmds.engine).unsigned == 0
    assert len(local_tsa.queries) == 2
    with UnitOfWork(db, write=False) as uow:
        assert uow.outbox.pending() == 0
    db.close()
