"""Procedure definitions as typed, frozen models.

A procedure (a preset such as ``national-2019``) is data: a list of steps, each with the role that
acts, the steps it comes after, when the law requires it, its statutory minimum period and its
office-policy due period (each with its basis), the review time it guarantees the party that acts
(Art. 26: a period that binds the submitter, not the reviewer), its outcomes and what each outcome does.  The
models here only describe; ``procedures.loader`` parses files into them and rejects broken ones,
``procedures.planner`` interprets them.  Legal basis: Decree 713 (国务院令第713号) Arts. 10-33.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "BASIS_LABELS",
    "COUNTING",
    "UNIT_LABELS",
    "Basis",
    "DocumentKind",
    "DocumentRule",
    "Extension",
    "Flag",
    "Method",
    "Outcome",
    "Period",
    "Prerequisite",
    "Procedure",
    "Requirement",
    "Role",
    "Step",
]

Unit = Literal["calendar_days", "working_days"]
BasisKind = Literal["statute", "local_rule", "office_policy", "analogy"]
Effect = Literal["done", "return", "pause", "stay_open", "end"]

UNIT_LABELS: dict[str, tuple[str, str]] = {
    "calendar_days": ("日", "calendar days"),
    "working_days": ("个工作日", "working days"),
}
BASIS_LABELS: dict[str, tuple[str, str]] = {
    "statute": ("法定", "statute"),
    "local_rule": ("地方规定", "local rule"),
    "office_policy": ("办公室政策（非法定）", "office policy, not statute"),
    "analogy": ("参照适用", "by analogy"),
}
# Decree 713 has no counting rule of its own: periods are counted as the Civil Code counts them
COUNTING = (
    "参照民法典第201、203条：自次日起算，最后一日为法定休假日的以其次日为最后一日，截止时间为二十四时 "
    "counted as Civil Code Arts. 201 and 203 count, by analogy: from the next day; a last day "
    "that is not a working day moves to the next working day; the period runs to 24:00"
)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Basis(_Frozen):
    """Where a number comes from: a statute's article, a local rule, or office policy."""

    kind: BasisKind
    article: str | None = None
    note: str | None = None

    @property
    def label(self) -> str:
        zh, en = BASIS_LABELS[self.kind]
        text = f"{zh} {en}"
        return f"{text} · {self.article}" if self.article else text


class Extension(_Frozen):
    """A due period that may be extended, a limited number of times, with a reason."""

    amount: int = Field(gt=0)
    unit: Unit
    max_times: int = Field(default=1, gt=0)
    basis: Basis


class Period(_Frozen):
    """An amount of calendar or working days counted from an anchor.

    ``anchor`` is ``opened`` (the day the step opened, or the day materials were resubmitted),
    ``minimum_end`` (the end of the step's own minimum period) or the id of an earlier step
    (the day that step's current attempt closed).
    """

    amount: int = Field(gt=0)
    unit: Unit
    basis: Basis
    anchor: str = "opened"
    shortenable: bool = False
    extension: Extension | None = None
    # a minimum that binds one participation method only (Decree 713 Art. 15: the public comment
    # window): it applies when that method is used, and runs to the deadline the notice
    # publishes (at least ``amount`` after publication), rolled to the next working day
    method: str | None = None

    @property
    def label(self) -> str:
        zh, en = UNIT_LABELS[self.unit]
        return f"{self.amount}{zh} ({self.amount} {en})"


class Role(_Frozen):
    id: str
    zh: str
    en: str


class Flag(_Frozen):
    """A fact about a decision that makes conditional steps required or not."""

    id: str
    zh: str
    en: str
    article: str | None = None


class DocumentKind(_Frozen):
    id: str
    zh: str
    en: str


class Method(_Frozen):
    """A way of hearing the public (Decree 713 Art. 14): 公开征求意见, 座谈会, 听证会, …

    ``materials_days``: the materials must reach the participants at least this many days
    before the event (a hearing: "听证会材料应当于召开听证会7日前送达听证参加人", Art. 16);
    ``requires_documents``: what the step must hold when this method was used (the hearing's
    record, signed by the participants, Art. 17)."""

    id: str
    zh: str
    en: str
    article: str | None = None
    materials_days: int | None = Field(default=None, gt=0)
    materials_article: str | None = None
    requires_documents: tuple[str, ...] = ()


class DocumentRule(_Frozen):
    """A document kind required when any of ``when``'s flags is set (always when empty): an
    entry of the Art. 29 package, or a document a step must hold to pass (Art. 32)."""

    kind: str
    when: tuple[str, ...] = ()
    article: str | None = None

    def holds(self, flags: frozenset[str]) -> bool:
        return not self.when or bool(flags & set(self.when))


