"""The layers hold: procedures ← store ← app ← entry points (cli, flows), notify a leaf adapter;
procedures stays pure; no SQL outside store."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("procedures", "store", "app", "notify", "cli", "flows", "api", "web")
# what each package may import, besides the standard library and itself
ALLOWED = {
    "procedures": {"pydantic", "chinese_calendar", "holidays"},  # holidays: the generator only
    "store": {
        "procedures",
        "sqlmodel",
        "sqlalchemy",
        "alembic",
        "psycopg",
        "cryptography",
        "pydantic",
        "rfc3161_client",  # RFC 3161 time stamps of checkpoints (store/timestamping)
        "httpx",  # the time-stamp request to the TSA (store/timestamping)
    },
    "app": {"procedures", "store", "pydantic", "argon2"},  # argon2: Argon2id password hashes
    "notify": {"procedures", "httpx", "rich"},
    "cli": {"app", "procedures", "typer", "click", "rich", "flows", "notify", "api"},
    "flows": {"app", "notify", "procedures", "prefect", "apscheduler", "pydantic", "rich"},
    "api": {"app", "procedures", "fastapi", "starlette", "pydantic", "uvicorn", "web"},
    "web": {"app", "procedures", "fastapi", "starlette", "jinja2", "pydantic", "openpyxl"},
}
CLOCK_CALLS = {"today", "now", "utcnow", "time", "monotonic", "perf_counter"}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_imports_only_what_its_layer_allows(package):
    stdlib = set(sys.stdlib_module_names)
    for path in (ROOT / package).rglob("*.py"):
        extra = imports(path) - stdlib - ALLOWED[package] - {package, "__future__"}
        assert not extra, f"{path.relative_to(ROOT)} imports {sorted(extra)}"


def test_procedures_never_reads_the_clock():
    for path in (ROOT / "procedures").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in CLOCK_CALLS:
                raise AssertionError(
                    f"{path.relative_to(ROOT)}:{node.lineno} reads the clock (.{node.attr})"
                )
        assert "time" not in imports(path), path


def test_procedures_public_surface_is_pinned():
    import procedures

    assert sorted(procedures.__all__) == sorted(
        [
            "AccessDenied",
            "Attempt",
            "CalendarError",
            "Complete",
            "Conflict",
            "Dated",
            "DecideError",
            "Extend",
            "InputError",
            "InvalidDefinition",
            "MeetingRecord",
            "NotFound",
            "Plan",
            "Procedure",
            "RuleViolation",
            "Schedule",
            "Skip",
            "Start",
            "Step",
            "StepView",
            "WorkCalendar",
            "apply",
            "check",
            "check_flags",
            "load_procedure",
            "load_schedule",
            "parse_procedure",
            "parse_schedule",
            "plan",
            "preset_ids",
            "register",
            "resolve",
            "resolve_action",
        ]
    )
    for name in procedures.__all__:
        assert hasattr(procedures, name), name


SQL = re.compile(r"\b(SELECT .+ FROM|INSERT INTO|UPDATE \w+ SET|DELETE FROM)\b", re.S)


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


@pytest.mark.parametrize("package", ["app", "cli", "notify", "flows", "api", "web"])
def test_no_sql_outside_the_store(package):
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "store.fastsql":
                raise AssertionError(f"{path.relative_to(ROOT)} imports store.fastsql")
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docs
                and SQL.search(node.value)
            ):
                raise AssertionError(
                    f"{path.relative_to(ROOT)}:{node.lineno} holds SQL: {node.value[:60]!r}"
                )
