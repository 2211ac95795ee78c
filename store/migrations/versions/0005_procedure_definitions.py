"""Decisions are pinned to the procedure definition they run under: ``procedure_definitions``
keeps each resolved definition by the SHA-256 of its canonical content, and every decision
references its own (``decisions.procedure_sha256``).

What existing decisions get: a decision whose procedure id is a preset is pinned to that preset
as it is on disk at upgrade time — the definition it was being planned under until now, since
each command re-read the preset.  A decision registered from an office file keeps NULL (the
file cannot be found by its id, which is why every command on it failed before): commands on it
say so, and ``decide procedures migrate DECISION --to FILE --reason …`` pins it, audited.

Revision ID: 0005
Revises: 0004
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from procedures.definition import pin
from procedures.loader import load_procedure, preset_ids

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "procedure_definitions",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("stored_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sha256"),
    )
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("procedure_sha256", sa.String(length=64), nullable=True))
    _pin_existing(op.get_bind())


_DEFINITIONS = sa.table(
    "procedure_definitions",
    sa.column("sha256", sa.String),
    sa.column("id", sa.String),
    sa.column("version", sa.String),
    sa.column("content", sa.Text),
    sa.column("stored_at", sa.DateTime),
)


def _pin_existing(conn: sa.Connection) -> None:
    used = {r[0] for r in conn.execute(sa.text("SELECT DISTINCT procedure_id FROM decisions"))}
    stored_at = datetime.now(UTC).replace(tzinfo=None)
    for procedure_id in sorted(used & set(preset_ids())):
        definition = pin(load_procedure(procedure_id))
        conn.execute(_DEFINITIONS.insert(), {**definition.model_dump(), "stored_at": stored_at})
        conn.execute(
            sa.text(
                "UPDATE decisions SET procedure_sha256 = :sha256, procedure_version = :version "
                "WHERE procedure_id = :id"
            ),
            {"sha256": definition.sha256, "version": definition.version, "id": procedure_id},
        )


def downgrade() -> None:
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_column("procedure_sha256")
    op.drop_table("procedure_definitions")
