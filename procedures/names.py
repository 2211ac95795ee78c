"""Names as people type them: a procedure's ids, or their Chinese (or English) names.

A clerk types 合法性审查 or 风险可控 as readily as ``legality_review`` or ``controllable``; every
interface (the CLI, the JSON API) resolves what it was given here, to the English id the rest of
the engine uses.  A name that matches nothing is refused with the near misses ("did you mean")
and the valid values.  Pure: no database, no clock.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Protocol

from procedures.errors import InputError
from procedures.model import Procedure, Step
from procedures.state import Action, Attach, Complete, MeetingRecord, Start

__all__ = [
    "ABSTAIN",
    "KINDS",
    "MEETING_TYPES",
    "Named",
    "resolve",
    "resolve_action",
    "resolve_document",
    "resolve_flags",
    "resolve_meeting_type",
    "resolve_method",
    "resolve_outcome",
    "resolve_role",
    "resolve_step",
]

# what each kind of name is called in an error (中文, English)
KINDS: dict[str, tuple[str, str]] = {
    "step": ("步骤", "step"),
    "outcome": ("结果", "outcome"),
    "role": ("角色", "role"),
    "flag": ("标记", "flag"),
    "document": ("文件类型", "document kind"),
    "method": ("公众参与方式", "participation method"),
    "meeting_type": ("会议类型", "meeting type"),
    "position": ("表态", "position"),
}
# Decree 713 Art. 30: 常务会议或者全体会议 — the only meetings that may decide
MEETING_TYPES: dict[str, str] = {"executive": "常务会议", "plenary": "全体会议"}
ABSTAIN = ("abstain", "弃权")


class Named(Protocol):
    """Anything with an English id and a Chinese name (steps, outcomes, roles, flags, kinds)."""

    @property
    def id(self) -> str: ...

    @property
    def zh(self) -> str: ...


class _Name:
    def __init__(self, id: str, zh: str, en: str = "") -> None:
        self.id, self.zh, self.en = id, zh, en


def _key(value: str) -> str:
    """How two spellings of one name compare: NFC, trimmed, case and ``-``/space insensitive."""
    text = unicodedata.normalize("NFKC", value).strip().casefold()
    return "_".join(text.replace("-", " ").split())


def resolve(kind: str, value: str, choices: Sequence[Named], *, where: str = "") -> str:
    """The id of the choice ``value`` names (its id, Chinese or English name), or an
    ``InputError`` naming near misses and every valid value."""
    key = _key(value)
    found = []
    for c in choices:
        en = getattr(c, "en", "")
        if key == _key(c.id):
            return c.id  # an id is never ambiguous
        if key == _key(c.zh) or (en and key == _key(en)):
            found.append(c)
    ids = list(dict.fromkeys(c.id for c in found))
    if len(ids) == 1:
        return ids[0]
    if ids:  # one name for several (区司法局 is both legal_office and archivist in Tianjin)
        zh, en = KINDS[kind]
        raise InputError(
            f"{zh}名称不明确 ambiguous {en} {value!r}: it names {', '.join(ids)} — give the id"
        )
    raise InputError(_unknown(kind, value, choices, where))


def _unknown(kind: str, value: str, choices: Sequence[Named], where: str) -> str:
    zh, en = KINDS[kind]
    spellings = {_key(c.id): c for c in choices} | {_key(c.zh): c for c in choices}
    key = _key(value)
    close = difflib.get_close_matches(key, list(spellings), n=3, cutoff=0.5)
    # a part of a Chinese name (风险 for 风险评估) is a near miss too
    close += [k for k in spellings if len(key) >= 2 and key in k]
    near = list(dict.fromkeys(spellings[k].id for k in close))[:3]
    label = {c.id: f"{c.id} ({c.zh})" for c in choices}
    text = f"未知{zh} unknown {en} {value!r}" + (f" in {where}" if where else "")
    if near:
        text += f"；您是否要找 did you mean: {', '.join(label[n] for n in near)}"
    listed = ", ".join(label[i] for i in dict.fromkeys(c.id for c in choices)) or "—"
    return text + f"；可选 valid {en}s: {listed}"


def resolve_step(proc: Procedure, value: str) -> str:
    return resolve("step", value, proc.steps, where=proc.id)


def resolve_outcome(step: Step, value: str) -> str:
    return resolve("outcome", value, step.outcomes, where=step.label)


def resolve_role(roles: Sequence[Named], value: str) -> str:
    return resolve("role", value, roles)


def resolve_flags(proc: Procedure, values: Iterable[str]) -> frozenset[str]:
    return frozenset(resolve("flag", v, proc.flags, where=proc.id) for v in values)


def resolve_document(proc: Procedure, value: str) -> str:
    return resolve("document", value, proc.documents, where=proc.id)


def resolve_method(proc: Procedure, step: Step, value: str) -> str:
    """A participation method the step may use (Decree 713 Art. 14), by id or Chinese name."""
    choices = [m for m in proc.methods if m.id in step.methods] or list(proc.methods)
    return resolve("method", value, choices, where=step.label)


def resolve_meeting_type(value: str) -> str:
    """``executive``/``plenary`` or 常务会议/全体会议 as the id; any other text is returned as
    given, so the procedure refuses it under Art. 30 (circulation, countersigning)."""
    key = _key(value)
    for id_, zh in MEETING_TYPES.items():
        if key in (id_, _key(zh)):
            return id_
    return value


def _position(step: Step, value: str) -> str:
    choices: list[Named] = [*step.outcomes, _Name(*ABSTAIN)]
    return resolve("position", value, choices, where=step.label)


def resolve_action(proc: Procedure, action: Action) -> Action:
    """The action with every name in it resolved to its id (step, outcome, documents, and the
    meeting record's type and positions); unknown names are refused as input."""
    step = proc.step(resolve_step(proc, action.step))
    assert step is not None
    update: dict[str, object] = {"step": step.id}
    if isinstance(action, Start) and action.methods:
        update["methods"] = tuple(
            dict.fromkeys(resolve_method(proc, step, m) for m in action.methods)
        )
    if isinstance(action, Attach):
        update["documents"] = tuple(resolve_document(proc, d) for d in action.documents)
    if isinstance(action, Complete):
        if action.outcome is not None:
            update["outcome"] = _lenient(step, action.outcome)
        update["documents"] = tuple(resolve_document(proc, d) for d in action.documents)
        if action.meeting is not None:
            update["meeting"] = _meeting(step, action.meeting)
    return action.model_copy(update=update)


def _lenient(step: Step, value: str) -> str:
    """The outcome's id, or the value as given: an unknown outcome is refused by
    ``procedures.apply`` after the step's state (a step that is not open says so first)."""
    try:
        return resolve_outcome(step, value)
    except InputError:
        return value


def _meeting(step: Step, record: MeetingRecord) -> MeetingRecord:
    return record.model_copy(
        update={
            "meeting_type": resolve_meeting_type(record.meeting_type),
            "positions": {k: _position(step, v) for k, v in record.positions.items()},
        }
    )
