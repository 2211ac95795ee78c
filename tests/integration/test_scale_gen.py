"""The province-scale generator (``bench/scale_gen.py`` with the bulk loader of
``bench/scale.py``) writes what the commands write: a small generated home passes the full
verification, and its rows and events equal those the real commands, scan and serve work write
for the same histories.  Kept small (a few seconds): the benchmark checks its own builds too."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from app.admin import audit_verify
from app.commands import Commands
from bench import scale, scale_gen
from store.dbapi import Database

SEED = 7
WINDOW = (date(2026, 3, 2), date(2026, 9, 30))  # a short span: the replay scans every day


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("scale")
    path, home = root / "decide.db", root / "home"
    meta = scale.build(20, path, home, 1, seed=SEED, first=WINDOW[0], last=WINDOW[1])
    return path, home, meta


def test_a_generated_home_passes_the_full_verification(
    built: tuple[Path, Path, dict[str, Any]],
) -> None:
    path, home, meta = built
    assert meta["walk_refusals"] == 0, meta["refused"]
    assert meta["checkpoints"] > 0 and meta["documents"] > 0 and meta["todo"] > 0
    db = Database(f"sqlite:///{path}")
    try:
        report = audit_verify(Commands(db, home))
    finally:
        db.close()
    assert report.ok, [p.message for p in report.problems]
    assert (report.events, report.documents) == (meta["events"], meta["documents"])
    assert report.checkpoints == meta["checkpoints"]


def test_generated_rows_are_those_the_commands_write(
    built: tuple[Path, Path, dict[str, Any]], tmp_path: Path
) -> None:
    path, _, _ = built
    specs = scale_gen.registrations(20, SEED, *WINDOW)
    walks = [scale_gen.walk_one(spec) for spec in specs[::5]]
    replayed = scale_gen.replay_with_commands(walks, tmp_path / "commands")
    ids = [w.id for w in walks]
    assert scale_gen.compare(path, replayed, ids) == []
    assert scale.todo_differences(f"sqlite:///{path}", [s[1] for s in specs]) == []
    # the comparison sees a difference: one alert raised a day late
    with sqlite3.connect(replayed) as con:
        con.execute(
            "UPDATE alerts SET raised_at = raised_at || '1' WHERE id = "
            "(SELECT min(id) FROM alerts WHERE decision_id IN (?, ?, ?, ?))",
            ids,
        )
    con.close()
    assert [d.split(" ")[0] for d in scale_gen.compare(path, replayed, ids)] == ["alerts"]
