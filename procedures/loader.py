"""Load procedure files (TOML) into ``Procedure`` models and reject broken definitions.

A file either stands alone or ``extends`` another (a preset id, or a file beside it): roles, flags
and documents are merged by id; a step with an existing id overrides the keys it gives, a new id
adds a step.  Validation happens here, once, when the file is loaded: an unknown step, flag, role,
document or unit, a cycle, a step that can never become ready, a step with no way to finish, or an
outcome that leads nowhere fails with ``InvalidDefinition`` naming the file and the step.
"""

from __future__ import annotations

import copy
import functools
import os
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from procedures.errors import InputError, InvalidDefinition, NotFound
from procedures.model import Period, Prerequisite, Procedure, Requirement, Step

__all__ = ["PRESETS_DIR", "load_procedure", "parse_procedure", "preset_ids"]

PRESETS_DIR = Path(__file__).with_name("presets")
_TABLES = ("roles", "flags", "documents", "methods")


def preset_ids() -> list[str]:
    return list(_preset_ids())


@functools.lru_cache(maxsize=1)
def _preset_ids() -> tuple[str, ...]:  # package data: listed once per process
    return tuple(sorted(p.stem for p in PRESETS_DIR.glob("*.toml")))


def _is_preset(path: Path) -> bool:
    return path.parent == PRESETS_DIR.resolve()


def _load_cached(path: Path) -> Procedure:
    """Presets are package data, parsed once per process; an office file is read each time it
    is loaded (only to register or migrate decisions, which then keep their own copy), so an
    edit is seen at once, also by a long-running process."""
    return _load_preset(path) if _is_preset(path) else _load_path(path)


@functools.lru_cache(maxsize=64)
def _load_preset(path: Path) -> Procedure:
    return _load_path(path)


def _load_path(path: Path) -> Procedure:
    proc = parse_procedure(_read_merged(path, seen=()), source=path.name)
    parent_ref = _read(path).get("extends")
    if parent_ref is not None:  # no cycle: _read_merged has followed the chain
        _check_statutory(proc, _load_cached(_resolve(str(parent_ref), base=path)), path.name)
    return proc


def _check_statutory(proc: Procedure, parent: Procedure, source: str) -> None:
    """A period that still claims the statute may not be shorter than the one it overrides:
    the statute's minimum binds every office (SPEC §2 gate 4).  Only the parent's statutory
    periods are floors; a period in another unit than the statute's is not the statute's."""
    for step in proc.steps:
        base = parent.step(step.id)
        if base is None:
            continue
        for name in ("minimum", "review_time", "due"):
            period: Period | None = getattr(step, name)
            floor: Period | None = getattr(base, name)
            if period is None or floor is None or period.basis.kind != "statute":
                continue
            if floor.basis.kind == "statute" and (
                period.unit != floor.unit or period.amount < floor.amount
            ):
                claimed = period.basis.article or "no article"
                raise InvalidDefinition(
                    f"法定期限不得短于上位规定 {name} {period.label} claims the statute "
                    f"({claimed}) but {parent.id} sets {floor.label}, {floor.basis.label}: a "
                    "statutory period may not be shorter than the law's; keep the statutory "
                    "period, or give the office's own basis (local_rule or office_policy)",
                    source=source,
                    step=step.id,
                )


def load_procedure(ref: str | Path) -> Procedure:
    """Load a preset by id (``national-2019``) or a procedure file by path."""
    return _load_ref(str(ref))


def _load_ref(ref: str) -> Procedure:
    return _load_cached(_resolve(ref, base=None))


def _resolve(ref: str, base: Path | None) -> Path:
    candidates = [PRESETS_DIR / f"{ref}.toml"]
    if base is not None:
        candidates.insert(0, base.parent / f"{ref}.toml")
        candidates.insert(0, base.parent / ref)
    candidates.append(Path(ref))
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    if Path(ref).exists():  # a FIFO, a device, a directory: say so (never read it)
        from procedures.files import open_regular

        os.close(open_regular(Path(ref), limit=0, what="a procedure definition"))
    if base is None:
        raise NotFound(
            f"未找到程序定义 no procedure file or preset named {ref!r} "
            f"(presets: {', '.join(preset_ids())})"
        )
    raise InvalidDefinition(
        f"未找到程序定义 no procedure file or preset named {ref!r} "
        f"(presets: {', '.join(preset_ids())})",
        source=str(base.name if base else ref),
    )