class Outcome(_Frozen):
    """How a step may finish, and what that does to the decision.

    effect: ``done`` (the step is finished; the steps after it may go on), ``return`` (back to
    ``return_to``: that step and every step after it run again as new attempts), ``pause`` (the
    clock stops until the materials are resubmitted; minimum and due run again from then),
    ``stay_open`` (the step stays open with a new date), ``end`` (the decision will not go on;
    only steps that explicitly follow this outcome remain).
    """

    id: str
    zh: str
    en: str
    effect: Effect
    return_to: str | None = None
    article: str | None = None
    ignores_minimum: bool = False
    requires_documents: tuple[str, ...] = ()
    blocks: tuple[str, ...] = ()  # "step:outcome" pairs this finding forbids while it is latest

    @property
    def passing(self) -> bool:
        return self.effect == "done"


class Prerequisite(_Frozen):
    """A step that must be finished first; ``outcomes`` restricts which results count."""

    step: str
    outcomes: tuple[str, ...] | None = None


class Requirement(_Frozen):
    """When the law requires a step: always, when a flag is set, or unless it is set."""

    kind: Literal["always", "when", "unless"] = "always"
    flag: str | None = None

    def holds(self, flags: frozenset[str]) -> bool:
        if self.kind == "always":
            return True
        assert self.flag is not None
        return (self.flag in flags) == (self.kind == "when")


class Step(_Frozen):
    id: str
    zh: str
    en: str
    role: str
    article: str
    after: tuple[Prerequisite, ...] = ()
    required: Requirement = Requirement()
    skippable: bool = False
    skip_article: str | None = None
    hard_gate: bool = False
    at_registration: bool = False
    decides: bool = False
    requires_meeting_record: bool = False
    minimum: Period | None = None
    # the time the law guarantees the party that acts on the step (Art. 26's review time): it
    # binds whoever hands the materials over — a requested response date may not be earlier
    # (unless shortened with a reason) — and never the acting party, who may close sooner
    review_time: Period | None = None
    due: Period | None = None
    outcomes: tuple[Outcome, ...]
    documents: tuple[str, ...] = ()
    # the participation methods the step may use (Decree 713 Art. 14); the first is the default
    methods: tuple[str, ...] = ()
    # after a return, the earlier result may be kept with a reason instead of running again
    # (沿用前次结果: Arts. 24, 28 ask for the necessary adjustments only)
    reusable: bool = False
    # the step may not start before the submission package is complete (Decree 713 Art. 29)
    requires_package: bool = False
    # documents a passing outcome needs, some only when a flag is set (Art. 32's explanation of
    # how opinions were adopted, and its 宣传解读, for matters of wide concern or technical ones)
    requires_documents: tuple[DocumentRule, ...] = ()

    def outcome(self, outcome_id: str) -> Outcome | None:
        return next((o for o in self.outcomes if o.id == outcome_id), None)

    @property
    def label(self) -> str:
        return f"{self.zh} ({self.id})"


class Procedure(_Frozen):
    id: str
    version: str
    zh: str
    en: str
    sources: tuple[str, ...] = ()
    source_file: str = ""
    roles: tuple[Role, ...]
    flags: tuple[Flag, ...] = ()
    documents: tuple[DocumentKind, ...] = ()
    methods: tuple[Method, ...] = ()
    # The submission package for the collective discussion (Decree 713 Art. 29): each document
    # kind is required when the step that produces it ran (done or reused, not skipped) and its
    # flags hold.  A plain kind (as definitions before 2026-12 wrote it) is one with no condition.
    package: tuple[DocumentRule, ...] = ()
    steps: tuple[Step, ...]  # in a topological order (what the loader guarantees)

    @field_validator("package", mode="before")
    @classmethod
    def _plain_kinds(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return [{"kind": v} if isinstance(v, str) else v for v in value]
        return value

    def step(self, step_id: str) -> Step | None:
        return next((s for s in self.steps if s.id == step_id), None)

    def accepted(self, pre: Prerequisite) -> tuple[str, ...]:
        """The outcomes of ``pre.step`` that let the next step go on (default: passing ones)."""
        if pre.outcomes:
            return pre.outcomes
        step = self.step(pre.step)
        return tuple(o.id for o in step.outcomes if o.passing) if step else ()

    def role(self, role_id: str) -> Role | None:
        return next((r for r in self.roles if r.id == role_id), None)

    def flag(self, flag_id: str) -> Flag | None:
        return next((f for f in self.flags if f.id == flag_id), None)

    def document(self, doc_id: str) -> DocumentKind | None:
        return next((d for d in self.documents if d.id == doc_id), None)

    def method(self, method_id: str) -> Method | None:
        return next((m for m in self.methods if m.id == method_id), None)

    def successors(self, step_id: str) -> frozenset[str]:
        """Every step that comes (transitively) after ``step_id``."""
        found: set[str] = set()
        frontier = {step_id}
        while frontier:
            nxt = {
                s.id
                for s in self.steps
                if s.id not in found and any(p.step in frontier for p in s.after)
            }
            found |= nxt
            frontier = nxt
        return frozenset(found)
