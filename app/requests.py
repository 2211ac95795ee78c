"""Typed requests and results: what every interface sends to the application layer and gets back.

Field names are the CLI's option names (``on``, ``outcome``, ``reason``, ``shorten_reason``, …),
so the JSON API's bodies read like the command line; ids are English (``Commands`` also accepts
the Chinese names where the CLI does).  ``Commands.execute`` runs any of them.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from procedures.planner import Plan
from procedures.state import Decision

__all__ = [
    "AmendRequest",
    "AttachRequest",
    "AttachmentIn",
    "Changed",
    "CompleteRequest",
    "ExtendRequest",
    "HearingIn",
    "MeetingIn",
    "RegisterRequest",
    "Request",
    "ReuseRequest",
    "SkipRequest",
    "StartRequest",
]


class _In(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RegisterRequest(_In):
    kind: Literal["register"] = "register"
    title: str
    procedure: str
    sponsor: str
    flag: tuple[str, ...] = ()
    target: date | None = None
    catalogue_year: int | None = None
    on: date | None = None
    co_sponsor: tuple[str, ...] = ()  # units taking part with the lead sponsor (Decree 713 Art. 11)
    assign: tuple[str, ...] = ()  # ROLE=UNIT: the risk assessor's or the experts' unit


class _StepRequest(_In):
    decision: str
    step: str
    on: date | None = None
    on_behalf_of: str | None = None  # the external party whose act is recorded (代录)


class StartRequest(_StepRequest):
    kind: Literal["start"] = "start"
    shorten_reason: str | None = None
    respond_by: date | None = None  # the response date asked of the reviewer (Decree 713 Art. 26)
    method: tuple[str, ...] = ()  # participation methods (Art. 14); none: the step's default
    comment_until: date | None = None  # the deadline the comment notice publishes (Art. 15)


class AttachmentIn(_In):
    kind: str = ""  # may be left empty where the step takes one document kind only
    path: Path


class MeetingIn(_In):
    """The collective discussion's record (Decree 713 Art. 30), as the CLI options give it."""

    meeting_type: str
    chair: str
    position: dict[str, str] = Field(default_factory=dict)
    dissent: dict[str, str] = Field(default_factory=dict)
    head_reason: str | None = None


class HearingIn(_In):
    """A hearing held during public participation (Decree 713 Arts. 16-17)."""

    notice_on: date  # the notice (draft, time, place) published
    materials_on: date  # the materials reached the participants
    on: date  # the hearing held


class CompleteRequest(_StepRequest):
    kind: Literal["complete"] = "complete"
    outcome: str | None = None
    note: str | None = None
    attach: tuple[AttachmentIn, ...] = ()
    meeting: MeetingIn | None = None
    next_meeting: date | None = None
    hearing: HearingIn | None = None


class ReuseRequest(_StepRequest):
    """Keep a step's earlier result after a return (沿用前次结果), with the reason."""

    kind: Literal["reuse"] = "reuse"
    reason: str | None = None


class AttachRequest(_StepRequest):
    """File documents on a step's current attempt."""

    kind: Literal["attach"] = "attach"
    attach: tuple[AttachmentIn, ...] = ()
    note: str | None = None


class SkipRequest(_StepRequest):
    kind: Literal["skip"] = "skip"
    reason: str | None = None


class ExtendRequest(_StepRequest):
    kind: Literal["extend"] = "extend"
    reason: str | None = None


class AmendRequest(_In):
    """Correct a registered decision's title, flags or target date, with the reason."""

    kind: Literal["amend"] = "amend"
    decision: str
    reason: str
    title: str | None = None
    flag: tuple[str, ...] = ()  # flags to add
    unflag: tuple[str, ...] = ()  # flags to remove
    target: date | None = None
    no_target: bool = False  # remove the target date
    on: date | None = None
    assign: tuple[str, ...] = ()  # ROLE=UNIT to assign
    unassign: tuple[str, ...] = ()  # ROLE=UNIT to remove


Request = (
    RegisterRequest
    | StartRequest
    | CompleteRequest
    | SkipRequest
    | ExtendRequest
    | AmendRequest
    | ReuseRequest
    | AttachRequest
)


class Changed(BaseModel):
    """What a changing request did: the decision after it, and its plan as of the effective date
    (planned once, in the same command)."""

    model_config = ConfigDict(frozen=True)

    decision: Decision
    plan: Plan
    step: str | None = None  # the step acted on (None for a registration)
