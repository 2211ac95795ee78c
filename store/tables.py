"""All tables (SQLModel ``table=True``), one line of purpose each.

Rows never act as domain objects: ``store.repository`` maps them to ``procedures`` types and back.
JSON-valued columns are text written by the repository (sorted keys), so every engine stores the
same bytes.  Dates are ``date``; recording times are UTC ``datetime``.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Index, Text, UniqueConstraint, false
from sqlmodel import Field, SQLModel

__all__ = [
    "AccountRow",
    "AlertRow",
    "AttemptRow",
    "AuditEventRow",
    "AuditHeadRow",
    "CheckpointRow",
    "DecisionRow",
    "DeliveryRow",
    "DocumentRow",
    "IdCounterRow",
    "OutboxRow",
    "PersonRow",
    "ProcedureDefinitionRow",
    "ScheduleRow",
    "TodoRow",
    "TokenRow",
]


class DecisionRow(SQLModel, table=True):
    """A major decision, registered under a procedure id and version it keeps for life."""

    __tablename__ = "decisions"
    __table_args__ = (
        Index("ix_decisions_next_due_on", "next_due_on", "id"),
        Index("ix_decisions_next_alert_on", "next_alert_on", "next_due_on"),
    )
    id: str = Field(primary_key=True, max_length=32)
    title: str = Field(sa_type=Text)
    procedure_id: str = Field(max_length=64)
    procedure_version: str = Field(max_length=32)
    # the pinned definition (procedure_definitions.sha256); NULL only for a decision from before
    # revision 0005 whose procedure was not found at upgrade (``decide procedures migrate`` pins it)
    procedure_sha256: str | None = Field(default=None, max_length=64)
    flags: str = Field(default="[]", sa_type=Text)  # JSON list of flag ids
    sponsor: str = Field(sa_type=Text)
    # the units that take part with the lead sponsor (Decree 713 Art. 11), JSON list
    co_sponsors: str = Field(default="[]", sa_type=Text, sa_column_kwargs={"server_default": "[]"})
    # the units assigned to a role on this decision (risk assessor, experts), JSON object
    assignments: str = Field(default="{}", sa_type=Text, sa_column_kwargs={"server_default": "{}"})
    target_on: date | None = None
    catalogue_year: int | None = None
    registered_on: date
    status: str = Field(max_length=16, index=True)  # in_progress / approved / rejected / closed
    version: int = 1  # optimistic concurrency: bumped by every change
    # the earliest due date among open and ready steps (and the target date while undecided):
    # the deadline scan reads only decisions with next_due_on near or past (index)
    next_due_on: date | None = None
    # the first day the deadline scan could raise an alert level not yet raised; NULL when not
    # known (changed since the last scan): the scan plans only decisions due by then (index)
    next_alert_on: date | None = None


class ProcedureDefinitionRow(SQLModel, table=True):
    """A resolved procedure definition as decisions were pinned to it, by SHA-256 of its content."""

    __tablename__ = "procedure_definitions"
    sha256: str = Field(primary_key=True, max_length=64)
    id: str = Field(max_length=64)
    version: str = Field(max_length=32)
    content: str = Field(sa_type=Text)  # canonical JSON (procedures.definition)
    stored_at: datetime


class IdCounterRow(SQLModel, table=True):
    """The last decision number given out per registration year (ids like 2025-0007)."""

    __tablename__ = "id_counters"
    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    last: int = 0


class AttemptRow(SQLModel, table=True):
    """One run of one step of one decision; due dates denormalised for the deadline scan."""

    __tablename__ = "step_attempts"
    __table_args__ = (
        UniqueConstraint("decision_id", "step", "number"),
        Index("ix_attempts_open_due", "status", "due_on"),
    )
    id: int | None = Field(default=None, primary_key=True)
    decision_id: str = Field(foreign_key="decisions.id", max_length=32)  # indexed by the unique key
    position: int  # order within the decision's history
    step: str = Field(max_length=64)
    number: int
    status: str = Field(max_length=16)
    opened_on: date | None = None
    shorten_reason: str | None = Field(default=None, sa_type=Text)
    closed_on: date | None = None
    outcome: str | None = Field(default=None, max_length=64)
    skip_reason: str | None = Field(default=None, sa_type=Text)
    pauses: str = Field(default="[]", sa_type=Text)
    extensions: str = Field(default="[]", sa_type=Text)
    deferrals: str = Field(default="[]", sa_type=Text)
    documents: str = Field(default="[]", sa_type=Text)
    superseded: bool = False
    respond_by: date | None = None  # the response date asked of the reviewer (Art. 26)
    close_provisional: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    # what only some attempts have (methods, comment deadline, hearing, reuse), JSON object
    details: str = Field(default="{}", sa_type=Text, sa_column_kwargs={"server_default": "{}"})
    earliest_close_on: date | None = None
    due_on: date | None = None
    provisional: bool = False


class AuditEventRow(SQLModel, table=True):
    """The append-only audit log: each event hashed with its predecessor (UPDATE/DELETE refused)."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_decision_seq", "decision_id", "seq"),)
    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    decision_id: str | None = Field(default=None, max_length=32)
    action: str = Field(max_length=64)
    actor: str = Field(sa_type=Text)
    effective_on: date
    recorded_at: str = Field(max_length=40)  # ISO 8601 UTC, exactly as hashed
    payload: str = Field(sa_type=Text)  # canonical JSON
    decision_prev_hash: str | None = Field(default=None, max_length=64)  # this decision's chain
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditHeadRow(SQLModel, table=True):
    """The chain head (one row): locked by every append, so the chain never forks."""

    __tablename__ = "audit_head"
    id: int = Field(default=1, primary_key=True, sa_column_kwargs={"autoincrement": False})
    seq: int = 0
    hash: str = Field(default="0" * 64, max_length=64)