def _read(path: Path) -> dict[str, Any]:
    """The file's TOML (a fresh copy: merging changes it).  A preset is parsed once per
    process, because every Tianjin preset reads the national one again through ``extends``."""
    return copy.deepcopy(_parsed(path)) if _is_preset(path) else _parse(path)


@functools.lru_cache(maxsize=64)
def _parsed(path: Path) -> dict[str, Any]:
    return _parse(path)


def _parse(path: Path) -> dict[str, Any]:
    from procedures.files import read_text

    try:
        return tomllib.loads(read_text(path, what="a procedure definition"))  # at most 1 MiB
    except InputError as exc:
        raise InvalidDefinition(f"cannot read the file: {exc}", source=path.name) from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidDefinition(f"cannot read the file: {exc}", source=path.name) from None


def _read_merged(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    if path in seen:
        raise InvalidDefinition("'extends' forms a cycle", source=path.name)
    raw = _read(path)
    parent_ref = raw.pop("extends", None)
    if parent_ref is None:
        return raw
    parent = _read_merged(_resolve(str(parent_ref), base=path), (*seen, path))
    merged = {**parent, **{k: v for k, v in raw.items() if k not in (*_TABLES, "steps")}}
    for table in _TABLES:
        merged[table] = {**parent.get(table, {}), **raw.get(table, {})}
    steps = [dict(s) for s in parent.get("steps", [])]
    index = {s.get("id"): i for i, s in enumerate(steps)}
    for child in raw.get("steps", []):
        if child.get("id") in index:
            steps[index[child["id"]]].update(child)
        else:
            steps.append(dict(child))
    merged["steps"] = steps
    return merged


def _prerequisite(text: Any, source: str, step: str) -> Prerequisite:
    if not isinstance(text, str) or not text.strip():
        raise InvalidDefinition(
            f"'after' entries are step ids, got {text!r}", source=source, step=step
        )
    name, _, outcomes = text.partition(":")
    return Prerequisite(
        step=name.strip(),
        outcomes=tuple(o.strip() for o in outcomes.split("|")) if outcomes else None,
    )


def _requirement(value: Any, source: str, step: str) -> Requirement:
    if value in (None, "always"):
        return Requirement()
    if isinstance(value, Mapping) and len(value) == 1:
        ((kind, flag),) = value.items()
        if kind in ("when", "unless") and isinstance(flag, str):
            return Requirement(kind=kind, flag=flag)
    raise InvalidDefinition(
        f'\'required\' must be "always", {{ when = "flag" }} or {{ unless = "flag" }}, got {value!r}',
        source=source,
        step=step,
    )


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        if err["type"] == "literal_error":
            parts.append(f"{where}: unknown value {err['input']!r} ({err['msg']})")
        else:
            parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def parse_procedure(raw: Mapping[str, Any], *, source: str) -> Procedure:
    """Build and validate a ``Procedure`` from parsed TOML (``extends`` already merged)."""
    steps: list[Step] = []
    for i, entry in enumerate(raw.get("steps", [])):
        step_id = str(entry.get("id", f"#{i + 1}"))
        data = dict(entry)
        data["after"] = tuple(_prerequisite(a, source, step_id) for a in data.get("after", ()))
        data["required"] = _requirement(data.get("required"), source, step_id)
        try:
            steps.append(Step.model_validate(data))
        except ValidationError as exc:
            raise InvalidDefinition(_describe(exc), source=source, step=step_id) from None
    try:
        procedure = Procedure.model_validate(
            {
                **{k: v for k, v in raw.items() if k not in (*_TABLES, "steps")},
                **{t: [{"id": k, **v} for k, v in raw.get(t, {}).items()] for t in _TABLES},
                "steps": steps,
                "source_file": source,
            }
        )
    except ValidationError as exc:
        raise InvalidDefinition(_describe(exc), source=source) from None
    return _validated(procedure, source)


def _validated(proc: Procedure, source: str) -> Procedure:
    if not proc.steps:
        raise InvalidDefinition("the procedure has no steps", source=source)
    ids = [s.id for s in proc.steps]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise InvalidDefinition("step id defined twice", source=source, step=dupes[0])
    by_id = {s.id: s for s in proc.steps}
    for step in proc.steps:
        _check_step(proc, step, by_id, source)
    ordered = _topological(proc.steps, source)
    proc = proc.model_copy(update={"steps": ordered})
    _check_reachable(proc, source)
    for step in proc.steps:
        _check_anchors(proc, step, source)
    for rule in proc.package:
        doc = rule.kind
        if proc.document(doc) is None or not any(doc in s.documents for s in proc.steps):
            raise InvalidDefinition(f"package names {doc!r}, which no step produces", source=source)
        _check_rule_flags(proc, rule.when, f"package entry {doc!r}", source, None)
    for method in proc.methods:
        for doc in method.requires_documents:
            if proc.document(doc) is None:
                raise InvalidDefinition(
                    f"method {method.id!r} requires an unknown document kind {doc!r}", source=source
                )
    if sum(s.decides for s in proc.steps) > 1:
        raise InvalidDefinition("more than one step is marked 'decides'", source=source)
    return proc


def _check_rule_flags(
    proc: Procedure, flags: tuple[str, ...], what: str, source: str, step: str | None
) -> None:
    for flag in flags:
        if proc.flag(flag) is None:
            raise InvalidDefinition(
                f"{what} names an unknown flag {flag!r}", source=source, step=step
            )


def _check_step(proc: Procedure, step: Step, by_id: dict[str, Step], source: str) -> None:
    def fail(message: str) -> InvalidDefinition:
        return InvalidDefinition(message, source=source, step=step.id)

    for method in step.methods:
        if proc.method(method) is None:
            raise fail(f"unknown participation method {method!r}")
    if step.minimum is not None and step.minimum.method is not None:
        if step.minimum.method not in step.methods:
            raise fail(
                f"minimum binds the method {step.minimum.method!r}, which is not among the "
                "step's methods"
            )
        if step.minimum.unit != "calendar_days":
            raise fail("a comment window's minimum is counted in calendar days (Art. 15: 30日)")
    if step.reusable and step.hard_gate:
        raise fail(
            "a hard gate always runs again on a changed draft: it may not be reusable (Art. 25)"
        )
    for rule in step.requires_documents:
        if proc.document(rule.kind) is None:
            raise fail(f"requires an unknown document kind {rule.kind!r}")
        _check_rule_flags(proc, rule.when, f"required document {rule.kind!r}", source, step.id)

    if proc.role(step.role) is None:
        raise fail(f"unknown role {step.role!r}")
    if step.required.flag is not None and proc.flag(step.required.flag) is None:
        raise fail(f"unknown flag {step.required.flag!r}")
    for doc in step.documents:
        if proc.document(doc) is None:
            raise fail(f"unknown document kind {doc!r}")
    for pre in step.after:
        target = by_id.get(pre.step)
        if target is None:
            raise fail(f"comes after an unknown step {pre.step!r}")
        for name in pre.outcomes or ():
            if target.outcome(name) is None:
                raise fail(
                    f"comes after {pre.step}:{name}, but {pre.step!r} has no outcome {name!r}"
                )
    if step.hard_gate and (step.skippable or step.required.kind != "always"):
        raise fail("a hard gate must be required always and may never be skipped")
    if step.skippable and step.required.kind == "always":
        raise fail("only a conditional step may be skipped with a reason (SPEC gate 5)")
    if step.at_registration and (step.after or len(step.outcomes) != 1):
        raise fail("a step done at registration comes after nothing and has exactly one outcome")
    if step.due is not None and step.due.shortenable:
        raise fail("only a minimum period may be shortenable")
    if step.minimum is not None and step.minimum.extension is not None:
        raise fail("only a due period may be extended")
    if step.review_time is not None:
        _check_review_time(step.review_time, fail)
    if not step.outcomes:
        raise fail("the step has no outcomes, so it can never finish")
    if not any(o.effect in ("done", "end") for o in step.outcomes):
        raise fail("no outcome finishes the step (every outcome returns, pauses or stays open)")
    seen: set[str] = set()
    for out in step.outcomes:
        if out.id in seen:
            raise fail(f"outcome {out.id!r} defined twice")
        seen.add(out.id)
        if out.effect == "return":
            if out.return_to is None or out.return_to not in by_id:
                raise fail(f"outcome {out.id!r} returns to an unknown step {out.return_to!r}")
        elif out.return_to is not None:
            raise fail(f"outcome {out.id!r} names return_to but its effect is {out.effect!r}")
        for doc in out.requires_documents:
            if proc.document(doc) is None:
                raise fail(f"outcome {out.id!r} requires an unknown document kind {doc!r}")
        for pair in out.blocks:
            b_step, _, b_out = pair.partition(":")
            if b_step not in by_id or by_id[b_step].outcome(b_out) is None:
                raise fail(f"outcome {out.id!r} blocks an unknown step:outcome {pair!r}")


def _check_review_time(period: Period, fail: Callable[[str], InvalidDefinition]) -> None:
    """A guaranteed review time runs from each receipt of the materials (Decree 713 Art. 26),
    and is not a deadline: it is never extended."""
    if period.extension is not None:
        raise fail(
            "review_time 保证审查时间不可延长 a review time is not extended (only a due period)"
        )
    if period.anchor != "opened":
        raise fail(
            "review_time 保证审查时间自收到材料起算 a review time counts from the receipt of the "
            f'materials (anchor "opened"), not from {period.anchor!r} (Decree 713 Art. 26)'
        )


def _topological(steps: tuple[Step, ...], source: str) -> tuple[Step, ...]:
    """Kahn's algorithm, keeping the file's order among steps that are free at the same time."""
    remaining = list(steps)
    placed: list[Step] = []
    done: set[str] = set()
    while remaining:
        free = next((s for s in remaining if all(p.step in done for p in s.after)), None)
        if free is None:
            names = ", ".join(s.id for s in remaining)
            raise InvalidDefinition(
                f"the 'after' relation forms a cycle among: {names}",
                source=source,
                step=remaining[0].id,
            )
        placed.append(free)
        done.add(free.id)
        remaining.remove(free)
    return tuple(placed)


def _check_reachable(proc: Procedure, source: str) -> None:
    """Every step must be able to become ready: its prerequisites can end in an accepted way."""
    finishing: dict[str, set[str]] = {}
    for step in proc.steps:  # topological: prerequisites are already known
        for pre in step.after:
            accepted = set(proc.accepted(pre))
            if not accepted & finishing[pre.step]:
                raise InvalidDefinition(
                    f"can never become ready: no way for {pre.step!r} to finish with "
                    f"{sorted(accepted) or 'a passing outcome'}",
                    source=source,
                    step=step.id,
                )
        finishing[step.id] = {o.id for o in step.outcomes if o.effect in ("done", "end")}
    for step in proc.steps:
        for out in step.outcomes:
            if (
                out.return_to
                and out.return_to != step.id
                and step.id not in proc.successors(out.return_to)
            ):
                raise InvalidDefinition(
                    f"outcome {out.id!r} returns to {out.return_to!r}, which does not come before it",
                    source=source,
                    step=step.id,
                )


def _check_anchors(proc: Procedure, step: Step, source: str) -> None:
    for name, period in (("minimum", step.minimum), ("due", step.due)):
        if period is None or period.anchor == "opened":
            continue
        if period.anchor == "minimum_end":
            if name != "due" or step.minimum is None:
                raise InvalidDefinition(
                    f"{name} counts from minimum_end but the step has no minimum",
                    source=source,
                    step=step.id,
                )
        elif step.id not in proc.successors(period.anchor):
            raise InvalidDefinition(
                f"{name} counts from {period.anchor!r}, which is not a step before this one",
                source=source,
                step=step.id,
            )
