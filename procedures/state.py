"""A decision's history as the planner sees it: step attempts, and the actions that change them.

An attempt is one run of a step.  Attempts are never deleted: a return to an earlier step marks
the current attempts of that step and of every step after it ``superseded`` (the history keeps
them) and the steps run again as new attempts (SPEC §2, "Outcomes and their effects").
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "Action",
    "Attach",
    "Attempt",
    "Complete",
    "Decision",
    "Deferral",
    "Extend",
    "Hearing",
    "MeetingRecord",
    "Pause",
    "Reuse",
    "Skip",
    "Start",
]

AttemptStatus = Literal["open", "paused", "done", "skipped"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Pause(_Frozen):
    """Materials returned as incomplete (the clock stops) and, later, resubmitted."""

    returned_on: date
    resubmitted_on: date | None = None


class Deferral(_Frozen):
    on: date
    next_meeting_on: date


class Hearing(_Frozen):
    """A hearing held during public participation (Decree 713 Arts. 16-17): the day its notice
    (the draft, time and place) was published, the day its materials reached the participants,
    and the day it was held."""

    notice_on: date
    materials_on: date
    held_on: date


class Attempt(_Frozen):
    step: str
    number: int = Field(ge=1)
    status: AttemptStatus
    opened_on: date | None = None
    shorten_reason: str | None = None
    # the response date the submitter asked for (Art. 26), for the latest submission; None: the
    # end of the guaranteed review time
    respond_by: date | None = None
    closed_on: date | None = None
    outcome: str | None = None
    skip_reason: str | None = None
    pauses: tuple[Pause, ...] = ()
    extensions: tuple[str, ...] = ()
    deferrals: tuple[Deferral, ...] = ()
    documents: tuple[str, ...] = ()
    superseded: bool = False
    # closed on or after a minimum end computed in a year without the official schedule (SPEC
    # §3): accepted, and recorded as provisional
    close_provisional: bool = False
    # public participation (Decree 713 Arts. 14-18): the methods used, the deadline the comment
    # notice published (Art. 15), the hearing held (Arts. 16-17)
    methods: tuple[str, ...] = ()
    comment_until: date | None = None
    hearing: Hearing | None = None
    # kept after a return instead of running again (沿用前次结果): the attempt whose result
    # stands, and the sponsor's reason
    reused_from: int | None = None
    reuse_reason: str | None = None

    @property
    def clock_start(self) -> date | None:
        """The day the periods run from: the opening, or the latest resubmission."""
        if self.pauses and self.pauses[-1].resubmitted_on is not None:
            return self.pauses[-1].resubmitted_on
        return self.opened_on


def _text(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


class MeetingRecord(_Frozen):
    """The record of a collective discussion (Decree 713 Art. 30).

    ``meeting_type`` is ``executive`` (常务会议) or ``plenary`` (全体会议); ``chair`` is the head,
    who speaks last; ``positions`` maps each attending member to an outcome id of the step or
    ``abstain``; ``dissent`` keeps members' dissenting opinions as stated; ``head_reason`` is
    required when the decision departs from the majority of the members.
    """

    meeting_type: str
    chair: str
    attendees: tuple[str, ...]
    positions: dict[str, str]
    dissent: dict[str, str] = {}
    head_reason: str | None = None

    _strip = field_validator("head_reason")(_text)


class Start(_Frozen):
    kind: Literal["start"] = "start"
    step: str
    on: date
    shorten_reason: str | None = None
    respond_by: date | None = None  # the response date requested of the reviewer (Art. 26)
    methods: tuple[str, ...] = ()  # participation methods (Art. 14); none: the step's default
    comment_until: date | None = None  # the comment notice's deadline (Art. 15)

    _strip = field_validator("shorten_reason")(_text)


class Complete(_Frozen):
    kind: Literal["complete"] = "complete"
    step: str
    on: date
    outcome: str | None = None
    documents: tuple[str, ...] = ()
    meeting: MeetingRecord | None = None
    next_meeting_on: date | None = None
    hearing: Hearing | None = None
    # set only by the replay, from the audit payload: the completion was accepted on a
    # provisional minimum end, and stands even if an official schedule loaded since moved it
    provisional: bool = False


class Skip(_Frozen):
    kind: Literal["skip"] = "skip"
    step: str
    on: date
    reason: str | None = None

    _strip = field_validator("reason")(_text)


class Extend(_Frozen):
    kind: Literal["extend"] = "extend"
    step: str
    on: date
    reason: str | None = None

    _strip = field_validator("reason")(_text)


class Reuse(_Frozen):
    """Keep a step's earlier result after a return (沿用前次结果), with the reason it still
    stands for the revised draft."""

    kind: Literal["reuse"] = "reuse"
    step: str
    on: date
    reason: str | None = None

    _strip = field_validator("reason")(_text)


class Attach(_Frozen):
    """Documents added to a step's current attempt after the fact (a draft filed late still
    counts for the Art. 29 package)."""

    kind: Literal["attach"] = "attach"
    step: str
    on: date
    documents: tuple[str, ...] = ()


Action = Start | Complete | Skip | Extend | Reuse | Attach


class Decision(_Frozen):
    """A registered decision and its whole history of attempts (what the store keeps)."""

    id: str
    title: str
    procedure_id: str
    procedure_version: str
    # the SHA-256 of the definition pinned at registration (or by the latest audited migration);
    # None only for a decision from before revision 0005 whose procedure could not be found
    procedure_sha256: str | None = None
    flags: frozenset[str] = frozenset()
    sponsor: str
    target_on: date | None = None
    catalogue_year: int | None = None
    registered_on: date
    # the units that take part with the lead sponsor (Decree 713 Art. 11: 牵头承办单位)
    co_sponsors: tuple[str, ...] = ()
    # the units assigned to a role on this decision (the risk assessor, the experts)
    assignments: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    status: str = "in_progress"
    version: int = 1
    attempts: tuple[Attempt, ...] = ()