class CheckpointRow(SQLModel, table=True):
    """A signed statement of the chain head (Ed25519; the key lives outside the database)."""

    __tablename__ = "audit_checkpoints"
    id: int | None = Field(default=None, primary_key=True)
    seq: int
    hash: str = Field(max_length=64)
    signed_at: str = Field(max_length=40)
    public_key: str = Field(sa_type=Text)  # base64 raw Ed25519 public key
    signature: str = Field(sa_type=Text)  # base64 signature over "seq|hash|signed_at"


class OutboxRow(SQLModel, table=True):
    """A side effect to carry out after commit (notify, build a package or an archive)."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "done_at", "available_at"),)
    id: int | None = Field(default=None, primary_key=True)
    decision_id: str | None = Field(default=None, max_length=32)
    kind: str = Field(max_length=64)
    payload: str = Field(sa_type=Text)
    created_at: datetime
    available_at: datetime
    tries: int = 0
    claimed_by: str | None = Field(default=None, max_length=128)
    claimed_at: datetime | None = None
    done_at: datetime | None = None
    last_error: str | None = Field(default=None, sa_type=Text)
    # how a done row ended: delivered / superseded (its state no longer held) / done (work)
    outcome: str | None = Field(default=None, max_length=16)


class DeliveryRow(SQLModel, table=True):
    """One channel that has delivered one outbox row: a retry skips it (exactly once each)."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("outbox_id", "channel"),)
    id: int | None = Field(default=None, primary_key=True)
    outbox_id: int = Field(foreign_key="outbox.id")  # indexed by the unique key
    channel: str = Field(sa_type=Text)  # the notifier's name: console, jsonl:PATH, webhook:…
    delivered_at: datetime


class AlertRow(SQLModel, table=True):
    """An alert level raised once per step attempt (or per decision target date)."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("decision_id", "step", "attempt", "level", "due_on"),)
    id: int | None = Field(default=None, primary_key=True)
    decision_id: str = Field(foreign_key="decisions.id", index=True, max_length=32)
    step: str = Field(max_length=64)  # "" for the decision's target date
    attempt: int
    level: str = Field(max_length=16)
    due_on: date
    first_reached_on: date
    raised_at: datetime
    delivered_at: datetime | None = None


class DocumentRow(SQLModel, table=True):
    """A file attached to a step attempt, stored by SHA-256 under DECIDE_HOME."""

    __tablename__ = "documents"
    id: int | None = Field(default=None, primary_key=True)
    decision_id: str = Field(foreign_key="decisions.id", index=True, max_length=32)
    step: str = Field(max_length=64)
    attempt: int
    kind: str = Field(max_length=64)
    filename: str = Field(sa_type=Text)
    sha256: str = Field(max_length=64, index=True)
    size: int
    stored_at: datetime


class ScheduleRow(SQLModel, table=True):
    """A holiday schedule imported by the office, so every process sees the same calendar."""

    __tablename__ = "calendar_schedules"
    id: int | None = Field(default=None, primary_key=True)
    year: int
    kind: str = Field(max_length=16)
    source: str = Field(sa_type=Text)
    content: str = Field(sa_type=Text)  # the TOML file as imported
    sha256: str = Field(max_length=64)
    imported_at: datetime


class PersonRow(SQLModel, table=True):
    """A person with a role; once people exist, commands check the acting person's role."""

    __tablename__ = "people"
    name: str = Field(primary_key=True, max_length=128)
    role: str = Field(primary_key=True, max_length=64)
    unit: str | None = Field(default=None, sa_type=Text)


class AccountRow(SQLModel, table=True):
    """An account: login, the name the audit shows, its unit, its roles; the password hashed
    with Argon2id.  Every change is an audit event the verification replays (the failure
    counter and the lock are throttling state, not replayed)."""

    __tablename__ = "accounts"
    login: str = Field(primary_key=True, max_length=64)
    name: str = Field(sa_type=Text)
    unit: str = Field(sa_type=Text)
    roles: str = Field(default="[]", sa_type=Text)  # JSON list: procedure roles, auditor
    admin: bool = False
    password_hash: str = Field(sa_type=Text)
    active: bool = True
    failures: int = 0
    locked_until: str | None = Field(default=None, max_length=40)  # ISO 8601 UTC


class TokenRow(SQLModel, table=True):
    """An API token, kept only as its SHA-256, with its expiry (revoked: all of an account's)."""

    __tablename__ = "tokens"
    sha256: str = Field(primary_key=True, max_length=64)
    login: str = Field(max_length=64, index=True)
    created_at: str = Field(max_length=40)  # ISO 8601 UTC, as the audit log writes times
    expires_at: str = Field(max_length=40)
    revoked_at: str | None = Field(default=None, max_length=40)


class TodoRow(SQLModel, table=True):
    """A step someone may act on now (ready or open), once per unit it may concern ('' for
    every unit): the to-do index (``store.todo``), rewritten with every change of the plan."""

    __tablename__ = "todo"
    __table_args__ = (
        Index("ix_todo_role", "unit", "role", "order_on", "decision_id", "step"),
        Index("ix_todo_status", "unit", "status", "order_on", "decision_id", "step"),
    )
    decision_id: str = Field(foreign_key="decisions.id", primary_key=True, max_length=32)
    step: str = Field(primary_key=True, max_length=64)
    unit: str = Field(primary_key=True, sa_type=Text)  # '' for every unit
    status: str = Field(max_length=16)  # ready / open
    attempt: int
    role: str = Field(max_length=64)  # the step's role
    due_on: date | None = None
    order_on: date  # due_on, or 9999-12-31 when undated: the keyset order
    due_basis: str | None = Field(default=None, max_length=32)
    provisional: bool = False
