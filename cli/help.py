"""``--help`` that lists the valid ids (with their Chinese names) of the national preset.

The lists are built only when help is asked for: loading a procedure on every command's import
would slow every command down.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rich.cells import cell_len
from typer.core import TyperCommand

from procedures import Procedure

__all__ = ["ValidIds", "valid_ids"]

PRESET = "national-2019"


Section = Iterator[tuple[str, list[str]]]


def _steps(proc: Procedure) -> Section:
    yield "步骤 steps", [f"{s.id} {s.zh}" for s in proc.steps]


def _skippable(proc: Procedure) -> Section:
    yield "可跳过 skippable", [f"{s.id} {s.zh}" for s in proc.steps if s.skippable]


def _outcomes(proc: Procedure) -> Section:
    for s in proc.steps:
        if not s.at_registration:
            yield f"结果 outcomes of {s.id}", [f"{o.id} {o.zh}" for o in s.outcomes]
    yield "表态 --position", ["an outcome of the step", "abstain 弃权"]
    yield "会议类型 --meeting-type", ["executive 常务会议", "plenary 全体会议"]
    yield "文件类型 --attach KIND", [f"{d.id} {d.zh}" for d in proc.documents]


def _methods(proc: Procedure) -> Section:
    yield "公众参与方式 --method", [f"{m.id} {m.zh}" for m in proc.methods]


def _reusable(proc: Procedure) -> Section:
    yield "可沿用 reusable", [f"{s.id} {s.zh}" for s in proc.steps if s.reusable]


def _documents(proc: Procedure) -> Section:
    yield "步骤 steps", [f"{s.id} {s.zh}" for s in proc.steps if s.documents]
    yield "文件类型 --attach KIND", [f"{d.id} {d.zh}" for d in proc.documents]


def _flags(proc: Procedure) -> Section:
    yield "标记 --flag", [f"{f.id} {f.zh}" for f in proc.flags]
    from procedures import preset_ids

    yield "程序 --procedure (or a file)", preset_ids()


def _roles(proc: Procedure) -> Section:
    yield "角色 --role", [f"{r.id} {r.zh}" for r in proc.roles]


def _wrap(items: list[str], width: int, indent: str) -> Iterator[str]:
    """Items joined by commas in lines of at most ``width`` cells (Chinese counts double);
    an item is never split."""
    line = indent
    for n, item in enumerate(items):
        piece = item + ("," if n < len(items) - 1 else "")
        if line.strip() and cell_len(line) + 1 + cell_len(piece) > width:
            yield line
            line = indent
        line += ("" if not line.strip() else " ") + piece
    yield line


SECTIONS = {
    "steps": _steps,
    "skippable": _skippable,
    "outcomes": _outcomes,
    "flags": _flags,
    "roles": _roles,
    "methods": _methods,
    "reusable": _reusable,
    "documents": _documents,
}


class ValidIds(TyperCommand):
    """A command whose help ends with the valid ids it takes (set ``ids`` on a subclass)."""

    ids: tuple[str, ...] = ()

    def format_epilog(self, ctx: Any, formatter: Any) -> None:
        from procedures import load_procedure

        proc = load_procedure(PRESET)
        formatter.write_paragraph()
        formatter.write_text(
            f"可用的 id 或中文名称 valid ids or their Chinese names ({PRESET}; other procedures: "
            "decide procedures show ID):"
        )
        width = min(formatter.width or 80, 100)
        for name in self.ids:
            for title, items in SECTIONS[name](proc):
                formatter.write(f"  {title}:\n")
                formatter.write("\n".join(_wrap(items, width, "    ")) + "\n")


def valid_ids(*ids: str) -> type[ValidIds]:
    """A command class whose help lists these sections (steps, outcomes, flags, roles, …)."""
    return type("ValidIds", (ValidIds,), {"ids": ids})
